//! `TestApp`: ingestion's router served on a free port against a fresh database with a
//! bootstrapped `default` workspace and a known admin token; helpers to create
//! integrations, send webhooks and read the tables and the outbox. `TestStack` runs
//! core and ingestion together (their buses, relays and consumers) on a test vhost, for
//! the flows that need core to apply the commands.

use std::time::Duration;

use incident_bus::testing::TestVhost;
use incident_ingestion::{AppState, router};
use incident_runtime::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The bootstrap token every test app starts with.
pub const ADMIN: &str = "test-bootstrap-token-0123456789";

/// An integration as created: its id and secret.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: Uuid,
    pub secret: String,
    pub body: Value,
}

pub struct TestApp {
    pub pool: PgPool,
    pub base: String,
    pub client: reqwest::Client,
    pub workspace_id: Uuid,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The PostgreSQL server tests use, without a database.
pub fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = url.split('?').next().unwrap_or_default().to_owned();
    url.rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .unwrap_or(url)
}

/// The URL of `pool`'s database.
pub fn database_url(pool: &PgPool) -> String {
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned();
    format!("{}/{database}", server_url())
}

async fn bootstrap(pool: &PgPool) -> Uuid {
    let secret = secrecy::SecretString::from(ADMIN.to_owned());
    incident_core::access::bootstrap::bootstrap(pool, &secret)
        .await
        .expect("bootstrap");
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
        .fetch_one(pool)
        .await
        .expect("workspace")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, None).await
    }

    pub async fn spawn_with(pool: PgPool, public_url: Option<&str>) -> Self {
        let workspace_id = bootstrap(&pool).await;
        let shutdown = CancellationToken::new();
        let app = router(AppState {
            pool: pool.clone(),
            public_url: public_url.map(str::to_owned),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("serve");
        });
        Self {
            pool,
            base,
            client: client(),
            workspace_id,
            shutdown,
        }
    }

    /// Calls the API with `token`; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    /// Creates an integration as the admin.
    pub async fn integration(&self, body: Value) -> Created {
        let (status, body) = self.post(ADMIN, "/api/v1/integrations", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Created {
            id: body["id"].as_str().expect("id").parse().expect("uuid"),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            body,
        }
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
    pub async fn outbox(&self, message_type: &str) -> Vec<Value> {
        outbox(&self.pool, message_type).await
    }
}

/// Status and JSON body of a response; problems must be `application/problem+json`.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(content_type, "application/problem+json", "{status}: {text}");
    }
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        },
    )
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub async fn outbox(pool: &PgPool, message_type: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = $1 ORDER BY id")
        .bind(message_type)
        .fetch_all(pool)
        .await
        .expect("outbox")
}

/// Waits until `sql` counts `expected` (the consumers work in the background).
pub async fn wait_for(pool: &PgPool, sql: &str, expected: i64, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = count(pool, sql).await;
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {sql} = {expected} (it is {n})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
    pub client: reqwest::Client,
    /// The stack's vhost, deleted when the stack is dropped.
    _vhost: TestVhost,
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestStack {
    pub async fn spawn(pool: PgPool) -> Self {
        let vhost = TestVhost::create();
        let mut config = Config::for_urls(&database_url(&pool), &vhost.url).expect("config");
        config.outbox_poll_secs = 1;
        config.bootstrap_token = Some(secrecy::SecretString::from(ADMIN.to_owned()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(incident_bus::service::run(
            config,
            listener,
            &[incident_core::start, incident_ingestion::start],
            shutdown.clone(),
        ));
        let client = client();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stack never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            pool,
            base,
            client,
            _vhost: vhost,
            shutdown,
            task: Some(task),
        }
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        read(
            self.client
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn integration(&self, body: Value) -> Created {
        let (status, body) = self.post(ADMIN, "/api/v1/integrations", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Created {
            id: body["id"].as_str().expect("id").parse().expect("uuid"),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            body,
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
