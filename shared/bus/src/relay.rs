//! The outbox relay: publishes one service's outbox rows (see [`crate::outbox`] for the
//! storage and its guarantees).
//!
//! Woken by the outbox trigger's NOTIFY on a dedicated LISTEN connection (which
//! reconnects), with a periodic poll as a backstop, the relay claims the oldest due rows
//! with `FOR UPDATE SKIP LOCKED` (so several relays share the work without publishing a
//! row twice), publishes the batch with confirms (pipelined), and stamps the confirmed
//! rows in the same transaction. A row the broker refuses is retried later with backoff
//! without blocking the rows behind it; an unroutable one is held only when the topology
//! contract routes it.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::future::join_all;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use sqlx::types::Json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use incident_runtime::metrics::{
    OUTBOX_OLDEST_AGE, OUTBOX_PENDING, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED,
    OUTBOX_UNROUTABLE, OUTBOX_UNROUTABLE_RETURNS,
};

use crate::outbox::{CHANNEL, backlog};
use crate::publisher::{PublishError, RawMessage};
use crate::supervisor::Bus;
use crate::{topology, trace_context};

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    exchange: String,
    routing_key: String,
    message_type: String,
    payload: String,
    headers: Json<BTreeMap<String, String>>,
    mandatory: bool,
    attempts: i32,
}

/// Publishes one service's outbox. Run one per process; any number may run at once.
pub struct OutboxRelay {
    pool: PgPool,
    bus: Bus,
    publisher: String,
    batch_size: i64,
    poll_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Publish(#[from] PublishError),
}

impl OutboxRelay {
    /// A relay for `publisher`'s rows, publishing through `bus`.
    pub fn new(pool: PgPool, bus: Bus, publisher: impl Into<String>) -> Self {
        Self {
            pool,
            bus,
            publisher: publisher.into(),
            batch_size: 500,
            poll_interval: Duration::from_secs(5),
        }
    }

