//! Graceful shutdown: the message in hand finishes and is acknowledged; the rest stay in
//! the queue for the next consumer. Nothing is lost, nothing applied twice.

use std::sync::Arc;
use std::time::Duration;

use incident_bus::testing::ready_count;
use incident_bus::topology::EVENTS;
use incident_bus::{BusBuilder, OutgoingMessage, QueueSpec};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn shutting_down_mid_message_finishes_and_acknowledges_it(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let spec = QueueSpec::new("test.work").bind(EVENTS, "test.*");
    let started = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .prefetch(10)
        .consume(
            spec.clone(),
            pool.clone(),
            Slow {
                started: started.clone(),
                hold: Duration::from_millis(800),
            },
        )
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");

    let messages: Vec<_> = (0..3).map(|_| event("test.slow")).collect();
    for m in &messages {
        bus.publish(&OutgoingMessage::event(m.clone()))
            .await
            .expect("confirmed");
    }
    started.notified().await;
    // The signal handler does exactly this on SIGTERM.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("shuts down in time")
        .expect("supervisor ends");

    assert_eq!(
        effects_of(&pool, messages[0].id).await,
        1,
        "the message in hand finished"
    );
    assert_eq!(effect_counts(&pool).await, (1, 1));
    let (_c, channel) = vhost.channel_with(&[]).await;
    assert_eq!(
        ready_count(&channel, "test.work").await,
        2,
        "the two unstarted messages went back to the queue, the finished one was acked"
    );

    // A new consumer picks up the rest; the finished one is not applied again.
    let restart = CancellationToken::new();
    let (_bus, task) = BusBuilder::new(&vhost.url, "test")
        .consume(spec, pool.clone(), Recording)
        .start(restart.clone());
    eventually(Duration::from_secs(10), "the rest are applied", || async {
        effect_counts(&pool).await.1 == 3
    })
    .await;
    assert_eq!(effect_counts(&pool).await, (3, 3));
    restart.cancel();
    task.await.expect("supervisor ends");
}
