//! The watchdog's metrics, recorded through the process-wide `metrics` recorder (which
//! `incident-runtime` installs and serves at `/metrics`; without one they cost nothing):
//!
//! - `sla_sweep_duration_seconds` (histogram, label `outcome` = `ok` | `error`): how long
//!   one sweep took;
//! - `sla_flags_total` (counter, labels `kind` = `breach` | `warning` | `update_due` |
//!   `overdue` and `target` = `acknowledge` | `resolve` | `update` | `action_item`):
//!   findings reported, counted once their transaction committed;
//! - `sla_incidents` (gauge, label `state` = `breached` | `at_risk` | `on_track`): open
//!   incidents by SLA state, drills left out (`at_risk`: warned, not breached);
//! - `incident_open_incidents` (gauge, labels `workspace` = slug, `severity` = `SEV1` ..
//!   `SEV4`) and `incident_sla_breaches` (gauge, label `workspace`): per workspace, open
//!   incidents and SLA breaches recorded ever, drills left out, refreshed every minute
//!   ([`crate::schedule::gauges_periodically`]). At most 200 workspaces by slug, the rest
//!   under `workspace="other"` (`incident_schema::analytics::gauges`), so at most 201 × 5
//!   series.

use std::time::Duration;

use incident_schema::analytics::gauges::WorkspaceGauges;

use crate::sla::store::SlaStateCounts;
use crate::sla::sweep::SweepReport;

/// Records one sweep's duration; `report` is `None` when it failed.
pub fn record_sweep(took: Duration, report: Option<&SweepReport>) {
    let outcome = if report.is_some() { "ok" } else { "error" };
    metrics::histogram!("sla_sweep_duration_seconds", "outcome" => outcome)
        .record(took.as_secs_f64());
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
            metrics::counter!("sla_flags_total", "kind" => kind, "target" => target)
                .increment(n as u64);
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
        metrics::gauge!("sla_incidents", "state" => state).set(n as f64);
    }
}

/// The gauges' names and help texts, described once per process.
fn describe_workspace_gauges() {
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    DESCRIBED.call_once(|| {
        metrics::describe_gauge!(
            "incident_open_incidents",
            "Open incidents (investigating, identified, monitoring) per workspace and severity, drills left out"
        );
        metrics::describe_gauge!(
            "incident_sla_breaches",
            "SLA breaches recorded per workspace since it began, drills left out"
        );
    });
}

/// Sets the per-workspace gauges.
pub fn record_workspace_gauges(gauges: &[WorkspaceGauges]) {
    describe_workspace_gauges();
    for g in gauges {
        for (severity, n) in &g.open_by_severity {
            metrics::gauge!("incident_open_incidents", "workspace" => g.workspace.clone(), "severity" => *severity)
                .set(*n as f64);
        }
        metrics::gauge!("incident_sla_breaches", "workspace" => g.workspace.clone())
            .set(g.sla_breaches as f64);
    }
}
