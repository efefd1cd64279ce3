//! Queries on `issue_trackers` and `action_item_links` (migration 0084).
//!
//! Links are claimed like outbox rows: `FOR UPDATE SKIP LOCKED`, and the claim itself
//! commits the attempt and pushes `next_attempt_at` (or `synced_at`) ahead, so another
//! replica leaves the link alone while the remote call runs, and a process killed during
//! it leaves a link that is retried once the lease has passed.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::client::{RemoteIssue, RemoteState};

/// A stored tracker (the credential still sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    /// `jira` or `linear`.
    pub kind: String,
    /// The site or endpoint.
    pub base_url: String,
    /// `cloud` or `server` (Jira).
    pub jira_flavor: Option<String>,
    /// Jira Cloud's email.
    pub username: Option<String>,
    /// The sealed credential.
    pub credential: Vec<u8>,
    /// Jira project key or Linear team id.
    pub project: String,
    /// Jira issue type.
    pub issue_type: Option<String>,
    /// File new items on creation.
    pub auto_export: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The workspace's tracker.
pub async fn settings(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Option<SettingsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, base_url, jira_flavor, username, credential, project, issue_type,
                auto_export, updated_at
         FROM issue_trackers WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(conn)
    .await
}

/// Stores the workspace's tracker, replacing the one it had.
pub async fn put_settings(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    row: &SettingsRow,
    user_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO issue_trackers (workspace_id, kind, base_url, jira_flavor, username,
                credential, project, issue_type, auto_export, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), $10)
         ON CONFLICT (workspace_id) DO UPDATE SET kind = EXCLUDED.kind,
             base_url = EXCLUDED.base_url, jira_flavor = EXCLUDED.jira_flavor,
             username = EXCLUDED.username, credential = EXCLUDED.credential,
             project = EXCLUDED.project, issue_type = EXCLUDED.issue_type,
             auto_export = EXCLUDED.auto_export, updated_at = now(),
             updated_by = EXCLUDED.updated_by",
    )
    .bind(workspace_id)
    .bind(&row.kind)
    .bind(&row.base_url)
    .bind(&row.jira_flavor)
    .bind(&row.username)
    .bind(&row.credential)
    .bind(&row.project)
    .bind(&row.issue_type)
    .bind(row.auto_export)
    .bind(user_id)
    .execute(conn)
    .await
    .map(drop)
}

/// Removes the workspace's tracker; whether it had one.
pub async fn delete_settings(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM issue_trackers WHERE workspace_id = $1")
        .bind(workspace_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The kind of tracker the workspace files new items in automatically, if it does.
pub async fn auto_export_kind(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT kind FROM issue_trackers WHERE workspace_id = $1 AND auto_export")
        .bind(workspace_id)
        .fetch_optional(conn)
        .await
}

/// Asks for item `item_id` to be filed in a tracker of `kind`; false if it already was
/// asked (or filed).
pub async fn request(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    item_id: Uuid,
    kind: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO action_item_links (action_item_id, workspace_id, kind, marker)
         VALUES ($1, $2, $3, 'incident-action-item-' || replace($1::text, '-', ''))
         ON CONFLICT (action_item_id) DO NOTHING",
    )
    .bind(item_id)
    .bind(workspace_id)
    .bind(kind)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A link claimed for filing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// The action item.
    pub action_item_id: Uuid,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The marker the issue carries.
    pub marker: String,
    /// Attempts including this one: above 1, an earlier one may have filed the issue.
    pub attempts: i32,
}

/// Claims up to `limit` links due for filing (only `only`, if given), committing the
/// attempt: the next one is due after a back-off (1 min, doubling, at most 1 h), which is
/// also this attempt's lease.
pub async fn claim_pending(
    conn: &mut PgConnection,
    only: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT action_item_id FROM action_item_links
             WHERE remote_id IS NULL AND next_attempt_at <= now()
               AND ($1::uuid IS NULL OR action_item_id = $1)
             ORDER BY next_attempt_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE action_item_links l
         SET attempts = l.attempts + 1,
             next_attempt_at = now() + least(interval '30 seconds' * power(2, least(l.attempts + 1, 10)),
                                             interval '1 hour')
         FROM due WHERE l.action_item_id = due.action_item_id
         RETURNING l.action_item_id, l.workspace_id, l.marker, l.attempts",
    )
    .bind(only)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records the remote issue of an item, as filed or as read since.
pub async fn record_remote(
    conn: &mut PgConnection,
    item_id: Uuid,
    issue: &RemoteIssue,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE action_item_links
         SET remote_id = $2, remote_key = $3, remote_url = $4,
             remote_status = coalesce($5, remote_status), remote_done = $6,
             synced_at = now(), last_error = NULL
         WHERE action_item_id = $1",
    )
    .bind(item_id)
    .bind(&issue.id)
    .bind(&issue.key)
    .bind(&issue.url)
    .bind(&issue.status)
    .bind(issue.state == RemoteState::Done)
    .execute(conn)
    .await
    .map(drop)
}

/// Records why an attempt failed (the next is already scheduled by the claim).
pub async fn record_error(
    conn: &mut PgConnection,
    item_id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE action_item_links SET last_error = $2 WHERE action_item_id = $1")
        .bind(item_id)
        .bind(error)
        .execute(conn)
        .await
        .map(drop)
}

/// A filed link claimed for polling.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Polled {
    /// The action item.
    pub action_item_id: Uuid,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The remote issue's id (Linear) and key (Jira reads by key).
    pub remote_id: String,
    /// Its key.
    pub remote_key: String,
}

/// Claims up to `limit` filed links whose item is still open, whose workspace still has a
/// tracker of their kind, and that were not polled for `every_secs`; stamps `synced_at`
/// (the lease).
pub async fn claim_polls(
    conn: &mut PgConnection,
    every_secs: f64,
    limit: i64,
) -> Result<Vec<Polled>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT l.action_item_id FROM action_item_links l
             JOIN action_items a ON a.id = l.action_item_id
             JOIN issue_trackers t ON t.workspace_id = l.workspace_id AND t.kind = l.kind
             WHERE l.remote_id IS NOT NULL AND a.status IN ('OPEN', 'IN_PROGRESS')
               AND (l.synced_at IS NULL OR l.synced_at <= now() - make_interval(secs => $1))
             ORDER BY l.synced_at NULLS FIRST
             LIMIT $2
             FOR UPDATE OF l SKIP LOCKED)
         UPDATE action_item_links l SET synced_at = now()
         FROM due WHERE l.action_item_id = due.action_item_id
         RETURNING l.action_item_id, l.workspace_id, l.remote_id, l.remote_key",
    )
    .bind(every_secs)
    .bind(limit)
    .fetch_all(conn)
    .await
}
