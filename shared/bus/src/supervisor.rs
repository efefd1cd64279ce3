//! The [`Bus`]: one supervised broker connection per process component.
//!
//! The supervisor connects (with exponential backoff and jitter), declares the topology,
//! opens a confirm-mode publishing channel, starts the registered consumers and then
//! watches the connection. When the broker closes it, a consumer stream ends or the
//! connection reports an error, it drops everything and starts over; consumers resume
//! without a restart of the service. While disconnected, [`Bus::is_connected`] is false
//! (readiness reports it) and publishing answers [`PublishError::NotConnected`]; the
//! outbox keeps the events meanwhile.
//!
//! lapin's own opt-in auto-recovery is not used: it drops the publish in flight.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt as _;
use incident_runtime::metrics::{BUS_CONNECTED, BUS_DEAD_LETTER, BUS_QUEUE_READY};
use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::types::LongString;
use lapin::{Channel, Connection, ConnectionProperties, Event};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::consumer::{self, Handler, Registration, RetryPolicy};
use crate::outbox::OutgoingMessage;
use crate::publisher::{PublishError, Publisher, RawMessage};
use crate::topology::{self, QueueSpec};
use crate::trace_context;

/// Configures a [`Bus`]: the queues to declare and the consumers to run.
pub struct BusBuilder {
    url: String,
    service: String,
    prefetch: u16,
    consumers_per_queue: usize,
    retry: RetryPolicy,
    reconnect_min_delay: Duration,
    queues: Vec<QueueSpec>,
    contract: bool,
    consumers: Vec<Registration>,
}

impl BusBuilder {
    /// A bus for `service` (used in connection and consumer names) on the broker at `url`.
    pub fn new(url: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            service: service.into(),
            prefetch: 16,
            consumers_per_queue: 1,
            retry: RetryPolicy::default(),
            reconnect_min_delay: Duration::from_millis(100),
            queues: Vec::new(),
            contract: true,
            consumers: Vec::new(),
        }
    }

    /// Whether to declare the whole system's topology ([`topology::contract`]) at every
    /// connect, as every service does (the default). Benchmarks and tests of the bus
    /// itself may leave it out to keep their vhost to their own queues.
    pub fn declare_contract(mut self, yes: bool) -> Self {
        self.contract = yes;
        self
    }

    /// Unacknowledged deliveries each consumer may hold (bounded, never 0).
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Consumers (each on its own channel) per consumed queue.
    pub fn consumers_per_queue(mut self, n: usize) -> Self {
        self.consumers_per_queue = n.max(1);
        self
    }

    /// How transient handler failures are retried.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The first delay before reconnecting (it doubles up to 10 s, with jitter).
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_min_delay = delay;
        self
    }

    /// Declares a queue without consuming it.
    pub fn declare(mut self, queue: QueueSpec) -> Self {
        self.queues.push(queue);
        self
    }

    /// Declares `queue` and consumes it with `handler`; effects commit in `pool`, and the
    /// queue name is the inbox's consumer name.
    pub fn consume(self, queue: QueueSpec, pool: PgPool, handler: impl Handler) -> Self {
        self.consume_in_lanes(queue, pool, handler, 1)
    }

    /// As [`Self::consume`], but each consumer applies up to `concurrency` deliveries at
    /// once, ordered within the lanes [`Handler::lane`] names (messages of one lane one
    /// after another, in delivery order); each holds a connection of `pool` while it runs.
    pub fn consume_in_lanes(
        mut self,
        queue: QueueSpec,
        pool: PgPool,
        handler: impl Handler,
        concurrency: usize,
    ) -> Self {
        self.consumers.push(Registration {
            queue: queue.name.clone(),
            pool,
            handler: Arc::new(handler),
            concurrency: concurrency.max(1),
        });
        self.queues.push(queue);
        self
    }

    /// The contract's queues (unless left out) with this bus's own, which take precedence
    /// over a contract queue of the same name.
    fn queues_to_declare(&self) -> Vec<QueueSpec> {
        let mut queues: Vec<QueueSpec> = if self.contract {
            topology::contract()
                .into_iter()
                .filter(|c| !self.queues.iter().any(|q| q.name == c.name))
                .collect()
        } else {
            Vec::new()
        };
        queues.extend(self.queues.iter().cloned());
        queues
    }

    /// Starts the supervisor. It runs until `shutdown` is cancelled; then consumers
    /// finish and acknowledge the message in hand and the connection is closed.
    pub fn start(self, shutdown: CancellationToken) -> (Bus, JoinHandle<()>) {
        let (session, _) = watch::channel(None);
        let bus = Bus {
            shared: Arc::new(Shared {
                session,
                service: self.service.clone(),
            }),
        };
        let task = tokio::spawn(supervise(self, bus.clone(), shutdown));
        (bus, task)
    }
}

