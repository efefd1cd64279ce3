//! The `core` service: it owns incidents. Everything a responder does to one goes through
//! it, over HTTP (`/api/v1`) or as a command on `incidents.commands`, and every change
//! leaves a timeline entry and an event in the outbox.
//!
//! - [`incident`]: the domain (declare, lifecycle, changes, queries, views, events);
//! - [`access`]: workspaces, users, API tokens, authentication, the first-start bootstrap;
//! - [`http`]: the API adapters and the OpenAPI document;
//! - [`ui`]: the web app's incident pages (`/ui`) and the public status page (`/status`);
//! - [`commands`]: the AMQP command consumer;
//! - [`webhooks`]: outbound webhooks (subscriptions, the fan-out consumer, the sender);
//! - [`error`]: the error table (problem+json types).

pub mod access;
pub mod commands;
pub mod error;
pub mod http;
pub mod incident;
pub mod ui;
pub mod webhooks;

use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::api::token_cache::TokenCache;
use incident_runtime::host::Component;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "core";

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// The broker connection.
    pub bus: Bus,
    /// Resolved API tokens, kept for a second (the API's and the pages' bearer auth;
    /// revoking a token evicts it here).
    pub tokens: TokenCache,
}

/// The service's HTTP surface: the public API and its OpenAPI document, the web app's
/// pages and the public status page (without single sign-on).
pub fn router(state: AppState) -> Router {
    router_with_sso(state, None)
}

/// [`router`], with single sign-on when `sso` is given.
pub fn router_with_sso(state: AppState, sso: Option<ui::sso::Sso>) -> Router {
    http::router(state.clone()).merge(ui::router(state, sso))
}

/// Single sign-on as the configuration sets it up; none when `INCIDENT_OIDC_ISSUER` is
/// unset (the configuration has already checked the rest of the keys are there).
pub fn sso_of(config: &Config) -> Option<ui::sso::Sso> {
    let oidc = config.oidc()?;
    Some(ui::sso::Sso {
        client: std::sync::Arc::new(incident_web::oidc::Client::new(
            incident_web::oidc::OidcConfig {
                issuer: oidc.issuer,
                client_id: oidc.client_id,
                client_secret: oidc.client_secret,
                redirect_url: oidc.redirect_url,
                tenants: oidc.tenants,
            },
        )),
        policy: access::sso::Policy {
            email_domain: oidc.email_domain,
            default_role: oidc.default_role,
        },
    })
}

/// Starts the service on a shared pool: bootstrap, its bus (consuming commands and the
/// events outbound webhooks deliver), relay, webhook sender and router.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        if let Some(secret) = &config.bootstrap_token {
            access::bootstrap::bootstrap(&pool, secret).await?;
        }
        let consumer_pool = pool.clone();
        let mut messaging: Messaging = service::start(
            &config,
            SERVICE,
            pool.clone(),
            |bus| {
                bus.consume_in_lanes(
                    commands::queue(),
                    consumer_pool.clone(),
                    commands::Commands,
                    commands::concurrency(config.database_max_connections),
                )
                .consume(webhooks::queue(), consumer_pool, webhooks::Fanout)
            },
            shutdown.clone(),
        );
        messaging
            .tasks
            .spawn(webhooks::Sender::new(pool.clone()).run(shutdown));
        let state = AppState {
            pool,
            bus: messaging.bus.clone(),
            tokens: TokenCache::default(),
        };
        let sso = sso_of(&config);
        Ok(messaging.into_component(SERVICE, router_with_sso(state, sso)))
    })
}

/// Runs the service alone until `shutdown`, serving on `INCIDENT_HTTP_ADDR`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    service::run(config, listener, &[start], shutdown).await
}
