//! The incident timeline: an append-only record of what happened and who did it.
//!
//! Invariants: an entry belongs to an incident of its own workspace (a composite foreign
//! key); entries list oldest first, entries written at the same instant in insertion
//! order (`seq`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::parse::domain_enum;

domain_enum! {
    /// What a timeline entry records.
    pub enum TimelineKind (kind = "timeline kind", postgres = "timeline_kind") {
        /// The incident was detected or declared.
        Detected = "DETECTED",
        /// Someone acknowledged it.
        Acknowledged = "ACKNOWLEDGED",
        /// Its status changed.
        StatusChange = "STATUS_CHANGE",
        /// Its severity changed.
        SeverityChanged = "SEVERITY_CHANGED",
        /// Someone took, or was given, a role.
        RoleAssigned = "ROLE_ASSIGNED",
        /// A role was left empty.
        RoleCleared = "ROLE_CLEARED",
        /// A stakeholder update.
        Update = "UPDATE",
        /// An internal note.
        Note = "NOTE",
        /// A mitigation was applied.
        Mitigation = "MITIGATION",
        /// The resolution.
        Resolution = "RESOLUTION",
        /// An alert group was linked to the incident.
        AlertLinked = "ALERT_LINKED",
        /// A linked alert group resolved.
        AlertGroupResolved = "ALERT_GROUP_RESOLVED",
        /// An SLA target is close.
        SlaWarning = "SLA_WARNING",
        /// An SLA target was missed.
        SlaBreached = "SLA_BREACHED",
        /// A public update is due.
        UpdateDue = "UPDATE_DUE",
        /// The Slack war room was opened.
        WarroomOpened = "WARROOM_OPENED",
        /// A postmortem draft was written.
        PostmortemDrafted = "POSTMORTEM_DRAFTED",
        /// The postmortem was published.
        PostmortemPublished = "POSTMORTEM_PUBLISHED",
        /// Another field (title, impact, root cause, ...) changed.
        FieldChanged = "FIELD_CHANGED",
        /// The affected services changed.
        ServicesChanged = "SERVICES_CHANGED",
        /// Someone was given access to a private incident.
        MemberAdded = "MEMBER_ADDED",
        /// Someone's explicit access to a private incident was taken away.
        MemberRemoved = "MEMBER_REMOVED",
        /// The incident was made private or public.
        VisibilityChanged = "VISIBILITY_CHANGED",
    }
}

/// A row of `incident_timeline`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    /// Primary key.
    pub id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Who wrote it; none for entries the system writes.
    pub author_id: Option<Uuid>,
    /// What it records.
    pub kind: TimelineKind,
    /// What people read.
    pub message: String,
    /// Shown on the external status page.
    pub is_public: bool,
    /// Structured details (old and new status, role and user, ...).
    pub data: serde_json::Value,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Insertion order, breaking ties between entries of one instant.
    pub seq: i64,
}

/// The fields of a new timeline entry.
#[derive(Debug, Clone)]
pub struct NewTimelineEntry<'a> {
    /// The owning workspace (the incident's).
    pub workspace_id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// Who wrote it (a user of the same workspace); none for the system.
    pub author_id: Option<Uuid>,
    /// What it records.
    pub kind: TimelineKind,
    /// What people read.
    pub message: &'a str,
    /// Shown on the external status page.
    pub is_public: bool,
    /// Structured details; none stores `{}`.
    pub data: Option<&'a serde_json::Value>,
    /// When it happened; none means now (the transaction's time).
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Appends an entry to an incident's timeline. Fails with a foreign key violation if the
/// incident or author is not in `workspace_id`.
pub async fn insert_timeline_entry(
    conn: &mut PgConnection,
    new: &NewTimelineEntry<'_>,
) -> Result<TimelineEntry, sqlx::Error> {
    sqlx::query_as::<_, TimelineEntry>(
        "INSERT INTO incident_timeline
             (workspace_id, incident_id, author_id, kind, message, is_public, data, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, '{}'::jsonb), COALESCE($8, now()))
         RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.incident_id)
    .bind(new.author_id)
    .bind(new.kind)
    .bind(new.message)
    .bind(new.is_public)
    .bind(new.data)
    .bind(new.occurred_at)
    .fetch_one(conn)
    .await
}

/// The timeline of incident `incident_id` in `workspace_id`, oldest first; empty for
/// another workspace's incident.
pub async fn list_timeline(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    sqlx::query_as::<_, TimelineEntry>(
        "SELECT * FROM incident_timeline
         WHERE workspace_id = $1 AND incident_id = $2
         ORDER BY occurred_at, seq",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(conn)
    .await
}
