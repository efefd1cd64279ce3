//! A service's messaging, started the same way in every service: the supervised bus
//! (with the service's queues and consumers), the outbox relay for the service's own
//! events, and the pruning of old outbox and inbox rows; and [`main`], the entry point of
//! every binary (`<binary>` serves, `<binary> migrate` applies the database migrations,
//! `<binary> topology` declares the broker topology).

use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use incident_runtime::host::{self, Component, Router};
use incident_runtime::{Config, database};
use secrecy::ExposeSecret as _;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusBuilder, OutboxRelay, inbox, outbox, topology};

/// The entry point of every binary. Without arguments it runs the service (`run`) until
/// SIGTERM; `migrate` applies the pending database migrations and exits; `topology`
/// declares the whole broker topology ([`topology::contract`]) and exits. The last two
/// are the steps a Helm pre-install/pre-upgrade Job runs before the services start.
pub fn main<F, Fut>(binary: &'static str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Config, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    match std::env::args().nth(1).as_deref() {
        None => incident_runtime::launch(binary, run),
        Some("migrate") => incident_runtime::launch(binary, |config, shutdown| async move {
            let pool = database::connect(&config, &shutdown).await?;
            incident_schema::migrate(&pool)
                .await
                .context("applying database migrations")?;
            pool.close().await;
            tracing::info!(
                known = incident_schema::MIGRATOR.iter().count(),
                "database migrations applied"
            );
            Ok(())
        }),
        Some("topology") => incident_runtime::launch(binary, |config, _| async move {
            topology::declare_contract(config.amqp_url.expose_secret())
                .await
                .context("declaring the broker topology")?;
            tracing::info!(
                queues = topology::contract().len(),
                "broker topology declared"
            );
            Ok(())
        }),
        Some(other) => anyhow::bail!(
            "unknown command {other:?}: run {binary} without arguments to serve, \
             `{binary} migrate` to apply the database migrations and exit, \
             or `{binary} topology` to declare the broker topology and exit"
        ),
    }
}

/// Published outbox rows are kept this long (for inspection), then deleted.
const OUTBOX_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Inbox rows are kept far beyond any redelivery window.
const INBOX_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// A service's running messaging.
pub struct Messaging {
    /// The bus, for publishing and readiness.
    pub bus: Bus,
    /// The supervisor, relay and pruning tasks.
    pub tasks: JoinSet<()>,
}

/// Starts `service`'s bus (configured by `configure`: queues, consumers), its outbox
/// relay and the pruning task. Everything stops when `shutdown` is cancelled.
pub fn start(
    config: &Config,
    service: &'static str,
    pool: PgPool,
    configure: impl FnOnce(BusBuilder) -> BusBuilder,
    shutdown: CancellationToken,
) -> Messaging {
    let builder =
        BusBuilder::new(config.amqp_url.expose_secret(), service).prefetch(config.amqp_prefetch);
    let (bus, supervisor) = configure(builder).start(shutdown.clone());
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        if let Err(e) = supervisor.await {
            tracing::error!(error = %e, "the bus supervisor panicked");
        }
    });
    let relay = OutboxRelay::new(pool.clone(), bus.clone(), service)
        .poll_interval(config.outbox_poll_interval());
    tasks.spawn(relay.run(shutdown.clone()));
    tasks.spawn(prune_periodically(pool, shutdown));
    Messaging { bus, tasks }
}

impl Messaging {
    /// The hosted component: `router`, a `broker` readiness check, these tasks.
    pub fn into_component(self, name: &'static str, router: Router) -> Component {
        let bus = self.bus;
        Component {
            name,
            router,
            checks: vec![("broker", Box::new(move || bus.is_connected()))],
            tasks: self.tasks,
        }
    }
}

async fn prune_periodically(pool: PgPool, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match outbox::prune(&pool, OUTBOX_RETENTION).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "pruned published outbox rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
        }
        match inbox::prune(&pool, INBOX_RETENTION).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "pruned inbox rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the inbox failed"),
        }
    }
}

/// Connections each hosted service needs at the least: its outbox relay holds one for
/// LISTEN all the time, and its consumers, sweeps and requests need one to work with.
pub const MIN_CONNECTIONS_PER_SERVICE: u32 = 2;

/// Refuses a pool too small for `services` hosted services: with fewer connections the
/// listeners take them all and the process never becomes ready.
pub fn check_pool_size(max_connections: u32, services: usize) -> anyhow::Result<()> {
    let needed = MIN_CONNECTIONS_PER_SERVICE * services as u32;
    anyhow::ensure!(
        max_connections >= needed,
        "INCIDENT_DATABASE_MAX_CONNECTIONS={max_connections} is too small for the {services} \
         service(s) this process hosts: each holds one connection for its outbox listener and \
         needs another to work; set it to at least {needed}"
    );
    Ok(())
}

/// Starts one service's component on a shared pool. Each service crate exposes one.
pub type Starter =
    fn(Config, PgPool, CancellationToken) -> BoxFuture<'static, anyhow::Result<Component>>;

/// Runs the given services in this process until `shutdown`: waits for the database,
/// applies migrations (under Postgres's advisory lock, so replicas starting together
/// serialise), starts each service and serves them all on `listener`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    starters: &[Starter],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    check_pool_size(config.database_max_connections, starters.len())?;
    // The recorder must exist before the components take their metric handles.
    let _ = incident_runtime::metrics::handle();
    let pool = database::connect(&config, &shutdown).await?;
    incident_schema::migrate(&pool)
        .await
        .context("applying database migrations")?;
    let mut components = Vec::with_capacity(starters.len());
    for start in starters {
        components.push(start(config.clone(), pool.clone(), shutdown.clone()).await?);
    }
    host::serve(&config, listener, pool, components, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_too_small_for_the_hosted_services_is_refused_naming_the_minimum() {
        let error = check_pool_size(4, 5).expect_err("too small").to_string();
        assert!(
            error.contains("INCIDENT_DATABASE_MAX_CONNECTIONS=4"),
            "{error}"
        );
        assert!(error.contains("at least 10"), "{error}");
        check_pool_size(10, 5).expect("the default fits the stack");
        check_pool_size(2, 1).expect("a single service needs two");
    }
}
