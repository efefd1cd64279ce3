//! Workspaces, the tenants: every other row belongs to exactly one. Also the
//! per-workspace incident counter.
//!
//! Invariant: a workspace always has one SLA policy per severity — [`create_workspace`]
//! inserts the defaults in the same transaction as the workspace.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::incident::IncidentNumber;
use crate::sla;

/// A row of `workspaces`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Workspace {
    /// Primary key.
    pub id: Uuid,
    /// Unique, URL-safe: lower-case letters, digits and inner hyphens, at most 64.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The last incident number taken; the next incident gets this plus one.
    pub last_incident_number: i32,
    /// Free-form workspace settings.
    pub settings: serde_json::Value,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Creates a workspace with the default SLA policies
/// ([`sla::DEFAULT_SLA_POLICIES`]), in one transaction (a savepoint if `conn` is already
/// in one).
///
/// Fails with a unique violation if the slug is taken, and a check violation if the slug
/// is not URL-safe or the name is blank.
pub async fn create_workspace(
    conn: &mut PgConnection,
    slug: &str,
    name: &str,
) -> Result<Workspace, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let workspace = sqlx::query_as::<_, Workspace>(
        "INSERT INTO workspaces (slug, name) VALUES ($1, $2) RETURNING *",
    )
    .bind(slug)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    sla::insert_default_policies(&mut tx, workspace.id).await?;
    tx.commit().await?;
    Ok(workspace)
}

/// The workspace `id`, if any.
pub async fn get_workspace(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Workspace>, sqlx::Error> {
    sqlx::query_as::<_, Workspace>("SELECT * FROM workspaces WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The workspace with this slug, if any.
pub async fn get_workspace_by_slug(
    conn: &mut PgConnection,
    slug: &str,
) -> Result<Option<Workspace>, sqlx::Error> {
    sqlx::query_as::<_, Workspace>("SELECT * FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_optional(conn)
        .await
}

/// Takes the workspace's next incident number.
///
/// Call it inside the transaction that inserts the incident: the counter row stays locked
/// until that transaction ends, so concurrent creators queue and each gets the next
/// number; if the transaction rolls back, so does the counter. Numbers are therefore
/// gap-free and unique per workspace. Fails with `RowNotFound` for an unknown workspace.
pub async fn next_incident_number(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<IncidentNumber, sqlx::Error> {
    sqlx::query_scalar::<_, IncidentNumber>(
        "UPDATE workspaces SET last_incident_number = last_incident_number + 1
         WHERE id = $1
         RETURNING last_incident_number",
    )
    .bind(workspace_id)
    .fetch_one(conn)
    .await
}

/// Gives back the number the caller's transaction took last: only while it still holds the
/// counter's row lock (nobody took one since), so numbers stay gap-free.
pub async fn give_back_incident_number(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE workspaces SET last_incident_number = last_incident_number - 1 WHERE id = $1",
    )
    .bind(workspace_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A workspace's public status page (`settings.status_page`): off unless enabled, under
/// the workspace's name unless named.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusPageSettings {
    /// Whether `/status/{slug}` answers at all (404 otherwise).
    #[serde(default)]
    pub enabled: bool,
    /// The page's title; the workspace's name when absent.
    #[serde(default)]
    pub name: Option<String>,
}

impl Workspace {
    /// The status page settings; the defaults (off) when unset or unreadable.
    pub fn status_page(&self) -> StatusPageSettings {
        self.settings
            .get("status_page")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
}

/// Replaces the status page settings of workspace `id` (the other settings stay).
pub async fn set_status_page(
    conn: &mut PgConnection,
    id: Uuid,
    page: &StatusPageSettings,
) -> Result<Workspace, sqlx::Error> {
    let value = serde_json::to_value(page).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_as::<_, Workspace>(
        "UPDATE workspaces
         SET settings = jsonb_set(settings, '{status_page}', $2), updated_at = now()
         WHERE id = $1
         RETURNING *",
    )
    .bind(id)
    .bind(value)
    .fetch_one(conn)
    .await
}
