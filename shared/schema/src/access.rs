//! Who may read an incident: the one rule for PRIVATE incidents, shared by every service.
//!
//! A PUBLIC incident is readable by every token of its workspace. A PRIVATE one only by
//! workspace admins, its role holders and its members (`incident_members`); to anyone
//! else it does not exist, and neither do its timeline, services, postmortem, action items
//! or alert groups. The rule is the SQL function `incident_readable(i, reader, is_admin)`
//! (migration `0050_incident_access.sql`), so a list query filters with the same
//! expression [`can_read`] checks one incident with:
//!
//! ```sql
//! SELECT ... FROM incidents i WHERE i.workspace_id = $1 AND incident_readable(i, $2, $3)
//! ```

use sqlx::PgConnection;
use uuid::Uuid;

/// The caller as the visibility rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// The caller's workspace: the only one it can see anything of.
    pub workspace_id: Uuid,
    /// The person behind the token (none for a service token).
    pub user_id: Option<Uuid>,
    /// Workspace admins read every incident of their workspace.
    pub is_admin: bool,
}

impl Reader {
    /// A reader that sees everything of `workspace_id` (system work: sweeps, consumers).
    pub fn system(workspace_id: Uuid) -> Self {
        Self {
            workspace_id,
            user_id: None,
            is_admin: true,
        }
    }
}

/// Whether `reader` may read incident `incident_id`. False for an incident of another
/// workspace or one that does not exist: callers answer 404 either way.
pub async fn can_read(
    conn: &mut PgConnection,
    reader: &Reader,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM incidents i
                        WHERE i.workspace_id = $1 AND i.id = $2
                          AND incident_readable(i, $3, $4))",
    )
    .bind(reader.workspace_id)
    .bind(incident_id)
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_one(conn)
    .await
}

/// The members added explicitly to an incident (role holders are not listed here).
pub async fn list_members(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM incident_members
         WHERE workspace_id = $1 AND incident_id = $2 ORDER BY created_at, user_id",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// Adds `user_id` as a member; true if they were not one already.
pub async fn add_member(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    user_id: Uuid,
    added_by: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO incident_members (workspace_id, incident_id, user_id, added_by)
         VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, user_id) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .bind(user_id)
    .bind(added_by)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Removes `user_id` as a member; true if they were one.
pub async fn remove_member(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM incident_members
         WHERE workspace_id = $1 AND incident_id = $2 AND user_id = $3",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected() == 1)
}
