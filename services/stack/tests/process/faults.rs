//! The fault suite: a burst of alerts through the real binary while something breaks —
//! the process is SIGKILLed and restarted, the broker cuts every connection, PostgreSQL
//! terminates every backend — and afterwards the counts are compared: alerts accepted =
//! alerts stored, one incident per group, declared once. Bounded: a few hundred alerts
//! per run, a few seconds of faults.

use std::time::Duration;

use incident_bus::testing::TestVhost;
use sqlx::PgPool;

use crate::support::*;

const GROUPS: usize = 8;
const REQUESTS: usize = 12;
const PER_REQUEST: usize = 5;

async fn started(pool: &PgPool, vhost: &TestVhost) -> (StackProcess, String, String) {
    let stack = StackProcess::start(&[
        ("DATABASE_URL", database_url(pool)),
        ("AMQP_URL", vhost.url.clone()),
        ("INCIDENT_BOOTSTRAP_TOKEN", TOKEN.to_owned()),
    ])
    .await;
    let (url, secret) = integration(&stack.base).await;
    (stack, url, secret)
}

async fn accepted_so_far(outcome: &tokio::sync::Mutex<BurstOutcome>) -> usize {
    outcome.lock().await.accepted.len()
}

#[sqlx::test(migrations = false)]
async fn a_stack_killed_mid_burst_and_restarted_loses_no_alert_and_declares_each_group_once(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let (mut stack, url, secret) = started(&pool, &vhost).await;
    let (outcome, mut clients) = burst(&url, &secret, "kill", GROUPS, REQUESTS, PER_REQUEST);
    eventually(
        Duration::from_secs(60),
        "a third of the burst is in",
        || async { accepted_so_far(&outcome).await >= GROUPS * REQUESTS * PER_REQUEST / 3 },
    )
    .await;
    stack.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.restart().await;
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }

    let outcome = outcome.lock().await;
    assert!(outcome.failed > 0, "the kill interrupted the burst");
    assert_eq!(outcome.accepted.len(), GROUPS * REQUESTS * PER_REQUEST);
    assert_nothing_lost_nothing_doubled(&pool, &outcome.accepted, GROUPS).await;
}

#[sqlx::test(migrations = false)]
async fn broker_connections_cut_mid_burst_lose_no_alert_and_declare_each_group_once(pool: PgPool) {
    let vhost = TestVhost::create();
    let (_stack, url, secret) = started(&pool, &vhost).await;
    let (outcome, mut clients) = burst(&url, &secret, "amqp", GROUPS, REQUESTS, PER_REQUEST);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        vhost.close_all_connections();
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
    let outcome = outcome.lock().await;
    assert_eq!(outcome.accepted.len(), GROUPS * REQUESTS * PER_REQUEST);
    assert_nothing_lost_nothing_doubled(&pool, &outcome.accepted, GROUPS).await;
}

#[sqlx::test(migrations = false)]
async fn database_connections_killed_mid_burst_lose_no_alert_and_declare_each_group_once(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let (_stack, url, secret) = started(&pool, &vhost).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("database");
    let (outcome, mut clients) = burst(&url, &secret, "pg", GROUPS, REQUESTS, PER_REQUEST);
    let mut killed = 0_i64;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .bind(&database)
        .fetch_one(&pool)
        .await
        .expect("terminate");
        killed += n;
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
    assert!(killed > 0, "connections were killed");
    let outcome = outcome.lock().await;
    assert_eq!(outcome.accepted.len(), GROUPS * REQUESTS * PER_REQUEST);
    assert_nothing_lost_nothing_doubled(&pool, &outcome.accepted, GROUPS).await;
}
