//! Incidents: their row, the values that describe them, and the queries that create and
//! read them.
//!
//! Every read is scoped by workspace: asking with another workspace's id finds nothing.
//! Numbers come from [`crate::workspace::next_incident_number`], taken in the same
//! transaction as [`insert_incident`].

mod lifecycle;
mod number;
mod role;
mod severity;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::parse::domain_enum;

pub use lifecycle::IncidentStatus;
pub use number::IncidentNumber;
pub use role::Role;
pub use severity::Severity;

domain_enum! {
    /// Who may see an incident.
    pub enum Visibility (kind = "visibility", postgres = "incident_visibility") {
        /// Everyone in the workspace.
        Public = "PUBLIC",
        /// Only the people involved (and admins).
        Private = "PRIVATE",
    }
}

domain_enum! {
    /// What an affected service suffers, from worst to mildest.
    pub enum ServiceImpact (kind = "service impact", postgres = "service_impact") {
        /// The service is down.
        TotalOutage = "TOTAL_OUTAGE",
        /// Part of the service is down.
        PartialOutage = "PARTIAL_OUTAGE",
        /// The service works, badly.
        Degraded = "DEGRADED",
    }
}

/// A row of `incidents`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Incident {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Per-workspace number, shown as `INC-<number>`.
    pub number: IncidentNumber,
    /// One-line summary.
    pub title: String,
    /// Longer description (may be empty).
    pub description: String,
    /// Current severity.
    pub severity: Severity,
    /// Current lifecycle status.
    pub status: IncidentStatus,
    /// Who or what is affected, in words.
    pub impact: Option<String>,
    /// When the problem was detected (alert start or declaration).
    pub detected_at: DateTime<Utc>,
    /// First acknowledgement (explicit, or first arrival at IDENTIFIED).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// First arrival at MONITORING.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// First arrival at RESOLVED (kept after a reopen).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Arrival at CLOSED.
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether any SLA deadline passed unmet (set by the watchdog).
    pub sla_breached: bool,
    /// The acknowledge deadline.
    pub sla_deadline: Option<DateTime<Utc>>,
    /// The resolve deadline.
    pub sla_resolve_deadline: Option<DateTime<Utc>>,
    /// The Incident Commander.
    pub commander_id: Option<Uuid>,
    /// The Tech Lead.
    pub tech_lead_id: Option<Uuid>,
    /// The Comms Lead.
    pub comms_lead_id: Option<Uuid>,
    /// The war room's Slack channel id.
    pub slack_channel_id: Option<String>,
    /// The war room's Slack channel link.
    pub slack_channel_url: Option<String>,
    /// The root cause, once known.
    pub root_cause: Option<String>,
    /// Incremented by the database on every change; events carry it.
    pub version: i64,
    /// A drill: runs the whole flow, left out of analytics and SLA statistics.
    pub is_drill: bool,
    /// Who may see it.
    pub visibility: Visibility,
    /// The user who declared it; none when declared from alerts.
    pub declared_by: Option<Uuid>,
    /// The key of the command that created it, if any.
    pub idempotency_key: Option<String>,
    /// The last public (status page) update.
    pub last_public_update_at: Option<DateTime<Utc>>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Incident {
    /// The user holding `role`, if any.
    pub fn role_holder(&self, role: Role) -> Option<Uuid> {
        match role {
            Role::Commander => self.commander_id,
            Role::TechLead => self.tech_lead_id,
            Role::CommsLead => self.comms_lead_id,
        }
    }
}

/// A row of `affected_services`: one service an incident affects, and how.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct AffectedService {
    /// Primary key.
    pub id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// The service's name, unique per incident.
    pub service_name: String,
    /// How it is affected.
    pub impact: ServiceImpact,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The fields of a new incident. It starts INVESTIGATING at version 1.
