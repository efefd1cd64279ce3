//! `/metrics` as Prometheus reads it: parsed with a Prometheus text parser, every family
//! described (`# HELP`) and prefixed `incident_`, and the system's own signals there
//! after one incident: HTTP per matched route, consumers per queue, queue depths, the
//! outbox, Slack calls (a 429 among them), readiness and SLA state.

use std::time::Duration;

use incident_runtime::metrics as m;
use incident_system_tests::{Client, TestStack, eventually};
use incident_testkit::metrics::Exposition;
use incident_warroom::testing::fake_slack::{self, FakeSlack, Fault};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

const TOKEN: &str = "metrics-bootstrap-token-0123";

async fn scrape(stack: &TestStack) -> Exposition {
    let (status, body) = stack.get("/metrics").await;
    assert_eq!(status, 200);
    Exposition::parse(body.as_str().expect("text"))
}

#[sqlx::test(migrations = false)]
async fn every_family_is_described_and_the_system_watches_itself(pool: PgPool) {
    let slack = FakeSlack::start().await;
    // The first channel creation is rate-limited once (Retry-After: 0), then applied.
    slack.inject(Some("conversations.create"), Fault::RateLimited(0));
    let api_url = slack.api_url();
    let stack = TestStack::spawn_with(
        &pool,
        &[
            ("bootstrap_token", TOKEN),
            ("slack_bot_token", fake_slack::TOKEN),
            ("slack_signing_secret", "metrics-signing-secret"),
            ("slack_api_url", api_url.as_str()),
        ],
    )
    .await;
    let client = Client::for_base(stack.url(""));
    let declared = client
        .send(
            Method::POST,
            "/api/v1/incidents",
            TOKEN,
            &json!({ "title": "Checkout is down", "severity": "SEV1" }),
        )
        .await;
    assert_eq!(declared.status, 201, "{}", declared.text);
    let read = stack
        .call(Method::GET, "/api/v1/incidents/INC-1", Some(TOKEN), None)
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let unknown = stack.call(Method::GET, "/no/such/route", None, None).await;
    assert_eq!(unknown.status, 404);
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
    // The watchdog counts open incidents by SLA state at its first sweep (then every
    // minute): the gauge is there from the start.
    eventually(Duration::from_secs(20), "the first SLA sweep", || async {
        let metrics = scrape(&stack).await;
        metrics
            .value(m::SLA_INCIDENTS, &[("state", "on_track")])
            .is_some()
            && metrics.observations(m::SLA_SWEEP_DURATION, &[("outcome", "ok")]) >= Some(1.0)
    })
    .await;

    let metrics = scrape(&stack).await;
    metrics.assert_described();
    let families = metrics.families();
    for family in [
        m::HTTP_REQUESTS,
        m::HTTP_REQUEST_DURATION,
        m::READY,
        m::READINESS_CHECK,
        m::BUS_CONNECTED,
        m::BUS_MESSAGES_CONSUMED,
        m::BUS_MESSAGE_HANDLING,
        m::BUS_QUEUE_READY,
        m::BUS_DEAD_LETTER,
        m::OUTBOX_PENDING,
        m::OUTBOX_OLDEST_AGE,
        m::OUTBOX_PUBLISHED,
        m::SLACK_CALLS,
        m::SLACK_CALL_DURATION,
        m::SLACK_RATE_LIMITED,
        m::SLA_INCIDENTS,
        m::SLA_SWEEP_DURATION,
    ] {
        assert!(
            families.contains(&family),
            "{family} missing from {families:?}"
        );
        let described = m::FAMILIES
            .iter()
            .find(|f| f.name == family)
            .expect("in the table");
        assert_eq!(
            metrics.scrape.docs[family], described.help,
            "{family}'s # HELP"
        );
    }

    // HTTP: labelled by the matched route, never by the raw path.
    let declares = [
        ("method", "POST"),
        ("route", "/api/v1/incidents"),
        ("status", "201"),
    ];
    assert!(metrics.value(m::HTTP_REQUESTS, &declares) >= Some(1.0));
    let reads = [("method", "GET"), ("route", "/api/v1/incidents/:id")];
    let routes: Vec<String> = metrics
        .samples(m::HTTP_REQUESTS, &[])
        .iter()
        .map(|s| format!("{}", s.labels))
        .collect();
    assert!(
        metrics.value(m::HTTP_REQUESTS, &reads) >= Some(1.0),
        "{routes:#?}"
    );
    assert!(metrics.observations(m::HTTP_REQUEST_DURATION, &reads) >= Some(1.0));
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(metrics.value(m::HTTP_REQUESTS, &unmatched) >= Some(1.0));
    for sample in metrics.samples(m::HTTP_REQUESTS, &[]) {
        let route = sample.labels.get("route").expect("route label");
        assert!(
            !route.contains("INC-1") && !route.starts_with("/no/"),
            "raw path as a label: {route}"
        );
    }

    // Consumers and queues: the war room applied core's events; depths are sampled.
    let applied = [("queue", "warroom.events"), ("outcome", "applied")];
    assert!(metrics.value(m::BUS_MESSAGES_CONSUMED, &applied) >= Some(1.0));
    assert!(metrics.observations(m::BUS_MESSAGE_HANDLING, &applied) >= Some(1.0));
    assert!(
        metrics
            .value(m::BUS_QUEUE_READY, &[("queue", "warroom.events")])
            .is_some()
    );
    assert_eq!(
        metrics.value(m::BUS_DEAD_LETTER, &[]),
        Some(0.0),
        "nothing dead-lettered"
    );
    assert!(metrics.value(m::OUTBOX_PUBLISHED, &[("publisher", "core")]) >= Some(1.0));

    // Slack: the 429 is counted, and the call it delayed succeeded once.
    let create = [("method", "conversations.create")];
    assert!(metrics.value(m::SLACK_RATE_LIMITED, &create) >= Some(1.0));
    let ok = [("method", "conversations.create"), ("outcome", "ok")];
    assert!(metrics.value(m::SLACK_CALLS, &ok) >= Some(1.0));
    assert!(metrics.observations(m::SLACK_CALL_DURATION, &create) >= Some(1.0));

    // Readiness as the alert rules see it.
    assert_eq!(metrics.value(m::READY, &[]), Some(1.0));
    assert_eq!(
        metrics.value(m::READINESS_CHECK, &[("check", "database")]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value(m::READINESS_CHECK, &[("check", "warroom.broker")]),
        Some(1.0)
    );

    stack.stop().await.expect("clean shutdown");
}
