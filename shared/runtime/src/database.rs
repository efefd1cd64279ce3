//! The Postgres pool: connecting with backoff, so a service started before its database
//! waits for it instead of crashing.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::Config;

/// Connects the pool, retrying with exponential backoff until the database answers or
/// `shutdown` is cancelled.
pub async fn connect(config: &Config, shutdown: &CancellationToken) -> anyhow::Result<PgPool> {
    let url = config.database_url.expose_secret().to_owned();
    let max = config.database_max_connections;
    let attempt = || async {
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times();
    tokio::select! {
        pool = attempt
            .retry(backoff)
            .notify(|e, wait| tracing::warn!(error = %e, ?wait, "database not reachable yet, retrying")) => {
            Ok(pool?)
        }
        () = shutdown.cancelled() => anyhow::bail!("shut down while waiting for the database"),
    }
}
