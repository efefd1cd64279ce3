//! The first-start bootstrap: it creates the first workspace once, and says at WARN when
//! the token is set but ignored because workspaces already exist.

use std::io::Write;
use std::sync::{Arc, Mutex};

use incident_core::access::bootstrap::bootstrap;
use sqlx::PgPool;

/// Log lines written during a test, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_bootstrap_token_set_once_workspaces_exist_is_ignored_with_a_warning(pool: PgPool) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // sqlx::test runs on a current-thread runtime, so a thread-local default sees every poll.
    let _guard = tracing::subscriber::set_default(subscriber);
    let secret = secrecy::SecretString::from("first-start-token-0123456789".to_owned());
    assert!(bootstrap(&pool, &secret).await.expect("first"));
    assert!(
        captured.0.lock().expect("lock").is_empty(),
        "the first start is not a warning"
    );

    assert!(!bootstrap(&pool, &secret).await.expect("second"));
    let logged = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(logged.contains("WARN"), "{logged}");
    assert!(
        logged.contains("INCIDENT_BOOTSTRAP_TOKEN is set but workspaces already exist"),
        "{logged}"
    );
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(workspaces, 1);
}
