//! What every binary of the incident system shares, so the five services and the stack
//! start, observe and stop the same way:
//!
//! - [`api`]: problem+json, bearer-token auth, JSON bodies: the HTTP API's shared parts;
//! - [`config`]: one typed configuration, loaded once (defaults, optional TOML file,
//!   environment) and validated at start-up, with errors that name the bad key;
//! - [`telemetry`]: tracing to stdout, with OpenTelemetry export when configured;
//! - [`metrics`]: the process-wide Prometheus recorder and the one table of metric
//!   families (names, kinds, units, help);
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`;
//! - [`host`]: one or several service components served in one process;
//! - [`server`]: serving a router with graceful shutdown;
//! - [`shutdown`]: SIGTERM/SIGINT turned into a [`tokio_util::sync::CancellationToken`];
//! - [`database`]: connecting the Postgres pool, waiting for the database to come up.

pub mod api;
pub mod config;
pub mod database;
pub mod health;
pub mod host;
pub mod metrics;
pub mod sealed;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use config::{Config, ConfigError, LogFormat};
pub use health::Readiness;

/// The body of every binary's `main`: loads the configuration (a bad value stops
/// start-up with a message naming the key), sets up telemetry, turns SIGTERM/SIGINT into
/// a graceful shutdown and runs `run` on a multi-threaded runtime.
pub fn launch<F, Fut>(service_name: &'static str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Config, tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = Config::load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let telemetry = telemetry::init(service_name, &config);
        tracing::info!(
            service = service_name,
            version = env!("CARGO_PKG_VERSION"),
            "starting"
        );
        let shutdown = shutdown::on_signal();
        let result = run(config, shutdown).await;
        if let Err(e) = &result {
            tracing::error!(error = format!("{e:#}"), "stopped with an error");
        }
        telemetry.shutdown().await;
        result
    })
}
