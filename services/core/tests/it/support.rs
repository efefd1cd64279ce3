//! `TestApp`: core's router served on a free port, a bootstrapped `default` workspace
//! with an admin token, and helpers to call the API and read the outbox.

use std::ops::Deref;

use incident_core::access::bootstrap::bootstrap;
use incident_core::{AppState, router, router_with_sso};
use incident_runtime::api::token_cache::TokenCache;
use incident_testkit::app::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub use incident_testkit::app::ADMIN;

/// Core's router with a vhost of its own; the kit's [`Api`] underneath.
pub struct TestApp(Api);

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.0
    }
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with_tokens(pool, TokenCache::default()).await
    }

    /// [`TestApp::spawn`] resolving tokens through `tokens` (a TTL of the test's own).
    pub async fn spawn_with_tokens(pool: PgPool, tokens: TokenCache) -> Self {
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        assert!(bootstrap(&pool, &secret).await.expect("bootstrap"));
        Self(
            Api::start(pool, "core-test", true, |pool, bus| {
                router(AppState {
                    pool: pool.clone(),
                    bus: bus.clone(),
                    tokens,
                })
            })
            .await,
        )
    }

    /// Core's router with single sign-on through the test identity provider `idp`, under
    /// `policy` (no broker: sign-in publishes nothing).
    pub async fn spawn_with_sso(
        pool: PgPool,
        idp: &incident_testkit::idp::Idp,
        policy: incident_core::access::sso::Policy,
    ) -> Self {
        let tenants = vec![incident_testkit::idp::TENANT.to_owned()];
        Self::spawn_with_sso_tenants(pool, idp, policy, tenants).await
    }

    /// [`Self::spawn_with_sso`] allowing `tenants` of a multi-tenant provider in.
    pub async fn spawn_with_sso_tenants(
        pool: PgPool,
        idp: &incident_testkit::idp::Idp,
        policy: incident_core::access::sso::Policy,
        tenants: Vec<String>,
    ) -> Self {
        use incident_testkit::idp::{CLIENT_ID, CLIENT_SECRET};
        use incident_web::oidc::{Client, OidcConfig};
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        assert!(bootstrap(&pool, &secret).await.expect("bootstrap"));
        let issuer = idp.issuer.clone();
        Self(
            Api::start_at(pool, "core-test", false, move |pool, bus, base| {
                let client = Client::new(OidcConfig {
                    issuer,
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: Some(CLIENT_SECRET.to_owned().into()),
                    redirect_url: format!("{base}/ui/login/sso/callback"),
                    tenants,
                });
                let sso = incident_core::ui::sso::Sso {
                    client: std::sync::Arc::new(client),
                    policy,
                };
                router_with_sso(
                    AppState {
                        pool: pool.clone(),
                        bus: bus.clone(),
                        tokens: TokenCache::default(),
                    },
                    Some(sso),
                )
            })
            .await,
        )
    }

    /// Declares a SEV2 incident as `token` and returns it.
    pub async fn declare(&self, token: &str, title: &str) -> Value {
        let body = json!({ "title": title, "severity": "SEV2" });
        self.create(token, "/api/v1/incidents", body).await
    }

    /// Creates a token with `role` in the admin's workspace and returns its secret.
    pub async fn token(&self, admin: &str, role: &str) -> String {
        self.0.token(admin, role, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, admin: &str, email: &str) -> Uuid {
        self.0.user(admin, email, email).await
    }

    /// Creates a user with a token of `role` acting as them; returns both.
    pub async fn person(&self, admin: &str, email: &str, role: &str) -> (Uuid, String) {
        let user = self.user(admin, email).await;
        let name = format!("{email} token");
        (user, self.token_named(admin, &name, role, Some(user)).await)
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
