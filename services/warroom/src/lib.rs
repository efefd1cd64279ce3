//! The `warroom` service: Slack war rooms for incidents (issue 6).
//!
//! - [`lifecycle`]: consumes `incidents.events` (queue `warroom.events`) and converges
//!   each incident's Slack channel onto it: channel, topic, invites, the pinned summary,
//!   posts, the archive on close. Idempotent per step (`warroom_rooms`).
//! - [`inbound`]: `/slack/commands`, `/slack/interactions`, `/slack/events`,
//!   authenticated by Slack's request signature; they answer within Slack's 3 seconds and
//!   act on incidents only through commands to core, via the outbox.
//! - [`admin`]: `/api/v1/warroom/settings` (bearer token): which severities get a room,
//!   and the announcement channel;
//! - [`announce`]: the SLA watchdog's weekly digest, posted to the announcement channel.
//! - [`notify`]: people told — role holders, action-item assignees — by DM, or a mention
//!   when Slack refuses the DM; the incident's own announcement is `lifecycle`'s.
//! - [`install`]: `/slack/install` and `/slack/oauth/callback`, the app installed per
//!   workspace with OAuth v2 (bot tokens sealed at rest);
//! - [`teams`]: which Slack team and token a workspace's work goes to, and which
//!   workspace a request from a Slack team belongs to;
//! - [`jobs`]: the consumer writes each event as a job; workers claim lane heads and run
//!   them paced per Slack team, so one team's 429s never hold another's work.
//! - [`ui`]: the settings page, `/ui/settings/war-room`, with the Slack installation.
//! - [`error`]: the error table of both surfaces.
//! - [`slack`]: our Web API client, signing, form bodies and Block Kit.
//!
//! Without `INCIDENT_SLACK_BOT_TOKEN` and without installations the service starts and
//! does nothing Slack-wise (logged once); without `INCIDENT_SLACK_SIGNING_SECRET` the
//! Slack endpoints answer 503.

pub mod admin;
pub mod announce;
pub mod drill_report;
pub mod error;
pub mod inbound;
pub mod install;
pub mod jobs;
pub mod lifecycle;
pub mod naming;
pub mod notify;
pub mod slack;
pub mod store;
pub mod teams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::host::Component;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::install::OAuthSettings;
use crate::lifecycle::Slack;
use crate::slack::SlackClient;
use crate::slack::pacing::TeamPacing;
use crate::teams::{Scope, Teams};

/// The service's name: its queue prefix, outbox publisher and metrics label.
pub const SERVICE: &str = "warroom";

/// Seconds since the epoch, as the signature check sees them (tests may fix it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the service's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// The broker connection.
    pub bus: Bus,
    /// Slack for this request: the single configured token's client, or (once
    /// [`inbound::SlackRequest::scoped`] ran) the client of the requesting team.
    pub slack: Option<Arc<Slack>>,
    /// Whose data this request may reach ([`Scope::Any`] until a Slack request is
    /// scoped to its team).
    pub scope: Scope,
    /// Workspaces with a live installation of their own, which a request served by the
    /// single token ([`Scope::Any`]) never reaches (filled by
    /// [`inbound::SlackRequest::scoped`]).
    pub claimed: Arc<[uuid::Uuid]>,
    /// The installations and their clients.
    pub teams: Arc<Teams>,
    /// The install flow, when the app's client id is configured.
    pub oauth: Option<Arc<OAuthSettings>>,
    /// The request signing secret, when configured.
    pub signing_secret: Option<SecretString>,
    /// The clock for timestamp checks.
    pub clock: Clock,
}

impl AppState {
    /// Whether this request may reach data of `workspace_id`: its team's workspace, or,
    /// served by the single token, any workspace without an installation of its own.
    pub fn admits(&self, workspace_id: uuid::Uuid) -> bool {
        self.scope.admits(workspace_id)
            && !(self.scope == Scope::Any && self.claimed.contains(&workspace_id))
    }
}

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

/// The war room's settings route.
pub const SETTINGS_PATH: &str = "/api/v1/warroom/settings";

/// Every path [`router`] serves (the war room has no OpenAPI document; the Helm chart's
/// Ingress test checks each of these reaches this service).
pub const ROUTES: [&str; 6] = [
    inbound::COMMANDS_PATH,
    inbound::INTERACTIONS_PATH,
    inbound::EVENTS_PATH,
    install::INSTALL_PATH,
    install::CALLBACK_PATH,
    SETTINGS_PATH,
];

/// The service's HTTP surface: the Slack endpoints and the settings route.
pub fn router(state: AppState) -> Router {
    inbound::router()
        .route(
            SETTINGS_PATH,
            axum::routing::get(admin::get_settings).put(admin::put_settings),
        )
        .route(
            install::INSTALL_PATH,
            axum::routing::get(install::install).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                ui::session_as_auth,
            )),
        )
        .route(
            install::CALLBACK_PATH,
            axum::routing::get(install::callback),
        )
        .merge(ui::router())
        .with_state(state)
}

/// Slack from the configuration, or `None` (logged) without a bot token.
pub fn slack_from_config(config: &Config) -> anyhow::Result<Option<Arc<Slack>>> {
    match &config.slack_bot_token {
        Some(token) => {
            let client = SlackClient::new(&config.slack_api_url, token.clone())?
                .with_retry(teams::worker_retry())
                .with_pacing(Arc::new(TeamPacing::new(teams::SINGLE_TOKEN_TEAM)));
            Ok(Some(Arc::new(Slack::new(client))))
        }
        None => {
            tracing::info!(
                "INCIDENT_SLACK_BOT_TOKEN is not set: the war room posts only for workspaces that installed the Slack app"
            );
            Ok(None)
        }
    }
}

/// Starts the service on a shared pool: its bus (consuming incident events), relay and
/// router.
pub fn start(
    config: Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<Component>> {
    Box::pin(async move {
        let slack = slack_from_config(&config)?;
        let teams = Arc::new(Teams::new(
            pool.clone(),
            &config.slack_api_url,
            config.sealing_key(),
            slack.clone(),
        ));
        let wake = Arc::new(tokio::sync::Notify::new());
        let consumer = jobs::Intake::new(teams.clone(), wake.clone());
        let consumer_pool = pool.clone();
        jobs::spawn_workers(
            jobs::workers_for_pool(config.database_max_connections),
            pool.clone(),
            config.public_url.clone(),
            teams.clone(),
            wake,
            shutdown.clone(),
        );
        jobs::spawn_purge(
            pool.clone(),
            config.warroom_job_retention(),
            jobs::PURGE_EVERY,
            shutdown.clone(),
        );
        let messaging: Messaging = service::start(
            &config,
            SERVICE,
            pool.clone(),
            |bus| bus.consume(lifecycle::queue(), consumer_pool, consumer),
            shutdown,
        );
        let state = AppState {
            pool,
            bus: messaging.bus.clone(),
            slack,
            scope: Scope::Any,
            claimed: Arc::from(Vec::new()),
            teams,
            oauth: OAuthSettings::from_config(&config).map(Arc::new),
            signing_secret: config.slack_signing_secret.clone(),
            clock: system_clock(),
        };
        Ok(messaging.into_component(SERVICE, router(state)))
    })
}

/// Runs the service alone until `shutdown`, serving on `INCIDENT_HTTP_ADDR`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = incident_runtime::server::bind(config.http_addr).await?;
    service::run(config, listener, &[start], shutdown).await
}
