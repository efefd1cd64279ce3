//! The transactional outbox: its storage. The relay that publishes it is
//! [`crate::relay`].
//!
//! A service never publishes from inside a request: [`enqueue`] writes the message to
//! `outbox` in the caller's transaction, together with the state change it reports.
//! A trigger NOTIFYs channel `outbox` (delivered on commit only, so a rolled-back
//! transaction wakes nobody and leaves nothing to publish).
//!
//! The [`crate::OutboxRelay`] of the publishing service is woken by that notification (with a
//! periodic poll as a backstop for notifications lost while its LISTEN connection was
//! down), claims the oldest unpublished rows with `FOR UPDATE SKIP LOCKED` (so several
//! relays share the work without publishing a row twice), publishes them with confirms,
//! and stamps `published_at` on the confirmed ones in the same transaction. While the
//! broker is down the outbox grows and nothing is lost. A crash between the confirm and
//! the commit publishes a row again: consumers' inboxes absorb it.
//!
//! Every message the topology contract routes (and every command) is published
//! `mandatory`. One that the broker returns unroutable (a binding removed by hand, a
//! broker rebuilt without the contract) is not sent: it stays in the outbox, is retried
//! with backoff and counted in `incident_outbox_unroutable_messages`, and is delivered once the binding is
//! back. One the contract routes nowhere (an event no service consumes yet) is published
//! without `mandatory`, to nobody, as the broker does with any unbound message.

use std::collections::BTreeMap;
use std::time::Duration;

use incident_schema::contract::{Kind, Message};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::envelope::Envelope;
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
    /// The trace context its AMQP headers carry; `None` (the usual): the writer's current
    /// span's, captured by [`enqueue`]. Set by a writer applying work of several callers
    /// (a batch), so each message continues its own caller's trace.
    pub trace_context: Option<BTreeMap<String, String>>,
}

impl OutgoingMessage {
    /// An event on `incidents.events`, routed by its type.
    pub fn event(envelope: Envelope) -> Self {
        Self {
            exchange: topology::EVENTS.into(),
            routing_key: envelope.message_type.clone(),
            mandatory: false,
            envelope,
            trace_context: None,
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

    /// Continues the trace of `span` (another task's, say) rather than the writer's.
    pub fn traced(mut self, span: &tracing::Span) -> Self {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        self.trace_context = Some(trace_context::inject(&span.context()));
        self
    }

    /// A command on `incidents.commands`, routed by its type; it must reach its owner.
    pub fn command(envelope: Envelope) -> Self {
        Self {
            exchange: topology::COMMANDS.into(),
            routing_key: envelope.message_type.clone(),
            mandatory: true,
            envelope,
            trace_context: None,
        }
    }
}

/// Writes `messages` to the outbox in the caller's transaction, to be published by
/// `publisher`'s relay once it commits. Captures the current trace context for the
/// messages that carry none of their own.
pub async fn enqueue(
    conn: &mut PgConnection,
    publisher: &str,
    messages: &[OutgoingMessage],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let current = trace_context::current();
    let mut headers = Vec::with_capacity(messages.len());
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
        headers.push(Json(m.trace_context.as_ref().unwrap_or(&current)));
    }
    // One statement: one round trip and one NOTIFY, whatever the batch size.
    sqlx::query(
        "INSERT INTO outbox (id, publisher, exchange, routing_key, message_type, payload, headers, mandatory)
         SELECT u.id, $2, u.exchange, u.routing_key, u.message_type, u.payload, u.headers, u.mandatory
         FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::bool[])
              AS u(id, exchange, routing_key, message_type, payload, headers, mandatory)",
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
pub(crate) const UNROUTABLE_PREFIX: &str = "no queue is bound";

/// Deletes published rows older than `age`; returns how many.
pub async fn prune(pool: &PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)")
            .bind(age.as_secs_f64())
            .execute(pool)
            .await?;
    Ok(result.rows_affected())
}
