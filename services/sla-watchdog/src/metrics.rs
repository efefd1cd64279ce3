//! The watchdog's metrics, recorded through the process-wide `metrics` recorder (which
//! `incident-runtime` installs and serves at `/metrics`; without one they cost nothing):
//!
//! - `incident_sla_sweep_duration_seconds` (histogram, label `outcome` = `ok` | `error`): how long
//!   one sweep took;
//! - `incident_sla_flags_total` (counter, labels `kind` = `breach` | `warning` | `update_due` |
//!   `overdue` and `target` = `acknowledge` | `resolve` | `update` | `action_item`):
//!   findings reported, counted once their transaction committed;
//! - `incident_sla_open_incidents` (gauge, label `state` = `breached` | `at_risk` | `on_track`): open
//!   incidents by SLA state, drills left out (`at_risk`: warned, not breached).

use std::time::Duration;

use incident_runtime::metrics::{SLA_FLAGS, SLA_INCIDENTS, SLA_SWEEP_DURATION};

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