#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// From [`crate::workspace::next_incident_number`], in the same transaction.
    pub number: IncidentNumber,
    /// One-line summary (not blank).
    pub title: &'a str,
    /// Longer description (may be empty).
    pub description: &'a str,
    /// Initial severity.
    pub severity: Severity,
    /// Who or what is affected, in words.
    pub impact: Option<&'a str>,
    /// When the problem was detected.
    pub detected_at: DateTime<Utc>,
    /// The acknowledge deadline, from the workspace's SLA policy.
    pub sla_deadline: Option<DateTime<Utc>>,
    /// The resolve deadline, from the workspace's SLA policy.
    pub sla_resolve_deadline: Option<DateTime<Utc>>,
    /// The initial Incident Commander (a user of the same workspace).
    pub commander_id: Option<Uuid>,
    /// Whether this is a drill.
    pub is_drill: bool,
    /// Who may see it.
    pub visibility: Visibility,
    /// The declaring user (of the same workspace); none when declared from alerts.
    pub declared_by: Option<Uuid>,
    /// The creating command's idempotency key; unique per workspace.
    pub idempotency_key: Option<&'a str>,
}

/// Inserts an incident and returns its row.
///
/// Fails with a unique violation if the number or the idempotency key is already used in
/// the workspace, and with a foreign key violation if a user belongs to another workspace.
pub async fn insert_incident(
    conn: &mut PgConnection,
    new: &NewIncident<'_>,
) -> Result<Incident, sqlx::Error> {
    insert_declared_incident(conn, new, None).await
}

/// Inserts an incident with the fingerprint of the request that declared it (compared
/// when its idempotency key is reused; migration `0051_core_declare_fingerprint.sql`).
pub async fn insert_declared_incident(
    conn: &mut PgConnection,
    new: &NewIncident<'_>,
    declare_fingerprint: Option<&[u8]>,
) -> Result<Incident, sqlx::Error> {
    sqlx::query_as::<_, Incident>(
        "INSERT INTO incidents (
             workspace_id, number, title, description, severity, impact, detected_at,
             sla_deadline, sla_resolve_deadline, commander_id, is_drill, visibility,
             declared_by, idempotency_key, declare_fingerprint
         )
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.number)
    .bind(new.title)
    .bind(new.description)
    .bind(new.severity)
    .bind(new.impact)
    .bind(new.detected_at)
    .bind(new.sla_deadline)
    .bind(new.sla_resolve_deadline)
    .bind(new.commander_id)
    .bind(new.is_drill)
    .bind(new.visibility)
    .bind(new.declared_by)
    .bind(new.idempotency_key)
    .bind(declare_fingerprint)
    .fetch_one(conn)
    .await
}

/// Takes the workspace's next number and inserts the incident under it, in one statement
/// (`new.number` is ignored): the counter's row lock, held from here to commit, costs no
/// round trip of its own, and a concurrent declare with the same idempotency key (which
/// held that lock until it committed) is found by the insert itself.
///
/// `None` when the workspace already has an incident with `new.idempotency_key` (the
/// number was taken all the same: the caller still holds the counter's lock and gives it
/// back with [`crate::workspace::give_back_incident_number`]) or when the workspace does
/// not exist.
pub async fn insert_numbered_incident(
    conn: &mut PgConnection,
    new: &NewIncident<'_>,
    declare_fingerprint: Option<&[u8]>,
) -> Result<Option<Incident>, sqlx::Error> {
    sqlx::query_as::<_, Incident>(
        "WITH n AS (
             UPDATE workspaces SET last_incident_number = last_incident_number + 1
             WHERE id = $1
             RETURNING last_incident_number
         )
         INSERT INTO incidents (
             workspace_id, number, title, description, severity, impact, detected_at,
             sla_deadline, sla_resolve_deadline, commander_id, is_drill, visibility,
             declared_by, idempotency_key, declare_fingerprint
         )
         SELECT $1, n.last_incident_number, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
         FROM n
         ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.title)
    .bind(new.description)
    .bind(new.severity)
    .bind(new.impact)
    .bind(new.detected_at)
    .bind(new.sla_deadline)
    .bind(new.sla_resolve_deadline)
    .bind(new.commander_id)
    .bind(new.is_drill)
    .bind(new.visibility)
    .bind(new.declared_by)
    .bind(new.idempotency_key)
    .bind(declare_fingerprint)
    .fetch_optional(conn)
    .await
}

