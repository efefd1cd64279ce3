//! The per-workspace figures behind the Prometheus gauges: open incidents by severity and
//! SLA breaches recorded, drills left out of both, PRIVATE incidents counted (a gauge
//! shows numbers, never titles).
//!
//! Label cardinality is bounded: a workspace is labelled by its slug, at most
//! [`MAX_WORKSPACES`] of them (by slug); the rest are summed under `other`. Severities are
//! the four of the enum.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use crate::Severity;

/// Workspaces labelled by slug; beyond them, figures are summed under [`OTHER`].
pub const MAX_WORKSPACES: usize = 200;
/// The label of the workspaces beyond [`MAX_WORKSPACES`].
pub const OTHER: &str = "other";

/// One workspace's gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceGauges {
    /// The workspace label (its slug, or [`OTHER`]).
    pub workspace: String,
    /// Open incidents (INVESTIGATING, IDENTIFIED, MONITORING) by severity, every
    /// severity present.
    pub open_by_severity: BTreeMap<&'static str, i64>,
    /// SLA breaches recorded, ever.
    pub sla_breaches: i64,
}

impl WorkspaceGauges {
    fn new(workspace: String) -> Self {
        Self {
            workspace,
            open_by_severity: Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
            sla_breaches: 0,
        }
    }
}

/// Every workspace's gauges, by label.
pub async fn workspace_gauges(conn: &mut PgConnection) -> sqlx::Result<Vec<WorkspaceGauges>> {
    let slugs: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, slug FROM workspaces ORDER BY slug")
            .fetch_all(&mut *conn)
            .await?;
    let mut label = std::collections::HashMap::new();
    let mut gauges: BTreeMap<String, WorkspaceGauges> = BTreeMap::new();
    for (i, (id, slug)) in slugs.into_iter().enumerate() {
        let name = if i < MAX_WORKSPACES {
            slug
        } else {
            OTHER.to_owned()
        };
        gauges
            .entry(name.clone())
            .or_insert_with(|| WorkspaceGauges::new(name.clone()));
        label.insert(id, name);
    }
    let open: Vec<(uuid::Uuid, Severity, i64)> = sqlx::query_as(
        "SELECT workspace_id, severity, count(*) FROM incidents
         WHERE status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING') AND NOT is_drill
         GROUP BY workspace_id, severity",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (workspace_id, severity, n) in open {
        if let Some(g) = label.get(&workspace_id).and_then(|l| gauges.get_mut(l)) {
            *g.open_by_severity.entry(severity.as_str()).or_default() += n;
        }
    }
    let breaches: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT workspace_id, count(*) FROM sla_events
         WHERE kind = 'BREACH' AND NOT is_drill GROUP BY workspace_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (workspace_id, n) in breaches {
        if let Some(g) = label.get(&workspace_id).and_then(|l| gauges.get_mut(l)) {
            g.sla_breaches += n;
        }
    }
    Ok(gauges.into_values().collect())
}
