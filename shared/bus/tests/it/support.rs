//! Handlers and helpers shared by the tests. Effects are rows in `test_effects`, so a
//! duplicate effect is a second row (the table has no unique constraint on purpose).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, RetryPolicy};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

pub use incident_bus::testing::TestVhost;
pub use incident_testkit::eventually;

/// Creates the effects table in the test database.
pub async fn effects_table(pool: &PgPool) {
    sqlx::query("CREATE TABLE test_effects (message_id uuid NOT NULL, message_type text NOT NULL, at timestamptz DEFAULT clock_timestamp())")
        .execute(pool)
        .await
        .expect("create test_effects");
}

/// Rows in `test_effects` for `message_id`.
pub async fn effects_of(pool: &PgPool, message_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM test_effects WHERE message_id = $1")
        .bind(message_id)
        .fetch_one(pool)
        .await
        .expect("count effects")
}

/// (rows, distinct message ids) in `test_effects`.
pub async fn effect_counts(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT message_id) FROM test_effects")
        .fetch_one(pool)
        .await
        .expect("count effects")
}

async fn record(tx: &mut PgConnection, message: &Envelope) -> Result<(), HandlerError> {
    sqlx::query("INSERT INTO test_effects (message_id, message_type) VALUES ($1, $2)")
        .bind(message.id)
        .bind(&message.message_type)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records every message it is given.
pub struct Recording;

impl Handler for Recording {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(record(tx, message))
    }
}

/// Fails transiently for the first `failures` attempts, then records.
pub struct Flaky {
    pub failures: usize,
    pub attempts: Arc<AtomicUsize>,
}

impl Handler for Flaky {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let n = self.attempts.fetch_add(1, Ordering::SeqCst);
            record(tx, message).await?;
            if n < self.failures {
                return Err(HandlerError::transient(format!(
                    "injected failure {}",
                    n + 1
                )));
            }
            Ok(())
        })
    }
}

/// Kills its own database connection on the first attempt (a real database blip),
/// then records.
pub struct DatabaseBlip {
    pub attempts: Arc<AtomicUsize>,
}

impl Handler for DatabaseBlip {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            record(tx, message).await?;
            if self.attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        })
    }
}

/// Always fails permanently.
pub struct Refusing;

impl Handler for Refusing {
    fn handle<'a>(
        &'a self,
        _tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            Err(HandlerError::permanent(format!(
                "{} violates the contract",
                message.message_type
            )))
        })
    }
}

/// Signals when it starts, takes `hold`, then records.
pub struct Slow {
    pub started: Arc<Notify>,
    pub hold: Duration,
}

impl Handler for Slow {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            self.started.notify_one();
            tokio::time::sleep(self.hold).await;
            record(tx, message).await
        })
    }
}

/// A quick retry policy for tests.
pub fn quick_retries(max_retries: usize) -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retries,
    }
}

/// An event envelope for the tests' workspace.
pub fn event(message_type: &str) -> Envelope {
    Envelope::new(
        message_type,
        Uuid::nil(),
        serde_json::json!({ "test": true }),
    )
    .expect("serializable")
}