/// The incident `id` of `workspace_id`; `None` if it does not exist or belongs to
/// another workspace.
pub async fn get_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Incident>, sqlx::Error> {
    sqlx::query_as::<_, Incident>("SELECT * FROM incidents WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The incident numbered `number` in `workspace_id`, if any.
pub async fn get_incident_by_number(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    number: IncidentNumber,
) -> Result<Option<Incident>, sqlx::Error> {
    sqlx::query_as::<_, Incident>("SELECT * FROM incidents WHERE workspace_id = $1 AND number = $2")
        .bind(workspace_id)
        .bind(number)
        .fetch_optional(conn)
        .await
}

/// Takes the workspace's next `news.len()` numbers and inserts the incidents under them,
/// in that order, in one statement (each `number` is ignored; `fingerprints[i]` goes with
/// `news[i]`): a batch of declares of one workspace costs one round trip and one counter
/// update, and the numbers stay gap-free (the batch commits or rolls back as a whole).
///
/// The rows come back in number order. Fewer rows than `news` when an idempotency key was
/// already used in the workspace (the numbers were taken all the same: the caller must
/// roll back, its checks found no such key before); empty when the workspace does not
/// exist.
pub async fn insert_numbered_incidents(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    news: &[NewIncident<'_>],
    fingerprints: &[Option<&[u8]>],
) -> Result<Vec<Incident>, sqlx::Error> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let titles: Vec<&str> = news.iter().map(|n| n.title).collect();
    let descriptions: Vec<&str> = news.iter().map(|n| n.description).collect();
    let severities: Vec<crate::Severity> = news.iter().map(|n| n.severity).collect();
    let impacts: Vec<Option<&str>> = news.iter().map(|n| n.impact).collect();
    let detected: Vec<DateTime<Utc>> = news.iter().map(|n| n.detected_at).collect();
    let deadlines: Vec<Option<DateTime<Utc>>> = news.iter().map(|n| n.sla_deadline).collect();
    let resolves: Vec<Option<DateTime<Utc>>> =
        news.iter().map(|n| n.sla_resolve_deadline).collect();
    let commanders: Vec<Option<Uuid>> = news.iter().map(|n| n.commander_id).collect();
    let drills: Vec<bool> = news.iter().map(|n| n.is_drill).collect();
    let visibilities: Vec<crate::Visibility> = news.iter().map(|n| n.visibility).collect();
    let declarers: Vec<Option<Uuid>> = news.iter().map(|n| n.declared_by).collect();
    let keys: Vec<Option<&str>> = news.iter().map(|n| n.idempotency_key).collect();
    let prints: Vec<Option<&[u8]>> = fingerprints.to_vec();
    let mut rows = sqlx::query_as::<_, Incident>(
        "WITH n AS (
             UPDATE workspaces SET last_incident_number = last_incident_number + $2
             WHERE id = $1
             RETURNING last_incident_number - $2 AS base
         )
         INSERT INTO incidents (
             workspace_id, number, title, description, severity, impact, detected_at,
             sla_deadline, sla_resolve_deadline, commander_id, is_drill, visibility,
             declared_by, idempotency_key, declare_fingerprint
         )
         SELECT $1, (n.base + u.ord)::int, u.title, u.description, u.severity, u.impact,
                u.detected_at, u.sla_deadline, u.sla_resolve_deadline, u.commander_id,
                u.is_drill, u.visibility, u.declared_by, u.idempotency_key, u.fingerprint
         FROM n, UNNEST($3::text[], $4::text[], $5::incident_severity[], $6::text[],
                        $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::uuid[],
                        $11::bool[], $12::incident_visibility[], $13::uuid[], $14::text[],
                        $15::bytea[])
              WITH ORDINALITY AS u(title, description, severity, impact, detected_at,
                                   sla_deadline, sla_resolve_deadline, commander_id, is_drill,
                                   visibility, declared_by, idempotency_key, fingerprint, ord)
         ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *",
    )
    .bind(workspace_id)
    .bind(news.len() as i32)
    .bind(&titles)
    .bind(&descriptions)
    .bind(&severities)
    .bind(&impacts)
    .bind(&detected)
    .bind(&deadlines)
    .bind(&resolves)
    .bind(&commanders)
    .bind(&drills)
    .bind(&visibilities)
    .bind(&declarers)
    .bind(&keys)
    .bind(&prints)
    .fetch_all(conn)
    .await?;
    rows.sort_by_key(|i| i.number);
    Ok(rows)
}
