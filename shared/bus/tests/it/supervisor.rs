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
