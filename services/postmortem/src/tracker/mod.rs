//! Issue trackers: a workspace's Jira (Cloud, Server or Data Center) or Linear, where its
//! action items are filed so that teams track them with the rest of their work.
//!
//! - [`client`]: the calls, whichever the tracker ([`jira`], [`linear`]);
//! - [`store`]: the settings row and the action items' links (`issue_trackers`,
//!   `action_item_links`, migration 0084);
//! - [`export`]: filing an item (by the API, or on creation with `auto_export`) and
//!   polling filed items' state: a remote issue that is done marks its item DONE once.
//!
//! Invariants: the credential is sealed with `INCIDENT_SECRETS_KEY` before it is stored
//! and opened only to make a call (never logged, never answered); without the key no
//! tracker can be configured. Filing is at least once and never twice: the link row is
//! written with the request, the attempt is committed before the remote call, and a retry
//! first looks for the marker an earlier attempt left on the issue.

pub mod client;
pub mod export;
pub mod jira;
pub mod linear;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use incident_runtime::sealed::SealingKey;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio::sync::Notify;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};
pub use client::{Tracker, TrackerError};

/// The Linear endpoint used when the settings name none.
pub const LINEAR_API_URL: &str = "https://api.linear.app/graphql";

/// Which tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    /// Atlassian Jira.
    Jira,
    /// Linear.
    Linear,
}

impl TrackerKind {
    /// The stored and labelled name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jira => "jira",
            Self::Linear => "linear",
        }
    }

    /// The stored name parsed.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jira" => Some(Self::Jira),
            "linear" => Some(Self::Linear),
            _ => None,
        }
    }
}

impl std::fmt::Display for TrackerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Jira => "Jira",
            Self::Linear => "Linear",
        })
    }
}

/// Jira's flavour: which API version and authentication it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JiraFlavor {
    /// Jira Cloud: REST v3, basic auth with the account's email and an API token.
    Cloud,
    /// Jira Server or Data Center: REST v2, a bearer personal access token.
    Server,
}

impl JiraFlavor {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Cloud => "cloud",
            Self::Server => "server",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "cloud" => Some(Self::Cloud),
            "server" => Some(Self::Server),
            _ => None,
        }
    }
}

/// The workspace's tracker as an admin sets it (`PUT /api/v1/postmortem/tracker`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackerInput {
    /// `jira` or `linear`.
    pub kind: TrackerKind,
    /// Jira: the site, `https://acme.atlassian.net` (required). Linear: the GraphQL
    /// endpoint (default `https://api.linear.app/graphql`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Jira: `cloud` (default) or `server`.
    #[serde(default)]
    pub jira_flavor: Option<JiraFlavor>,
    /// Jira Cloud: the account's email.
    #[serde(default)]
    pub username: Option<String>,
    /// Jira Cloud's API token, Jira Server's personal access token, Linear's API key.
    /// Stored sealed; never shown again.
    #[schema(value_type = String, format = Password)]
    pub credential: SecretString,
    /// Jira: the project key (`OPS`). Linear: the team's id.
    pub project: String,
    /// Jira: the issue type's name (default `Task`).
    #[serde(default)]
    pub issue_type: Option<String>,
    /// File every new action item on creation (default false).
    #[serde(default)]
    pub auto_export: bool,
}

/// The workspace's tracker as the API shows it: everything but the credential.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrackerView {
    /// `jira` or `linear`.
    pub kind: TrackerKind,
    /// The site or endpoint.
    pub base_url: String,
    /// Jira's flavour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_flavor: Option<JiraFlavor>,
    /// Jira Cloud's account email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Jira project key or Linear team id.
    pub project: String,
    /// Jira issue type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Whether new items are filed on creation.
    pub auto_export: bool,
    /// When the settings last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the exporter and the API share: the HTTP client, the sealing key, and the
/// exporter's wake-up.
#[derive(Debug, Clone)]
pub struct Trackers {
    /// Calls to trackers (redirects not followed: a tracker that moved is reconfigured).
    pub http: reqwest::Client,
    /// The key sealing credentials; none: trackers cannot be configured.
    pub key: Option<SealingKey>,
    /// Wakes the exporter when a link is requested in this process.
    pub wake: Arc<Notify>,
    /// The public base URL, for the incident's link in a filed issue.
    pub public_url: Option<String>,
}

impl Trackers {
    /// Trackers sealing with `key`, linking to incidents under `public_url`.
    pub fn new(key: Option<SealingKey>, public_url: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("incident-postmortem/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            key,
            wake: Arc::new(Notify::new()),
            public_url,
        }
    }

    fn key(&self) -> DomainResult<&SealingKey> {
        self.key.as_ref().ok_or_else(|| {
            DomainError::NotConfigured(
                "credentials cannot be stored: set INCIDENT_SECRETS_KEY (base64 of 32 random bytes) on the postmortem service".into(),
            )
        })
    }

    /// The workspace's tracker with its credential opened, if it has one.
    pub async fn open(
        &self,
        conn: &mut PgConnection,
        workspace_id: Uuid,
    ) -> DomainResult<Option<Tracker>> {
        let Some(row) = store::settings(conn, workspace_id).await? else {
            return Ok(None);
        };
        let credential = self
            .key()?
            .open(&row.credential, &aad(workspace_id))
            .map_err(|e| DomainError::NotConfigured(e.to_string()))?;
        Ok(Some(row.tracker(credential)))
    }
}

