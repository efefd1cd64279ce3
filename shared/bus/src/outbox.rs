//! The transactional outbox.
//!
//! A service never publishes from inside a request: [`enqueue`] writes the message to
//! `outbox` in the caller's transaction, together with the state change it reports.
//! A trigger NOTIFYs channel `outbox` (delivered on commit only, so a rolled-back
//! transaction wakes nobody and leaves nothing to publish).
//!
//! The [`OutboxRelay`] of the publishing service is woken by that notification (with a
//! periodic poll as a backstop for notifications lost while its LISTEN connection was
//! down), claims the oldest unpublished rows with `FOR UPDATE SKIP LOCKED` (so several
//! relays share the work without publishing a row twice), publishes them with confirms,
//! and stamps `published_at` on the confirmed ones in the same transaction. While the
//! broker is down the outbox grows and nothing is lost. A crash between the confirm and
//! the commit publishes a row again: consumers' inboxes absorb it.
//!
//! Every message is published `mandatory`. One that the broker returns unroutable although
//! the topology contract binds a queue for it (a binding removed by hand, a broker rebuilt
//! without the contract) is not sent: it stays in the outbox, is retried with backoff and
//! counted in `outbox_unroutable`, and is delivered once the binding is back. One the
//! contract routes nowhere (an event no service consumes yet) is published to nobody,
//! as the broker would do with any unbound message.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::future::join_all;
use incident_schema::contract::{Kind, Message};
use sqlx::postgres::PgListener;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::envelope::Envelope;
use crate::publisher::{PublishError, RawMessage};
use crate::supervisor::Bus;
use crate::{topology, trace_context};

/// The NOTIFY channel the outbox trigger signals; the payload is the publisher's name.
pub const CHANNEL: &str = "outbox";

/// A message to be published: where to, and the envelope.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Target exchange.
    pub exchange: String,
    /// Routing key (by convention the message type).
    pub routing_key: String,
    /// Must reach a queue even when the topology contract binds none: true for commands,
    /// which need an owner to act. (Every message is published `mandatory`; an event the
    /// contract routes must reach its queues too, see the module doc.)
    pub mandatory: bool,
    /// The message.
    pub envelope: Envelope,
}

impl OutgoingMessage {
    /// An event on `incidents.events`, routed by its type.
    pub fn event(envelope: Envelope) -> Self {
        Self {
            exchange: topology::EVENTS.into(),
            routing_key: envelope.message_type.clone(),
            mandatory: false,
            envelope,
        }
    }

    /// The contract message `payload` of `workspace_id`, routed by its type: an event on
    /// `incidents.events`, a command on `incidents.commands` (which must reach its owner).
    pub fn of<M: Message>(workspace_id: Uuid, payload: &M) -> Result<Self, serde_json::Error> {
        Ok(Self::routed::<M>(Envelope::of(workspace_id, payload)?))
    }

    /// `envelope`, made by [`Envelope::of::<M>`](Envelope::of) (and perhaps marked as
    /// caused by another), routed as `M`.
    pub fn routed<M: Message>(envelope: Envelope) -> Self {
        match M::KIND {
            Kind::Event => Self::event(envelope),
            Kind::Command => Self::command(envelope),
        }
    }

    /// Marks the message as caused by `cause`, if there is one.
    pub fn caused_by(mut self, cause: Option<&Envelope>) -> Self {
        self.envelope = self.envelope.caused_by_opt(cause);
        self
    }

    /// Sets when the fact happened (by default, when the message was made).
    pub fn occurred_at(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.envelope.occurred_at = at;
        self
    }

    /// A command on `incidents.commands`, routed by its type; it must reach its owner.
    pub fn command(envelope: Envelope) -> Self {
        Self {
            exchange: topology::COMMANDS.into(),
            routing_key: envelope.message_type.clone(),
            mandatory: true,
            envelope,
        }
    }
}

/// Writes `messages` to the outbox in the caller's transaction, to be published by
/// `publisher`'s relay once it commits. Captures the current trace context.
pub async fn enqueue(
    conn: &mut PgConnection,
    publisher: &str,
    messages: &[OutgoingMessage],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let headers = Json(trace_context::current());
    let mut ids = Vec::with_capacity(messages.len());
    let mut exchanges = Vec::with_capacity(messages.len());
    let mut keys = Vec::with_capacity(messages.len());
    let mut types = Vec::with_capacity(messages.len());
    let mut payloads = Vec::with_capacity(messages.len());
    let mut mandatory = Vec::with_capacity(messages.len());
    for m in messages {
        ids.push(m.envelope.id);
        exchanges.push(m.exchange.clone());
        keys.push(m.routing_key.clone());
        types.push(m.envelope.message_type.clone());
        payloads.push(Json(&m.envelope));
        mandatory.push(m.mandatory);
    }
    // One statement: one round trip and one NOTIFY, whatever the batch size.
    sqlx::query(
        "INSERT INTO outbox (id, publisher, exchange, routing_key, message_type, payload, headers, mandatory)
         SELECT u.id, $2, u.exchange, u.routing_key, u.message_type, u.payload, $7, u.mandatory
         FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $8::bool[])
              AS u(id, exchange, routing_key, message_type, payload, mandatory)",
    )
    .bind(&ids)
    .bind(publisher)
    .bind(&exchanges)
    .bind(&keys)
    .bind(&types)
    .bind(&payloads)
    .bind(&headers)
    .bind(&mandatory)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts of the outbox, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Rows not yet published.
    pub pending: i64,
    /// Age in seconds of the oldest unpublished row (0 when none).
    pub oldest_age_secs: f64,
    /// Unpublished rows whose last attempt came back unroutable (a missing binding).
    pub unroutable: i64,
}

