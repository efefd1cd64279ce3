//! Uploading a scenario: the file is parsed (`incident_schema::drill::parse`) and its
//! schedule checked before anything is written, so a refused file leaves nothing behind
//! and a stored scenario always parses.

use sqlx::PgConnection;
use uuid::Uuid;

use super::store::{self, ScenarioRow};
use crate::schedule::CalendarSchedule;

/// Why a scenario was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioRefused {
    /// The file does not parse: the line and the field at fault (a 422).
    #[error(transparent)]
    Invalid(#[from] incident_schema::drill::ScenarioError),
    /// The schedule is not a 6-field cron expression (a 422 naming `schedule`).
    #[error("schedule: {0}")]
    Schedule(String),
    /// The name is empty or longer than 100 characters (a 422 naming `name`).
    #[error("name: must be 1 to 100 characters")]
    Name,
    /// Another scenario of the workspace has the name (a 409).
    #[error("a scenario named {0:?} exists")]
    NameTaken(String),
    /// No such scenario in the workspace (a 404).
    #[error("no such scenario")]
    NotFound,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn check_schedule(schedule: Option<&str>) -> Result<(), ScenarioRefused> {
    if let Some(expression) = schedule {
        CalendarSchedule::parse_for("schedule", expression)
            .map_err(|e| ScenarioRefused::Schedule(e.to_string()))?;
    }
    Ok(())
}

/// Stores a new scenario of `workspace_id` under `name`.
pub async fn create(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    name: &str,
    source: &str,
    schedule: Option<&str>,
) -> Result<ScenarioRow, ScenarioRefused> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ScenarioRefused::Name);
    }
    let parsed = incident_schema::drill::parse(source)?;
    check_schedule(schedule)?;
    store::insert_scenario(conn, workspace_id, name, source, &parsed, schedule)
        .await?
        .ok_or_else(|| ScenarioRefused::NameTaken(name.to_owned()))
}

/// Replaces the file and schedule of a scenario of `workspace_id`.
pub async fn replace(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    source: &str,
    schedule: Option<&str>,
) -> Result<ScenarioRow, ScenarioRefused> {
    let parsed = incident_schema::drill::parse(source)?;
    check_schedule(schedule)?;
    store::update_scenario(conn, workspace_id, id, source, &parsed, schedule)
        .await?
        .ok_or(ScenarioRefused::NotFound)
}
