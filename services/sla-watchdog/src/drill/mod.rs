//! Drills (issue 11), the watchdog's part: scenarios uploaded by a workspace, their runs
//! and the steps each run plays. Started here because the watchdog already keeps the
//! time (schedules claimed once across replicas, response times measured against SLA
//! targets). This increment holds the storage ([`store`]: only the queries its callers and
//! tests use), the upload rule ([`scenario`]), hints and updates played once ([`runner`])
//! and scheduled starts ([`scheduled`]); the API, the run loop and
//! the scores build on it.
//!
//! Invariants: a stored scenario always parses (`incident_schema::drill::parse` runs
//! before anything is written); a run copies its scenario at the start, so an edit never
//! changes a run in flight; a step row is marked done in the transaction that writes its
//! effect to the outbox, so a step is played once.

pub mod runner;
pub mod scenario;
pub mod scheduled;
pub mod store;

/// The reserved alert label naming the drill run a synthetic alert belongs to.
pub const DRILL_LABEL: &str = "incident_drill_run";

/// Reads back the scenario a run copied (`drill_runs.scenario`: `{source, parsed}`) by
/// parsing its source again, the one reading of a scenario there is.
pub fn scenario_of(value: &serde_json::Value) -> Result<incident_schema::drill::Scenario, String> {
    let source = value["source"]
        .as_str()
        .ok_or_else(|| "no source".to_owned())?;
    incident_schema::drill::parse(source).map_err(|e| e.to_string())
}
