//! The event handler driven directly (no broker between): redeliveries, a restart between
//! "channel created" and "channel id stored", and events arriving out of order.

use std::sync::Arc;

use incident_bus::{Envelope, Handler};
use incident_schema::event::{self, IncidentSnapshot};
use incident_warroom::lifecycle::{Slack, WarRoom};
use incident_warroom::slack::SlackClient;
use incident_warroom::store;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fake_slack::{self, FakeSlack};
use crate::support::Stack;

struct Direct {
    stack: Stack,
    fake: FakeSlack,
    handler: WarRoom,
    slack: Arc<Slack>,
}

impl Direct {
    async fn new(pool: PgPool) -> Self {
        // Core for the incident rows; the stack's own warroom has no token and stays idle.
        let stack = Stack::spawn_with(pool.clone(), false).await;
        let fake = FakeSlack::start().await;
        let client = SlackClient::new(
            &fake.api_url(),
            SecretString::from(fake_slack::TOKEN.to_owned()),
        )
        .expect("client");
        let slack = Arc::new(Slack::new(client));
        let handler = WarRoom::new(pool, Some(slack.clone()));
        Self {
            stack,
            fake,
            handler,
            slack,
        }
    }

    async fn snapshot(&self, id: Uuid) -> Value {
        let ws: Uuid = sqlx::query_scalar("SELECT workspace_id FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&self.stack.pool)
            .await
            .expect("ws");
        let mut conn = self.stack.pool.acquire().await.expect("conn");
        let incident = incident_schema::incident::get_incident(&mut conn, ws, id)
            .await
            .expect("get")
            .expect("incident");
        serde_json::to_value(IncidentSnapshot::of(&incident)).expect("snapshot")
    }

    async fn deliver(&self, envelope: &Envelope) {
        let mut tx = self.stack.pool.begin().await.expect("tx");
        self.handler
            .handle(&mut tx, envelope)
            .await
            .expect("handled");
        tx.commit().await.expect("commit");
    }

    async fn declare(&self, title: &str) -> (Uuid, Envelope) {
        let incident = self
            .stack
            .declare(json!({ "title": title, "severity": "SEV1" }))
            .await;
        let id: Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
        let snapshot = self.snapshot(id).await;
        let ws = snapshot["workspace_id"]
            .as_str()
            .expect("ws")
            .parse()
            .expect("uuid");
        let envelope = Envelope::new(
            event::INCIDENT_DECLARED,
            ws,
            json!({ "incident": snapshot }),
        )
        .expect("env");
        (id, envelope)
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_redelivered_declaration_creates_no_second_channel_pin_or_post(pool: PgPool) {
    let direct = Direct::new(pool).await;
    let (id, declared) = direct.declare("Redelivery").await;
    direct.deliver(&declared).await;
    let posts = direct.fake.ok_calls("chat.postMessage").len();
    direct.deliver(&declared).await;
    direct.deliver(&declared).await;
    assert_eq!(direct.fake.channels().len(), 1);
    assert_eq!(direct.fake.ok_calls("chat.postMessage").len(), posts);
    assert_eq!(direct.fake.ok_calls("pins.add").len(), 1);
    let room = store::room(&direct.stack.pool, id)
        .await
        .expect("room")
        .expect("room");
    assert!(room.announced && room.pinned);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_restart_between_channel_created_and_stored_adopts_our_own_channel(pool: PgPool) {
    let direct = Direct::new(pool).await;
    let (id, declared) = direct.declare("Crash test").await;
    let name = declared.data["incident"]["number"]
        .as_i64()
        .map(|n| format!("inc-{n}-crash-test"))
        .expect("name");
    // The previous attempt recorded the name, created the channel, and died.
    store::begin_create(&direct.stack.pool, id, declared.workspace_id, &name, 0)
        .await
        .expect("record");
    let created = direct
        .slack
        .client
        .create_channel(&name)
        .await
        .expect("created");
    direct.deliver(&declared).await;
    let channels = direct.fake.channels();
    assert_eq!(channels.len(), 1, "{channels:#?}");
    let room = store::room(&direct.stack.pool, id)
        .await
        .expect("room")
        .expect("room");
    assert_eq!(room.channel_id.as_deref(), Some(created.id.as_str()));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_older_version_arriving_late_never_rolls_the_summary_back(pool: PgPool) {
    let direct = Direct::new(pool).await;
    let (id, declared) = direct.declare("Out of order").await;
    direct.deliver(&declared).await;
    let base = direct.snapshot(id).await;
    let version = base["version"].as_i64().expect("version");
    let at = |status: &str, v: i64| {
        let mut snapshot = base.clone();
        snapshot["status"] = json!(status);
        snapshot["version"] = json!(v);
        snapshot["acknowledged_at"] = json!("2026-01-01T00:00:00Z");
        Envelope::new(
            event::INCIDENT_STATUS_CHANGED,
            declared.workspace_id,
            json!({ "incident": snapshot, "from": "INVESTIGATING", "to": status }),
        )
        .expect("env")
    };
    direct.deliver(&at("MONITORING", version + 2)).await;
    direct.deliver(&at("IDENTIFIED", version + 1)).await;
    let room = store::room(&direct.stack.pool, id)
        .await
        .expect("room")
        .expect("room");
    let channel = direct
        .fake
        .channel(room.channel_id.as_deref().expect("channel"))
        .expect("channel");
    assert!(
        channel.topic.contains("Status: MONITORING"),
        "{}",
        channel.topic
    );
    let summary = direct
        .fake
        .messages(&channel.id)
        .into_iter()
        .next()
        .expect("summary");
    assert!(summary.text.contains("MONITORING"), "{}", summary.text);
    let posts = direct
        .fake
        .messages(&channel.id)
        .into_iter()
        .filter(|m| m.text.starts_with("🔄"))
        .count();
    assert_eq!(posts, 2, "both changes are still told once");
    assert_eq!(room.applied_version, version + 2);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_severity_and_status_this_build_does_not_know_are_shown_as_named_not_refused(
    pool: PgPool,
) {
    let direct = Direct::new(pool).await;
    let (id, declared) = direct.declare("From the future").await;
    direct.deliver(&declared).await;
    let mut snapshot = direct.snapshot(id).await;
    let version = snapshot["version"].as_i64().expect("version");
    // What a newer core might send: a severity and a status added after this build.
    snapshot["severity"] = json!("SEV0");
    snapshot["status"] = json!("PAUSED");
    snapshot["version"] = json!(version + 1);
    let changed = Envelope::new(
        event::INCIDENT_SEVERITY_CHANGED,
        declared.workspace_id,
        json!({ "incident": snapshot, "from": "SEV1", "to": "SEV0" }),
    )
    .expect("env");
    direct.deliver(&changed).await;
    let room = store::room(&direct.stack.pool, id)
        .await
        .expect("room")
        .expect("room");
    assert_eq!(room.applied_version, version + 1);
    let channel = direct
        .fake
        .channel(room.channel_id.as_deref().expect("channel"))
        .expect("channel");
    assert!(channel.topic.contains("[SEV0]"), "{}", channel.topic);
    assert!(
        channel.topic.contains("Status: PAUSED"),
        "{}",
        channel.topic
    );
    let told = direct
        .fake
        .messages(&channel.id)
        .into_iter()
        .any(|m| m.text.contains("*SEV1* → *SEV0*"));
    assert!(told, "the change is told in the channel");
}
