//! What the pages read that the API has no function for: the public status page's
//! incidents, their public updates and services. Reads only; every change goes through
//! the domain functions.

use chrono::{DateTime, Utc};
use incident_schema::{AffectedService, Incident, TimelineEntry};
use sqlx::PgConnection;
use uuid::Uuid;

/// Most incidents a status page lists.
pub const STATUS_PAGE_LIMIT: i64 = 100;

/// The workspace's incidents for its status page: neither PRIVATE nor drills, still open
/// or declared or resolved since `since`, newest first.
pub async fn public_incidents(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<Incident>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM incidents
         WHERE workspace_id = $1 AND visibility = 'PUBLIC' AND NOT is_drill
           AND (status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
                OR created_at >= $2 OR resolved_at >= $2)
         ORDER BY created_at DESC, id DESC
         LIMIT $3",
    )
    .bind(workspace_id)
    .bind(since)
    .bind(STATUS_PAGE_LIMIT)
    .fetch_all(conn)
    .await
}

/// The public entries of these incidents, newest first (never an internal one).
pub async fn public_updates(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_ids: &[Uuid],
) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM incident_timeline
         WHERE workspace_id = $1 AND incident_id = ANY($2) AND is_public
         ORDER BY occurred_at DESC, seq DESC",
    )
    .bind(workspace_id)
    .bind(incident_ids)
    .fetch_all(conn)
    .await
}

/// The affected services of these incidents.
pub async fn services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_ids: &[Uuid],
) -> Result<Vec<AffectedService>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.* FROM affected_services s
         JOIN incidents i ON i.id = s.incident_id AND i.workspace_id = $1
         WHERE s.incident_id = ANY($2)
         ORDER BY s.service_name",
    )
    .bind(workspace_id)
    .bind(incident_ids)
    .fetch_all(conn)
    .await
}
