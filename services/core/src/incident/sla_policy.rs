//! SLA policies per workspace and severity: the targets core stamps deadlines from at
//! declaration (and on a severity change). A change applies to incidents declared after
//! it; existing deadlines stay as they were promised.

use incident_schema::{Severity, SlaPolicy};
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

/// The targets for one severity.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Minutes to acknowledge, 1 to 10,080 (a week).
    pub ack_target_minutes: i32,
    /// Minutes to resolve, at least the acknowledge target, at most 90 days.
    pub resolve_target_minutes: i32,
    /// Minutes between public updates while open, 1 to 1,440; none to not track it.
    #[serde(default)]
    pub update_cadence_minutes: Option<i32>,
    /// How far towards a deadline a warning is raised, 0.1 to 0.99 (default 0.8).
    #[serde(default)]
    pub warning_ratio: Option<f32>,
}

/// The workspace's policies, SEV1 first.
pub async fn list(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<Vec<SlaPolicy>> {
    Ok(
        sqlx::query_as("SELECT * FROM sla_policies WHERE workspace_id = $1 ORDER BY severity")
            .bind(workspace_id)
            .fetch_all(conn)
            .await?,
    )
}

/// Creates or replaces the policy for `severity`.
pub async fn put(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    severity: Severity,
    input: &PolicyInput,
) -> DomainResult<SlaPolicy> {
    if !(1..=10_080).contains(&input.ack_target_minutes) {
        return Err(DomainError::invalid(
            "ack_target_minutes",
            "must be between 1 and 10080",
        ));
    }
    if input.resolve_target_minutes < input.ack_target_minutes
        || input.resolve_target_minutes > 129_600
    {
        return Err(DomainError::invalid(
            "resolve_target_minutes",
            "must be at least the acknowledge target and at most 129600 (90 days)",
        ));
    }
    if input
        .update_cadence_minutes
        .is_some_and(|c| !(1..=1_440).contains(&c))
    {
        return Err(DomainError::invalid(
            "update_cadence_minutes",
            "must be between 1 and 1440",
        ));
    }
    let ratio = input
        .warning_ratio
        .unwrap_or(incident_schema::sla::DEFAULT_WARNING_RATIO);
    if !(0.1..=0.99).contains(&ratio) {
        return Err(DomainError::invalid(
            "warning_ratio",
            "must be between 0.1 and 0.99",
        ));
    }
    Ok(sqlx::query_as(
        "INSERT INTO sla_policies (workspace_id, severity, ack_target_minutes, resolve_target_minutes, update_cadence_minutes, warning_ratio)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, severity) DO UPDATE SET
            ack_target_minutes = EXCLUDED.ack_target_minutes,
            resolve_target_minutes = EXCLUDED.resolve_target_minutes,
            update_cadence_minutes = EXCLUDED.update_cadence_minutes,
            warning_ratio = EXCLUDED.warning_ratio
         RETURNING *",
    )
    .bind(workspace_id)
    .bind(severity)
    .bind(input.ack_target_minutes)
    .bind(input.resolve_target_minutes)
    .bind(input.update_cadence_minutes)
    .bind(ratio)
    .fetch_one(conn)
    .await?)
}
