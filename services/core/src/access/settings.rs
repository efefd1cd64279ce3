//! The workspace's own settings that core keeps (`workspaces.time_zone`): the time zone
//! analytics cut weeks and months in, an IANA name Postgres knows (`pg_timezone_names`),
//! stored as Postgres spells it; `UTC` until set.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

/// The workspace's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceSettings {
    /// IANA time zone, e.g. `Europe/Berlin`; analytics weeks and months are cut in it.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

/// The settings of `workspace_id`.
pub async fn get(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<WorkspaceSettings> {
    let time_zone: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(conn)
            .await?;
    Ok(WorkspaceSettings {
        time_zone: time_zone.ok_or(DomainError::NotFound("workspace"))?,
    })
}

/// Replaces them; an unknown time zone is refused.
pub async fn put(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    settings: &WorkspaceSettings,
) -> DomainResult<WorkspaceSettings> {
    let asked = settings.time_zone.trim();
    let known: Option<String> = sqlx::query_scalar(
        "SELECT name FROM pg_timezone_names WHERE lower(name) = lower($1)
         ORDER BY name = $1 DESC, name LIMIT 1",
    )
    .bind(asked)
    .fetch_optional(&mut *conn)
    .await?;
    let time_zone = known.ok_or_else(|| DomainError::UnknownTimeZone(asked.to_owned()))?;
    sqlx::query("UPDATE workspaces SET time_zone = $2 WHERE id = $1")
        .bind(workspace_id)
        .bind(&time_zone)
        .execute(conn)
        .await?;
    Ok(WorkspaceSettings { time_zone })
}
