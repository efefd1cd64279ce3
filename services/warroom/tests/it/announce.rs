//! The weekly digest posted to the workspace's announcement channel: routed from the bus
//! into the war room, rendered as Block Kit with this week against the last, posted once
//! however often it is delivered, and nowhere without a channel.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use incident_bus::{Handler, OutgoingMessage, outbox};
use incident_schema::contract::{WebhookSubscriptionDisabled, WeekFigures, WorkspaceWeeklyDigest};
use incident_warroom::lifecycle::{Slack, WarRoom};
use incident_warroom::slack::SlackClient;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fake_slack;
use crate::support::{ADMIN, Stack, eventually};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn week(label: &str, starts: &str, ends: &str, incidents: i64, mttr: Option<f64>) -> WeekFigures {
    WeekFigures {
        label: label.into(),
        starts_at: at(starts),
        ends_at: at(ends),
        incidents,
        by_severity: [
            ("SEV1", 1),
            ("SEV2", incidents - 1),
            ("SEV3", 0),
            ("SEV4", 0),
        ]
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect(),
        mtta_median_seconds: Some(300.0),
        mttr_median_seconds: mttr,
        acknowledge_met_share: Some(0.75),
        resolve_met_share: None,
        sla_breaches: incidents - 1,
        postmortems_published: 1,
    }
}

fn digest() -> WorkspaceWeeklyDigest {
    WorkspaceWeeklyDigest {
        scheduled_for: at("2026-11-30T09:00:00Z"),
        generated_at: at("2026-11-30T09:00:01Z"),
        time_zone: "UTC".into(),
        week: week(
            "2026-W48",
            "2026-11-23T00:00:00Z",
            "2026-11-30T00:00:00Z",
            3,
            Some(3600.0),
        ),
        previous: week(
            "2026-W47",
            "2026-11-16T00:00:00Z",
            "2026-11-23T00:00:00Z",
            2,
            Some(5400.0),
        ),
    }
}

async fn default_workspace(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
        .fetch_one(pool)
        .await
        .expect("workspace")
}

