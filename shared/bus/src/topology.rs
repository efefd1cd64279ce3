//! The RabbitMQ topology (ARCHITECTURE.md, "Messaging"), declared on every (re)connect.
//!
//! The topology is one contract: [`contract`] lists every service's queues and bindings,
//! and every binary declares the whole table at every (re)connect (and the `topology`
//! step declares it once before an install). So whichever service starts first, every
//! event already has the queue of each consumer, even one that has never run; an event
//! published before would otherwise be routed nowhere and lost for that consumer.
//! [`expects_route`] tells the relay which messages the contract routes, so one that
//! comes back unroutable (a binding removed by hand) stays in the outbox.
//!
//! Declaring is idempotent as long as the arguments never change: RabbitMQ answers a
//! re-declaration with different arguments with 406 PRECONDITION_FAILED and closes the
//! channel. Queue arguments are therefore a contract; changing one means a new queue name.

use incident_schema::contract::{
    ActionItemCreated, ActionItemOverdue, ActionItemUpdated, DrillRunCompleted,
    IncidentAlertGroupLinked, IncidentDeclared, IncidentStatusChanged, Message as _,
    PostmortemPublished, WebhookSubscriptionDisabled, WorkspaceWeeklyDigest,
};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Facts that happened (`incident.declared`, ...), published by each owner's outbox relay.
pub const EVENTS: &str = "incidents.events";
/// Requests to the owner of the data (`incident.declare`, ...).
pub const COMMANDS: &str = "incidents.commands";
/// Raw alerts from outside (`alert.<source>`).
pub const ALERTS_INGEST: &str = "alerts.ingest";
/// The type of a message of raw alerts on [`ALERTS_INGEST`] (its routing key is
/// `alert.<source>`).
pub const ALERT_MESSAGE: &str = "alert.ingest";
/// Where RabbitMQ puts messages a consumer rejected or that exceeded their delivery limit.
pub const DLX: &str = "incidents.dlx";
/// The queue holding every dead-lettered message, bound `#` on [`DLX`].
pub const DEAD_LETTER_QUEUE: &str = "incidents.dead-letter";
/// Every exchange, all durable topic exchanges.
pub const EXCHANGES: [&str; 4] = [EVENTS, COMMANDS, ALERTS_INGEST, DLX];
/// Deliveries (first plus redeliveries) before RabbitMQ dead-letters a message: a
/// backstop only. RabbitMQ 3.x also counts deliveries a dropped connection returned
/// unstarted (every prefetched message, at every cut), so a low limit dead-letters
/// messages nobody tried; the consumer dead-letters a message it keeps *starting* without
/// finishing itself ([`crate::consumer::MAX_STARTED_ATTEMPTS`]).
///
/// Always set: RabbitMQ 3.10 has no default, 4.x defaults to 20. Changing it changes
/// the queues' arguments: a broker where an older build declared them refuses the new
/// declaration until the queues are deleted (see the README's upgrade notes).
pub const DEFAULT_DELIVERY_LIMIT: u32 = 100;

/// Core's commands (`incident.*` on [`COMMANDS`]).
pub const CORE_COMMANDS: &str = "core.commands";
/// Raw alerts for ingestion's AMQP front.
pub const INGESTION_ALERTS: &str = "ingestion.alerts";
/// The incident events ingestion links alert groups from.
pub const INGESTION_EVENTS: &str = "ingestion.events";
/// Everything the war room mirrors into Slack, and the weekly digest it announces.
pub const WARROOM_EVENTS: &str = "warroom.events";
/// The status changes postmortem drafts on.
pub const POSTMORTEM_EVENTS: &str = "postmortem.events";
/// Every event, for core's outbound webhooks (each subscription picks its types).
pub const CORE_WEBHOOKS: &str = "core.webhooks";
/// Commands addressed to postmortem (`postmortem.*` on [`COMMANDS`]).
pub const POSTMORTEM_COMMANDS: &str = "postmortem.commands";
/// Commands addressed to the SLA watchdog (`drill.*` on [`COMMANDS`]: starting drill runs).
pub const SLA_WATCHDOG_COMMANDS: &str = "sla-watchdog.commands";

