//! The watchdog's metrics, recorded through the process-wide `metrics` recorder (which
//! `incident-runtime` installs and serves at `/metrics`; without one they cost nothing):
//!
//! - `incident_sla_sweep_duration_seconds` (histogram, label `outcome` = `ok` | `error`): how long
//!   one sweep took;
//! - `incident_sla_flags_total` (counter, labels `kind` = `breach` | `warning` | `update_due` |
//!   `overdue` and `target` = `acknowledge` | `resolve` | `update` | `action_item`):
//!   findings reported, counted once their transaction committed;
//! - `incident_sla_open_incidents` (gauge, label `state` = `breached` | `at_risk` | `on_track`): open
//!   incidents by SLA state, drills left out (`at_risk`: warned, not breached);
//! - `incident_open_incidents` (gauge, labels `workspace` = slug, `severity` = `SEV1` ..
//!   `SEV4`) and `incident_sla_breaches` (gauge, label `workspace`): per workspace, open
//!   incidents and SLA breaches recorded ever, drills left out, refreshed every minute
//!   ([`crate::schedule::gauges_periodically`]). At most 200 workspaces by slug, the rest
//!   under `workspace="other"` (`incident_schema::analytics::gauges`), so at most 201 × 5
//!   series.

use std::time::Duration;

use incident_runtime::metrics::{
    SLA_FLAGS, SLA_INCIDENTS, SLA_SWEEP_DURATION, WORKSPACE_OPEN_INCIDENTS, WORKSPACE_SLA_BREACHES,
};
use incident_schema::analytics::gauges::WorkspaceGauges;

use crate::sla::store::SlaStateCounts;
use crate::sla::sweep::SweepReport;

/// Records one sweep's duration; `report` is `None` when it failed.
pub fn record_sweep(took: Duration, report: Option<&SweepReport>) {
    let outcome = if report.is_some() { "ok" } else { "error" };
    metrics::histogram!(SLA_SWEEP_DURATION, "outcome" => outcome).record(took.as_secs_f64());
}

/// Counts the findings of a committed batch.
pub fn record_flags(report: &SweepReport) {
    let counts = [
        ("breach", "acknowledge", report.acknowledge_breaches),
        ("breach", "resolve", report.resolve_breaches),
        ("warning", "acknowledge", report.acknowledge_warnings),
        ("warning", "resolve", report.resolve_warnings),
        ("update_due", "update", report.updates_due),
        ("overdue", "action_item", report.overdue_action_items),
    ];
    for (kind, target, n) in counts {
        if n > 0 {
            metrics::counter!(SLA_FLAGS, "kind" => kind, "target" => target).increment(n as u64);
        }
    }
}

/// Sets the gauge of open incidents by SLA state.
pub fn record_states(counts: &SlaStateCounts) {
    let states = [
        ("breached", counts.breached),
        ("at_risk", counts.at_risk),
        ("on_track", counts.on_track),
    ];
    for (state, n) in states {
        metrics::gauge!(SLA_INCIDENTS, "state" => state).set(n as f64);
    }
}

/// Sets the per-workspace gauges.
pub fn record_workspace_gauges(gauges: &[WorkspaceGauges]) {
    for g in gauges {
        for (severity, n) in &g.open_by_severity {
            metrics::gauge!(WORKSPACE_OPEN_INCIDENTS, "workspace" => g.workspace.clone(), "severity" => *severity)
                .set(*n as f64);
        }
        metrics::gauge!(WORKSPACE_SLA_BREACHES, "workspace" => g.workspace.clone())
            .set(g.sla_breaches as f64);
    }
}