async fn put_settings(stack: &Stack, body: Value) -> (StatusCode, Value) {
    let response = stack
        .http
        .request(
            Method::PUT,
            format!("{}/api/v1/warroom/settings", stack.warroom),
        )
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn texts(blocks: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks.as_array().expect("blocks") {
        if let Some(t) = block.pointer("/text/text").and_then(Value::as_str) {
            out.push(t.to_owned());
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            out.push(f["text"].as_str().expect("field").to_owned());
        }
    }
    out
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_weekly_digest_is_announced_once_with_this_week_against_the_last(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let ws = default_workspace(&pool).await;
    let client = SlackClient::new(
        &stack.fake.api_url(),
        SecretString::from(fake_slack::TOKEN.to_owned()),
    )
    .expect("client");
    let channel = client
        .create_channel("announcements")
        .await
        .expect("channel")
        .id;

    let (status, body) = put_settings(
        &stack,
        json!({ "severities": ["SEV1"], "drills": false, "archive_on_close": true,
                "announcement_channel": "#announcements" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a name, not an id: {body}"
    );
    assert_eq!(body["field"], "announcement_channel");
    let (status, body) = put_settings(
        &stack,
        json!({ "severities": ["SEV1"], "drills": false, "archive_on_close": true,
                "announcement_channel": channel }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["announcement_channel"], json!(channel));

    // The watchdog's event, through the bus (relayed by the war room's own relay here, the
    // watchdog not running): the contract routes it to the war room's queue.
    let message = OutgoingMessage::of(ws, &digest()).expect("message");
    let envelope = message.envelope.clone();
    let mut conn = pool.acquire().await.expect("conn");
    outbox::enqueue(&mut conn, incident_warroom::SERVICE, &[message])
        .await
        .expect("enqueue");
    drop(conn);
    let posted = eventually("the digest in the announcement channel", || async {
        let messages = stack.fake.messages(&channel);
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(posted.len(), 1);
    let blocks = posted[0].blocks.clone().expect("Block Kit");
    assert_eq!(
        texts(&blocks),
        [
            "Incident digest 2026-W48",
            "*Incidents*\n3 (▲ 1)",
            "*By severity*\nSEV1: 1 · SEV2: 2 · SEV3: 0 · SEV4: 0",
            "*Median time to acknowledge*\n5m (=)",
            "*Median time to resolve*\n1h 0m (▼ 30m)",
            "*Acknowledged in time*\n75% (=)",
            "*Resolved in time*\n–",
            "*SLA breaches*\n2 (▲ 1)",
            "*Postmortems published*\n1 (=)",
        ]
    );
    assert_eq!(
        blocks[1]["elements"][0]["text"],
        "Incidents detected 2026-11-23 – 2026-11-29 (UTC), against 2026-W47. Drills left out."
    );
    assert!(
        posted[0].text.contains("3 incidents (previous week 2)"),
        "{}",
        posted[0].text
    );

    // Delivered again (a redelivery after a lost ack): nothing is posted twice.
    let handler = WarRoom::new(pool.clone(), Some(Arc::new(Slack::new(client))));
    let mut tx = pool.begin().await.expect("tx");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
    assert_eq!(stack.fake.messages(&channel).len(), 1);
    assert_eq!(stack.fake.ok_calls("chat.postMessage").len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn without_an_announcement_channel_the_digest_is_acknowledged_and_not_posted(pool: PgPool) {
    let stack = Stack::spawn_with(pool.clone(), false).await;
    let ws = default_workspace(&pool).await;
    let client = SlackClient::new(
        &stack.fake.api_url(),
        SecretString::from(fake_slack::TOKEN.to_owned()),
    )
    .expect("client");
    let handler = WarRoom::new(pool.clone(), Some(Arc::new(Slack::new(client))));
    let envelope = OutgoingMessage::of(ws, &digest())
        .expect("message")
        .envelope;
    let mut tx = pool.begin().await.expect("tx");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
    assert!(stack.fake.ok_calls("chat.postMessage").is_empty());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_disabled_webhook_is_announced_once_with_how_to_turn_it_back_on(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let ws = default_workspace(&pool).await;
    let client = SlackClient::new(
        &stack.fake.api_url(),
        SecretString::from(fake_slack::TOKEN.to_owned()),
    )
    .expect("client");
    let channel = client
        .create_channel("announcements")
        .await
        .expect("channel")
        .id;
    let (status, body) = put_settings(
        &stack,
        json!({ "severities": ["SEV1"], "drills": false, "archive_on_close": true,
                "announcement_channel": channel }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let subscription_id = Uuid::now_v7();
    let disabled = WebhookSubscriptionDisabled {
        subscription_id,
        url: "https://hooks.example.com/incidents".into(),
        reason: "HTTP 503 from the receiver".into(),
        consecutive_failures: 5,
        disabled_at: Utc::now(),
    };
    // Core's event, through the bus: the contract routes it to the war room's queue.
    let message = OutgoingMessage::of(ws, &disabled).expect("message");
    let envelope = message.envelope.clone();
    let mut conn = pool.acquire().await.expect("conn");
    outbox::enqueue(&mut conn, incident_warroom::SERVICE, &[message])
        .await
        .expect("enqueue");
    drop(conn);
    let posted = eventually("the notice in the announcement channel", || async {
        let messages = stack.fake.messages(&channel);
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(posted.len(), 1);
    let text = &posted[0].text;
    assert!(
        text.contains("https://hooks.example.com/incidents")
            && text.contains("5 failed deliveries")
            && text.contains("HTTP 503 from the receiver")
            && text.contains(&format!("PATCH /api/v1/webhooks/{subscription_id}")),
        "{text}"
    );

    // Delivered again: nothing is posted twice.
    let handler = WarRoom::new(pool.clone(), Some(Arc::new(Slack::new(client))));
    let mut tx = pool.begin().await.expect("tx");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
    assert_eq!(stack.fake.messages(&channel).len(), 1);
}
