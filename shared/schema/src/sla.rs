//! SLA policies (targets per workspace and severity) and the watchdog's findings.
//!
//! Invariants: one policy per workspace and severity (the defaults are inserted with the
//! workspace); one `sla_events` row per incident, target, kind and slot, so a finding is
//! recorded once however many watchdog replicas sweep.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::incident::Severity;
use crate::parse::domain_enum;

domain_enum! {
    /// What an SLA finding is about.
    pub enum SlaTarget (kind = "SLA target", postgres = "sla_target") {
        /// Acknowledging the incident (`incidents.sla_deadline`).
        Acknowledge = "ACKNOWLEDGE",
        /// Resolving it (`incidents.sla_resolve_deadline`).
        Resolve = "RESOLVE",
        /// Posting a public update within the policy's cadence.
        Update = "UPDATE",
    }
}

domain_enum! {
    /// What kind of SLA finding it is.
    pub enum SlaEventKind (kind = "SLA event kind", postgres = "sla_event_kind") {
        /// The policy's warning ratio of the target has passed.
        Warning = "WARNING",
        /// The deadline passed unmet.
        Breach = "BREACH",
        /// A public update is due (one per missed cadence slot).
        UpdateDue = "UPDATE_DUE",
    }
}

/// The default targets of one severity, used for every new workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaDefaults {
    /// The severity they apply to.
    pub severity: Severity,
    /// Minutes from detection to acknowledgement.
    pub ack_target_minutes: i32,
    /// Minutes from detection to resolution.
    pub resolve_target_minutes: i32,
    /// Minutes between public updates; none: no cadence.
    pub update_cadence_minutes: Option<i32>,
}

/// The defaults for SEV1..SEV4: acknowledge in 15/30/120/480 minutes, resolve in
/// 4 hours/8 hours/3 days/7 days, update every 30/60 minutes for SEV1/SEV2.
pub const DEFAULT_SLA_POLICIES: [SlaDefaults; 4] = [
    SlaDefaults {
        severity: Severity::Sev1,
        ack_target_minutes: 15,
        resolve_target_minutes: 4 * 60,
        update_cadence_minutes: Some(30),
    },
    SlaDefaults {
        severity: Severity::Sev2,
        ack_target_minutes: 30,
        resolve_target_minutes: 8 * 60,
        update_cadence_minutes: Some(60),
    },
    SlaDefaults {
        severity: Severity::Sev3,
        ack_target_minutes: 120,
        resolve_target_minutes: 3 * 24 * 60,
        update_cadence_minutes: None,
    },
    SlaDefaults {
        severity: Severity::Sev4,
        ack_target_minutes: 480,
        resolve_target_minutes: 7 * 24 * 60,
        update_cadence_minutes: None,
    },
];

/// The default warning ratio (also the column default).
pub const DEFAULT_WARNING_RATIO: f32 = 0.8;

/// A row of `sla_policies`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SlaPolicy {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// The severity it applies to; unique per workspace.
    pub severity: Severity,
    /// Minutes from detection to acknowledgement.
    pub ack_target_minutes: i32,
    /// Minutes from detection to resolution.
    pub resolve_target_minutes: i32,
    /// Minutes between public updates; none: no cadence.
    pub update_cadence_minutes: Option<i32>,
    /// The share of a target after which the watchdog warns, in (0, 1).
    pub warning_ratio: f32,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl SlaPolicy {
    /// The acknowledge deadline of an incident detected at `detected_at`.
    pub fn acknowledge_deadline(&self, detected_at: DateTime<Utc>) -> DateTime<Utc> {
        detected_at + TimeDelta::minutes(i64::from(self.ack_target_minutes))
    }

    /// The resolve deadline of an incident detected at `detected_at`.
    pub fn resolve_deadline(&self, detected_at: DateTime<Utc>) -> DateTime<Utc> {
        detected_at + TimeDelta::minutes(i64::from(self.resolve_target_minutes))
    }
}

/// A row of `sla_events`: one finding of the watchdog.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlaEvent {
    /// Primary key.
    pub id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// What the finding is about.
    pub target: SlaTarget,
    /// What kind of finding.
    pub kind: SlaEventKind,
    /// Numbers repeated findings of one kind (the n-th missed update); 0 otherwise.
    pub slot: i32,
    /// The deadline the finding is about.
    pub deadline: DateTime<Utc>,
    /// When the watchdog found it.
    pub detected_at: DateTime<Utc>,
    /// Copied from the incident.
    pub is_drill: bool,
}

/// Inserts [`DEFAULT_SLA_POLICIES`] for a new workspace.
pub(crate) async fn insert_default_policies(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<(), sqlx::Error> {
    for defaults in DEFAULT_SLA_POLICIES {
        sqlx::query(
            "INSERT INTO sla_policies (
                 workspace_id, severity, ack_target_minutes, resolve_target_minutes,
                 update_cadence_minutes
             )
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(workspace_id)
        .bind(defaults.severity)
        .bind(defaults.ack_target_minutes)
        .bind(defaults.resolve_target_minutes)
        .bind(defaults.update_cadence_minutes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The workspace's policy for `severity`; `None` only for an unknown workspace.
pub async fn get_sla_policy(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    severity: Severity,
) -> Result<Option<SlaPolicy>, sqlx::Error> {
    sqlx::query_as::<_, SlaPolicy>(
        "SELECT * FROM sla_policies WHERE workspace_id = $1 AND severity = $2",
    )
    .bind(workspace_id)
    .bind(severity)
    .fetch_optional(conn)
    .await
}
