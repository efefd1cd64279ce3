//! The `postmortem` service: it turns a resolved incident into a learning document and
//! makes sure its action items get done (issue 7). It owns `postmortems`,
//! `action_items` and `postmortem_settings`.
//!
//! - [`draft`]: drafting from the incident's facts, the template and the optional LLM;
//! - [`postmortem`]: the document, its review, publishing and amendments;
//! - [`action_item`]: follow-ups tracked to done;
//! - [`export`]: Markdown through the built-in or the workspace's minijinja template;
//! - [`settings`]: per-workspace settings (draft trigger, what the LLM may see, template);
//! - [`triggers`]: the AMQP consumers (`incident.status_changed`, `postmortem.generate`);
//! - [`events`]: the events it publishes through its outbox;
//! - [`http`]: the API adapters and the service's OpenAPI fragment;
//! - [`ui`]: the pages under `/ui/postmortems` (the document, its editor, the action item
//!   board and list);
//! - [`error`]: the error table (problem+json types).

#![warn(missing_docs)]

pub mod action_item;
pub mod draft;
pub mod error;
pub mod events;
pub mod export;
pub mod http;
pub mod patch;
pub mod postmortem;
pub mod settings;
pub mod text;
pub mod tracker;
pub mod triggers;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::api::auth::{Auth, AuthState};
use incident_runtime::api::token_cache::TokenCache;
use incident_runtime::host::Component;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::draft::llm::LlmClient;

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "postmortem";

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// The broker connection.
    pub bus: Bus,
    /// The LLM drafting the summary and what happened; none: the template only.
    pub llm: Option<Arc<LlmClient>>,
    /// The public base URL, for absolute links in events (`INCIDENT_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// The workspaces' issue trackers: the client, the sealing key, the exporter's wake-up.
    pub trackers: tracker::Trackers,
    /// Resolved API tokens, kept for a second (a token revoked through core is refused
    /// here within that second).
    pub tokens: TokenCache,
}

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
    }

    fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }
}

/// Who changes things: a workspace, and the person if the token has one.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The workspace everything is scoped to.
    pub workspace_id: Uuid,
    /// The person acting, if any.
    pub user_id: Option<Uuid>,
}

impl From<&Auth> for Actor {
    fn from(auth: &Auth) -> Self {
        Self {
            workspace_id: auth.workspace_id,
            user_id: auth.user_id,
        }
    }
}

/// The service's HTTP surface: its API routes, its OpenAPI fragment and its pages.
pub fn router(state: AppState) -> Router {
    let hub = incident_web::sse::Hub::new(state.pool.clone());
    http::router(state.clone()).merge(ui::router(hub).with_state(state))
}

/// Starts the service on a shared pool: its bus (consuming incident events and its
/// commands), relay and router. Fails when `INCIDENT_LLM_API_URL` is set without
/// `INCIDENT_LLM_MODEL`.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        let llm = LlmClient::from_config(&config)?.map(Arc::new);
        if let Some(client) = &llm {
            tracing::info!(model = client.model(), "postmortem drafts use the LLM");
        }
        let drafts = triggers::Drafts::new(llm.clone());
        let (events_pool, commands_pool) = (pool.clone(), pool.clone());
        let shutdown_for_trackers = shutdown.clone();
        let messaging: Messaging = service::start(
            &config,
            SERVICE,
            pool.clone(),
            |bus| {
                bus.consume(triggers::events_queue(), events_pool, drafts.clone())
                    .consume(triggers::commands_queue(), commands_pool, drafts)
            },
            shutdown,
        );
        let trackers = tracker::Trackers::new(config.sealing_key(), config.public_url.clone());
        let mut messaging = messaging;
        messaging.tasks.spawn(tracker::export::run(
            pool.clone(),
            trackers.clone(),
            config.tracker_poll_interval(),
            shutdown_for_trackers,
        ));
        let state = AppState {
            pool,
            bus: messaging.bus.clone(),
            llm,
            public_url: config.public_url.clone(),
            trackers,
            tokens: TokenCache::default(),
        };
        Ok(messaging.into_component(SERVICE, router(state)))
    })
}

/// Runs the service alone until `shutdown`, serving on `INCIDENT_HTTP_ADDR`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    service::run(config, listener, &[start], shutdown).await
}
