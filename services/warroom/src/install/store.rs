//! `slack_installations` and `slack_oauth_states`: the queries of the install flow and of
//! routing by Slack team. The bot token is stored only sealed (the caller seals it); an
//! OAuth state only as its SHA-256, taken once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A row of `slack_installations`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Installation {
    /// Our workspace.
    pub workspace_id: Uuid,
    /// The Slack team (`T…`); none for an organisation-wide install.
    pub team_id: Option<String>,
    /// The Enterprise Grid organisation (`E…`), if any.
    pub enterprise_id: Option<String>,
    /// Installed for the whole organisation (every team of `enterprise_id`).
    pub is_enterprise_install: bool,
    /// An organisation-wide install's team for war-room channels.
    pub channel_team_id: Option<String>,
    /// The bot's user id in that team.
    pub bot_user_id: String,
    /// The bot token, sealed with `INCIDENT_SECRETS_KEY` for `slack:<workspace id>`.
    pub bot_token_sealed: Vec<u8>,
    /// The scopes Slack granted.
    pub scopes: Vec<String>,
    /// When it was (last re)installed.
    pub installed_at: DateTime<Utc>,
    /// When Slack told us it was uninstalled or its token revoked.
    pub uninstalled_at: Option<DateTime<Utc>>,
    /// Which of the two (`app_uninstalled`, `tokens_revoked`).
    pub uninstall_reason: Option<String>,
}

const COLUMNS: &str = "workspace_id, team_id, enterprise_id, is_enterprise_install, \
    channel_team_id, bot_user_id, bot_token_sealed, scopes, installed_at, uninstalled_at, \
    uninstall_reason";

impl Installation {
    /// The key its work is paced and queued under: the team, or for an
    /// organisation-wide install the organisation.
    pub fn slack_team(&self) -> String {
        self.team_id
            .clone()
            .or_else(|| self.enterprise_id.clone())
            .unwrap_or_default()
    }
}

/// The associated data a workspace's bot token is sealed for: a sealed token copied into
/// another workspace's row does not open there.
pub fn token_aad(workspace_id: Uuid) -> String {
    format!("slack:{workspace_id}")
}

/// The installation of `workspace_id`, live or not.
pub async fn installation(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Option<Installation>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM slack_installations WHERE workspace_id = $1"
    )))
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// The installation a request from Slack team `team_id` (of organisation
/// `enterprise_id`) belongs to: the team's own, else its organisation's org-wide one;
/// a live one before the most recently uninstalled one.
pub async fn installation_of_team(
    db: impl PgExecutor<'_>,
    team_id: Option<&str>,
    enterprise_id: Option<&str>,
) -> Result<Option<Installation>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM slack_installations
         WHERE (team_id = $1 AND ($2::text IS NULL OR enterprise_id IS NULL OR enterprise_id = $2))
            OR (is_enterprise_install AND enterprise_id = $2)
         ORDER BY uninstalled_at IS NOT NULL, is_enterprise_install, installed_at DESC LIMIT 1"
    )))
    .bind(team_id)
    .bind(enterprise_id)
    .fetch_optional(db)
    .await
}

/// What `oauth.v2.access` granted, to be stored.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The Slack team (none for an organisation-wide install).
    pub team_id: Option<String>,
    /// Its organisation, on Enterprise Grid.
    pub enterprise_id: Option<String>,
    /// Installed for the whole organisation.
    pub is_enterprise_install: bool,
    /// An organisation-wide install's team for war-room channels.
    pub channel_team_id: Option<String>,
    /// The bot user.
    pub bot_user_id: String,
    /// The bot token, sealed.
    pub bot_token_sealed: Vec<u8>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// Why an installation was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Another workspace of ours is installed in that Slack team.
    #[error("that Slack team is already installed for another workspace")]
    TeamTaken,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Stores the installation of `workspace_id`; a reinstall replaces the token, the team
/// and the scopes and makes it live again.
pub async fn save(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    granted: &Granted,
) -> Result<(), SaveError> {
    let saved = sqlx::query(
        "INSERT INTO slack_installations (workspace_id, team_id, enterprise_id, bot_user_id,
             bot_token_sealed, scopes, is_enterprise_install, channel_team_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (workspace_id) DO UPDATE SET team_id = EXCLUDED.team_id,
             enterprise_id = EXCLUDED.enterprise_id, bot_user_id = EXCLUDED.bot_user_id,
             is_enterprise_install = EXCLUDED.is_enterprise_install,
             channel_team_id = EXCLUDED.channel_team_id,
             bot_token_sealed = EXCLUDED.bot_token_sealed, scopes = EXCLUDED.scopes,
             installed_at = now(), uninstalled_at = NULL, uninstall_reason = NULL",
    )
    .bind(workspace_id)
    .bind(&granted.team_id)
    .bind(&granted.enterprise_id)
    .bind(&granted.bot_user_id)
    .bind(&granted.bot_token_sealed)
    .bind(&granted.scopes)
    .bind(granted.is_enterprise_install)
    .bind(&granted.channel_team_id)
    .execute(db)
    .await;
    match saved {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e))
            if matches!(
                e.constraint(),
                Some(
                    "slack_installations_live_team_key" | "slack_installations_live_enterprise_key"
                )
            ) =>
        {
            Err(SaveError::TeamTaken)
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks the live installations in Slack team `team_id` uninstalled (`reason`: the
/// event's type), or with `org_wide` the organisation-wide one of `enterprise_id` (a
/// team's own install is not the organisation's, nor the reverse), and returns their
/// workspaces.
pub async fn mark_uninstalled(
    db: impl PgExecutor<'_>,
    team_id: Option<&str>,
    enterprise_id: Option<&str>,
    org_wide: bool,
    reason: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE slack_installations SET uninstalled_at = now(), uninstall_reason = $3
         WHERE uninstalled_at IS NULL AND CASE
             WHEN $4 THEN is_enterprise_install AND enterprise_id = $2
             ELSE team_id = $1 AND ($2::text IS NULL OR enterprise_id IS NULL OR enterprise_id = $2)
           END
         RETURNING workspace_id",
    )
    .bind(team_id)
    .bind(enterprise_id)
    .bind(reason)
    .bind(org_wide)
    .fetch_all(db)
    .await
}

/// Records an OAuth flow under way for `workspace_id` (by the state's hash; `channel_team`:
/// the team an organisation-wide install creates war rooms in), pruning the expired ones.
pub async fn begin_flow(
    db: impl PgExecutor<'_>,
    state_hash: &[u8],
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    channel_team: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH pruned AS (DELETE FROM slack_oauth_states WHERE expires_at < now())
         INSERT INTO slack_oauth_states (state_hash, workspace_id, user_id, channel_team_id)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(state_hash)
    .bind(workspace_id)
    .bind(user_id)
    .bind(channel_team)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes the flow with this state's hash, once: its workspace and channel team, or
/// `None` when the state is unknown, already used or expired (an expired one is removed
/// all the same).
pub async fn take_flow(
    db: impl PgExecutor<'_>,
    state_hash: &[u8],
) -> Result<Option<(Uuid, Option<String>)>, sqlx::Error> {
    let row: Option<(Uuid, Option<String>, bool)> = sqlx::query_as(
        "DELETE FROM slack_oauth_states WHERE state_hash = $1
         RETURNING workspace_id, channel_team_id, expires_at > now()",
    )
    .bind(state_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(workspace, team, live)| live.then_some((workspace, team))))
}
