//! The consumer runner: effects commit once, bad messages are dead-lettered, transient
//! failures are retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use incident_bus::publisher::RawMessage;
use incident_bus::testing::{collect, ready_count};
use incident_bus::topology::{DEAD_LETTER_QUEUE, EVENTS};
use incident_bus::{BusBuilder, Handler, OutgoingMessage, QueueSpec};
use lapin::types::{AMQPValue, FieldTable};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn queue() -> QueueSpec {
    QueueSpec::new("test.work").bind(EVENTS, "test.*")
}

/// Starts a bus consuming `test.work` with `handler`.
async fn consuming(
    vhost: &TestVhost,
    pool: &PgPool,
    handler: impl Handler,
    retries: usize,
    spec: QueueSpec,
) -> (
    incident_bus::Bus,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .retry_policy(quick_retries(retries))
        .consume(spec, pool.clone(), handler)
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");
    (bus, shutdown, task)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_message_delivered_twice_commits_its_effect_once(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let (bus, shutdown, task) = consuming(&vhost, &pool, Recording, 3, queue()).await;

    let twice = event("test.created");
    bus.publish(&OutgoingMessage::event(twice.clone()))
        .await
        .expect("confirmed");
    bus.publish(&OutgoingMessage::event(twice.clone()))
        .await
        .expect("confirmed");
    let sentinel = event("test.sentinel");
    bus.publish(&OutgoingMessage::event(sentinel.clone()))
        .await
        .expect("confirmed");

    // One consumer handles messages in order: once the sentinel is applied, both copies were seen.
    eventually(
        Duration::from_secs(10),
        "the sentinel is applied",
        || async { effects_of(&pool, sentinel.id).await == 1 },
    )
    .await;
    assert_eq!(
        effects_of(&pool, twice.id).await,
        1,
        "the duplicate had no effect"
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'test.work'")
        .fetch_one(&pool)
        .await
        .expect("inbox");
    assert_eq!(inbox, 2);

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_message_that_is_not_an_envelope_is_dead_lettered_after_one_delivery(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let (bus, shutdown, task) = consuming(&vhost, &pool, Recording, 3, queue()).await;

    let publisher = bus.publisher().expect("connected");
    publisher
        .publish(
            RawMessage {
                exchange: EVENTS,
                routing_key: "test.garbage",
                message_id: "garbage-1",
                message_type: "test.garbage",
                body: b"{ this is not json",
                mandatory: false,
            },
            FieldTable::default(),
        )
        .await
        .expect("confirmed");

    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1, "the message reached the dead-letter queue");
    assert_eq!(dead[0].data, b"{ this is not json");
    let death = x_death(&dead[0].properties);
    assert_eq!(
        death.0, "rejected",
        "dead-lettered because the consumer rejected it"
    );
    assert_eq!(death.1, 1, "after one delivery");
    assert_eq!(effect_counts(&pool).await, (0, 0), "no effect");

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_message_whose_routing_key_disagrees_with_its_type_is_dead_lettered_unapplied(
    pool: PgPool,
) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let (bus, shutdown, task) = consuming(&vhost, &pool, Recording, 3, queue()).await;

    // Routed as `test.created`, but the envelope says it is `test.deleted`.
    let disguised = OutgoingMessage {
        routing_key: "test.created".into(),
        ..OutgoingMessage::event(event("test.deleted"))
    };
    bus.publish(&disguised).await.expect("confirmed");

    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1, "the message reached the dead-letter queue");
    assert_eq!(x_death(&dead[0].properties), ("rejected".to_owned(), 1));
    assert_eq!(
        effect_counts(&pool).await,
        (0, 0),
        "it was not applied as either type"
    );

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn messages_a_dropped_connection_returns_unstarted_are_never_dead_lettered(pool: PgPool) {
    const MESSAGES: usize = 24;
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    // One slow consumer with the default prefetch: most messages wait prefetched, and
    // every cut returns them to the queue without their ever being started.
    let handler = Slow {
        started: Arc::new(tokio::sync::Notify::new()),
        hold: Duration::from_millis(100),
    };
    let (bus, shutdown, task) = consuming(&vhost, &pool, handler, 3, queue()).await;
    let mut ids = Vec::with_capacity(MESSAGES);
    for n in 0..MESSAGES {
        let message = event(&format!("test.m{n}"));
        ids.push(message.id);
        bus.publish(&OutgoingMessage::event(message))
            .await
            .expect("confirmed");
    }
    // More cuts than RabbitMQ 3.x's delivery count would forgive with a low limit.
    for _ in 0..10 {
        // Cut only a live connection: wait until the consumer is back at work.
        eventually(Duration::from_secs(10), "the consumer is back", || async {
            bus.is_connected()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        vhost.close_all_connections();
        eventually(Duration::from_secs(10), "the cut is noticed", || async {
            !bus.is_connected()
        })
        .await;
    }

    eventually(
        Duration::from_secs(60),
        "every message is applied",
        || async { effect_counts(&pool).await.1 == MESSAGES as i64 },
    )
    .await;
    for id in ids {
        assert_eq!(effects_of(&pool, id).await, 1, "{id} applied once");
    }
    let (_c, channel) = vhost.channel_with(&[]).await;
    assert_eq!(
        ready_count(&channel, DEAD_LETTER_QUEUE).await,
        0,
        "nothing dead-lettered"
    );

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_message_started_too_often_without_finishing_is_dead_lettered_by_the_consumer(
    pool: PgPool,
) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let attempts = Arc::new(AtomicUsize::new(0));
    // The queue's own (backstop) limit is far away: the consumer's count decides.
    let (bus, shutdown, task) = consuming(
        &vhost,
        &pool,
        Flaky {
            failures: usize::MAX,
            attempts: attempts.clone(),
        },
        1,
        queue(),
    )
    .await;

    bus.publish(&OutgoingMessage::event(event("test.doomed")))
        .await
        .expect("confirmed");
    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "dead-lettered");
    assert_eq!(x_death(&dead[0].properties), ("rejected".to_owned(), 1));
    // The first delivery plus MAX_STARTED_ATTEMPTS counted redeliveries, each tried
    // once plus one in-process retry; the next redelivery is refused unstarted.
    let expected = 2 * (1 + incident_bus::consumer::MAX_STARTED_ATTEMPTS as usize);
    assert_eq!(attempts.load(Ordering::SeqCst), expected);
    assert_eq!(effect_counts(&pool).await, (0, 0));

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

/// (reason, count) of the first `x-death` entry.
fn x_death(properties: &lapin::BasicProperties) -> (String, i64) {
    let headers = properties
        .headers()
        .as_ref()
        .expect("dead-lettered messages carry headers");
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        panic!("no x-death header")
    };
    let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first() else {
        panic!("empty x-death")
    };
    let reason = match first.inner().get("reason") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("reason: {other:?}"),
    };
    let count = match first.inner().get("count") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        other => panic!("count: {other:?}"),
    };
    (reason, count)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_handler_that_fails_transiently_is_retried_and_succeeds(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let attempts = Arc::new(AtomicUsize::new(0));
    let (bus, shutdown, task) = consuming(
        &vhost,
        &pool,
        Flaky {
            failures: 3,
            attempts: attempts.clone(),
        },
        5,
        queue(),
    )
    .await;

    let message = event("test.flaky");
    bus.publish(&OutgoingMessage::event(message.clone()))
        .await
        .expect("confirmed");
    eventually(Duration::from_secs(10), "the effect commits", || async {
        effects_of(&pool, message.id).await == 1
    })
    .await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "three failures, then success"
    );
    // The failed attempts rolled back: one effect, one inbox row.
    assert_eq!(effect_counts(&pool).await, (1, 1));

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_database_connection_killed_mid_message_is_retried_without_a_duplicate(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let attempts = Arc::new(AtomicUsize::new(0));
    let (bus, shutdown, task) = consuming(
        &vhost,
        &pool,
        DatabaseBlip {
            attempts: attempts.clone(),
        },
        5,
        queue(),
    )
    .await;

    let message = event("test.blip");
    bus.publish(&OutgoingMessage::event(message.clone()))
        .await
        .expect("confirmed");
    eventually(Duration::from_secs(10), "the effect commits", || async {
        effects_of(&pool, message.id).await == 1
    })
    .await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(effect_counts(&pool).await, (1, 1));

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_permanent_failure_is_dead_lettered_at_once(pool: PgPool) {
    let vhost = TestVhost::create();
    let (bus, shutdown, task) = consuming(&vhost, &pool, Refusing, 5, queue()).await;

    let message = event("test.refused");
    bus.publish(&OutgoingMessage::event(message.clone()))
        .await
        .expect("confirmed");
    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(x_death(&dead[0].properties), ("rejected".to_owned(), 1));
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await
        .expect("inbox");
    assert_eq!(inbox, 0, "a rejected message leaves no inbox row");

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_message_failing_on_every_delivery_is_dead_lettered_at_the_delivery_limit(pool: PgPool) {
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let attempts = Arc::new(AtomicUsize::new(0));
    let spec = queue().delivery_limit(2);
    let (bus, shutdown, task) = consuming(
        &vhost,
        &pool,
        Flaky {
            failures: usize::MAX,
            attempts: attempts.clone(),
        },
        1,
        spec,
    )
    .await;

    bus.publish(&OutgoingMessage::event(event("test.doomed")))
        .await
        .expect("confirmed");
    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(20)).await;
    assert_eq!(
        dead.len(),
        1,
        "dead-lettered once the delivery limit is exceeded"
    );
    assert_eq!(x_death(&dead[0].properties).0, "delivery_limit");
    // Each delivery is tried once plus one in-process retry.
    assert_eq!(attempts.load(Ordering::SeqCst) % 2, 0);
    assert!(
        attempts.load(Ordering::SeqCst) >= 4,
        "attempts: {}",
        attempts.load(Ordering::SeqCst)
    );
    assert_eq!(effect_counts(&pool).await, (0, 0));
    assert_eq!(ready_count(&channel, "test.work").await, 0);

    shutdown.cancel();
    task.await.expect("supervisor ends");
}
