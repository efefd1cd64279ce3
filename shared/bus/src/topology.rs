//! The RabbitMQ topology (ARCHITECTURE.md, "Messaging"), declared on every (re)connect.
//!
//! Declaring is idempotent as long as the arguments never change: RabbitMQ answers a
//! re-declaration with different arguments with 406 PRECONDITION_FAILED and closes the
//! channel. Queue arguments are therefore a contract; changing one means a new queue name.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Facts that happened (`incident.declared`, ...), published by each owner's outbox relay.
pub const EVENTS: &str = "incidents.events";
/// Requests to the owner of the data (`incident.declare`, ...).
pub const COMMANDS: &str = "incidents.commands";
/// Raw alerts from outside (`alert.<source>`).
pub const ALERTS_INGEST: &str = "alerts.ingest";
/// Where RabbitMQ puts messages a consumer rejected or that exceeded their delivery limit.
pub const DLX: &str = "incidents.dlx";
/// The queue holding every dead-lettered message, bound `#` on [`DLX`].
pub const DEAD_LETTER_QUEUE: &str = "incidents.dead-letter";
/// Every exchange, all durable topic exchanges.
pub const EXCHANGES: [&str; 4] = [EVENTS, COMMANDS, ALERTS_INGEST, DLX];
/// Deliveries (first plus redeliveries) before a message is dead-lettered.
///
/// Always set: RabbitMQ 3.10 has no default, 4.x defaults to 20.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 5;

/// One service queue: `<service>.<purpose>`, a quorum queue dead-lettering to [`DLX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// The queue name, `<service>.<purpose>`.
    pub name: String,
    /// `(exchange, routing key pattern)` pairs.
    pub bindings: Vec<(String, String)>,
    /// Deliveries before the message is dead-lettered.
    pub delivery_limit: u32,
}

impl QueueSpec {
    /// A queue with no bindings and the default delivery limit.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bindings: Vec::new(),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
        }
    }

    /// Binds the queue to `exchange` with a topic pattern (`incident.*`, `#`).
    pub fn bind(mut self, exchange: &str, routing_key: &str) -> Self {
        self.bindings
            .push((exchange.to_owned(), routing_key.to_owned()));
        self
    }

    /// Sets the delivery limit.
    pub fn delivery_limit(mut self, limit: u32) -> Self {
        self.delivery_limit = limit;
        self
    }

    /// The declaration arguments: a quorum queue with a delivery limit, dead-lettering
    /// at-least-once to [`DLX`] (which requires `reject-publish` overflow).
    fn arguments(&self) -> FieldTable {
        let mut args = quorum_arguments();
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongUInt(self.delivery_limit),
        );
        args.insert("x-dead-letter-exchange".into(), long(DLX));
        args.insert("x-dead-letter-strategy".into(), long("at-least-once"));
        args.insert("x-overflow".into(), long("reject-publish"));
        args
    }
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn quorum_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long("quorum"));
    args
}

/// Declares the exchanges, the dead-letter queue and `queues` with their bindings.
pub async fn declare(channel: &Channel, queues: &[QueueSpec]) -> lapin::Result<()> {
    for exchange in EXCHANGES {
        channel
            .exchange_declare(
                ShortString::from(exchange),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    // The dead-letter queue itself dead-letters nowhere: an operator drains it.
    channel
        .queue_declare(
            DEAD_LETTER_QUEUE.into(),
            QueueDeclareOptions::durable(),
            quorum_arguments(),
        )
        .await?;
    channel
        .queue_bind(
            DEAD_LETTER_QUEUE.into(),
            DLX.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for queue in queues {
        channel
            .queue_declare(
                queue.name.as_str().into(),
                QueueDeclareOptions::durable(),
                queue.arguments(),
            )
            .await?;
        for (exchange, key) in &queue.bindings {
            channel
                .queue_bind(
                    queue.name.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}