struct Shared {
    session: watch::Sender<Option<Publisher>>,
    service: String,
}

/// A handle on the supervised connection: publish, check readiness. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl Bus {
    /// Whether the broker connection is up (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.shared.session.borrow().is_some()
    }

    /// The service this bus belongs to.
    pub fn service(&self) -> &str {
        &self.shared.service
    }

    /// The current publishing channel, if connected.
    pub fn publisher(&self) -> Option<Publisher> {
        self.shared.session.borrow().clone()
    }

    /// Waits until connected (or `shutdown`), returning the publishing channel.
    pub async fn wait_connected(&self, shutdown: &CancellationToken) -> Option<Publisher> {
        let mut rx = self.shared.session.subscribe();
        tokio::select! {
            session = rx.wait_for(Option::is_some) => session.ok().and_then(|s| s.clone()),
            () = shutdown.cancelled() => None,
        }
    }

    /// Publishes one message directly and waits for its confirm. Prefer the outbox for
    /// anything that follows a state change; this is for relays and front doors.
    pub async fn publish(&self, message: &OutgoingMessage) -> Result<(), PublishError> {
        let publisher = self.publisher().ok_or(PublishError::NotConnected)?;
        let body = serde_json::to_vec(&message.envelope)?;
        let id = message.envelope.id.to_string();
        let headers = trace_context::to_field_table(&trace_context::current());
        publisher
            .publish(
                RawMessage {
                    exchange: &message.exchange,
                    routing_key: &message.routing_key,
                    message_id: &id,
                    message_type: &message.envelope.message_type,
                    body: &body,
                    mandatory: message.mandatory,
                },
                headers,
            )
            .await
    }
}

