//! Drills (issue 11), the watchdog's part: scenarios uploaded by a workspace, their runs
//! and the steps each run plays. Started here because the watchdog already keeps the
//! time (schedules claimed once across replicas, response times measured against SLA
//! targets): the storage ([`store`]: only the queries its callers and tests use), the
//! upload rule ([`scenario`]), the script played once through the normal paths — alerts
//! through ingestion, hints and updates into the war room, severity changes through core
//! ([`runner`]) —, scheduled starts ([`scheduled`]), the run's incident learnt and the run
//! ended and scored once its incident resolves or it times out ([`ending`]), the API
//! ([`crate::http`]), the `drill.start_run` consumer ([`commands`]), the pages
//! ([`crate::ui`]) and the loop that drives them
//! ([`crate::schedule::drills_periodically`]).
//!
//! Invariants: a stored scenario always parses (`incident_schema::drill::parse` runs
//! before anything is written); a run copies its scenario (and its name) at the start, so
//! an edit never changes a run in flight and deleting the scenario keeps the run's history
//! (its `scenario_id` becomes NULL); a step row is settled once, played in the transaction
//! that writes its effect to the outbox, or failed with its reason, so a step is played at
//! most once and never holds back the steps after it for good.

pub mod commands;
pub mod ending;
pub mod runner;
pub mod scenario;
pub mod scheduled;
pub mod store;

pub use incident_schema::drill::{DRILL_LABEL, DRILL_SEVERITY_LABEL};

/// Reads back the scenario a run copied (`drill_runs.scenario`: `{source, parsed}`) by
/// parsing its source again, the one reading of a scenario there is.
pub fn scenario_of(value: &serde_json::Value) -> Result<incident_schema::drill::Scenario, String> {
    let source = value["source"]
        .as_str()
        .ok_or_else(|| "no source".to_owned())?;
    incident_schema::drill::parse(source).map_err(|e| e.to_string())
}
