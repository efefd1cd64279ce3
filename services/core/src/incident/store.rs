//! Core's own queries over the tables it writes (incidents, timeline, affected services),
//! beyond the shared ones in `incident-schema`. All scoped by workspace.

use chrono::{DateTime, Utc};
use incident_schema::{
    AffectedService, Incident, IncidentNumber, ServiceImpact, TimelineKind, Visibility,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// Locks and returns an incident of the workspace for an update.
pub async fn lock_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Incident>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM incidents WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Moves an incident's `version` (and `updated_at`) for a change outside its row: its
/// services or its members are part of its state.
pub async fn touch(conn: &mut PgConnection, id: Uuid) -> Result<Incident, sqlx::Error> {
    sqlx::query_as("UPDATE incidents SET updated_at = clock_timestamp() WHERE id = $1 RETURNING *")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// An incident found by its idempotency key, with the fingerprint of the declare that
/// created it (none when it was not fingerprinted).
#[derive(Debug, sqlx::FromRow)]
pub struct Keyed {
    /// The incident.
    #[sqlx(flatten)]
    pub incident: Incident,
    /// SHA-256 of the creating request's canonical JSON.
    pub declare_fingerprint: Option<Vec<u8>>,
}

/// The incident created with `key` in the workspace, if any.
pub async fn find_by_idempotency_key(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    key: &str,
) -> Result<Option<Keyed>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM incidents WHERE workspace_id = $1 AND idempotency_key = $2")
        .bind(workspace_id)
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// Which of the alert groups `ids` are linked to an incident that is still open (not
/// RESOLVED or CLOSED): `(group, incident number, incident visibility)`. Ingestion owns
/// `alert_groups`; core only reads the link.
pub async fn alert_groups_held_open(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, IncidentNumber, Visibility)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, i.number, i.visibility FROM alert_groups g
         JOIN incidents i ON i.workspace_id = g.workspace_id AND i.id = g.incident_id
         WHERE g.workspace_id = $1 AND g.id = ANY($2)
           AND i.status NOT IN ('RESOLVED', 'CLOSED')",
    )
    .bind(workspace_id)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// The affected services of an incident, by name.
pub async fn affected_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Vec<AffectedService>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.* FROM affected_services s JOIN incidents i ON i.id = s.incident_id
         WHERE i.workspace_id = $1 AND s.incident_id = $2 ORDER BY s.service_name",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// Replaces the affected services of an incident.
pub async fn replace_affected_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    services: &[(String, ServiceImpact)],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM affected_services WHERE incident_id = $1")
        .bind(incident_id)
        .execute(&mut *conn)
        .await?;
    let names: Vec<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    let impacts: Vec<ServiceImpact> = services.iter().map(|(_, i)| *i).collect();
    sqlx::query(
        "INSERT INTO affected_services (workspace_id, incident_id, service_name, impact)
         SELECT $1, $2, u.name, u.impact FROM UNNEST($3::text[], $4::service_impact[]) AS u(name, impact)",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .bind(&names)
    .bind(&impacts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ids of the alert groups linked to an incident.
pub async fn alert_group_ids(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM alert_groups WHERE workspace_id = $1 AND incident_id = $2 ORDER BY opened_at")
        .bind(workspace_id)
        .bind(incident_id)
        .fetch_all(conn)
        .await
}

/// Which of `ids` are alert groups of the workspace.
pub async fn existing_alert_groups(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM alert_groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(workspace_id)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Whether a user belongs to the workspace.
pub async fn user_exists(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE workspace_id = $1 AND id = $2)")
        .bind(workspace_id)
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// A user's display name, if they are a user of the workspace.
pub async fn display_name(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT display_name FROM users WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Open (OPEN or IN_PROGRESS) action items of the incident's postmortem.
pub async fn open_action_items(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM action_items a JOIN postmortems p ON p.id = a.postmortem_id
         WHERE p.incident_id = $1 AND a.status IN ('OPEN', 'IN_PROGRESS')",
    )
    .bind(incident_id)
    .fetch_one(conn)
    .await
}

/// The database's clock (SLA arithmetic never uses the host's).
pub async fn now(conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT now()").fetch_one(conn).await
}

/// Whether the workspace exists.
pub async fn workspace_exists(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1)")
        .bind(workspace_id)
        .fetch_one(conn)
        .await
}

/// The workspace's SLA policies, one per severity.
pub async fn sla_policies(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<incident_schema::sla::SlaPolicy>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM sla_policies WHERE workspace_id = $1")
        .bind(workspace_id)
        .fetch_all(conn)
        .await
}

/// The affected services of new incidents, `(incident, name, impact)`, in one statement.
pub async fn insert_affected_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    rows: &[(Uuid, String, ServiceImpact)],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let incidents: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let impacts: Vec<ServiceImpact> = rows.iter().map(|r| r.2).collect();
    sqlx::query(
        "INSERT INTO affected_services (workspace_id, incident_id, service_name, impact)
         SELECT $1, u.incident, u.name, u.impact
         FROM UNNEST($2::uuid[], $3::text[], $4::service_impact[]) AS u(incident, name, impact)",
    )
    .bind(workspace_id)
    .bind(&incidents)
    .bind(&names)
    .bind(&impacts)
    .execute(conn)
    .await?;
    Ok(())
}

/// A timeline entry a declare writes: `(incident, author, kind, message, data)`.
pub type DeclareEntry = (Uuid, Option<Uuid>, TimelineKind, String, serde_json::Value);

/// The timeline entries of new incidents (`DETECTED`, `ALERT_LINKED`; not public, at the
/// transaction's time), in one statement, in order.
pub async fn insert_declare_entries(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    entries: &[DeclareEntry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let incidents: Vec<Uuid> = entries.iter().map(|e| e.0).collect();
    let authors: Vec<Option<Uuid>> = entries.iter().map(|e| e.1).collect();
    let kinds: Vec<TimelineKind> = entries.iter().map(|e| e.2).collect();
    let messages: Vec<&str> = entries.iter().map(|e| e.3.as_str()).collect();
    let data: Vec<sqlx::types::Json<&serde_json::Value>> =
        entries.iter().map(|e| sqlx::types::Json(&e.4)).collect();
    sqlx::query(
        "INSERT INTO incident_timeline
             (workspace_id, incident_id, author_id, kind, message, is_public, data, occurred_at)
         SELECT $1, u.incident, u.author, u.kind, u.message, false, u.data, now()
         FROM UNNEST($2::uuid[], $3::uuid[], $4::timeline_kind[], $5::text[], $6::jsonb[])
              WITH ORDINALITY AS u(incident, author, kind, message, data, ord)
         ORDER BY u.ord",
    )
    .bind(workspace_id)
    .bind(&incidents)
    .bind(&authors)
    .bind(&kinds)
    .bind(&messages)
    .bind(&data)
    .execute(conn)
    .await?;
    Ok(())
}
