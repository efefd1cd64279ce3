//! The `warroom` service: Slack channels, messages, interactivity and slash commands (issue 6).
//!
//! Until that work lands it runs the shared foundation only: its database pool and
//! migrations, its supervised broker connection, the relay for its outbox, and
//! `/healthz`, `/readyz` and `/metrics`.

use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::host::Component;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "warroom";

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// The broker connection.
    pub bus: Bus,
}

/// The service's HTTP surface (its routes arrive with its issue).
pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}

/// Starts the service on a shared pool: its bus, relay and router.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        let messaging: Messaging =
            service::start(&config, SERVICE, pool.clone(), |bus| bus, shutdown);
        let state = AppState {
            pool,
            bus: messaging.bus.clone(),
        };
        Ok(messaging.into_component(SERVICE, router(state)))
    })
}

/// Runs the service alone until `shutdown`, serving on `INCIDENT_HTTP_ADDR`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    service::run(config, listener, &[start], shutdown).await
}
