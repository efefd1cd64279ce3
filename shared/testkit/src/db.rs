//! Where tests find PostgreSQL.

use sqlx::PgPool;

/// The PostgreSQL server tests use (the `#[sqlx::test]` master URL `DATABASE_URL`,
/// defaulting to the local one), without a database name or parameters.
pub fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = url.split('?').next().unwrap_or_default().to_owned();
    url.rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .unwrap_or(url)
}

/// The URL of `pool`'s database (a `#[sqlx::test]` database), for a child process or a
/// configuration.
pub fn database_url(pool: &PgPool) -> String {
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned();
    format!("{}/{database}", server_url())
}

/// A TCP port nothing listens on right now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
