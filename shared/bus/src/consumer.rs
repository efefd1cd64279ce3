//! The consumer runner: turns deliveries into committed effects, exactly once in effect.
//!
//! For each delivery:
//! 1. parse the envelope; a payload that is not one is rejected without requeue, so
//!    RabbitMQ dead-letters it to `incidents.dlx` (the reason is logged); so is an event
//!    or command whose routing key disagrees with its `type` (it was routed as one
//!    message and would be applied as another);
//! 2. in one transaction, record `(queue, message id)` in the inbox and run the handler;
//!    a message already in the inbox is a duplicate and commits nothing new;
//! 3. commit, then acknowledge. Acking only after commit means a crash in between
//!    redelivers the message and the inbox absorbs it.
//!
//! A transient failure (database unavailable, a dependency down) is retried in-process
//! with exponential backoff and jitter, holding the delivery; when the retries run out
//! it is nacked with requeue. A redelivered message is counted each time it is *started*
//! (`consumer_attempts`) and dead-lettered after [`MAX_STARTED_ATTEMPTS`]; RabbitMQ's own
//! delivery limit, which also counts deliveries returned unstarted by a dropped
//! connection, is set far higher as a backstop. A permanent failure is rejected to the dead-letter queue at
//! once. On shutdown the runner stops taking deliveries and finishes the ones in hand;
//! prefetched deliveries it never started return to the queue when its channel closes.
//!
//! By default a consumer applies one delivery at a time, in the order the broker sent
//! them. A consumer registered with a concurrency above one ([`crate::BusBuilder::consume_in_lanes`])
//! applies up to that many side by side, in *lanes*: [`Handler::lane`] names the key a
//! message must be ordered by (an incident, say), and deliveries of one lane are applied
//! one after another in delivery order while other lanes run beside them. A message
//! without a lane is ordered with nothing. Each delivery is still settled on its own,
//! after its own commit, so a crash loses nothing and redelivers only the unsettled.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use incident_runtime::metrics::{BUS_MESSAGE_HANDLING, BUS_MESSAGES_CONSUMED};

use crate::envelope::Envelope;
use crate::{inbox, topology, trace_context};

/// Why a handler could not apply a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Trying again later may succeed (database or a dependency unavailable).
    #[error("transient: {0}")]
    Transient(String),
    /// The message can never be applied (it violates the contract); it is dead-lettered.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandlerError {
    /// A permanent failure with a reason.
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::Permanent(reason.to_string())
    }

    /// A transient failure with a reason.
    pub fn transient(reason: impl std::fmt::Display) -> Self {
        Self::Transient(reason.to_string())
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

impl From<sqlx::Error> for HandlerError {
    /// Connection trouble, pool exhaustion, serialization failures and deadlocks are
    /// transient; anything else (a constraint the message violates, bad SQL) is not.
    fn from(error: sqlx::Error) -> Self {
        if is_transient_database_error(&error) {
            Self::Transient(error.to_string())
        } else {
            Self::Permanent(error.to_string())
        }
    }
}

impl From<serde_json::Error> for HandlerError {
    fn from(error: serde_json::Error) -> Self {
        Self::Permanent(format!(
            "payload does not match the message contract: {error}"
        ))
    }
}

/// Whether a database error is worth retrying.
pub fn is_transient_database_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 08: connection exceptions; 40001/40P01: serialization failure, deadlock;
            // 53: insufficient resources; 57P01-57P03: admin shutdown, crash, cannot connect now.
            code.starts_with("08")
                || code == "40001"
                || code == "40P01"
                || code.starts_with("53")
                || code.starts_with("57P")
        }
        _ => false,
    }
}

/// Applies one message inside the runner's transaction.
///
/// Implementations do their database work on `tx` (it commits with the inbox row) and
/// must be idempotent with respect to anything outside the database.
pub trait Handler: Send + Sync + 'static {
    /// Applies `message`.
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// The key `message` must be ordered by when the consumer applies several messages at
    /// once: messages of one lane are applied in delivery order, one at a time. `None`
    /// (the default) orders it with nothing. Unused by a consumer of concurrency one,
    /// which applies everything in order.
    fn lane(&self, message: &Envelope) -> Option<String> {
        let _ = message;
        None
    }
}

/// How transient failures are retried before the delivery is given back to the queue.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First delay.
    pub min_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    /// About 30 s in all: 0.1 s doubling to 5 s, 10 retries, with jitter.
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retries: 10,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// A consumer registered with the bus.
#[derive(Clone)]
pub(crate) struct Registration {
    pub(crate) queue: String,
    pub(crate) pool: PgPool,
    pub(crate) handler: Arc<dyn Handler>,
    /// Deliveries applied side by side (in lanes); 1 applies them one at a time.
    pub(crate) concurrency: usize,
}

