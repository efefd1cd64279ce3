//! Playing a run's script: [`play_next`] claims one due step of one running run and
//! writes its effect to the outbox in the transaction that marks the step done, so a
//! crash before the commit leaves the step to be played again and one after it never
//! replays it. The run's row is locked first (`SKIP LOCKED`: another replica is on it), and
//! a cancelled or ended run plays nothing.
//!
//! Steps are played in order, the lowest due one first. A step that can never be played
//! (a kind not built yet: synthetic alerts, resolving alerts and severity changes; a
//! scenario that no longer reads) is recorded as failed with its reason (settled, like
//! a played step, so it is never tried again), and the steps after it play on. A step that only has to wait (a hint or update
//! due before the run's incident is known) holds back the steps after it, so the script
//! keeps its order. [`play_due`] plays every due step of every running run, and is what
//! the watchdog's loop ([`crate::schedule::drills_periodically`]) calls.

use incident_bus::{OutgoingMessage, outbox};
use incident_schema::TimelineKind;
use incident_schema::contract::AddUpdate;
use incident_schema::drill::{Action, Scenario};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::store;
use crate::SERVICE;

/// What [`play_next`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Played {
    /// Step `n` was played.
    Step(i32),
    /// Step `n` can never be played: it was recorded as failed with the reason.
    Failed(i32, String),
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
    let message = match effect(&run, index) {
        Effect::Play(message) => message,
        Effect::Wait => return Ok(Played::Nothing),
        Effect::Fail(reason) => {
            tracing::warn!(run = %run.id, step = index, %reason, "a drill step cannot be played: recorded as failed");
            store::mark_failed(&mut tx, run_id, index, &reason).await?;
            tx.commit().await?;
            return Ok(Played::Failed(index, reason));
        }
    };
    store::mark_done(&mut tx, run_id, index).await?;
    outbox::enqueue(&mut tx, SERVICE, &[message]).await?;
    tx.commit().await?;
    Ok(Played::Step(index))
}

/// What a step does now.
enum Effect {
    /// Its message, to write to the outbox.
    Play(OutgoingMessage),
    /// It needs what is not there yet (the run's incident).
    Wait,
    /// It can never be played, for this reason.
    Fail(String),
}

fn effect(run: &store::RunRow, index: i32) -> Effect {
    let scenario: Scenario = match super::scenario_of(&run.scenario) {
        Ok(scenario) => scenario,
        Err(e) => return Effect::Fail(format!("the run's scenario does not read: {e}")),
    };
    let Some(step) = usize::try_from(index)
        .ok()
        .and_then(|i| scenario.steps.get(i))
    else {
        return Effect::Fail(format!("the run's scenario has no step {index}"));
    };
    let text = match &step.action {
        Action::Hint { text } => format!("[DRILL] Hint: {text}"),
        Action::Update { text } => format!("[DRILL] Stakeholder update: {text}"),
        Action::Alert { .. } => return Effect::Fail(not_built("synthetic alert")),
        Action::ResolveAlert { .. } => return Effect::Fail(not_built("resolving alert")),
        Action::Severity { .. } => return Effect::Fail(not_built("severity change")),
    };
    let Some(incident_id) = run.incident_id else {
        return Effect::Wait;
    };
    // Internal, so an injected update never counts as the team's first public update.
    let note = AddUpdate {
        incident_id,
        actor_id: None,
        message: text,
        is_public: false,
        kind: Some(TimelineKind::Note),
    };
    match OutgoingMessage::of(run.workspace_id, &note) {
        Ok(message) => Effect::Play(message),
        Err(e) => Effect::Fail(format!("the step's message cannot be built: {e}")),
    }
}

fn not_built(kind: &str) -> String {
    format!("{kind} steps are not played yet")
}

/// What [`play_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Steps played.
    pub played: usize,
    /// Steps recorded as failed.
    pub failed: usize,
}

/// Most runs one [`play_due`] call looks at.
const RUNS_PER_ROUND: i64 = 100;

/// Plays every due step of (at most 100) running runs with one due, each run's steps in
/// order until one has to wait.
pub async fn play_due(conn: &mut PgConnection) -> Result<Round, RunnerError> {
    let mut round = Round::default();
    for run_id in store::runs_with_due_steps(conn, RUNS_PER_ROUND).await? {
        // Bounded by the script's length: every step is settled once.
        for _ in 0..=incident_schema::drill::MAX_STEPS {
            match play_next(conn, run_id).await? {
                Played::Step(_) => round.played += 1,
                Played::Failed(..) => round.failed += 1,
                Played::Nothing => break,
            }
        }
    }
    Ok(round)
}
