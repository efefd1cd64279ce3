//! Every service in one process, on one port, against one Postgres and one RabbitMQ.
//!
//! This is what a new user runs first (`deploy/dev/run`) and what the whole-system tests
//! drive. Each service keeps its own broker connection, queues and outbox relay exactly
//! as in a cluster; only the HTTP routers are merged and the database pool is shared.
//! [`openapi`] merges the services' OpenAPI parts into the whole API's document.

pub mod openapi;

use incident_bus::service::{self, Starter};
use incident_runtime::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The services the stack runs, in start-up order.
pub const SERVICES: [Starter; 5] = [
    incident_core::start,
    incident_ingestion::start,
    incident_sla_watchdog::start,
    incident_warroom::start,
    incident_postmortem::start,
];

/// Runs the stack on `INCIDENT_HTTP_ADDR` until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    serve(config, listener, shutdown).await
}

/// Runs the stack on an already bound listener (tests bind port 0).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("incident stack ready at http://{addr} (readiness: http://{addr}/readyz)");
    }
    service::run(config, listener, &SERVICES, shutdown).await
}
