//! Which Slack team, and which bot token, a workspace's work goes to, and which workspace
//! a request from a Slack team belongs to.
//!
//! - A workspace with an installation (`slack_installations`, made by the OAuth flow in
//!   [`crate::install`]) uses its own bot token, opened from its sealed form with
//!   `INCIDENT_SECRETS_KEY`; one that was uninstalled gets nothing posted.
//! - A workspace without one uses the single configured token
//!   (`INCIDENT_SLACK_BOT_TOKEN`), the one-team shortcut for small installs, as team `*`.
//! - A request from Slack names its team (`team_id`, and `enterprise_id` on Enterprise
//!   Grid): a live installation of that team, else an organisation-wide one of that
//!   enterprise (paced and queued under the enterprise's id, its channels created in its
//!   `channel_team_id`), scopes it to that workspace ([`Scope::Workspace`]); a team
//!   nobody installed is served by the single token when there is one ([`Scope::Any`], the
//!   one-team behaviour), and otherwise matches nobody ([`Scope::Nowhere`]).
//!
//! Clients are kept per workspace while the sealed token stays the same (a reinstall
//! makes a new one), and share one [`TeamPacing`] per Slack team.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use incident_runtime::sealed::SealingKey;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::install::store::{self as installs, Installation};
use crate::lifecycle::Slack;
use crate::slack::SlackClient;
use crate::slack::client::RetryConfig;
use crate::slack::pacing::TeamPacing;

/// The team key of the single configured token.
pub const SINGLE_TOKEN_TEAM: &str = "*";

/// Where a workspace's work goes.
#[derive(Clone)]
pub enum Outbound {
    /// To this Slack team, with this client.
    Slack {
        /// The team (`T…`, or [`SINGLE_TOKEN_TEAM`]).
        team: String,
        /// The client of its token.
        slack: Arc<Slack>,
    },
    /// The app was uninstalled from the workspace's team: nothing is posted.
    Uninstalled {
        /// The team.
        team: String,
        /// Why (`app_uninstalled`, `tokens_revoked`, or a token that no longer opens).
        reason: String,
    },
    /// No Slack for this workspace at all.
    Nothing,
}

/// Whose data a request from Slack may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any workspace's (the single-token shortcut: one team, as before installations).
    Any,
    /// This workspace's only.
    Workspace(Uuid),
    /// Nobody's: a team that is not (or no longer) installed.
    Nowhere,
}

impl Scope {
    /// Whether data of `workspace_id` is in scope.
    pub fn admits(self, workspace_id: Uuid) -> bool {
        match self {
            Self::Any => true,
            Self::Workspace(w) => w == workspace_id,
            Self::Nowhere => false,
        }
    }

    /// The one workspace in scope, if it is one.
    pub fn workspace(self) -> Option<Uuid> {
        match self {
            Self::Workspace(w) => Some(w),
            _ => None,
        }
    }
}

/// A workspace's client, with the sealed token it was made from.
type Cached = (Vec<u8>, Arc<Slack>);

/// The installations, the single token and the clients made of them.
pub struct Teams {
    pool: PgPool,
    api_url: String,
    key: Option<SealingKey>,
    single: Option<Arc<Slack>>,
    clients: Mutex<HashMap<Uuid, Cached>>,
    pacing: Mutex<HashMap<String, Arc<TeamPacing>>>,
}

/// The retry tuning of the war room's own clients: a 429 is never waited out in line
/// (the job is deferred for that team instead), other transient failures are retried
/// briefly.
pub fn worker_retry() -> RetryConfig {
    RetryConfig {
        max_retry_after: std::time::Duration::ZERO,
        ..RetryConfig::default()
    }
}

impl Teams {
    /// The registry over `pool`; `single`: the client of the configured token.
    pub fn new(
        pool: PgPool,
        api_url: &str,
        key: Option<SealingKey>,
        single: Option<Arc<Slack>>,
    ) -> Self {
        Self {
            pool,
            api_url: api_url.to_owned(),
            key,
            single,
            clients: Mutex::new(HashMap::new()),
            pacing: Mutex::new(HashMap::new()),
        }
    }

    /// The client of the single configured token, if any.
    pub fn single(&self) -> Option<Arc<Slack>> {
        self.single.clone()
    }

