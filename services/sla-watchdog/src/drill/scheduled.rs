//! Scheduled runs: a scenario with a cron schedule starts a run at each occurrence, once
//! across replicas. The run's idempotency key is `schedule:<scenario id>:<occurrence>`
//! (unique in `drill_runs`), so a replica racing for the same occurrence waits on the
//! first one's uncommitted row and then inserts nothing, as the digest's `job_runs` claim
//! does.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::store;
use crate::schedule::CalendarSchedule;

/// Starts the run of every scheduled scenario whose latest occurrence in `(from, to]` has
/// none yet; returns how many this call started.
pub async fn start_due(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let scheduled = store::scheduled_scenarios(conn).await?;
    let mut started = 0;
    for (workspace_id, scenario) in scheduled {
        let Some(expression) = scenario.schedule.as_deref() else {
            continue;
        };
        // Checked at upload; a schedule that no longer parses starts nothing.
        let schedule = match CalendarSchedule::parse_for("schedule", expression) {
            Ok(schedule) => schedule,
            Err(error) => {
                tracing::warn!(scenario = %scenario.id, %error, "a drill scenario's schedule no longer parses: not started");
                continue;
            }
        };
        let Some(occurrence) = schedule.latest_between(from, to) else {
            continue;
        };
        let parsed = match incident_schema::drill::parse(&scenario.source) {
            Ok(parsed) => parsed,
            Err(error) => {
                // Stored only once it parsed; a parser change that now refuses it is logged.
                tracing::warn!(scenario = %scenario.id, %error, "a scheduled drill scenario no longer parses: not started");
                continue;
            }
        };
        let key = format!("schedule:{}:{}", scenario.id, occurrence.to_rfc3339());
        if super::runner::start(conn, &scenario, workspace_id, &parsed, Some(&key))
            .await?
            .is_some()
        {
            started += 1;
        }
    }
    Ok(started)
}
