//! Ending a run with its score: [`end_due`] ends every running run whose incident
//! resolved (`completed`) or whose deadline passed (`timed_out`), and [`learn_due`] first
//! records the drill incident of runs that have none yet (core declared it from the run's
//! alerts or its own declare; see [`store::learn_incidents`]).
//!
//! The run's lock is taken as the runner takes it (`SKIP LOCKED`), and the score, the
//! end and the `drill.run_completed` event are written in one transaction, so a run ends
//! once across replicas and its report is sent once. The score is
//! [`incident_schema::drill::score`]: each expectation of the copied scenario, met or
//! missed, with the time measured from the incident's declaration, against the scenario's
//! targets and the workspace's SLA targets for the incident's severity, compared with the
//! latest scored run of the same scenario.

use incident_bus::{OutgoingMessage, outbox};
use incident_schema::contract::DrillRunCompleted;
use incident_schema::drill::{Measured, Score, SlaTargets};
use incident_schema::sla::get_sla_policy;
use sqlx::{Connection as _, PgConnection};
use std::time::Duration;
use uuid::Uuid;

use super::runner::RunnerError;
use super::store;
use crate::SERVICE;

/// Most runs one [`end_due`] call ends.
const RUNS_PER_ROUND: i64 = 100;

/// Records the incidents core declared for running runs; returns how many learnt theirs.
pub async fn learn_due(conn: &mut PgConnection) -> Result<u64, RunnerError> {
    Ok(store::learn_incidents(conn).await?)
}

/// Ends (at most 100) runs whose incident resolved or whose deadline passed; returns how
/// many this call ended.
pub async fn end_due(conn: &mut PgConnection) -> Result<usize, RunnerError> {
    let mut ended = 0;
    for run_id in store::runs_to_end(conn, RUNS_PER_ROUND).await? {
        if end(conn, run_id).await?.is_some() {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Ends `run_id` if it is due to end: its state and score. `None` when it is not due,
/// not running, or another replica holds it.
pub async fn end(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<(String, Score)>, RunnerError> {
    let mut tx = conn.begin().await?;
    let Some(run) = store::lock_running(&mut tx, run_id, true).await? else {
        return Ok(None);
    };
    let times = match run.incident_id {
        Some(incident) => store::incident_times(&mut tx, run.workspace_id, incident).await?,
        None => None,
    };
    let overdue: bool = sqlx::query_scalar("SELECT $1 <= now()")
        .bind(run.ends_at)
        .fetch_one(&mut *tx)
        .await?;
    let state = match &times {
        Some(t) if t.resolved_now => "completed",
        _ if overdue => "timed_out",
        _ => return Ok(None),
    };
    let scenario = super::scenario_of(&run.scenario).map_err(RunnerError::Message)?;
    let severity = times.as_ref().map_or(scenario.severity, |t| t.severity);
    let sla = match get_sla_policy(&mut tx, run.workspace_id, severity).await? {
        Some(policy) => SlaTargets {
            acknowledge: minutes(policy.ack_target_minutes),
            resolve: minutes(policy.resolve_target_minutes),
        },
        None => SlaTargets::default(),
    };
    let measured = times.as_ref().map_or_else(Measured::default, measured);
    let previous = match run.scenario_id {
        Some(scenario_id) => {
            store::previous_score(&mut tx, run.workspace_id, scenario_id, run.id).await?
        }
        None => None,
    };
    let previous: Option<(Uuid, Score)> =
        previous.and_then(|(id, value)| serde_json::from_value(value).ok().map(|s| (id, s)));
    let score = incident_schema::drill::score(
        &scenario.expect,
        &measured,
        sla,
        previous.as_ref().map(|(id, s)| (*id, s)),
    );
    let value = serde_json::to_value(&score).map_err(|e| RunnerError::Message(e.to_string()))?;
    if !store::end_run(&mut tx, run.id, state, Some(&value)).await? {
        return Ok(None);
    }
    let ended_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT ended_at FROM drill_runs WHERE id = $1")
            .bind(run.id)
            .fetch_one(&mut *tx)
            .await?;
    let event = DrillRunCompleted {
        run_id: run.id,
        scenario_id: run.scenario_id,
        scenario_name: run.scenario_name.clone(),
        incident_id: run.incident_id,
        state: state.to_owned(),
        started_at: run.started_at,
        ended_at,
        score: score.clone(),
    };
    let message = OutgoingMessage::of(run.workspace_id, &event)
        .map_err(|e| RunnerError::Message(e.to_string()))?;
    outbox::enqueue(&mut tx, SERVICE, &[message]).await?;
    tx.commit().await?;
    tracing::info!(run = %run.id, state, met = score.met, total = score.total, "drill run ended");
    Ok(Some((state.to_owned(), score)))
}

fn minutes(m: i32) -> Option<Duration> {
    u64::try_from(m).ok().map(|m| Duration::from_secs(m * 60))
}

fn measured(t: &store::IncidentTimes) -> Measured {
    // Whole seconds; never negative (a clock step between two stamps).
    let secs = |v: Option<f64>| v.map(|s| s.max(0.0).round() as u64);
    Measured {
        acknowledged: secs(t.acknowledged),
        commander_assigned: secs(t.commander_assigned),
        first_public_update: secs(t.first_public_update),
        mitigated: secs(t.mitigated),
        resolved: secs(t.resolved),
        postmortem_drafted: secs(t.postmortem_drafted),
    }
}