    /// The pacing of Slack team `team`, shared by all its clients in this process.
    pub fn pacing(&self, team: &str) -> Arc<TeamPacing> {
        self.pacing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(team.to_owned())
            .or_insert_with(|| Arc::new(TeamPacing::new(team)))
            .clone()
    }

    /// Where `workspace_id`'s work goes (read on `db`: the caller's transaction, so a
    /// consumer or worker needs no second connection for it).
    pub async fn outbound(
        &self,
        db: impl PgExecutor<'_>,
        workspace_id: Uuid,
    ) -> Result<Outbound, sqlx::Error> {
        match installs::installation(db, workspace_id).await? {
            Some(inst) if inst.uninstalled_at.is_some() => Ok(Outbound::Uninstalled {
                team: inst.slack_team(),
                reason: inst
                    .uninstall_reason
                    .unwrap_or_else(|| "uninstalled".to_owned()),
            }),
            Some(inst) => Ok(self.client_of(&inst)),
            None => Ok(match &self.single {
                Some(slack) => Outbound::Slack {
                    team: SINGLE_TOKEN_TEAM.to_owned(),
                    slack: slack.clone(),
                },
                None => Outbound::Nothing,
            }),
        }
    }

    /// The workspaces with a live installation of their own (out of the single token's
    /// reach).
    pub async fn claimed(&self) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT workspace_id FROM slack_installations WHERE uninstalled_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// The scope and client of a request from Slack team `team_id`.
    pub async fn inbound(
        &self,
        team_id: Option<&str>,
        enterprise_id: Option<&str>,
    ) -> Result<(Scope, Option<Arc<Slack>>), sqlx::Error> {
        let team_id = team_id.filter(|t| !t.is_empty());
        let enterprise_id = enterprise_id.filter(|e| !e.is_empty());
        let installed = if team_id.is_some() || enterprise_id.is_some() {
            installs::installation_of_team(&self.pool, team_id, enterprise_id).await?
        } else {
            None
        };
        Ok(match installed {
            Some(inst) if inst.uninstalled_at.is_some() => (Scope::Nowhere, None),
            Some(inst) => match self.client_of(&inst) {
                Outbound::Slack { slack, .. } => (Scope::Workspace(inst.workspace_id), Some(slack)),
                _ => (Scope::Nowhere, None),
            },
            None => match &self.single {
                Some(slack) => (Scope::Any, Some(slack.clone())),
                None => (Scope::Nowhere, None),
            },
        })
    }

    /// The client of a live installation (kept while its sealed token is unchanged).
    fn client_of(&self, inst: &Installation) -> Outbound {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((sealed, slack)) = clients.get(&inst.workspace_id)
            && *sealed == inst.bot_token_sealed
        {
            return Outbound::Slack {
                team: inst.slack_team(),
                slack: slack.clone(),
            };
        }
        let unusable = |reason: &str| Outbound::Uninstalled {
            team: inst.slack_team(),
            reason: reason.to_owned(),
        };
        let Some(key) = &self.key else {
            tracing::error!(workspace_id = %inst.workspace_id, "a Slack installation exists but INCIDENT_SECRETS_KEY is not set; nothing is posted");
            return unusable("no INCIDENT_SECRETS_KEY to open the bot token with");
        };
        let Ok(token) = key.open(
            &inst.bot_token_sealed,
            &installs::token_aad(inst.workspace_id),
        ) else {
            tracing::error!(workspace_id = %inst.workspace_id, "the stored Slack bot token does not open with INCIDENT_SECRETS_KEY; reinstall the app");
            return unusable("the stored bot token does not open with INCIDENT_SECRETS_KEY");
        };
        let client = match SlackClient::new(&self.api_url, token) {
            Ok(client) => client
                .with_retry(worker_retry())
                .with_pacing(self.pacing(&inst.slack_team()))
                .with_team(inst.channel_team_id.clone()),
            Err(e) => {
                tracing::error!(error = %e, "could not build a Slack client");
                return unusable("no HTTP client");
            }
        };
        let slack = Arc::new(Slack::new(client));
        clients.insert(
            inst.workspace_id,
            (inst.bot_token_sealed.clone(), slack.clone()),
        );
        Outbound::Slack {
            team: inst.slack_team(),
            slack,
        }
    }
}
