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
//! - [`error`]: the error table of both surfaces.
//! - [`slack`]: our Web API client, signing, form bodies and Block Kit.
//!
//! Without `INCIDENT_SLACK_BOT_TOKEN` the service starts and does nothing Slack-wise
//! (logged once); without `INCIDENT_SLACK_SIGNING_SECRET` the Slack endpoints answer 503.

pub mod admin;
pub mod announce;
pub mod drill_report;
pub mod error;
pub mod inbound;
pub mod lifecycle;
pub mod naming;
pub mod slack;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use axum::Router;
use incident_bus::Bus;
use incident_bus::service::{self, Messaging};
use incident_runtime::Config;
use incident_runtime::host::Component;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::lifecycle::{Slack, WarRoom};
use crate::slack::SlackClient;

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
    /// Slack, when a bot token is configured.
    pub slack: Option<Arc<Slack>>,
    /// The request signing secret, when configured.
    pub signing_secret: Option<SecretString>,
    /// The clock for timestamp checks.
    pub clock: Clock,
}

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

/// The war room's settings route.
pub const SETTINGS_PATH: &str = "/api/v1/warroom/settings";

/// Every path [`router`] serves (the war room has no OpenAPI document; the Helm chart's
/// Ingress test checks each of these reaches this service).
pub const ROUTES: [&str; 4] = [
    inbound::COMMANDS_PATH,
    inbound::INTERACTIONS_PATH,
    inbound::EVENTS_PATH,
    SETTINGS_PATH,
];

/// The service's HTTP surface: the Slack endpoints and the settings route.
pub fn router(state: AppState) -> Router {
    inbound::router()
        .route(
            SETTINGS_PATH,
            axum::routing::get(admin::get_settings).put(admin::put_settings),
        )
        .with_state(state)
}

/// Slack from the configuration, or `None` (logged) without a bot token.
pub fn slack_from_config(config: &Config) -> anyhow::Result<Option<Arc<Slack>>> {
    match &config.slack_bot_token {
        Some(token) => {
            let client = SlackClient::new(&config.slack_api_url, token.clone())?;
            Ok(Some(Arc::new(Slack::new(client))))
        }
        None => {
            tracing::info!(
                "INCIDENT_SLACK_BOT_TOKEN is not set: the war room does nothing in Slack"
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
        let consumer = WarRoom::new(pool.clone(), slack.clone());
        let consumer_pool = pool.clone();
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