/// A lane's key: the handler's, or a delivery's own when it is ordered with nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LaneKey {
    Named(String),
    Alone(u64),
}

/// Deliveries waiting for their lane or for a free handler, in delivery order per lane.
///
/// A key is in `lanes` from its first delivery until its last one finished: at most one
/// delivery of a lane is ready or running at a time, the rest wait behind it.
#[derive(Default)]
struct Lanes {
    /// Per lane with a delivery ready or running, the deliveries behind it.
    lanes: HashMap<LaneKey, VecDeque<Delivery>>,
    /// Deliveries whose lane is free, waiting for a handler.
    ready: VecDeque<(LaneKey, Delivery)>,
}

impl Lanes {
    fn push(&mut self, key: LaneKey, delivery: Delivery) {
        match self.lanes.get_mut(&key) {
            Some(behind) => behind.push_back(delivery),
            None => {
                self.lanes.insert(key.clone(), VecDeque::new());
                self.ready.push_back((key, delivery));
            }
        }
    }

    fn next_ready(&mut self) -> Option<(LaneKey, Delivery)> {
        self.ready.pop_front()
    }

    /// The delivery of `key` in hand is settled: the next of its lane becomes ready.
    fn finished(&mut self, key: LaneKey) {
        let next = self.lanes.get_mut(&key).and_then(VecDeque::pop_front);
        match next {
            Some(delivery) => self.ready.push_back((key, delivery)),
            None => {
                self.lanes.remove(&key);
            }
        }
    }
}

/// What happened to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Duplicate,
}

/// Consumes `registration.queue` on `channel` until `stop` or the channel fails, applying
/// up to `registration.concurrency` deliveries at once in their lanes.
pub(crate) async fn run(
    channel: Channel,
    registration: Registration,
    tag: String,
    prefetch: u16,
    retry: RetryPolicy,
    stop: CancellationToken,
) -> lapin::Result<()> {
    let concurrency = registration.concurrency.max(1);
    // Lanes need deliveries beyond the ones in hand to find work for idle handlers.
    let prefetch = prefetch.max(u16::try_from(concurrency * 4).unwrap_or(u16::MAX));
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            registration.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let registration = Arc::new(registration);
    let retry = Arc::new(retry);
    let mut lanes = Lanes::default();
    let mut running = tokio::task::JoinSet::new();
    let mut keys = HashMap::new();
    let mut alone = 0_u64;
    let ended = loop {
        while running.len() < concurrency
            && let Some((key, delivery)) = lanes.next_ready()
        {
            let (registration, retry) = (registration.clone(), retry.clone());
            let task = running.spawn(
                async move { process(&registration, &retry, delivery).await }.in_current_span(),
            );
            keys.insert(task.id(), key);
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break Ok(()),
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => e.id(),
                };
                if let Some(key) = keys.remove(&id) {
                    lanes.finished(key);
                }
                if let Err(e) = done
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let key = lane_of(&registration, &delivery, concurrency).unwrap_or_else(|| {
                        alone += 1;
                        LaneKey::Alone(alone)
                    });
                    lanes.push(key, delivery);
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
        }
    };
    // The deliveries in hand are finished (and settled); the ones never started go back
    // to the queue when the channel closes.
    while running.join_next().await.is_some() {}
    drop(lanes);
    ended?;
    let _ = channel.close(200, "consumer stopping".into()).await;
    Ok(())
}

/// The lane `delivery` is ordered in: the handler's for its envelope; `None` (a lane of
/// its own) when it is not an envelope, or when the consumer applies one at a time.
fn lane_of(
    registration: &Registration,
    delivery: &Delivery,
    concurrency: usize,
) -> Option<LaneKey> {
    if concurrency == 1 {
        return Some(LaneKey::Named(String::new()));
    }
    let envelope: Envelope = serde_json::from_slice(&delivery.data).ok()?;
    registration.handler.lane(&envelope).map(LaneKey::Named)
}

