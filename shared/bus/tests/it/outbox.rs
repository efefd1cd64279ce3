//! The transactional outbox and its relay: nothing from a rolled-back transaction,
//! nothing lost while the broker drops connections, nothing published twice by two relays.

use std::collections::HashSet;
use std::time::Duration;

use incident_bus::OutboxRelay;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_bus::testing::{collect, drain, ready_count};
use incident_bus::topology::{self, EVENTS};
use incident_bus::{BusBuilder, Envelope, QueueSpec};
use lapin::options::QueueBindOptions;
use lapin::types::FieldTable;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

async fn pending(pool: &PgPool) -> i64 {
    outbox::backlog(pool, "test")
        .await
        .expect("backlog")
        .pending
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn events_written_in_a_rolled_back_transaction_are_never_published(pool: PgPool) {
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .declare(QueueSpec::new("test.sink").bind(EVENTS, "#"))
        .start(shutdown.clone());
    let relay = tokio::spawn(
        OutboxRelay::new(pool.clone(), bus.clone(), "test")
            .poll_interval(Duration::from_millis(200))
            .run(shutdown.clone()),
    );

    bus.wait_connected(&shutdown).await.expect("connects");
    let rolled_back = event("test.rolled_back");
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(
        &mut tx,
        "test",
        &[OutgoingMessage::event(rolled_back.clone())],
    )
    .await
    .expect("enqueue");
    tx.rollback().await.expect("rollback");

    let committed = event("test.committed");
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(
        &mut tx,
        "test",
        &[OutgoingMessage::event(committed.clone())],
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");

    let (_c, channel) = vhost.channel_with(&[]).await;
    let got = collect(&channel, "test.sink", 2, Duration::from_secs(3)).await;
    let ids: Vec<_> = got
        .iter()
        .map(|d| {
            serde_json::from_slice::<Envelope>(&d.data)
                .expect("envelope")
                .id
        })
        .collect();
    assert_eq!(
        ids,
        vec![committed.id],
        "only the committed event was published"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
    // Confirmed on the queue first, stamped when the relay's transaction commits.
    eventually(Duration::from_secs(10), "the outbox is drained", || async {
        pending(&pool).await == 0
    })
    .await;

    shutdown.cancel();
    relay.await.expect("relay ends");
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn events_written_while_the_broker_drops_connections_are_all_published(pool: PgPool) {
    const EVENTS_WRITTEN: usize = 1_500;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .declare(QueueSpec::new("test.sink").bind(EVENTS, "#"))
        .start(shutdown.clone());
    let relay = tokio::spawn(
        OutboxRelay::new(pool.clone(), bus.clone(), "test")
            .batch_size(50)
            .poll_interval(Duration::from_millis(500))
            .run(shutdown.clone()),
    );
    bus.wait_connected(&shutdown).await.expect("connects");

    // A writer commits small transactions while the broker's connections are cut again and again.
    let writer_pool = pool.clone();
    let writer = tokio::spawn(async move {
        let mut ids = Vec::with_capacity(EVENTS_WRITTEN);
        for chunk in 0..(EVENTS_WRITTEN / 5) {
            let messages: Vec<_> = (0..5)
                .map(|_| OutgoingMessage::event(event("test.fact")))
                .collect();
            ids.extend(messages.iter().map(|m| m.envelope.id));
            let mut tx = writer_pool.begin().await.expect("begin");
            outbox::enqueue(&mut tx, "test", &messages)
                .await
                .expect("enqueue");
            tx.commit().await.expect("commit");
            if chunk % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        ids
    });
    let mut cuts = 0;
    while !writer.is_finished() || cuts < 3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        vhost.close_all_connections();
        cuts += 1;
    }
    let written: HashSet<_> = writer.await.expect("writer").into_iter().collect();
    assert_eq!(written.len(), EVENTS_WRITTEN);

    eventually(Duration::from_secs(60), "the outbox drains", || async {
        pending(&pool).await == 0
    })
    .await;
    let (_c, channel) = vhost.channel_with(&[]).await;
    let bodies = drain(&channel, "test.sink").await;
    let received: HashSet<_> = bodies
        .iter()
        .map(|b| serde_json::from_slice::<Envelope>(b).expect("envelope").id)
        .collect();
    let missing = written.difference(&received).count();
    assert_eq!(
        missing, 0,
        "{missing} of {EVENTS_WRITTEN} events lost over {cuts} connection cuts"
    );
    assert!(bodies.len() >= EVENTS_WRITTEN, "at least once");
    eprintln!(
        "{cuts} cuts: {} deliveries for {EVENTS_WRITTEN} events ({} duplicates)",
        bodies.len(),
        bodies.len() - EVENTS_WRITTEN
    );

    shutdown.cancel();
    relay.await.expect("relay ends");
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn two_relays_publish_each_event_exactly_once_to_an_inbox_consumer(pool: PgPool) {
    const EVENTS_WRITTEN: usize = 1_000;
    effects_table(&pool).await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let spec = QueueSpec::new("test.sink").bind(EVENTS, "#");
    let (consumer_bus, consumer_task) = BusBuilder::new(&vhost.url, "consumer")
        .prefetch(50)
        .consume(spec.clone(), pool.clone(), Recording)
        .start(shutdown.clone());
    consumer_bus
        .wait_connected(&shutdown)
        .await
        .expect("connects");

    let mut tasks = Vec::new();
    for name in ["relay-a", "relay-b"] {
        let (bus, task) = BusBuilder::new(&vhost.url, name)
            .declare(spec.clone())
            .start(shutdown.clone());
        tasks.push(task);
        tasks.push(tokio::spawn(
            OutboxRelay::new(pool.clone(), bus, "test")
                .batch_size(20)
                .run(shutdown.clone()),
        ));
    }

    for _ in 0..(EVENTS_WRITTEN / 100) {
        let messages: Vec<_> = (0..100)
            .map(|_| OutgoingMessage::event(event("test.fact")))
            .collect();
        let mut tx = pool.begin().await.expect("begin");
        outbox::enqueue(&mut tx, "test", &messages)
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
    }

    eventually(Duration::from_secs(30), "every event applied", || async {
        effect_counts(&pool).await.1 == EVENTS_WRITTEN as i64
    })
    .await;
    assert_eq!(
        effect_counts(&pool).await,
        (EVENTS_WRITTEN as i64, EVENTS_WRITTEN as i64),
        "each event applied exactly once"
    );
    // Confirmed on the queue first, stamped when the relay's transaction commits.
    eventually(Duration::from_secs(10), "the outbox is drained", || async {
        pending(&pool).await == 0
    })
    .await;
    let duplicates_published: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE attempts > 0")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(duplicates_published, 0, "no row needed a second attempt");

    shutdown.cancel();
    for task in tasks {
        task.await.expect("task ends");
    }
    consumer_task.await.expect("consumer ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_unroutable_command_waits_in_the_outbox_without_blocking_the_rows_behind_it(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    // Without the system's contract, no queue takes `incident.declare` here.
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .declare_contract(false)
        .declare(QueueSpec::new("test.sink").bind(EVENTS, "#"))
        .start(shutdown.clone());
    let relay = tokio::spawn(
        OutboxRelay::new(pool.clone(), bus.clone(), "test")
            .batch_size(1)
            .poll_interval(Duration::from_millis(200))
            .run(shutdown.clone()),
    );

    bus.wait_connected(&shutdown).await.expect("connects");
    let command = OutgoingMessage::command(event("incident.declare"));
    let fact = OutgoingMessage::event(event("test.after"));
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, "test", &[command.clone(), fact.clone()])
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let (_c, channel) = vhost.channel_with(&[]).await;
    let got = collect(&channel, "test.sink", 1, Duration::from_secs(5)).await;
    assert_eq!(
        got.len(),
        1,
        "the event behind the stuck command was published"
    );
    // The event is on the queue once confirmed; its row is stamped when the relay commits.
    eventually(
        Duration::from_secs(10),
        "only the command is left unpublished",
        || async { pending(&pool).await == 1 },
    )
    .await;
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox WHERE id = $1")
            .bind(command.envelope.id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(attempts >= 1);
    assert!(error.unwrap_or_default().contains("no queue is bound"));

    shutdown.cancel();
    relay.await.expect("relay ends");
    task.await.expect("supervisor ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_event_whose_binding_is_missing_waits_in_the_outbox_and_is_delivered_once_it_is_back(
    pool: PgPool,
) {
    const PUBLISHER: &str = "unroutable-test";
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    // The bus declares the whole contract: warroom.events and ingestion.events take
    // `incident.declared`. Then an operator removes both bindings by hand.
    let (bus, task) = BusBuilder::new(&vhost.url, PUBLISHER).start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");
    let (_c, channel) = vhost.channel_with(&[]).await;
    let removed = [
        (topology::WARROOM_EVENTS, "incident.#"),
        (topology::INGESTION_EVENTS, "incident.declared"),
        (topology::CORE_WEBHOOKS, "incident.declared"),
    ];
    for (queue, key) in removed {
        channel
            .queue_unbind(
                queue.into(),
                EVENTS.into(),
                key.into(),
                FieldTable::default(),
            )
            .await
            .expect("unbind");
    }
    let relay = tokio::spawn(
        OutboxRelay::new(pool.clone(), bus.clone(), PUBLISHER)
            .poll_interval(Duration::from_millis(200))
            .run(shutdown.clone()),
    );
    let declared = OutgoingMessage::event(event("incident.declared"));
    // No service consumes this one yet: routed nowhere, it is not held back.
    let unconsumed = OutgoingMessage::event(event("nobody.consumes_this"));
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, PUBLISHER, &[declared.clone(), unconsumed.clone()])
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    eventually(
        Duration::from_secs(10),
        "the unroutable event is held and counted",
        || async {
            let backlog = outbox::backlog(&pool, PUBLISHER).await.expect("backlog");
            backlog.pending == 1 && backlog.unroutable == 1
        },
    )
    .await;
    let held: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM outbox WHERE published_at IS NULL")
            .fetch_all(&pool)
            .await
            .expect("held rows");
    assert_eq!(held, vec![declared.envelope.id]);
    eventually(Duration::from_secs(10), "the metric shows it", || async {
        incident_runtime::metrics::handle()
            .render()
            .lines()
            .any(|l| {
                l.starts_with("incident_outbox_unroutable_messages{")
                    && l.contains(PUBLISHER)
                    && l.ends_with(" 1")
            })
    })
    .await;
    assert_eq!(ready_count(&channel, topology::WARROOM_EVENTS).await, 0);

    for (queue, key) in removed {
        channel
            .queue_bind(
                queue.into(),
                EVENTS.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind again");
    }
    eventually(
        Duration::from_secs(30),
        "the held event is published",
        || async {
            outbox::backlog(&pool, PUBLISHER)
                .await
                .expect("backlog")
                .pending
                == 0
        },
    )
    .await;
    for (queue, _) in removed {
        let bodies = drain(&channel, queue).await;
        let ids: Vec<_> = bodies
            .iter()
            .map(|b| serde_json::from_slice::<Envelope>(b).expect("envelope").id)
            .collect();
        assert_eq!(
            ids,
            vec![declared.envelope.id],
            "{queue} got it exactly once"
        );
    }

    shutdown.cancel();
    relay.await.expect("relay ends");
    task.await.expect("supervisor ends");
}
