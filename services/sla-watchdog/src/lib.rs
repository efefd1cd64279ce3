//! The `sla-watchdog` service: SLA sweeps, update reminders, overdue action items and the
//! daily digest (issue 5).
//!
//! It owns `sla_events`, `incidents.sla_breached`, its own timeline entries (SLA_WARNING,
//! SLA_BREACHED, UPDATE_DUE, written without an author), `action_items.overdue_flagged_at`,
//! `job_runs` and its outbox events; everything else it only reads. Core stamps the
//! deadlines it checks.
//!
//! - [`sla::finding`]: what is due on an incident (pure rules);
//! - [`sla::sweep`]: one sweep, batch by batch, each finding reported exactly once;
//! - [`sla::store`]: its queries;
//! - [`sla::event`]: the events it publishes and their `data`;
//! - [`digest`]: the daily digest per workspace, once per occurrence;
//! - [`weekly`]: the weekly digest per workspace (this week against the last), likewise;
//! - [`drill`]: drill scenarios, their runs and the steps they play (issue 11);
//! - [`http`]: its API, the drills under `/api/v1/drills`;
//! - [`ui`]: the drill pages under `/ui/drills`;
//! - [`schedule`]: the interval and cron loops that drive them (the drill loop included),
//!   and the analytics rollups' builder (`incident_schema::analytics::rollup`);
//! - [`metrics`]: what it measures.
//!
//! Any number of replicas may run: sweeps split the work with `FOR UPDATE SKIP LOCKED`
//! and the unique keys of `sla_events` and `job_runs` decide who reports what.

pub mod digest;
pub mod drill;
pub mod http;
pub mod metrics;
pub mod schedule;
pub mod sla;
pub mod ui;
pub mod weekly;

use anyhow::Context as _;
use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::api::auth::AuthState;
use incident_runtime::host::Component;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::schedule::CalendarSchedule;
use crate::sla::sweep::SweepOptions;

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "sla-watchdog";

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// The broker connection.
    pub bus: Bus,
}

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The service's HTTP surface: the drill API ([`http`]; SLA policies are managed through
/// core) and the drill pages ([`ui`]), beyond the health and metrics routes every binary
/// serves.
pub fn router(state: AppState) -> Router {
    http::router(state.clone()).merge(ui::router().with_state(state))
}

/// Starts the service on a shared pool: its bus (consuming `drill.*` commands) and outbox
/// relay, the SLA sweep, the daily and weekly digest schedules and the drill loop (due
/// steps played, scheduled runs started, overdue runs timed out).
///
/// Fails, before starting anything, if `INCIDENT_SLA_DIGEST_CRON` is not a valid
/// schedule.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        let digest_schedule =
            CalendarSchedule::parse(&config.sla_digest_cron).context("starting sla-watchdog")?;
        let weekly_schedule = CalendarSchedule::parse_for(
            "INCIDENT_SLA_WEEKLY_DIGEST_CRON",
            &config.sla_weekly_digest_cron,
        )
        .context("starting sla-watchdog")?;
        let commands_pool = pool.clone();
        let mut messaging: Messaging = service::start(
            &config,
            SERVICE,
            pool.clone(),
            |bus| {
                bus.consume(
                    drill::commands::commands_queue(),
                    commands_pool,
                    drill::commands::DrillCommands,
                )
            },
            shutdown.clone(),
        );
        messaging.tasks.spawn(schedule::sweep_periodically(
            pool.clone(),
            SweepOptions::default(),
            config.sla_sweep_interval(),
            shutdown.clone(),
        ));
        let replica = format!("{SERVICE}/{}", Uuid::now_v7());
        messaging.tasks.spawn(schedule::digest_on_schedule(
            pool.clone(),
            digest_schedule,
            replica.clone(),
            shutdown.clone(),
        ));
        messaging.tasks.spawn(schedule::weekly_digest_on_schedule(
            pool.clone(),
            weekly_schedule,
            replica,
            shutdown.clone(),
        ));
        messaging.tasks.spawn(schedule::rollups_periodically(
            pool.clone(),
            schedule::ROLLUP_EVERY,
            shutdown.clone(),
        ));
        messaging.tasks.spawn(schedule::drills_periodically(
            pool.clone(),
            schedule::DRILLS_EVERY,
            shutdown.clone(),
        ));
        messaging.tasks.spawn(schedule::gauges_periodically(
            pool.clone(),
            schedule::GAUGES_EVERY,
            shutdown,
        ));
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
