//! Test support (feature `testing`): an isolated RabbitMQ vhost per test, and broker
//! fault injection through `rabbitmqctl`, so tests run in parallel and leave nothing
//! behind. Needs a local RabbitMQ and permission to run `rabbitmqctl` (root, as in CI).

use std::process::Command;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use uuid::Uuid;

use crate::topology::{self, QueueSpec};

/// The broker tests use: host and credentials, without a vhost.
const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672";

/// A vhost that exists for one test and is deleted when dropped.
pub struct TestVhost {
    /// The vhost's name, `t_<uuid>`.
    pub name: String,
    /// An AMQP URL for it.
    pub url: String,
}

impl TestVhost {
    /// Creates the vhost and grants `guest` everything on it.
    pub fn create() -> Self {
        let name = format!("t_{}", Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        let url = format!("{BROKER}/{name}");
        Self { name, url }
    }

    /// Force-closes every client connection on this vhost, as a broker restart or a
    /// network cut would.
    pub fn close_all_connections(&self) {
        rabbitmqctl(&[
            "close_all_connections",
            "-p",
            &self.name,
            "test: injected fault",
        ]);
    }

    /// A plain connection for inspecting queues.
    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("connecting to vhost {}: {e}", self.name))
    }

    /// A channel with the standard topology and `queues` declared.
    pub async fn channel_with(&self, queues: &[QueueSpec]) -> (Connection, Channel) {
        let connection = self.connect().await;
        let channel = connection
            .create_channel()
            .await
            .unwrap_or_else(|e| panic!("opening a channel: {e}"));
        topology::declare(&channel, queues)
            .await
            .unwrap_or_else(|e| panic!("declaring topology: {e}"));
        (connection, channel)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("running rabbitmqctl {args:?}: {e} (is rabbitmq-server installed?)")
        });
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Messages ready in `queue` (passive declare).
pub async fn ready_count(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("inspecting {queue}: {e}"))
        .message_count()
}

/// Takes every message now in `queue`, acknowledging them; returns their bodies.
pub async fn drain(channel: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .unwrap_or_else(|e| panic!("reading {queue}: {e}"))
    {
        let _ = message.delivery.acker.ack(BasicAckOptions::default()).await;
        bodies.push(message.delivery.data);
    }
    bodies
}

/// Consumes `queue` until `n` messages arrived or `timeout`; acknowledges them.
pub async fn collect(
    channel: &Channel,
    queue: &str,
    n: usize,
    timeout: std::time::Duration,
) -> Vec<lapin::message::Delivery> {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("consuming {queue}: {e}"));
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                out.push(delivery);
            }
            _ => break,
        }
    }
    out
}

/// A freshly created, migrated database `name` on the server of `admin_url` (dropped
/// first if it exists), for benchmarks that need a stable database outside `#[sqlx::test]`.
pub async fn bench_database(admin_url: &str, name: &str) -> Result<sqlx::PgPool, sqlx::Error> {
    use sqlx::postgres::PgPoolOptions;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    // The name is the caller's constant, never input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&format!("{base}/{name}"))
        .await?;
    incident_schema::migrate(&pool)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
    Ok(pool)
}

/// Empties the outbox and commits `n` pending `bench.event` rows of publisher `bench`
/// (in transactions of 1,000): what the relay benchmarks publish.
pub async fn fill_outbox(pool: &sqlx::PgPool, n: usize) -> Result<(), sqlx::Error> {
    use crate::outbox::{self, OutgoingMessage};
    sqlx::query("TRUNCATE outbox").execute(pool).await?;
    for chunk in 0..n.div_ceil(1000) {
        let messages: Vec<_> = (0..1000.min(n - chunk * 1000))
            .map(|i| {
                crate::Envelope::new(
                    "bench.event",
                    Uuid::nil(),
                    serde_json::json!({ "chunk": chunk, "i": i }),
                )
                .map(OutgoingMessage::event)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut tx = pool.begin().await?;
        outbox::enqueue(&mut tx, "bench", &messages).await?;
        tx.commit().await?;
    }
    Ok(())
}