/// The whole system's queues and their bindings: the one table every binary declares.
pub fn contract() -> Vec<QueueSpec> {
    vec![
        QueueSpec::new(CORE_COMMANDS).bind(COMMANDS, "incident.*"),
        QueueSpec::new(INGESTION_ALERTS).bind(ALERTS_INGEST, "alert.#"),
        QueueSpec::new(INGESTION_EVENTS)
            .bind(EVENTS, <IncidentDeclared>::TYPE)
            .bind(EVENTS, <IncidentAlertGroupLinked>::TYPE),
        QueueSpec::new(WARROOM_EVENTS)
            .bind(EVENTS, "incident.#")
            .bind(EVENTS, <PostmortemPublished>::TYPE)
            .bind(EVENTS, <ActionItemCreated>::TYPE)
            .bind(EVENTS, <ActionItemUpdated>::TYPE)
            .bind(EVENTS, ActionItemOverdue::TYPE)
            .bind(EVENTS, WorkspaceWeeklyDigest::TYPE)
            .bind(EVENTS, WebhookSubscriptionDisabled::TYPE)
            .bind(EVENTS, DrillRunCompleted::TYPE),
        QueueSpec::new(POSTMORTEM_EVENTS).bind(EVENTS, <IncidentStatusChanged>::TYPE),
        QueueSpec::new(POSTMORTEM_COMMANDS).bind(COMMANDS, "postmortem.*"),
        QueueSpec::new(SLA_WATCHDOG_COMMANDS).bind(COMMANDS, "drill.*"),
        webhook_events(),
    ]
}

/// [`CORE_WEBHOOKS`], bound to each event type of the contract by name rather than `#`:
/// a name outside the contract stays routed nowhere (and so is not held in the outbox).
fn webhook_events() -> QueueSpec {
    incident_schema::contract::ALL
        .iter()
        .filter(|(_, kind)| *kind == incident_schema::contract::Kind::Event)
        .fold(QueueSpec::new(CORE_WEBHOOKS), |queue, (name, _)| {
            queue.bind(EVENTS, name)
        })
}

/// The contract's queue called `name`.
///
/// # Panics
/// If the contract has no such queue: a service consuming a queue outside the table is a
/// programming error that the services' own tests catch at once.
pub fn queue(name: &str) -> QueueSpec {
    contract()
        .into_iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("queue {name} is not in the topology contract"))
}

/// Whether the contract binds some queue to `exchange` for `routing_key`: a message
/// for which it does must reach a queue, and one returned unroutable was not delivered.
pub fn expects_route(exchange: &str, routing_key: &str) -> bool {
    contract().iter().any(|q| {
        q.bindings
            .iter()
            .any(|(x, pattern)| x == exchange && topic_matches(pattern, routing_key))
    })
}

/// AMQP topic matching: words split on `.`, `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn go(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                go(&pattern[1..], key) || (!key.is_empty() && go(pattern, &key[1..]))
            }
            (Some(&"*"), Some(_)) => go(&pattern[1..], &key[1..]),
            (Some(p), Some(k)) => p == k && go(&pattern[1..], &key[1..]),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    go(&pattern, &key)
}

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

/// Connects to the broker at `url`, declares the whole contract and disconnects: the
/// `topology` step an installer (a Helm pre-install Job) runs before the services start.
pub async fn declare_contract(url: &str) -> lapin::Result<()> {
    let connection = lapin::Connection::connect_uri(
        crate::supervisor::broker_uri(url)?,
        lapin::ConnectionProperties::default()
            .with_connection_name(lapin::types::LongString::from("topology")),
    )
    .await?;
    let channel = connection.create_channel().await?;
    declare(&channel, &contract()).await?;
    let _ = channel.close(200, "declared".into()).await;
    connection.close(200, "declared".into()).await
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

#[cfg(test)]
mod tests {
    use incident_schema::contract::{
        ActionItemCreated, Declare, GeneratePostmortem, StartDrillRun,
    };

    use super::*;

    #[test]
    fn topic_patterns_match_as_rabbitmq_does() {
        let cases = [
            ("incident.*", "incident.declared", true),
            ("incident.*", "incident.declared.extra", false),
            ("incident.*", "incident", false),
            ("incident.#", "incident.declared", true),
            ("incident.#", "incident", true),
            ("alert.#", "alert.grafana.v1", true),
            ("#", "anything.at.all", true),
            ("postmortem.published", "postmortem.published", true),
            ("postmortem.published", "postmortem.drafted", false),
            ("*.resolved", "alert_group.resolved", true),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(topic_matches(pattern, key), expected, "{pattern} ~ {key}");
        }
    }

    #[test]
    fn the_contract_routes_what_its_consumers_need_and_nothing_else() {
        assert!(expects_route(EVENTS, <IncidentDeclared>::TYPE));
        assert!(expects_route(EVENTS, <PostmortemPublished>::TYPE));
        assert!(expects_route(EVENTS, WorkspaceWeeklyDigest::TYPE));
        assert!(expects_route(COMMANDS, Declare::TYPE));
        assert!(expects_route(COMMANDS, GeneratePostmortem::TYPE));
        assert!(expects_route(COMMANDS, StartDrillRun::TYPE));
        assert!(expects_route(ALERTS_INGEST, "alert.alertmanager"));
        assert!(
            expects_route(EVENTS, <ActionItemCreated>::TYPE),
            "core.webhooks takes it"
        );
        assert!(!expects_route(EVENTS, "nobody.consumes_this"));
        assert!(!expects_route(COMMANDS, "nobody.listens"));
        let names: Vec<String> = contract().into_iter().map(|q| q.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "queue names are unique: {names:?}"
        );
    }
}
