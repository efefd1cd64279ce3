//! The `ingestion` service: how monitoring reaches the system. Alerts arrive over HTTP
//! webhooks (Alertmanager, Grafana, a generic JSON shape) and over AMQP (`alerts.ingest`);
//! they are deduplicated by fingerprint, collected into alert groups, and a new group
//! either declares an incident or joins one, through commands to core.
//!
//! - [`integration`]: integrations (kind, secret, declare rules, grouping key, storm
//!   guard), managed by admins under `/api/v1/integrations`;
//! - [`source`]: the payload formats, parsed and validated into [`source::IncomingAlert`]s;
//! - [`ingest`]: the pipeline — one transaction per notification that stores the alerts,
//!   opens, updates and resolves groups, decides what each new group does and writes the
//!   resulting events and commands to the outbox;
//! - [`front`]: the AMQP front (`ingestion.alerts`);
//! - [`links`]: core's events that tell which incident a group belongs to (`ingestion.events`);
//! - [`http`]: the API, the webhooks and the OpenAPI document;
//! - [`error`]: the error table (problem+json types).
//!
//! The guarantee: an alert answered 2xx (or acknowledged on AMQP) is committed, with its
//! group and the messages it causes; incidents are never created inline, only by core
//! applying the commands this service's outbox relays.

pub mod error;
pub mod front;
pub mod http;
pub mod ingest;
pub mod integration;
pub mod links;
pub mod source;
pub mod ui;

use axum::Router;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::api::auth::AuthState;
use incident_runtime::host::Component;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "ingestion";

/// Consumers per queue: messages applied side by side.
pub const CONSUMERS: usize = 4;

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// Base URL of the public HTTP API (`INCIDENT_PUBLIC_URL`), for webhook URLs; when
    /// unset, the request's `Host` is used.
    pub public_url: Option<String>,
}

impl AppState {
    /// State for `pool`, with the public URL from `config`.
    pub fn new(pool: PgPool, config: &Config) -> Self {
        Self {
            pool,
            public_url: config.public_url.clone(),
        }
    }
}

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The service's HTTP surface: the integrations and alert-group API, the webhooks and
/// the OpenAPI document (`/api/v1/ingestion/openapi.json`).
pub fn router(state: AppState) -> Router {
    http::router(state.clone()).merge(ui::router().with_state(state))
}

/// Starts the service on a shared pool: its bus (consuming the AMQP front and core's
/// events), relay and router.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        let alerts_pool = pool.clone();
        let links_pool = pool.clone();
        let messaging: Messaging = service::start(
            &config,
            SERVICE,
            pool.clone(),
            |bus| {
                // Each consumer applies one message at a time; several let notifications
                // about different groups commit side by side (see the `ingest` bench).
                bus.consumers_per_queue(CONSUMERS)
                    .consume(front::queue(), alerts_pool, front::AlertsFront)
                    .consume(links::queue(), links_pool, links::IncidentLinks)
            },
            shutdown,
        );
        let state = AppState::new(pool, &config);
        Ok(messaging.into_component(SERVICE, router(state)))
    })
}

/// Runs the service alone until `shutdown`, serving on `INCIDENT_HTTP_ADDR`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    service::run(config, listener, &[start], shutdown).await
}
