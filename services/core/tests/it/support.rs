//! `TestApp`: core's router served on a free port, a bootstrapped `default` workspace
//! with an admin token, and helpers to call the API and read the outbox.

use std::time::Duration;

use incident_bus::BusBuilder;
use incident_bus::testing::TestVhost;
use incident_core::access::bootstrap::bootstrap;
use incident_core::{AppState, router};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The bootstrap token every test app starts with.
pub const ADMIN: &str = "test-bootstrap-token-0123456789";

pub struct TestApp {
    pub pool: PgPool,
    pub base: String,
    pub client: reqwest::Client,
    pub vhost: TestVhost,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        assert!(bootstrap(&pool, &secret).await.expect("bootstrap"));
        let vhost = TestVhost::create();
        let shutdown = CancellationToken::new();
        let (bus, _task) = BusBuilder::new(&vhost.url, "core-test").start(shutdown.clone());
        let app = router(AppState {
            pool: pool.clone(),
            bus,
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
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            vhost,
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
        incident_testkit::http::Client::with_http(&self.base, self.client.clone())
            .json(token, method, path, body)
            .await
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    /// Declares a SEV2 incident as the admin and returns it.
    pub async fn declare(&self, token: &str, title: &str) -> Value {
        let (status, body) = self
            .post(
                token,
                "/api/v1/incidents",
                json!({ "title": title, "severity": "SEV2" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Creates a token with `role` in the admin's workspace and returns its secret.
    pub async fn token(&self, admin: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                admin,
                "/api/v1/tokens",
                json!({ "name": format!("{role} token"), "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["secret"].as_str().expect("secret").to_owned()
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, admin: &str, email: &str) -> Uuid {
        let (status, body) = self
            .post(
                admin,
                "/api/v1/users",
                json!({ "email": email, "display_name": email }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Creates a user with a token of `role` acting as them; returns both.
    pub async fn person(&self, admin: &str, email: &str, role: &str) -> (Uuid, String) {
        let user = self.user(admin, email).await;
        let (status, body) = self
            .post(
                admin,
                "/api/v1/tokens",
                json!({ "name": format!("{email} token"), "role": role, "user_id": user }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (user, body["secret"].as_str().expect("secret").to_owned())
    }

    /// Creates another workspace and returns its admin token.
    pub async fn other_workspace(&self, slug: &str) -> String {
        let (status, body) = self
            .post(
                ADMIN,
                "/api/v1/workspaces",
                json!({ "slug": slug, "name": slug }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["admin_token"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }

    /// The outbox envelopes about `incident_id`, oldest first.
    pub async fn events_of(&self, incident_id: &str) -> Vec<Value> {
        sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE payload->'data'->'incident'->>'id' = $1 ORDER BY id",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .expect("outbox")
    }

    /// The types of those envelopes.
    pub async fn event_types(&self, incident_id: &str) -> Vec<String> {
        self.events_of(incident_id)
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The timeline kinds of an incident, oldest first.
    pub async fn timeline_kinds(&self, incident_id: &str) -> Vec<String> {
        let (status, body) = self
            .get(ADMIN, &format!("/api/v1/incidents/{incident_id}/timeline"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .expect("array")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