/// What a workspace's sealed credential is bound to.
fn aad(workspace_id: Uuid) -> String {
    format!("issue-tracker:{workspace_id}")
}

fn required(field: &'static str, value: Option<&str>) -> DomainResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() && v.len() <= 500 => Ok(v.to_owned()),
        _ => Err(DomainError::invalid(
            field,
            "is required (1 to 500 characters)",
        )),
    }
}

fn http_url(field: &'static str, value: &str) -> DomainResult<String> {
    let value = value.trim().trim_end_matches('/');
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Ok(value.to_owned())
        }
        _ => Err(DomainError::invalid(
            field,
            "must be an http:// or https:// URL",
        )),
    }
}

/// The workspace's tracker settings, if it has a tracker.
pub async fn view(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<TrackerView> {
    store::settings(conn, workspace_id)
        .await?
        .map(|row| row.view())
        .ok_or(DomainError::NotFound("issue tracker"))
}

/// Validates `input`, checks the credentials with the tracker, seals them and stores the
/// settings (replacing earlier ones). Nothing is stored when the tracker refuses. No
/// database connection is held while the tracker is asked.
#[tracing::instrument(skip_all, fields(workspace_id = %workspace_id, tracker = input.kind.as_str()), err)]
pub async fn configure(
    pool: &sqlx::PgPool,
    trackers: &Trackers,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    input: &TrackerInput,
) -> DomainResult<TrackerView> {
    let key = trackers.key()?;
    let project = required("project", Some(&input.project))?;
    let credential = input.credential.expose_secret().trim();
    if credential.is_empty() || credential.len() > 4_096 {
        return Err(DomainError::invalid(
            "credential",
            "is required (1 to 4096 characters)",
        ));
    }
    let (base_url, flavor, username, issue_type) = match input.kind {
        TrackerKind::Jira => {
            let base = required("base_url", input.base_url.as_deref())?;
            let flavor = input.jira_flavor.unwrap_or(JiraFlavor::Cloud);
            let username = match flavor {
                JiraFlavor::Cloud => Some(required("username", input.username.as_deref())?),
                JiraFlavor::Server => None,
            };
            let issue_type = required(
                "issue_type",
                Some(input.issue_type.as_deref().unwrap_or("Task")),
            )?;
            (
                http_url("base_url", &base)?,
                Some(flavor),
                username,
                Some(issue_type),
            )
        }
        TrackerKind::Linear => {
            for (field, given) in [
                ("jira_flavor", input.jira_flavor.is_some()),
                ("username", input.username.is_some()),
                ("issue_type", input.issue_type.is_some()),
            ] {
                if given {
                    return Err(DomainError::invalid(field, "is a Jira setting"));
                }
            }
            let base = input.base_url.as_deref().unwrap_or(LINEAR_API_URL);
            (http_url("base_url", base)?, None, None, None)
        }
    };
    let tracker = Tracker {
        kind: input.kind,
        base_url: base_url.clone(),
        jira_flavor: flavor,
        username: username.clone(),
        credential: SecretString::from(credential.to_owned()),
        project: project.clone(),
        issue_type: issue_type.clone(),
    };
    tracker.verify(&trackers.http).await.map_err(|e| match e {
        TrackerError::Unreachable { .. } => DomainError::Tracker(e),
        refused => DomainError::invalid("credential", refused.to_string()),
    })?;
    let sealed = key.seal(credential, &aad(workspace_id));
    let mut conn = pool.acquire().await?;
    store::put_settings(
        &mut conn,
        workspace_id,
        &store::SettingsRow {
            kind: input.kind.as_str().to_owned(),
            base_url,
            jira_flavor: flavor.map(|f| f.as_str().to_owned()),
            username,
            credential: sealed,
            project,
            issue_type,
            auto_export: input.auto_export,
            updated_at: Utc::now(),
        },
        user_id,
    )
    .await?;
    tracing::info!("issue tracker configured");
    view(&mut conn, workspace_id).await
}

/// Removes the workspace's tracker. Filed items keep their links; nothing more is filed or
/// polled. Whether there was one.
pub async fn remove(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<bool> {
    Ok(store::delete_settings(conn, workspace_id).await?)
}

impl store::SettingsRow {
    fn view(self) -> TrackerView {
        TrackerView {
            kind: TrackerKind::parse(&self.kind).unwrap_or(TrackerKind::Jira),
            base_url: self.base_url,
            jira_flavor: self.jira_flavor.as_deref().and_then(JiraFlavor::parse),
            username: self.username,
            project: self.project,
            issue_type: self.issue_type,
            auto_export: self.auto_export,
            updated_at: self.updated_at,
        }
    }

    fn tracker(self, credential: SecretString) -> Tracker {
        Tracker {
            kind: TrackerKind::parse(&self.kind).unwrap_or(TrackerKind::Jira),
            base_url: self.base_url,
            jira_flavor: self.jira_flavor.as_deref().and_then(JiraFlavor::parse),
            username: self.username,
            credential,
            project: self.project,
            issue_type: self.issue_type,
        }
    }
}