/// How many of `publisher`'s rows wait, and since when.
pub async fn backlog(pool: &PgPool, publisher: &str) -> Result<Backlog, sqlx::Error> {
    let (pending, oldest, unroutable): (i64, Option<f64>, i64) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8,
                count(*) FILTER (WHERE last_error LIKE $2)
         FROM outbox WHERE publisher = $1 AND published_at IS NULL",
    )
    .bind(publisher)
    .bind(format!("{UNROUTABLE_PREFIX}%"))
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        pending,
        oldest_age_secs: oldest.unwrap_or(0.0),
        unroutable,
    })
}

/// How [`PublishError::Unroutable`] begins in `outbox.last_error`.
const UNROUTABLE_PREFIX: &str = "no queue is bound";

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
            metrics::gauge!("outbox_pending", "publisher" => self.publisher.clone())
                .set(b.pending as f64);
            metrics::gauge!("outbox_oldest_pending_seconds", "publisher" => self.publisher.clone())
                .set(b.oldest_age_secs);
            metrics::gauge!("outbox_unroutable", "publisher" => self.publisher.clone())
                .set(b.unroutable as f64);
        }
    }

    /// Claims up to one batch, publishes it with confirms, stamps the confirmed rows.
    /// Returns how many rows were claimed.
    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let publisher = self.bus.publisher().ok_or(PublishError::NotConnected)?;
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
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
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let claimed = rows.len();

        // Send the whole batch, then await the confirms together (they pipeline).
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = row.id.to_string();
            let sent = publisher
                .send(
                    RawMessage {
                        exchange: &row.exchange,
                        routing_key: &row.routing_key,
                        message_id: &id,
                        message_type: &row.message_type,
                        body: row.payload.as_bytes(),
                        mandatory: true,
                    },
                    trace_context::to_field_table(&row.headers.0),
                )
                .await;
            match sent {
                Ok(confirm) => pending.push(confirm),
                // The channel is gone: nothing of this batch counts as sent. Rolling back
                // leaves every row to be published again after the reconnect.
                Err(e) => {
                    drop(tx);
                    self.note_failure(rows.iter().map(|r| r.id).collect(), &e.to_string())
                        .await;
                    return Err(e.into());
                }
            }
        }
        let verdicts = join_all(pending.into_iter().map(|p| p.wait())).await;

        let mut published = Vec::with_capacity(claimed);
        let mut unrouted = 0_u64;
        for (row, verdict) in rows.iter().zip(verdicts) {
            match verdict {
                Ok(()) => published.push(row.id),
                // Nobody is meant to consume it (yet): routed nowhere, as without mandatory.
                Err(PublishError::Unroutable { .. })
                    if !row.mandatory
                        && !topology::expects_route(&row.exchange, &row.routing_key) =>
                {
                    unrouted += 1;
                    published.push(row.id);
                }
                Err(e) => {
                    if matches!(e, PublishError::Unroutable { .. }) {
                        metrics::counter!("outbox_unroutable_total", "publisher" => self.publisher.clone())
                            .increment(1);
                    }
                    tracing::warn!(id = %row.id, message_type = %row.message_type, error = %e, attempts = row.attempts + 1, "outbox row not published; will retry");
                    let delay = retry_delay(row.attempts);
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                                next_attempt_at = now() + make_interval(secs => $3)
                         WHERE id = $1",
                    )
                    .bind(row.id)
                    .bind(e.to_string())
                    .bind(delay.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&published)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("outbox_published_total", "publisher" => self.publisher.clone())
            .increment(published.len() as u64);
        if unrouted > 0 {
            tracing::debug!(publisher = %self.publisher, unrouted, "published events no queue is bound for");
        }
        Ok(claimed)
    }

    /// Records a failed attempt on rows whose claim was rolled back (best effort).
    async fn note_failure(&self, ids: Vec<Uuid>, error: &str) {
        metrics::counter!("outbox_publish_failures_total", "publisher" => self.publisher.clone())
            .increment(ids.len() as u64);
        let _ = sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1) AND published_at IS NULL")
            .bind(&ids)
            .bind(error)
            .execute(&self.pool)
            .await;
    }
}

/// Deletes published rows older than `age`; returns how many.
pub async fn prune(pool: &PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)")
            .bind(age.as_secs_f64())
            .execute(pool)
            .await?;
    Ok(result.rows_affected())
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
