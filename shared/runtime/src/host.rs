//! Hosting components: one or several services in one process, on one HTTP port.
//!
//! A [`Component`] is what a service's `start` returns: its router, its readiness
//! checks and its background tasks (the bus supervisor, the outbox relay, consumers,
//! sweeps). A single service binary hosts one; `services/stack` hosts all five and merges
//! their routers. Either way the process serves `/healthz`, `/readyz` and `/metrics`,
//! and on shutdown stops taking requests, then waits (up to the grace period) for the
//! tasks to finish their in-flight work.

use anyhow::Context as _;
pub use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Config, Readiness, health, server};

/// A named readiness check: `true` while the dependency it watches is up.
pub type Check = (&'static str, Box<dyn Fn() -> bool + Send + Sync>);

/// A running service inside this process.
pub struct Component {
    /// The service's name (`core`, `ingestion`, ...).
    pub name: &'static str,
    /// Its HTTP surface (without the health routes).
    pub router: Router,
    /// Named readiness checks beyond the database (e.g. its broker connection).
    pub checks: Vec<Check>,
    /// Its background tasks; each ends when the shutdown token is cancelled.
    pub tasks: JoinSet<()>,
}

/// Serves `components` on `listener` until `shutdown`, then drains them.
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    pool: PgPool,
    components: Vec<Component>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Install the recorder before anything records, or early samples go nowhere.
    let _ = crate::metrics::handle();
    let mut readiness = Readiness::new().with_database(pool);
    let mut router = Router::new();
    let mut tasks = Vec::new();
    for component in components {
        for (check, f) in component.checks {
            readiness = readiness.with_check(format!("{}.{check}", component.name), f);
        }
        router = router.merge(component.router);
        tasks.push((component.name, component.tasks));
    }
    let router = router.merge(health::router(readiness));
    let served = server::serve(listener, router, shutdown.clone()).await;
    // The server returns only on shutdown (or a fatal error): make sure everything stops.
    shutdown.cancel();
    let drain = async {
        for (name, mut set) in tasks {
            while let Some(ended) = set.join_next().await {
                if let Err(e) = ended {
                    tracing::error!(component = name, error = %e, "a task panicked");
                }
            }
        }
    };
    if tokio::time::timeout(config.shutdown_grace(), drain)
        .await
        .is_err()
    {
        tracing::warn!(grace = ?config.shutdown_grace(), "shutdown grace period over; abandoning remaining work (it will be redelivered)");
    }
    served.context("HTTP server")
}
