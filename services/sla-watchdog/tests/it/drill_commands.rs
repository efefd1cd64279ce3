//! `drill.start_run` (the war room's `/incident drill <scenario>`) consumed by the running
//! service from `sla-watchdog.commands`: one run however often it is delivered, and a
//! command that cannot succeed dead-lettered with nothing stored.

use std::time::Duration;

use incident_bus::publisher::RawMessage;
use incident_bus::testing::{TestVhost, collect};
use incident_bus::topology::{COMMANDS, DEAD_LETTER_QUEUE};
use incident_bus::{BusBuilder, Envelope};
use incident_schema::contract::{Message, StartDrillRun};
use incident_sla_watchdog::drill::scenario;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::*;

const SCENARIO: &str = r#"
title = "Checkout latency"
severity = "SEV3"
timeout = "10m"

[[steps]]
at = "5m"
hint = "look at the deploy"

[expect]
acknowledged_within = "5m"
"#;

/// The watchdog started on `pool` against `vhost`, connected to it.
async fn watchdog(
    pool: &PgPool,
    vhost: &TestVhost,
    shutdown: &CancellationToken,
) -> incident_runtime::host::Component {
    let mut config =
        incident_runtime::Config::for_urls("postgres://unused@127.0.0.1/unused", &vhost.url)
            .expect("configuration");
    config.sla_digest_cron = "0 0 0 1 1 *".into();
    let component = incident_sla_watchdog::start(config, pool.clone(), shutdown.clone())
        .await
        .expect("the service starts");
    eventually(Duration::from_secs(30), "the watchdog connects", || async {
        component.checks.iter().all(|(_, up)| up())
    })
    .await;
    component
}

/// Publishes `envelope` to `incidents.commands` as the outbox relay would.
async fn publish(vhost: &TestVhost, shutdown: &CancellationToken, envelope: &Envelope) {
    let (bus, _task) = BusBuilder::new(vhost.url.clone(), "test").start(shutdown.clone());
    let publisher =
        incident_testkit::eventually_some(Duration::from_secs(30), "a publisher", || async {
            bus.publisher()
        })
        .await;
    let body = serde_json::to_vec(envelope).expect("serialises");
    publisher
        .publish(
            RawMessage {
                exchange: COMMANDS,
                routing_key: &envelope.message_type,
                message_id: &envelope.id.to_string(),
                message_type: &envelope.message_type,
                body: &body,
                mandatory: true,
            },
            Default::default(),
        )
        .await
        .expect("confirmed");
}

async fn runs(pool: &PgPool) -> Vec<(Uuid, String, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT scenario_id, idempotency_key, started_by FROM drill_runs ORDER BY started_at",
    )
    .fetch_all(pool)
    .await
    .expect("runs")
}

async fn inboxed(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'sla-watchdog.commands'")
        .fetch_one(pool)
        .await
        .expect("inbox")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn start_run_delivered_twice_and_resent_under_a_new_id_starts_one_run(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let mut conn = pool.acquire().await.expect("connection");
    let stored = scenario::create(&mut conn, ws.id, "latency", SCENARIO, None)
        .await
        .expect("stored");
    let ada = incident_testkit::fixtures::user(&pool, ws.id, "ada@example.com", "Ada").await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let _watchdog = watchdog(&pool, &vhost, &shutdown).await;

    let command = StartDrillRun {
        scenario_id: stored.id,
        actor_id: Some(ada.id),
        idempotency_key: "slack:drill:1234.5678.abcd".into(),
    };
    let envelope = Envelope::of(ws.id, &command).expect("envelope");
    publish(&vhost, &shutdown, &envelope).await;
    publish(&vhost, &shutdown, &envelope).await;
    // The same command resent as a new message (a new id, the same key).
    let resent = Envelope::of(ws.id, &command).expect("envelope");
    publish(&vhost, &shutdown, &resent).await;

    eventually(
        Duration::from_secs(20),
        "the three deliveries consumed",
        || async { inboxed(&pool).await == 2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        runs(&pool).await,
        [(
            stored.id,
            "slack:drill:1234.5678.abcd".to_owned(),
            Some(ada.id)
        )],
        "one run for the key, started by the command's actor"
    );
    assert_eq!(
        inboxed(&pool).await,
        2,
        "the duplicate delivery found the inbox row"
    );
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM drill_run_steps")
        .fetch_one(&pool)
        .await
        .expect("steps");
    assert_eq!(steps, 1, "its script, once");
    assert_eq!(
        outbox_events(&pool, "incident.declare").await.len(),
        1,
        "one drill incident declared"
    );
    shutdown.cancel();
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn start_run_of_another_workspaces_scenario_is_dead_lettered_and_stores_nothing(
    pool: PgPool,
) {
    let acme = workspace(&pool, "acme").await;
    let globex = workspace(&pool, "globex").await;
    let mut conn = pool.acquire().await.expect("connection");
    let theirs = scenario::create(&mut conn, globex.id, "latency", SCENARIO, None)
        .await
        .expect("stored");
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let _watchdog = watchdog(&pool, &vhost, &shutdown).await;

    let envelope = Envelope::of(
        acme.id,
        &StartDrillRun {
            scenario_id: theirs.id,
            actor_id: None,
            idempotency_key: "slack:drill:elsewhere".into(),
        },
    )
    .expect("envelope");
    publish(&vhost, &shutdown, &envelope).await;
    let (_c, channel) = vhost.channel_with(&[]).await;
    let dead = collect(&channel, DEAD_LETTER_QUEUE, 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1, "dead-lettered");
    let back: Envelope = serde_json::from_slice(&dead[0].data).expect("envelope");
    assert_eq!(back.message_type, StartDrillRun::TYPE);
    assert!(runs(&pool).await.is_empty(), "nothing stored");
    assert!(outbox_events(&pool, "incident.declare").await.is_empty());
    shutdown.cancel();
}
