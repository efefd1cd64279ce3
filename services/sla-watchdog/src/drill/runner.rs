//! Playing a run's script: [`play_next`] claims one due step of one running run and
//! writes its effect to the outbox in the transaction that marks the step done, so a
//! crash before the commit leaves the step to be played again and one after it never
//! replays it. The run's row is locked first (`SKIP LOCKED`: another replica is on it), and
//! a cancelled or ended run plays nothing.
//!
//! Built so far: hints and injected updates, which need the run's incident (a step due
//! before the incident is known waits). Not yet: synthetic alerts, the declare, severity
//! changes, the loop that calls this, ending runs and scoring them.

use incident_bus::{OutgoingMessage, outbox};
use incident_schema::TimelineKind;
use incident_schema::contract::AddUpdate;
use incident_schema::drill::{Action, Scenario};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::store;
use crate::SERVICE;

/// What [`play_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// Step `n` was played.
    Step(i32),
    /// Nothing is due (or the step due waits for what it needs), the run is not running,
    /// or another replica holds it.
    Nothing,
}

/// Why a step could not be played.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The stored scenario no longer reads as one (it is written only by this service).
    #[error("run {0}: its scenario does not read: {1}")]
    Scenario(Uuid, String),
}

/// Plays the next due step of `run_id`, if any.
pub async fn play_next(conn: &mut PgConnection, run_id: Uuid) -> Result<Played, RunnerError> {
    let mut tx = conn.begin().await?;
    let Some(run) = store::lock_running(&mut tx, run_id, true).await? else {
        return Ok(Played::Nothing);
    };
    let Some(index) = store::claim_due_step(&mut tx, run_id).await? else {
        return Ok(Played::Nothing);
    };
    let scenario: Scenario =
        super::scenario_of(&run.scenario).map_err(|e| RunnerError::Scenario(run.id, e))?;
    let Some(step) = scenario.steps.get(index as usize) else {
        return Err(RunnerError::Scenario(run.id, format!("no step {index}")));
    };
    let text = match &step.action {
        Action::Hint { text } => format!("[DRILL] Hint: {text}"),
        Action::Update { text } => format!("[DRILL] Stakeholder update: {text}"),
        _ => return Ok(Played::Nothing),
    };
    let Some(incident_id) = run.incident_id else {
        return Ok(Played::Nothing);
    };
    // Internal, so an injected update never counts as the team's first public update.
    let note = AddUpdate {
        incident_id,
        actor_id: None,
        message: text,
        is_public: false,
        kind: Some(TimelineKind::Note),
    };
    let message = OutgoingMessage::of(run.workspace_id, &note)
        .map_err(|e| RunnerError::Scenario(run.id, e.to_string()))?;
    store::mark_done(&mut tx, run_id, index).await?;
    outbox::enqueue(&mut tx, SERVICE, &[message]).await?;
    tx.commit().await?;
    Ok(Played::Step(index))
}
