//! The inbox: which messages a consumer has already applied.
//!
//! The consumer runner inserts `(consumer, message_id)` in the same transaction as the
//! message's effects. A redelivered message finds its row and is acknowledged without
//! effect; a rolled-back effect leaves no row, so the retry applies it.
//!
//! Beside it, `consumer_attempts` counts how often a consumer *started* a redelivered
//! message ([`record_start`]), committed before the handler runs, so a message that kills
//! its worker every time is recognised, while one returned unstarted by a dropped
//! connection is not counted against it.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// Records that `consumer` is applying `message_id`; `false` when it already had.
pub async fn record(
    conn: &mut PgConnection,
    consumer: &str,
    message_id: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Counts one more started attempt of `message_id` by `consumer` (committed at once, in
/// `pool`); returns how many it has started.
pub async fn record_start(
    pool: &PgPool,
    consumer: &str,
    message_id: &str,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO consumer_attempts (consumer, message_id, attempts) VALUES ($1, $2, 1)
         ON CONFLICT (consumer, message_id)
         DO UPDATE SET attempts = consumer_attempts.attempts + 1, updated_at = now()
         RETURNING attempts",
    )
    .bind(consumer)
    .bind(message_id)
    .fetch_one(pool)
    .await
}

/// Deletes entries older than `age` (far beyond any redelivery window); returns how many.
pub async fn prune(pool: &PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    let seconds = age.as_secs_f64();
    let result =
        sqlx::query("DELETE FROM inbox WHERE received_at < now() - make_interval(secs => $1)")
            .bind(seconds)
            .execute(pool)
            .await?;
    sqlx::query(
        "DELETE FROM consumer_attempts WHERE updated_at < now() - make_interval(secs => $1)",
    )
    .bind(seconds)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}
