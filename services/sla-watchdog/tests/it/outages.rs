//! The sweep through outages: database connections killed while it runs, and a broker
//! that goes away while it finds things.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use incident_bus::testing::{TestVhost, collect};
use incident_bus::topology::EVENTS;
use incident_bus::{Envelope, QueueSpec, outbox};
use incident_runtime::Config;
use incident_schema::Severity;
use incident_schema::event::INCIDENT_SLA_BREACHED;
use incident_sla_watchdog::SERVICE;
use incident_sla_watchdog::schedule;
use incident_sla_watchdog::sla::sweep::SweepOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Terminates every other backend connected to the test database; returns how many,
/// and how many of them were in the middle of something (a statement or a transaction).
async fn terminate_other_backends(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM (
             SELECT pg_terminate_backend(pid), state FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
         ) killed",
    )
    .fetch_one(pool)
    .await
    .expect("terminate backends")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_sweep_loop_keeps_flagging_through_killed_database_connections_without_duplicates(
    _options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const ROUNDS: usize = 6;
    const PER_ROUND: usize = 50;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(connect.clone())
        .await
        .expect("pool");
    let sweeper_pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(connect)
        .await
        .expect("sweeper pool");
    let ws = workspace(&pool, "acme").await;
    let shutdown = CancellationToken::new();
    let sweeper = tokio::spawn(schedule::sweep_periodically(
        sweeper_pool.clone(),
        SweepOptions {
            batch_size: 10,
            ..SweepOptions::default()
        },
        Duration::from_millis(40),
        shutdown.clone(),
    ));

    // Incidents keep falling due while every connection to the database is killed, at
    // varying moments of the sweeps in progress.
    let spec = Spec::new(Severity::Sev3, 60).ack_target(30);
    let (mut killed, mut interrupted) = (0, 0);
    for _ in 0..ROUNDS {
        incidents(&pool, ws.id, spec, PER_ROUND).await;
        // Strike while a sweep is at work, if one starts soon enough.
        let strike = tokio::time::Instant::now() + Duration::from_millis(300);
        while tokio::time::Instant::now() < strike
            && count(
                &pool,
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND state <> 'idle'",
            )
            .await
                == 0
        {}
        let (all, busy) = terminate_other_backends(&pool).await;
        killed += all;
        interrupted += busy;
    }
    assert!(killed >= ROUNDS as i64, "killed {killed} connections");
    assert!(interrupted > 0, "no sweep was caught at work");

    let expected = (ROUNDS * PER_ROUND) as i64;
    eventually(Duration::from_secs(30), "every breach flagged", || async {
        count(&pool, "SELECT count(*) FROM sla_events").await == expected
    })
    .await;
    // A few more sweeps: nothing is flagged twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sweeper.is_finished(), "the sweep loop survived");
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT incident_id) FROM sla_events").await,
        expected
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM sla_events").await,
        expected
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incident_timeline WHERE kind = 'SLA_BREACHED'"
        )
        .await,
        expected
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox").await,
        expected,
        "one event per breach"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incidents WHERE sla_breached AND version = 2"
        )
        .await,
        expected
    );
    eprintln!("{killed} connections killed over {ROUNDS} rounds, {interrupted} of them busy");

    shutdown.cancel();
    sweeper.await.expect("the sweep loop ends");
    sweeper_pool.close().await;
    pool.close().await;
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn flags_found_while_the_broker_is_down_wait_in_the_outbox_and_are_published_after_the_reconnect(
    pool: PgPool,
) {
    const QUEUE: &str = "test.incident-events";
    const BREACHES: usize = 20;
    let vhost = TestVhost::create();
    let (inspect, _channel) = vhost
        .channel_with(&[QueueSpec::new(QUEUE).bind(EVENTS, "incident.#")])
        .await;
    let _ = inspect.close(0, "declared".into()).await;

    let mut config =
        Config::for_urls("postgres://unused@127.0.0.1/unused", &vhost.url).expect("configuration");
    config.sla_sweep_interval_secs = 1;
    config.outbox_poll_secs = 1;
    // Never due during the test, so only incident events go out.
    config.sla_digest_cron = "0 0 0 1 1 *".into();
    let shutdown = CancellationToken::new();
    let mut component = incident_sla_watchdog::start(config, pool.clone(), shutdown.clone())
        .await
        .expect("the service starts");
    let (_, broker_up) = component
        .checks
        .pop()
        .expect("the service checks its broker");
    eventually(Duration::from_secs(10), "connected to the broker", || {
        let up = broker_up();
        async move { up }
    })
    .await;

    // The broker goes away: connections cut, and no way back in for now.
    rabbitmqctl(&["clear_permissions", "-p", &vhost.name, "guest"]);
    vhost.close_all_connections();
    eventually(Duration::from_secs(10), "the broker is gone", || {
        let up = broker_up();
        async move { !up }
    })
    .await;

    let ws = workspace(&pool, "acme").await;
    let ids: HashSet<_> = incidents(
        &pool,
        ws.id,
        Spec::new(Severity::Sev3, 60).ack_target(30),
        BREACHES,
    )
    .await
    .into_iter()
    .collect();
    eventually(
        Duration::from_secs(10),
        "the breaches are flagged",
        || async { count(&pool, "SELECT count(*) FROM sla_events").await == BREACHES as i64 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = outbox::backlog(&pool, SERVICE).await.expect("backlog");
    assert_eq!(
        waiting.pending, BREACHES as i64,
        "the events wait in the outbox"
    );
    assert!(!broker_up());

    // The broker comes back: the supervisor reconnects and the relay drains the outbox.
    rabbitmqctl(&[
        "set_permissions",
        "-p",
        &vhost.name,
        "guest",
        ".*",
        ".*",
        ".*",
    ]);
    eventually(Duration::from_secs(30), "the outbox drains", || async {
        outbox::backlog(&pool, SERVICE)
            .await
            .expect("backlog")
            .pending
            == 0
    })
    .await;
    let (_connection, channel) = vhost.channel_with(&[]).await;
    let delivered = collect(&channel, QUEUE, BREACHES, Duration::from_secs(10)).await;
    let envelopes: Vec<Envelope> = delivered
        .iter()
        .map(|d| serde_json::from_slice(&d.data).expect("an envelope"))
        .collect();
    assert_eq!(envelopes.len(), BREACHES);
    assert!(
        envelopes
            .iter()
            .all(|e| e.message_type == INCIDENT_SLA_BREACHED)
    );
    let about: HashSet<_> = envelopes
        .iter()
        .map(|e| serde_json::from_value(e.data["incident"]["id"].clone()).expect("an id"))
        .collect();
    assert_eq!(about, ids);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM sla_events").await,
        BREACHES as i64
    );

    shutdown.cancel();
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while component.tasks.join_next().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the service's tasks stop on shutdown");
}
