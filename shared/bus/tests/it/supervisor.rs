//! The connection supervisor: reconnects after the broker drops it, consumers resume
//! without a restart, readiness is false while disconnected.

use std::time::Duration;

use incident_bus::topology::EVENTS;
use incident_bus::{BusBuilder, OutgoingMessage, QueueSpec};
use incident_runtime::Readiness;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn consumers_resume_after_the_broker_closes_the_connection(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .reconnect_delay(Duration::from_millis(1500))
        .consume(
            QueueSpec::new("test.work").bind(EVENTS, "test.*"),
            pool.clone(),
            Recording,
        )
        .start(shutdown.clone());
    let probe = bus.clone();
    let readiness = Readiness::new()
        .with_database(pool.clone())
        .with_check("broker", move || probe.is_connected());
    bus.wait_connected(&shutdown).await.expect("connects");
    assert!(readiness.check().await.0, "ready while connected");

    let before = event("test.before");
    bus.publish(&OutgoingMessage::event(before.clone()))
        .await
        .expect("confirmed");
    eventually(
        Duration::from_secs(10),
        "the first message is applied",
        || async { effects_of(&pool, before.id).await == 1 },
    )
    .await;

    vhost.close_all_connections();
    eventually(
        Duration::from_secs(5),
        "the bus notices the cut",
        || async { !bus.is_connected() },
    )
    .await;
    let (ready, checks) = readiness.check().await;
    assert!(!ready, "not ready while disconnected");
    assert_eq!(checks["broker"], "down");
    assert_eq!(checks["database"], "up");

    bus.wait_connected(&shutdown).await.expect("reconnects");
    assert!(readiness.check().await.0, "ready again");
    let after = event("test.after");
    bus.publish(&OutgoingMessage::event(after.clone()))
        .await
        .expect("confirmed");
    eventually(Duration::from_secs(10), "the consumer resumed", || async {
        effects_of(&pool, after.id).await == 1
    })
    .await;

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[tokio::test]
async fn a_bus_started_before_the_broker_is_reachable_keeps_trying_and_reports_not_ready() {
    let shutdown = CancellationToken::new();
    // Nothing listens on port 1: every attempt fails at once.
    let (bus, task) =
        BusBuilder::new("amqp://guest:guest@127.0.0.1:1/%2f", "test").start(shutdown.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!bus.is_connected());
    assert!(matches!(
        bus.publish(&OutgoingMessage::event(event("test.x"))).await,
        Err(incident_bus::PublishError::NotConnected)
    ));
    assert!(!task.is_finished(), "the supervisor keeps trying");
    shutdown.cancel();
    task.await.expect("supervisor ends on shutdown");
}

#[tokio::test]
async fn connections_offer_a_small_frame_and_carry_bodies_larger_than_it() {
    use incident_bus::supervisor::{FRAME_MAX, broker_uri};
    use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let vhost = incident_bus::testing::TestVhost::create();
    // A URL that names its own frame size keeps it.
    let own = broker_uri(&format!("{}?frame_max=65536", vhost.url)).expect("uri");
    assert_eq!(own.query.frame_max, Some(65536));
    let connection = Connection::connect_uri(
        broker_uri(&vhost.url).expect("uri"),
        ConnectionProperties::default(),
    )
    .await
    .expect("connect");
    // The smaller of ours and RabbitMQ's 128 KiB: lapin's two 32-frame buffers are 1 MiB,
    // not 8.
    assert_eq!(connection.configuration().frame_max(), FRAME_MAX);

    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_declare(
            "big".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
    // A body of 13 frames' worth comes back whole.
    let body: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
    channel
        .basic_publish(
            "".into(),
            "big".into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("sent");
    let got = incident_testkit::eventually_some(Duration::from_secs(5), "the message", || async {
        channel
            .basic_get("big".into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
    })
    .await;
    assert_eq!(got.delivery.data, body);
}
