//! The `integrations` queries. Every read through the API is scoped by workspace; only
//! the webhook's authentication looks an integration up by id alone (its secret then
//! decides), or by its secret's hash alone (PagerDuty's shared enqueue URL).

use incident_schema::{Integration, IntegrationKind};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::rules::DeclareRule;

/// The integration `id`, whatever its workspace.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>("SELECT * FROM integrations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The integration of `kind` whose secret has the SHA-256 `secret_hash`, whatever its
/// workspace (`integrations_secret_hash_idx`).
pub async fn find_by_secret(
    conn: &mut PgConnection,
    kind: IntegrationKind,
    secret_hash: &[u8],
) -> Result<Option<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "SELECT * FROM integrations WHERE secret_hash = $1 AND kind = $2 ORDER BY id LIMIT 1",
    )
    .bind(secret_hash)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

/// The integration `id` of `workspace_id`.
pub async fn get(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "SELECT * FROM integrations WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The workspace's integrations, by name.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "SELECT * FROM integrations WHERE workspace_id = $1 ORDER BY name, id",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// The columns of a new integration.
pub struct NewRow<'a> {
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Payload format.
    pub kind: IntegrationKind,
    /// Unique per workspace.
    pub name: &'a str,
    /// SHA-256 of the secret.
    pub secret_hash: &'a [u8],
    /// Declare rules.
    pub rules: &'a [DeclareRule],
    /// Grouping labels, normalised.
    pub grouping_key: Option<&'a str>,
    /// Storm guard.
    pub max_incidents_per_minute: Option<i32>,
}

/// Inserts an integration.
pub async fn insert(conn: &mut PgConnection, new: &NewRow<'_>) -> Result<Integration, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash, rules, grouping_key, max_incidents_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.kind)
    .bind(new.name)
    .bind(new.secret_hash)
    .bind(Json(new.rules))
    .bind(new.grouping_key)
    .bind(new.max_incidents_per_minute)
    .fetch_one(conn)
    .await
}

/// A change to an integration; `None` leaves a column as it is.
pub struct Change<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New rules.
    pub rules: Option<&'a [DeclareRule]>,
    /// New grouping labels (`Some(None)` clears).
    pub grouping_key: Option<Option<&'a str>>,
    /// New storm guard (`Some(None)` clears).
    pub max_incidents_per_minute: Option<Option<i32>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Applies `change` to the integration `id` of `workspace_id`.
pub async fn update(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    change: &Change<'_>,
) -> Result<Option<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "UPDATE integrations SET
             name = COALESCE($3, name),
             rules = COALESCE($4, rules),
             grouping_key = CASE WHEN $5 THEN $6 ELSE grouping_key END,
             max_incidents_per_minute = CASE WHEN $7 THEN $8 ELSE max_incidents_per_minute END,
             disabled_at = CASE
                 WHEN $9::boolean IS NULL THEN disabled_at
                 WHEN $9 THEN NULL
                 ELSE COALESCE(disabled_at, now())
             END
         WHERE workspace_id = $1 AND id = $2
         RETURNING *",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(change.name)
    .bind(change.rules.map(Json))
    .bind(change.grouping_key.is_some())
    .bind(change.grouping_key.flatten())
    .bind(change.max_incidents_per_minute.is_some())
    .bind(change.max_incidents_per_minute.flatten())
    .bind(change.enabled)
    .fetch_optional(conn)
    .await
}

/// Replaces the secret's hash.
pub async fn set_secret(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    secret_hash: &[u8],
) -> Result<Option<Integration>, sqlx::Error> {
    sqlx::query_as::<_, Integration>(
        "UPDATE integrations SET secret_hash = $3 WHERE workspace_id = $1 AND id = $2 RETURNING *",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(secret_hash)
    .fetch_optional(conn)
    .await
}

/// Deletes the integration (its alerts and groups go with it); whether it existed.
pub async fn delete(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM integrations WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
