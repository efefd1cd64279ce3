//! A first install in the wrong order: events published before a consumer ever ran still
//! reach it, because every binary declares the whole topology contract.

use std::time::Duration;

use incident_bus::testing::TestVhost;
use incident_system_tests::{Client, Running, eventually, run_services};
use incident_warroom::testing::fake_slack::{self, FakeSlack};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

const TOKEN: &str = "first-install-bootstrap-token";

async fn core_outbox_drained(pool: &PgPool) -> bool {
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("outbox");
    pending == 0
}

/// Declares INC-1, a SEV1, through `core`'s API.
async fn declare_sev1(core: &Running) {
    let declared = Client::for_base(&core.base)
        .send(
            Method::POST,
            "/api/v1/incidents",
            TOKEN,
            &json!({ "title": "Checkout is down", "severity": "SEV1" }),
        )
        .await;
    assert_eq!(declared.status, 201, "{}", declared.text);
}

#[sqlx::test(migrations = false)]
async fn a_sev1_declared_before_the_war_room_ever_ran_gets_its_channel_once_it_starts(
    pool: PgPool,
) {
    let vhost = TestVhost::create();
    let slack = FakeSlack::start().await;
    let core = run_services(
        &pool,
        &vhost,
        &incident_stack::SERVICES[0..1],
        &[("bootstrap_token", TOKEN)],
    )
    .await;
    declare_sev1(&core).await;
    eventually(Duration::from_secs(20), "core's outbox is drained", || {
        core_outbox_drained(&pool)
    })
    .await;
    assert!(slack.channels().is_empty());

    // The war room starts for the first time, in its own process.
    let api_url = slack.api_url();
    let warroom = run_services(
        &pool,
        &vhost,
        &incident_stack::SERVICES[3..4],
        &[
            ("slack_bot_token", fake_slack::TOKEN),
            ("slack_signing_secret", "first-install-signing-secret"),
            ("slack_api_url", api_url.as_str()),
        ],
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the war room is open and pinned",
        || async {
            let channel: Option<String> =
                sqlx::query_scalar("SELECT slack_channel_id FROM incidents WHERE number = 1")
                    .fetch_one(&pool)
                    .await
                    .expect("incident");
            channel.is_some_and(|c| !slack.pins(&c).is_empty())
        },
    )
    .await;
    assert_eq!(slack.channels().len(), 1, "one channel");
    assert_eq!(slack.ok_calls("conversations.create").len(), 1);

    warroom.stop().await.expect("the war room stops cleanly");
    core.stop().await.expect("core stops cleanly");
}

#[sqlx::test(migrations = false)]
async fn a_resolve_before_postmortem_ever_ran_is_drafted_once_it_starts(pool: PgPool) {
    let vhost = TestVhost::create();
    // Core alone, on a vhost no other service has ever connected to.
    let core = run_services(
        &pool,
        &vhost,
        &incident_stack::SERVICES[0..1],
        &[("bootstrap_token", TOKEN)],
    )
    .await;
    declare_sev1(&core).await;
    let resolved = Client::for_base(&core.base)
        .send(
            Method::POST,
            "/api/v1/incidents/INC-1/status",
            TOKEN,
            &json!({ "status": "RESOLVED", "message": "rolled back" }),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    // Every event core wrote is confirmed by the broker before postmortem exists at all.
    eventually(
        Duration::from_secs(20),
        "core's outbox is drained",
        || async {
            let pending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&pool)
                    .await
                    .expect("outbox");
            pending == 0
        },
    )
    .await;
    let drafted: i64 = sqlx::query_scalar("SELECT count(*) FROM postmortems")
        .fetch_one(&pool)
        .await
        .expect("postmortems");
    assert_eq!(drafted, 0, "nobody has drafted yet");

    // Postmortem starts for the first time, in its own process.
    let postmortem = run_services(&pool, &vhost, &incident_stack::SERVICES[4..5], &[]).await;
    eventually(Duration::from_secs(30), "the resolve is drafted", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM postmortems p JOIN incidents i ON i.id = p.incident_id WHERE i.number = 1",
        )
        .fetch_one(&pool)
        .await
        .expect("postmortems");
        n == 1
    })
    .await;

    postmortem.stop().await.expect("postmortem stops cleanly");
    core.stop().await.expect("core stops cleanly");
}
