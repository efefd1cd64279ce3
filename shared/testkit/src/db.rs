//! Where tests find PostgreSQL.

use std::time::Duration;

use serde_json::Value;
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

/// The single number `sql` selects.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits until `sql` counts `expected` (consumers work in the background).
pub async fn wait_for_count(pool: &PgPool, sql: &str, expected: i64, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = count(pool, sql).await;
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {sql} = {expected} (it is {n})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The envelopes of `message_type` in the outbox, oldest first.
pub async fn outbox(pool: &PgPool, message_type: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = $1 ORDER BY id")
        .bind(message_type)
        .fetch_all(pool)
        .await
        .expect("outbox")
}

/// The envelopes of `message_type` that `publisher` wrote to the outbox, oldest first.
pub async fn outbox_of(pool: &PgPool, publisher: &str, message_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE publisher = $1 AND message_type = $2 ORDER BY id",
    )
    .bind(publisher)
    .bind(message_type)
    .fetch_all(pool)
    .await
    .expect("outbox")
}
