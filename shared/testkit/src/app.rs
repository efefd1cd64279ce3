//! An API under test: routers built over a test database and a bus, served on
//! `127.0.0.1:0`, with the problem-asserting client and the HTTP fixtures every API test
//! starts from (tokens, users, other workspaces, created through the API as a user would).
//!
//! The bus either has a RabbitMQ vhost of its own (creating one costs seconds, so only
//! tests that run consumers ask for it) or points at a closed port: then it never
//! connects, the routers only write to the outbox, and it stops with the app.

use std::time::Duration;

use axum::Router;
use incident_bus::testing::TestVhost;
use incident_bus::{Bus, BusBuilder};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::http::{self, Client};

/// The bootstrap token API tests start their `default` workspace with (through core's
/// `bootstrap`, as a first start does): an admin of it and an instance administrator.
pub const ADMIN: &str = "test-bootstrap-token-0123456789";

/// Where a bus that must never connect points.
const NOWHERE: &str = "amqp://guest:guest@127.0.0.1:1/none";

/// Routers served on a free port (stopped on drop).
pub struct Api {
    /// The test database.
    pub pool: PgPool,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A plain client, for requests of any shape (60 s timeout).
    pub client: reqwest::Client,
    /// The problem-asserting client over `client`.
    pub api: Client,
    /// The bus the routers publish through.
    pub bus: Bus,
    /// Cancelling it stops the server and the bus.
    pub shutdown: CancellationToken,
    vhost: Option<TestVhost>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Api {
    /// Serves the router `build` makes of the pool and a bus named `service`, which has
    /// a vhost of its own when `broker` is set.
    pub async fn start(
        pool: PgPool,
        service: &str,
        broker: bool,
        build: impl FnOnce(&PgPool, &Bus) -> Router,
    ) -> Self {
        Self::start_at(pool, service, broker, |pool, bus, _| build(pool, bus)).await
    }

    /// [`Api::start`], with `build` also given the base URL the router is served at.
    pub async fn start_at(
        pool: PgPool,
        service: &str,
        broker: bool,
        build: impl FnOnce(&PgPool, &Bus, &str) -> Router,
    ) -> Self {
        let vhost = broker.then(TestVhost::create);
        let url = vhost
            .as_ref()
            .map_or(NOWHERE, |v| v.url.as_str())
            .to_owned();
        let shutdown = CancellationToken::new();
        let (bus, _task) = BusBuilder::new(url, service).start(shutdown.clone());
        let base = http::serve_built(|base| build(&pool, &bus, base), shutdown.clone()).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Self {
            api: Client::with_http(&base, client.clone()),
            pool,
            base,
            client,
            bus,
            shutdown,
            vhost,
        }
    }

    /// The app's own vhost (a test that needs one starts with `broker` set).
    pub fn vhost(&self) -> &TestVhost {
        self.vhost
            .as_ref()
            .expect("this test needs an app started with a broker")
    }

    /// Calls the API with `token`; returns status and JSON body (see [`http::read`]).
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api.json(token, method, path, body).await
    }

    /// GET `path` with `token`.
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, path, None).await
    }

    /// POST `body` to `path` with `token`.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    /// PATCH `path` with `body` and `token`.
    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::PATCH, path, Some(body)).await
    }

    /// POSTs `body` to `path`, asserting `201 Created`; returns what was created.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let (status, created) = self.post(token, path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
        created
    }

    /// Creates a token named `name` with `role` (acting as `user_id`, if given) in the
    /// workspace of `admin`; returns its secret.
    pub async fn token_named(
        &self,
        admin: &str,
        name: &str,
        role: &str,
        user_id: Option<Uuid>,
    ) -> String {
        let body = json!({ "name": name, "role": role, "user_id": user_id });
        let created = self.create(admin, "/api/v1/tokens", body).await;
        created["secret"].as_str().expect("secret").to_owned()
    }

    /// A token named `"{role} token"`; see [`Api::token_named`].
    pub async fn token(&self, admin: &str, role: &str, user_id: Option<Uuid>) -> String {
        self.token_named(admin, &format!("{role} token"), role, user_id)
            .await
    }

    /// Creates a user in the workspace of `admin`; returns its id.
    pub async fn user(&self, admin: &str, email: &str, name: &str) -> Uuid {
        let body = json!({ "email": email, "display_name": name });
        let created = self.create(admin, "/api/v1/users", body).await;
        created["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Creates the workspace `slug` as the bootstrap administrator ([`ADMIN`]); returns
    /// its admin token.
    pub async fn other_workspace(&self, slug: &str) -> String {
        let body = json!({ "slug": slug, "name": slug });
        let created = self.create(ADMIN, "/api/v1/workspaces", body).await;
        created["admin_token"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }
}
