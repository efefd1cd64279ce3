//! The fault suite: a burst of alerts through the real binary while something breaks —
//! the process is SIGKILLed and restarted, the broker cuts every connection, PostgreSQL
//! terminates every backend, Slack answers 429 and 500 — and afterwards the counts are
//! compared: alerts accepted = alerts stored, one incident per group, declared once, one
//! war room per incident with one pinned summary. Bounded: a few hundred alerts per run,
//! a few seconds of faults.

use std::time::Duration;

use incident_bus::testing::TestVhost;
use incident_warroom::testing::fake_slack::{self, FakeSlack};
use sqlx::PgPool;

use crate::support::*;

const GROUPS: usize = 8;
const REQUESTS: usize = 12;
const PER_REQUEST: usize = 5;

/// The stack binary on `pool` and `vhost`, talking to `slack`, with a generic integration:
/// `(process, webhook url, secret)`.
async fn started(
    pool: &PgPool,
    vhost: &TestVhost,
    slack: &FakeSlack,
) -> (StackProcess, String, String) {
    let stack = StackProcess::start(&[
        ("DATABASE_URL", database_url(pool)),
        ("AMQP_URL", vhost.url.clone()),
        ("INCIDENT_BOOTSTRAP_TOKEN", TOKEN.to_owned()),
        ("INCIDENT_SLACK_BOT_TOKEN", fake_slack::TOKEN.to_owned()),
        (
            "INCIDENT_SLACK_SIGNING_SECRET",
            "fault-suite-signing-secret".to_owned(),
        ),
        ("INCIDENT_SLACK_API_URL", slack.api_url()),
    ])
    .await;
    let (url, secret) = integration(&stack.base).await;
    (stack, url, secret)
}

/// Every incident (all SEV1) got exactly one channel and one pinned summary.
async fn assert_war_rooms_once(pool: &PgPool, slack: &FakeSlack) {
    eventually(
        Duration::from_secs(90),
        "every incident has its pinned war room",
        || async {
            let channels: Vec<Option<String>> =
                sqlx::query_scalar("SELECT slack_channel_id FROM incidents")
                    .fetch_all(pool)
                    .await
                    .expect("incidents");
            channels.len() == GROUPS
                && channels
                    .iter()
                    .all(|c| c.as_deref().is_some_and(|c| !slack.pins(c).is_empty()))
        },
    )
    .await;
    assert_eq!(slack.channels().len(), GROUPS, "one channel per incident");
    assert_eq!(
        slack.ok_calls("conversations.create").len(),
        GROUPS,
        "each created once"
    );
    for channel in slack.channels() {
        assert_eq!(
            slack.pins(&channel.id).len(),
            1,
            "one pinned summary in {}",
            channel.name
        );
    }
}

async fn accepted_so_far(outcome: &tokio::sync::Mutex<BurstOutcome>) -> usize {
    outcome.lock().await.accepted.len()
}

#[sqlx::test(migrations = false)]
async fn a_stack_killed_mid_burst_and_restarted_loses_no_alert_and_declares_each_group_once(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let slack = FakeSlack::start().await;
    let (mut stack, url, secret) = started(&pool, &vhost, &slack).await;
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
    assert_war_rooms_once(&pool, &slack).await;
}

#[sqlx::test(migrations = false)]
async fn broker_connections_cut_mid_burst_lose_no_alert_and_declare_each_group_once(pool: PgPool) {
    let vhost = TestVhost::create();
    let slack = FakeSlack::start().await;
    let (_stack, url, secret) = started(&pool, &vhost, &slack).await;
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
    assert_war_rooms_once(&pool, &slack).await;
}

#[sqlx::test(migrations = false)]
async fn database_connections_killed_mid_burst_lose_no_alert_and_declare_each_group_once(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let slack = FakeSlack::start().await;
    let (_stack, url, secret) = started(&pool, &vhost, &slack).await;
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
    assert_war_rooms_once(&pool, &slack).await;
}

#[sqlx::test(migrations = false)]
async fn slack_answering_429_and_500_during_a_burst_opens_each_war_room_once(pool: PgPool) {
    let vhost = TestVhost::create();
    let slack = FakeSlack::start().await;
    slack.faults_every(Some(3), Some(5), 0);
    let (_stack, url, secret) = started(&pool, &vhost, &slack).await;
    let (outcome, mut clients) = burst(&url, &secret, "slack", GROUPS, REQUESTS, PER_REQUEST);
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
    let outcome = outcome.lock().await;
    assert_nothing_lost_nothing_doubled(&pool, &outcome.accepted, GROUPS).await;
    assert_war_rooms_once(&pool, &slack).await;
    let calls = slack.calls();
    assert!(
        calls.iter().any(|c| c.outcome == "http_429"),
        "the storm happened"
    );
    assert!(
        calls.iter().any(|c| c.outcome == "http_500"),
        "the storm happened"
    );
}
