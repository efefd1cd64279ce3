//! Per-workspace postmortem settings (`postmortem_settings`, migration 0030): when a draft
//! is made without being asked, what the optional LLM may be shown, and the workspace's
//! own Markdown template.
//!
//! Invariants: a workspace without a row has the defaults (draft on resolve, nothing
//! private or internal for the LLM, the built-in template); a stored template always
//! compiled and rendered a sample postmortem when it was saved ([`crate::export`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::DomainResult;
use crate::export;

/// When a postmortem is drafted without being asked.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type, ToSchema,
)]
#[sqlx(
    type_name = "postmortem_draft_trigger",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DraftTrigger {
    /// When the incident reaches RESOLVED (or CLOSED, if it skipped RESOLVED).
    #[default]
    OnResolve,
    /// When the incident reaches CLOSED.
    OnClose,
    /// Only when someone asks (HTTP or `postmortem.generate`).
    OnRequest,
}

impl DraftTrigger {
    /// Whether arriving at `to` (an `incident.status_changed` event) asks for a draft.
    pub fn fires_on(self, to: incident_schema::IncidentStatus) -> bool {
        use incident_schema::IncidentStatus::{Closed, Resolved};
        match self {
            Self::OnResolve => matches!(to, Resolved | Closed),
            Self::OnClose => to == Closed,
            Self::OnRequest => false,
        }
    }
}

/// A workspace's postmortem settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemSettings {
    /// When drafts are made without being asked (default `ON_RESOLVE`).
    #[serde(default)]
    pub draft_trigger: DraftTrigger,
    /// PRIVATE incidents may be sent to the LLM (default false: they never are).
    #[serde(default)]
    pub llm_allow_private: bool,
    /// Internal timeline entries (`is_public = false`) may be sent to the LLM (default false).
    #[serde(default)]
    pub llm_allow_internal: bool,
}

/// The workspace's Markdown template, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TemplateView {
    /// The template source (the built-in one when the workspace has none).
    pub template: String,
    /// Whether this is the built-in template.
    pub is_default: bool,
    /// When the workspace's template was last saved.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The settings of `workspace_id` (the defaults when it never saved any).
pub async fn get(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<PostmortemSettings> {
    let row: Option<(DraftTrigger, bool, bool)> = sqlx::query_as(
        "SELECT draft_trigger, llm_allow_private, llm_allow_internal
         FROM postmortem_settings WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(
            |(draft_trigger, llm_allow_private, llm_allow_internal)| PostmortemSettings {
                draft_trigger,
                llm_allow_private,
                llm_allow_internal,
            },
        )
        .unwrap_or_default())
}

/// Replaces the settings of `workspace_id` (the template is left as it is).
pub async fn put(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    settings: &PostmortemSettings,
) -> DomainResult<PostmortemSettings> {
    sqlx::query(
        "INSERT INTO postmortem_settings
             (workspace_id, draft_trigger, llm_allow_private, llm_allow_internal, updated_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id) DO UPDATE SET
             draft_trigger = EXCLUDED.draft_trigger,
             llm_allow_private = EXCLUDED.llm_allow_private,
             llm_allow_internal = EXCLUDED.llm_allow_internal,
             updated_by = EXCLUDED.updated_by",
    )
    .bind(workspace_id)
    .bind(settings.draft_trigger)
    .bind(settings.llm_allow_private)
    .bind(settings.llm_allow_internal)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    get(conn, workspace_id).await
}

/// The workspace's own Markdown template, if it saved one.
pub async fn template(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT markdown_template FROM postmortem_settings WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// The template as the API shows it.
pub async fn template_view(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> DomainResult<TemplateView> {
    let row: Option<(Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT markdown_template, template_updated_at
         FROM postmortem_settings WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((Some(template), updated_at)) => TemplateView {
            template,
            is_default: false,
            updated_at,
        },
        _ => TemplateView {
            template: export::DEFAULT_TEMPLATE.to_owned(),
            is_default: true,
            updated_at: None,
        },
    })
}

/// Validates `source` ([`export::validate`]) and saves it as the workspace's template.
pub async fn put_template(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    source: &str,
) -> DomainResult<TemplateView> {
    export::validate(source)?;
    sqlx::query(
        "INSERT INTO postmortem_settings
             (workspace_id, markdown_template, template_updated_at, updated_by)
         VALUES ($1, $2, now(), $3)
         ON CONFLICT (workspace_id) DO UPDATE SET
             markdown_template = EXCLUDED.markdown_template,
             template_updated_at = now(),
             updated_by = EXCLUDED.updated_by",
    )
    .bind(workspace_id)
    .bind(source)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    template_view(conn, workspace_id).await
}

/// Drops the workspace's template: exports use the built-in one again.
pub async fn reset_template(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
) -> DomainResult<TemplateView> {
    sqlx::query(
        "UPDATE postmortem_settings
         SET markdown_template = NULL, template_updated_at = now(), updated_by = $2
         WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    template_view(conn, workspace_id).await
}
