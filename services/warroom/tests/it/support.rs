//! `Stack`: core and the warroom started with `start()` as `services/stack` does, each
//! router served on 127.0.0.1:0, a vhost per test, and the fake Slack.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use figment::Figment;
use figment::providers::Serialized;
use incident_bus::testing::TestVhost;
use incident_runtime::Config;
use incident_runtime::host::Component;
use incident_testkit::http::{self, Client};
use incident_warroom::slack::{form, signature};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::fake_slack::{self, FakeSlack};

/// The admin token of the `default` workspace.
pub const ADMIN: &str = "warroom-test-bootstrap-token-0123";
/// `INCIDENT_PUBLIC_URL` of the stack (the incident pages' links).
pub const PUBLIC_URL: &str = "https://incident.example.com/";
/// The Slack signing secret.
pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

pub struct Stack {
    pub pool: PgPool,
    pub fake: FakeSlack,
    pub vhost: TestVhost,
    pub core: String,
    pub warroom: String,
    pub http: reqwest::Client,
    /// The problem-asserting client for core's API.
    pub api: Client,
    pub shutdown: CancellationToken,
    _components: Vec<Component>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn config(vhost: &TestVhost, fake: &FakeSlack, with_token: bool) -> Config {
    config_with(vhost, fake, with_token, |f, _| f)
}

pub fn config_with(
    vhost: &TestVhost,
    fake: &FakeSlack,
    with_token: bool,
    extra: impl FnOnce(Figment, &FakeSlack) -> Figment,
) -> Config {
    let mut figment = Figment::new()
        .merge(Serialized::default("amqp_url", &vhost.url))
        .merge(Serialized::default("bootstrap_token", ADMIN))
        .merge(Serialized::default("slack_signing_secret", SECRET))
        .merge(Serialized::default("slack_api_url", fake.api_url()))
        .merge(Serialized::default("outbox_poll_secs", 1))
        .merge(Serialized::default("public_url", PUBLIC_URL));
    if with_token {
        figment = figment.merge(Serialized::default("slack_bot_token", fake_slack::TOKEN));
    }
    Config::from_figment(extra(figment, fake)).expect("config")
}

impl Stack {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, true).await
    }

    pub async fn spawn_with(pool: PgPool, with_token: bool) -> Self {
        Self::spawn_configured(pool, with_token, |f, _| f).await
    }

    /// A stack whose configuration `extra` adds to (given the fake Slack it will use).
    pub async fn spawn_configured(
        pool: PgPool,
        with_token: bool,
        extra: impl FnOnce(Figment, &FakeSlack) -> Figment,
    ) -> Self {
        let fake = FakeSlack::start().await;
        let vhost = TestVhost::create();
        let shutdown = CancellationToken::new();
        let config = config_with(&vhost, &fake, with_token, extra);
        let core = incident_core::start(config.clone(), pool.clone(), shutdown.clone())
            .await
            .expect("core");
        let warroom = incident_warroom::start(config, pool.clone(), shutdown.clone())
            .await
            .expect("warroom");
        // Events published before a consumer's queue exists go nowhere: wait until both
        // services are connected, which means their queues are declared.
        let connected = || async {
            let mut checks = core.checks.iter().chain(warroom.checks.iter());
            checks.all(|(_, up)| up())
        };
        incident_testkit::eventually(
            Duration::from_secs(30),
            "the services connect to the broker",
            connected,
        )
        .await;
        let core_base = http::serve(core.router.clone(), shutdown.clone()).await;
        let warroom_base = http::serve(warroom.router.clone(), shutdown.clone()).await;
        let api = Client::for_base(&core_base);
        Self {
            pool,
            fake,
            vhost,
            core: core_base,
            warroom: warroom_base,
            http: api.http().clone(),
            api,
            shutdown,
            _components: vec![core, warroom],
        }
    }

    /// Calls core's API as the admin; returns status and JSON body (see
    /// [`http::read`]: an error must be a problem document).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api.json(ADMIN, method, path, body).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// The two people most tests need: Ada (`UADA0001`) and Grace (`UGRACE01`), each with
    /// a stored Slack id; their user ids.
    pub async fn ada_and_grace(&self) -> (Uuid, Uuid) {
        let ada = self
            .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
            .await;
        let grace = self
            .user(
                "grace@example.com",
                "Grace",
                Some("UGRACE01"),
                Some("UGRACE01"),
            )
            .await;
        (ada, grace)
    }

    /// A workspace user with a Slack account in the fake.
    pub async fn user(
        &self,
        email: &str,
        name: &str,
        slack_id: Option<&str>,
        in_slack: Option<&str>,
    ) -> Uuid {
        let mut body = json!({ "email": email, "display_name": name });
        if let Some(id) = slack_id {
            body["slack_user_id"] = json!(id);
        }
        if let Some(id) = in_slack {
            self.fake.add_user(id, email, name);
        }
        let created = self.post("/api/v1/users", body).await;
        created["id"].as_str().expect("id").parse().expect("uuid")
    }

    pub async fn declare(&self, body: Value) -> Value {
        self.post("/api/v1/incidents", body).await
    }

    pub async fn status(&self, id: &str, status: &str) {
        self.post(
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": status }),
        )
        .await;
    }

    pub async fn incident(&self, id: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/incidents/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn timeline(&self, id: &str) -> Vec<Value> {
        let (_, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/incidents/{id}/timeline"),
                None,
            )
            .await;
        body.as_array().cloned().unwrap_or_default()
    }

    /// The room record of an incident.
    pub async fn room(&self, id: &str) -> Option<incident_warroom::store::Room> {
        incident_warroom::store::room(&self.pool, id.parse().expect("uuid"))
            .await
            .expect("room")
    }

    /// Waits (up to 60 s) until the room of `id` has applied `version` or more.
    pub async fn settled(&self, id: &str, version: i64) -> incident_warroom::store::Room {
        let id = id.to_owned();
        eventually(&format!("room of {id} at version {version}"), || async {
            self.room(&id)
                .await
                .filter(|r| r.applied_version >= version && r.announced)
        })
        .await
    }

    /// Signs and posts a Slack request to the warroom.
    pub async fn slack_post(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        at: i64,
    ) -> (StatusCode, String) {
        let ts = at.to_string();
        let sig = signature::sign(SECRET, &ts, body.as_bytes());
        self.slack_post_signed(path, content_type, body, &ts, &sig)
            .await
    }

    pub async fn slack_post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        ts: &str,
        sig: &str,
    ) -> (StatusCode, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.warroom))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body.to_owned())
            .send()
            .await
            .expect("slack request");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// A slash command body as Slack sends it from team `team`.
    pub fn slash_body_from(&self, team: &str, user: &str, channel: &str, text: &str) -> String {
        let trigger = self.fake.trigger_id();
        let response_url = self.fake.response_url();
        form::encode([
            ("token", "xyzz"),
            ("team_id", team),
            ("channel_id", channel),
            ("user_id", user),
            ("command", "/incident"),
            ("text", text),
            ("response_url", response_url.as_str()),
            ("trigger_id", trigger.as_str()),
        ])
    }

    /// A block_actions body for a button of the summary, from team `team`.
    pub fn button_body_from(
        &self,
        team: &str,
        user: &str,
        channel: &str,
        action_id: &str,
        incident_id: &str,
    ) -> String {
        let payload = json!({
            "type": "block_actions", "user": { "id": user, "team_id": team }, "team": { "id": team },
            "trigger_id": self.fake.trigger_id(), "response_url": self.fake.response_url(),
            "channel": { "id": channel },
            "actions": [{ "type": "button", "action_id": action_id, "value": incident_id }],
        });
        form::encode([("payload", payload.to_string().as_str())])
    }

    /// A slash command body as Slack sends it.
    pub fn slash_body(&self, user: &str, channel: &str, text: &str) -> String {
        let trigger = self.fake.trigger_id();
        let response_url = self.fake.response_url();
        form::encode([
            ("token", "xyzz"),
            ("team_id", fake_slack::TEAM),
            ("channel_id", channel),
            ("user_id", user),
            ("command", "/incident"),
            ("text", text),
            ("response_url", response_url.as_str()),
            ("trigger_id", trigger.as_str()),
        ])
    }

    /// A block_actions body for a button of the summary.
    pub fn button_body(
        &self,
        user: &str,
        channel: &str,
        action_id: &str,
        incident_id: &str,
    ) -> String {
        let payload = json!({
            "type": "block_actions", "user": { "id": user }, "team": { "id": fake_slack::TEAM },
            "trigger_id": self.fake.trigger_id(), "response_url": self.fake.response_url(),
            "channel": { "id": channel },
            "actions": [{ "type": "button", "action_id": action_id, "value": incident_id }],
        });
        form::encode([("payload", payload.to_string().as_str())])
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Polls `check` until it yields a value (60 s at most, then panics naming `what`).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    incident_testkit::eventually_some(Duration::from_secs(60), what, check).await
}