async fn process(registration: &Registration, retry: &RetryPolicy, delivery: Delivery) {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "consume",
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.destination.name = %registration.queue,
        messaging.message.id = %message_id,
        messaging.rabbitmq.destination.routing_key = %delivery.routing_key,
        redelivered = delivery.redelivered,
    );
    trace_context::set_parent_from(&span, delivery.properties.headers().as_ref());
    let started = std::time::Instant::now();
    let outcome = async {
        let envelope: Envelope = match serde_json::from_slice(&delivery.data) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::error!(reason = %e, "rejecting a message that is not a valid envelope; it goes to the dead-letter queue");
                settle(delivery.acker.reject(BasicRejectOptions { requeue: false }).await, "reject");
                return Some("dead_lettered");
            }
        };
        if let Some(reason) = misrouted(&delivery, &envelope) {
            tracing::error!(%reason, "rejecting a misrouted message; it goes to the dead-letter queue");
            settle(delivery.acker.reject(BasicRejectOptions { requeue: false }).await, "reject");
            return Some("dead_lettered");
        }
        if delivery.redelivered
            && let Some(settled) = started_again(registration, &delivery, &envelope).await
        {
            return Some(settled);
        }
        let attempt = || apply(registration, &envelope);
        let result = attempt
            .retry(retry.backoff())
            .when(HandlerError::is_transient)
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "transient failure; retrying"))
            .await;
        let outcome = match result {
            Ok(Outcome::Applied) => {
                settle(delivery.acker.ack(BasicAckOptions::default()).await, "ack");
                "applied"
            }
            Ok(Outcome::Duplicate) => {
                tracing::info!(message_type = %envelope.message_type, "duplicate delivery; already applied");
                settle(delivery.acker.ack(BasicAckOptions::default()).await, "ack");
                "duplicate"
            }
            Err(HandlerError::Permanent(reason)) => {
                tracing::error!(%reason, message_type = %envelope.message_type, "rejecting the message; it goes to the dead-letter queue");
                settle(delivery.acker.reject(BasicRejectOptions { requeue: false }).await, "reject");
                "dead_lettered"
            }
            Err(HandlerError::Transient(reason)) => {
                tracing::warn!(%reason, message_type = %envelope.message_type, "retries exhausted; returning the message to the queue");
                settle(delivery.acker.nack(BasicNackOptions { requeue: true, multiple: false }).await, "nack");
                "requeued"
            }
        };
        Some(outcome)
    }
    .instrument(span)
    .await;
    if let Some(outcome) = outcome {
        let queue = registration.queue.clone();
        metrics::histogram!(BUS_MESSAGE_HANDLING, "queue" => queue.clone(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(BUS_MESSAGES_CONSUMED, "queue" => queue, "outcome" => outcome)
            .increment(1);
    }
}

/// Started attempts after which a redelivered message is dead-lettered: it keeps killing
/// its worker (or the process) before it can finish.
pub const MAX_STARTED_ATTEMPTS: i32 = 5;

/// Counts a redelivered message's start; the outcome (the delivery settled here) when it
/// has been started too often, or when the count cannot be recorded (returned to the
/// queue); `None` to go on handling it.
/// Deliveries returned unstarted by a dropped connection are never counted, unlike the
/// broker's own delivery count (see migration `0054_consumer_attempts.sql`).
async fn started_again(
    registration: &Registration,
    delivery: &Delivery,
    envelope: &Envelope,
) -> Option<&'static str> {
    match inbox::record_start(
        &registration.pool,
        &registration.queue,
        &envelope.id.to_string(),
    )
    .await
    {
        Ok(started) if started > MAX_STARTED_ATTEMPTS => {
            tracing::error!(started, message_type = %envelope.message_type, "rejecting a message started too often without finishing; it goes to the dead-letter queue");
            settle(
                delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await,
                "reject",
            );
            Some("dead_lettered")
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the redelivery; returning the message to the queue");
            settle(
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await,
                "nack",
            );
            Some("requeued")
        }
    }
}

/// Why a delivery's routing disagrees with its envelope, if it does. Events and commands
/// are routed by their type; raw alerts (`alert.<source>`) are routed by their source.
fn misrouted(delivery: &Delivery, envelope: &Envelope) -> Option<String> {
    let exchange = delivery.exchange.as_str();
    let key = delivery.routing_key.as_str();
    let by_type = exchange == topology::EVENTS || exchange == topology::COMMANDS;
    (by_type && key != envelope.message_type).then(|| {
        format!(
            "routing key {key:?} on {exchange} disagrees with the message type {:?}",
            envelope.message_type
        )
    })
}

/// One attempt: inbox row and effects in one transaction.
async fn apply(registration: &Registration, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let mut tx = registration.pool.begin().await?;
    if !inbox::record(&mut tx, &registration.queue, &envelope.id.to_string()).await? {
        tx.commit().await?;
        return Ok(Outcome::Duplicate);
    }
    registration.handler.handle(&mut tx, envelope).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

/// An ack on a dead channel is a no-op returning `false`: the broker redelivers the
/// message and the inbox absorbs it.
fn settle(result: lapin::Result<bool>, what: &str) {
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            what,
            "the channel closed before the {what}; the message will be redelivered"
        ),
        Err(e) => {
            tracing::warn!(what, error = %e, "could not {what}; the message will be redelivered")
        }
    }
}
