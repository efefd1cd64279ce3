//! `TestApp`: ingestion's router served on a free port against a fresh database with a
//! bootstrapped `default` workspace and a known admin token; helpers to create
//! integrations, send webhooks and read the tables and the outbox. `TestStack` runs
//! core and ingestion together (their buses, relays and consumers) on a test vhost, for
//! the flows that need core to apply the commands.

use std::ops::Deref;
use std::time::Duration;

use incident_bus::testing::TestVhost;
use incident_ingestion::{AppState, router};
use incident_runtime::Config;
use incident_testkit::app::Api;
use incident_testkit::fixtures;
use incident_testkit::http::Client;
use incident_testkit::services::Running;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use incident_testkit::app::ADMIN;

/// An integration as created: its id and secret.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: Uuid,
    pub secret: String,
    pub body: Value,
}

impl From<(StatusCode, Value)> for Created {
    /// The integration a `POST /api/v1/integrations` answered, asserting `201 Created`.
    fn from((status, body): (StatusCode, Value)) -> Self {
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Self {
            id: body["id"].as_str().expect("id").parse().expect("uuid"),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            body,
        }
    }
}

/// Ingestion's router on the kit's [`Api`] (its bus is never used: ingestion's
/// routers write commands to the outbox), and the `default` workspace.
pub struct TestApp {
    api: Api,
    pub workspace_id: Uuid,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, None).await
    }

    pub async fn spawn_with(pool: PgPool, public_url: Option<&str>) -> Self {
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        incident_core::access::bootstrap::bootstrap(&pool, &secret)
            .await
            .expect("bootstrap");
        let workspace_id = fixtures::workspace_id(&pool, "default").await;
        let api = Api::start(pool, "ingestion-test", false, |pool, _bus| {
            router(AppState {
                pool: pool.clone(),
                public_url: public_url.map(str::to_owned),
            })
        })
        .await;
        Self { api, workspace_id }
    }

    /// Creates an integration as the admin.
    pub async fn integration(&self, body: Value) -> Created {
        Created::from(self.post(ADMIN, "/api/v1/integrations", body).await)
    }

    /// Sends a webhook with the integration's secret as bearer token.
    pub async fn webhook(
        &self,
        kind: &str,
        integration: &Created,
        body: &Value,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/webhooks/{kind}/{}", self.base, integration.id))
            .bearer_auth(&integration.secret)
            .json(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// Sends a webhook that must be accepted.
    pub async fn accepted(&self, kind: &str, integration: &Created, body: &Value) -> Value {
        let (status, answer) = self.webhook(kind, integration, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer
    }

    pub async fn count(&self, sql: &str) -> i64 {
        count(&self.pool, sql).await
    }

    /// Outbox envelopes of `message_type`, oldest first.
    /// After a resolve and then its older trigger (`late`, the trigger's answer): the
    /// trigger was stale, one alert is resolved with both notifications counted, one
    /// group exists and is resolved, and nothing was declared.
    pub async fn assert_late_trigger_ignored(&self, late: &Value) {
        assert_eq!(late["stale_notifications"], 1, "{late}");
        assert_eq!(
            self.count(
                "SELECT count(*) FROM alerts WHERE status = 'RESOLVED' AND notification_count = 2"
            )
            .await,
            1
        );
        assert_eq!(self.count("SELECT count(*) FROM alert_groups").await, 1);
        assert_eq!(
            self.count("SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED'")
                .await,
            1
        );
        assert!(
            self.outbox("incident.declare").await.is_empty(),
            "no incident for a resolved alert"
        );
    }

    pub async fn outbox(&self, message_type: &str) -> Vec<Value> {
        outbox(&self.pool, message_type).await
    }
}

pub use incident_testkit::db::{count, database_url, outbox, wait_for_count as wait_for};
pub use incident_testkit::http::read;

/// An Alertmanager alert.
pub fn am_alert(
    fingerprint: &str,
    status: &str,
    labels: Value,
    starts: &str,
    ends: Option<&str>,
) -> Value {
    json!({
        "status": status,
        "labels": labels,
        "annotations": { "summary": format!("{} is unwell", fingerprint), "description": "details" },
        "startsAt": starts,
        "endsAt": ends.unwrap_or("0001-01-01T00:00:00Z"),
        "generatorURL": "",
        "fingerprint": fingerprint,
    })
}

/// An Alertmanager notification of `group_key` with `alerts`.
pub fn am_notification(group_key: &str, alerts: Vec<Value>) -> Value {
    let firing = alerts.iter().any(|a| a["status"] == "firing");
    json!({
        "receiver": "incident",
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    })
}

/// Core and ingestion in this process, each with its bus, relay and consumers, on a test
/// vhost; their routers served together.
pub struct TestStack {
    pub pool: PgPool,
    pub base: String,
    /// A plain client, for requests of any shape.
    pub client: reqwest::Client,
    api: Client,
    /// The stack's vhost, deleted when the stack is dropped.
    _vhost: TestVhost,
    pub shutdown: CancellationToken,
    running: Option<Running>,
}

impl TestStack {
    pub async fn spawn(pool: PgPool) -> Self {
        let vhost = TestVhost::create();
        let mut config = Config::for_urls(&database_url(&pool), &vhost.url).expect("config");
        config.outbox_poll_secs = 1;
        config.bootstrap_token = Some(secrecy::SecretString::from(ADMIN.to_owned()));
        let running =
            Running::start(config, &[incident_core::start, incident_ingestion::start]).await;
        let api = Client::for_base(&running.base);
        Self {
            pool,
            client: api.http().clone(),
            api,
            base: running.base.clone(),
            _vhost: vhost,
            shutdown: running.shutdown.clone(),
            running: Some(running),
        }
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.api.json(token, Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.api.json(token, Method::GET, path, None).await
    }

    pub async fn integration(&self, body: Value) -> Created {
        Created::from(self.post(ADMIN, "/api/v1/integrations", body).await)
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), running.stop()).await;
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