    /// Rows claimed and published per transaction.
    pub fn batch_size(mut self, n: i64) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// How often to look for rows when no notification arrives.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Runs until `shutdown`; the batch in flight finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        let mut failures = failure_backoff();
        loop {
            // Drain everything that is due.
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                if self.bus.publisher().is_none()
                    && self.bus.wait_connected(&shutdown).await.is_none()
                {
                    return;
                }
                match self.publish_batch().await {
                    Ok(n) => {
                        failures = failure_backoff();
                        if n < self.batch_size as usize {
                            break;
                        }
                    }
                    Err(e) => {
                        let wait = failures.next().unwrap_or(Duration::from_secs(5));
                        tracing::warn!(publisher = %self.publisher, error = %e, ?wait, "outbox relay batch failed; rows stay unpublished");
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = shutdown.cancelled() => return,
                        }
                    }
                }
            }
            self.record_backlog().await;
            if listener.is_none() {
                listener = self.listen().await;
            }
            // Sleep until a notification for us, the poll tick, or shutdown.
            let poll = tokio::time::sleep(self.poll_interval);
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    () = &mut poll => break,
                    () = shutdown.cancelled() => return,
                    notification = recv(&mut listener) => match notification {
                        Ok(Some(n)) if n.payload() == self.publisher => break,
                        Ok(Some(_)) => continue,
                        // The listener lost its connection (it reconnects by itself);
                        // notifications may have been lost meanwhile, so drain.
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox listener failed; polling until it is back");
                            listener = None;
                            break;
                        }
                    },
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let attempt = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox notifications; polling");
                None
            }
        }
    }

    async fn record_backlog(&self) {
        if let Ok(b) = backlog(&self.pool, &self.publisher).await {
            metrics::gauge!(OUTBOX_PENDING, "publisher" => self.publisher.clone())
                .set(b.pending as f64);
            metrics::gauge!(OUTBOX_OLDEST_AGE, "publisher" => self.publisher.clone())
                .set(b.oldest_age_secs);
            metrics::gauge!(OUTBOX_UNROUTABLE, "publisher" => self.publisher.clone())
                .set(b.unroutable as f64);
        }
    }

    /// Claims up to one batch, publishes it with confirms, stamps the confirmed rows.
    /// Returns how many rows were claimed.
    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let publisher = self.bus.publisher().ok_or(PublishError::NotConnected)?;
        let mut tx = self.pool.begin().await?;
        let rows = self.claim(&mut tx).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let verdicts = match send_all(&publisher, &rows).await {
            Ok(verdicts) => verdicts,
            // The channel is gone: nothing of this batch counts as sent. Rolling back
            // leaves every row to be published again after the reconnect.
            Err(e) => {
                drop(tx);
                self.note_failure(rows.iter().map(|r| r.id).collect(), &e.to_string())
                    .await;
                return Err(e.into());
            }
        };
        self.settle(&mut tx, &rows, verdicts).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// The oldest due rows of this publisher, locked for this transaction only.
    async fn claim(&self, tx: &mut sqlx::PgConnection) -> Result<Vec<Row>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, exchange, routing_key, message_type, payload::text AS payload, headers, mandatory, attempts
             FROM outbox
             WHERE publisher = $1 AND published_at IS NULL
               AND (next_attempt_at IS NULL OR next_attempt_at <= now())
             ORDER BY id
             LIMIT $2
             FOR UPDATE SKIP LOCKED",
        )
        .bind(&self.publisher)
        .bind(self.batch_size)
        .fetch_all(tx)
        .await
    }

    /// Stamps the rows the broker took; schedules the others for a later attempt.
    async fn settle(
        &self,
        tx: &mut sqlx::PgConnection,
        rows: &[Row],
        verdicts: Vec<Result<(), PublishError>>,
    ) -> Result<(), sqlx::Error> {
        let mut published = Vec::with_capacity(rows.len());
        for (row, verdict) in rows.iter().zip(verdicts) {
            match verdict {
                Ok(()) => published.push(row.id),
                Err(e) => self.retry_later(&mut *tx, row, &e).await?,
            }
        }
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&published)
            .execute(&mut *tx)
            .await?;
        metrics::counter!(OUTBOX_PUBLISHED, "publisher" => self.publisher.clone())
            .increment(published.len() as u64);
        Ok(())
    }

    /// A row the broker refused (nack, or unroutable although the contract routes it)
    /// waits `retry_delay` before its next attempt; the rows behind it go on.
    async fn retry_later(
        &self,
        tx: &mut sqlx::PgConnection,
        row: &Row,
        error: &PublishError,
    ) -> Result<(), sqlx::Error> {
        if matches!(error, PublishError::Unroutable { .. }) {
            metrics::counter!(OUTBOX_UNROUTABLE_RETURNS, "publisher" => self.publisher.clone())
                .increment(1);
        }
        tracing::warn!(id = %row.id, message_type = %row.message_type, %error, attempts = row.attempts + 1, "outbox row not published; will retry");
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = now() + make_interval(secs => $3)
             WHERE id = $1",
        )
        .bind(row.id)
        .bind(error.to_string())
        .bind(retry_delay(row.attempts).as_secs_f64())
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Records a failed attempt on rows whose claim was rolled back (best effort).
    async fn note_failure(&self, ids: Vec<Uuid>, error: &str) {
        metrics::counter!(OUTBOX_PUBLISH_FAILURES, "publisher" => self.publisher.clone())
            .increment(ids.len() as u64);
        let _ = sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1) AND published_at IS NULL")
            .bind(&ids)
            .bind(error)
            .execute(&self.pool)
            .await;
    }
}

/// Sends every row, then awaits the confirms together (they pipeline). An error means
/// the channel failed mid-batch and nothing of it counts as sent.
async fn send_all(
    publisher: &crate::Publisher,
    rows: &[Row],
) -> Result<Vec<Result<(), PublishError>>, PublishError> {
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.id.to_string();
        let confirm = publisher
            .send(
                RawMessage {
                    exchange: &row.exchange,
                    routing_key: &row.routing_key,
                    message_id: &id,
                    message_type: &row.message_type,
                    body: row.payload.as_bytes(),
                    // Must reach a queue when the contract routes it (or it is a command);
                    // one no service consumes yet goes nowhere, as the broker would do.
                    mandatory: row.mandatory
                        || topology::expects_route(&row.exchange, &row.routing_key),
                },
                trace_context::to_field_table(&row.headers.0),
            )
            .await?;
        pending.push(confirm);
    }
    Ok(join_all(pending.into_iter().map(|p| p.wait())).await)
}

/// The next notification; never resolves without a listener (the poll tick wakes us).
async fn recv(
    listener: &mut Option<PgListener>,
) -> Result<Option<sqlx::postgres::PgNotification>, sqlx::Error> {
    match listener {
        Some(l) => l.try_recv().await,
        None => std::future::pending().await,
    }
}

fn failure_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Delay before a row refused by the broker is tried again: 1 s doubling to 5 min.
fn retry_delay(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 9) as u32;
    Duration::from_secs((1u64 << exp).min(300))
}