fn reconnect_backoff(min_delay: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(min_delay)
        .with_max_delay(Duration::from_secs(10).max(min_delay))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn supervise(config: BusBuilder, bus: Bus, shutdown: CancellationToken) {
    let connected_gauge = metrics::gauge!(BUS_CONNECTED, "service" => config.service.clone());
    let mut backoff = reconnect_backoff(config.reconnect_min_delay);
    let mut generation: u64 = 0;
    while !shutdown.is_cancelled() {
        match connect(&config).await {
            Ok((connection, channel)) => {
                generation += 1;
                backoff = reconnect_backoff(config.reconnect_min_delay);
                tracing::info!(service = %config.service, generation, "connected to the broker");
                bus.shared
                    .session
                    .send_replace(Some(Publisher::new(channel.clone())));
                connected_gauge.set(1.0);
                let reason = run_connected(&config, &connection, generation, &shutdown).await;
                bus.shared.session.send_replace(None);
                connected_gauge.set(0.0);
                // Close the publishing channel ourselves: left to its last handle's drop,
                // its close races the connection's and lapin logs a spurious error.
                let _ = channel.close(200, "closing".into()).await;
                drop(channel);
                if shutdown.is_cancelled() {
                    let _ = connection.close(200, "shutdown".into()).await;
                    tracing::info!(service = %config.service, "broker connection closed for shutdown");
                    return;
                }
                tracing::warn!(service = %config.service, %reason, "broker connection lost; reconnecting");
                let _ = connection.close(320, "reconnecting".into()).await;
            }
            Err(e) => {
                tracing::warn!(service = %config.service, error = %e, "cannot connect to the broker yet");
            }
        }
        let wait = backoff.next().unwrap_or(Duration::from_secs(10));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The largest frame a service offers the broker, unless its AMQP URL names one
/// (`?frame_max=`): the connection uses the smaller of this and the broker's (RabbitMQ's is
/// 128 KiB). lapin keeps a send and a receive buffer of 32 frames per connection, each
/// zero-filled on connect: 8 MiB of resident memory at 128 KiB, 1 MiB at 16 KiB. A message
/// larger than a frame travels in several frames, as AMQP carries any body.
pub const FRAME_MAX: u32 = 16 * 1024;

/// `url` with [`FRAME_MAX`] as its `frame_max` unless it sets one.
pub fn broker_uri(url: &str) -> lapin::Result<lapin::uri::AMQPUri> {
    let mut uri: lapin::uri::AMQPUri = url
        .parse()
        .map_err(|e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

async fn connect(config: &BusBuilder) -> lapin::Result<(Connection, Channel)> {
    let properties = ConnectionProperties::default()
        .with_connection_name(LongString::from(config.service.as_str()));
    let connection = Connection::connect_uri(broker_uri(&config.url)?, properties).await?;
    let channel = connection.create_channel().await?;
    topology::declare(&channel, &config.queues_to_declare()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((connection, channel))
}

/// How often the depths of the consumed queues (consumer lag) and of the dead-letter
/// queue are sampled into the metrics.
const QUEUE_SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// Samples the ready messages of every queue this bus consumes, and of the dead-letter
/// queue, with passive declares on a channel of their own (a failed declare closes its
/// channel; the next sample opens another).
async fn sample_queues(
    config: &BusBuilder,
    connection: &Connection,
    channel: &mut Option<Channel>,
) {
    if channel.as_ref().is_none_or(|c| !c.status().connected()) {
        *channel = connection.create_channel().await.ok();
    }
    let Some(sampler) = channel.as_ref() else {
        return;
    };
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let queues = config.consumers.iter().map(|r| r.queue.as_str());
    for queue in queues.chain([topology::DEAD_LETTER_QUEUE]) {
        match sampler
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
        {
            Ok(declared) => {
                let depth = f64::from(declared.message_count());
                if queue == topology::DEAD_LETTER_QUEUE {
                    metrics::gauge!(BUS_DEAD_LETTER).set(depth);
                } else {
                    metrics::gauge!(BUS_QUEUE_READY, "queue" => queue.to_owned()).set(depth);
                }
            }
            Err(e) => {
                tracing::debug!(queue, error = %e, "cannot sample the queue's depth");
                *channel = None;
                return;
            }
        }
    }
}

/// Runs the consumers on `connection` until it fails or `shutdown`; returns why it ended.
async fn run_connected(
    config: &BusBuilder,
    connection: &Connection,
    generation: u64,
    shutdown: &CancellationToken,
) -> String {
    let stop = shutdown.child_token();
    let mut consumers = JoinSet::new();
    for registration in &config.consumers {
        for n in 0..config.consumers_per_queue {
            let tag = format!("{}.{}.{generation}.{n}", config.service, registration.queue);
            let channel = match connection.create_channel().await {
                Ok(channel) => channel,
                Err(e) => {
                    stop.cancel();
                    while consumers.join_next().await.is_some() {}
                    return format!("cannot open a consumer channel: {e}");
                }
            };
            consumers.spawn(consumer::run(
                channel,
                registration.clone(),
                tag,
                config.prefetch,
                config.retry.clone(),
                stop.clone(),
            ));
        }
    }
    let mut events = connection.events_listener();
    let mut sample_every = tokio::time::interval(QUEUE_SAMPLE_EVERY);
    sample_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampling = None;
    let reason = loop {
        tokio::select! {
            _ = sample_every.tick() => sample_queues(config, connection, &mut sampling).await,
            event = events.next() => match event {
                Some(Event::Error(e)) => break format!("connection error: {e}"),
                None => break "connection closed".to_owned(),
                Some(Event::ConnectionBlocked(why)) => tracing::warn!(%why, "the broker blocked publishing"),
                Some(_) => {}
            },
            Some(ended) = consumers.join_next() => {
                break match ended {
                    Ok(Ok(())) => "a consumer stopped".to_owned(),
                    Ok(Err(e)) => format!("a consumer failed: {e}"),
                    Err(e) => format!("a consumer task panicked: {e}"),
                };
            }
            () = shutdown.cancelled() => break "shutdown".to_owned(),
        }
    };
    // Consumers finish (and acknowledge) the message in hand before the connection goes.
    stop.cancel();
    while consumers.join_next().await.is_some() {}
    reason
}
