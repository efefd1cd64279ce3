//! What the pages read that the API has no function for: the people to assign, the
//! postmortem list with its incidents and item counts, incidents' references.

use chrono::{DateTime, Utc};
use incident_schema::PostmortemStatus;
use incident_schema::access::Reader;
use sqlx::PgConnection;
use uuid::Uuid;

/// A person to assign.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    /// The user.
    pub id: Uuid,
    /// Their name.
    pub display_name: String,
}

/// The workspace's users, by name.
pub async fn people(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, display_name FROM users WHERE workspace_id = $1 ORDER BY lower(display_name), id",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// A postmortem of the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// The incident's number.
    pub number: incident_schema::IncidentNumber,
    /// The incident's title.
    pub title: String,
    /// The postmortem's status.
    pub status: PostmortemStatus,
    /// Drafted.
    pub created_at: DateTime<Utc>,
    /// Open action items.
    pub open_items: i64,
    /// All action items.
    pub items: i64,
}

/// The postmortems the reader may read, newest first (the API's `list` order).
pub async fn list(
    conn: &mut PgConnection,
    reader: &Reader,
    status: Option<PostmortemStatus>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.number, i.title, p.status, p.created_at,
                count(a.id) FILTER (WHERE a.status IN ('OPEN', 'IN_PROGRESS')) AS open_items,
                count(a.id) AS items
         FROM postmortems p
         JOIN incidents i ON i.workspace_id = p.workspace_id AND i.id = p.incident_id
         LEFT JOIN action_items a ON a.postmortem_id = p.id
         WHERE p.workspace_id = $1 AND ($2::postmortem_status IS NULL OR p.status = $2)
           AND incident_readable(i, $5, $6)
         GROUP BY p.id, i.number, i.title
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT $3 OFFSET $4",
    )
    .bind(reader.workspace_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_all(conn)
    .await
}

/// The numbers of incidents `ids` of `workspace_id`.
pub async fn numbers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, incident_schema::IncidentNumber)>, sqlx::Error> {
    sqlx::query_as("SELECT id, number FROM incidents WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(workspace_id)
        .bind(ids)
        .fetch_all(conn)
        .await
}
