//! Playing a run's script: [`play_next`] claims one due step of one running run and
//! writes its effect to the outbox in the transaction that marks the step done, so a
//! crash before the commit leaves the step to be played again and one after it never
//! replays it. The run's row is locked first (`SKIP LOCKED`: another replica is on it), and
//! a cancelled or ended run plays nothing.
//!
//! What each step writes:
//! - an alert (or a resolving alert): an Alertmanager webhook notification (version 4)
//!   published to `alerts.ingest` (`alert.drill`) for the run's integration, the front
//!   ingestion's own sources use; its labels carry the run (`incident_drill_run`) and the
//!   scenario's severity (`incident_drill_severity`), so ingestion groups the run's alerts
//!   apart from real ones and declares a drill incident (the watchdog writes none of
//!   ingestion's tables). The resolving alert repeats the firing one's labels, so it has
//!   its fingerprint;
//! - a hint or an injected update: an internal UPDATE on the incident's timeline through
//!   core's `incident.add_update`, which the war room posts to the drill's channel (an
//!   internal one never counts as the team's first public update);
//! - a severity change: core's `incident.change_severity`.
//!
//! [`start`] inserts a run; a script without an alert declares its drill incident at once
//! through core's `incident.declare` (the run's idempotency key as the declare's), in the
//! run's transaction.
//!
//! Steps are played in order, the lowest due one first. A step that can never be played
//! (an alert without an integration to send it through, a scenario that no longer reads)
//! is recorded as failed with its reason (settled, like a played step, so it is never
//! tried again), and the steps after it play on. A step that only has to wait (a hint,
//! update or severity change due before the run's incident is known) holds back the steps
//! after it, so the script keeps its order. [`play_due`] plays every due step of every
//! running run, and is what the watchdog's loop ([`crate::schedule::drills_periodically`])
//! calls.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use incident_bus::{Envelope, OutgoingMessage, outbox, topology};
use incident_schema::contract::{AddUpdate, ChangeSeverity, Declaration, Declare, ServiceView};
use incident_schema::drill::{Action, DRILL_LABEL, DRILL_SEVERITY_LABEL, Scenario};
use incident_schema::{ServiceImpact, TimelineKind};
use serde_json::json;
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
    /// A message could not be built.
    #[error("message: {0}")]
    Message(String),
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
        Effect::Play(message) => *message,
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
    Play(Box<OutgoingMessage>),
    /// It needs what is not there yet (the run's incident).
    Wait,
    /// It can never be played, for this reason.
    Fail(String),
}

/// Starts a run of `scenario` (parsed as `parsed`): the run and its steps, and, when its
/// script fires no alert, the `incident.declare` of its drill incident, in one
/// transaction. `None` when a run with `idempotency_key` exists already.
pub async fn start(
    conn: &mut PgConnection,
    scenario: &store::ScenarioRow,
    workspace_id: Uuid,
    parsed: &Scenario,
    idempotency_key: Option<&str>,
) -> Result<Option<store::RunRow>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let integration = store::drill_integration(&mut tx, workspace_id).await?;
    let Some(run) = store::insert_run(
        &mut tx,
        scenario,
        workspace_id,
        parsed,
        integration,
        idempotency_key,
    )
    .await?
    else {
        return Ok(None);
    };
    let fires = parsed
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Alert { .. }));
    if !fires {
        // As every contract payload: string keys only, it cannot fail to serialise.
        let message = OutgoingMessage::of(workspace_id, &declare(&run, parsed))
            .expect("a contract payload serialises to JSON");
        outbox::enqueue(&mut tx, SERVICE, &[message]).await?;
    }
    tx.commit().await?;
    Ok(Some(run))
}

/// What [`start_now`] did.
#[derive(Debug, Clone)]
pub enum Started {
    /// A new run.
    New(store::RunRow),
    /// The run the idempotency key started before (a resent command).
    Existing(store::RunRow),
}

impl Started {
    /// The run, new or not.
    pub fn run(&self) -> &store::RunRow {
        match self {
            Self::New(run) | Self::Existing(run) => run,
        }
    }
}

/// Why [`start_now`] started nothing.
#[derive(Debug, thiserror::Error)]
pub enum StartRefused {
    /// No such scenario in the workspace.
    #[error("no drill scenario {0} in the workspace")]
    NotFound(Uuid),
    /// The stored file no longer parses (a parser change): the file's fault.
    #[error(transparent)]
    Invalid(#[from] incident_schema::drill::ScenarioError),
    /// The idempotency key is another workspace's run's.
    #[error("the idempotency key belongs to another workspace's run")]
    KeyTaken,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Starts a run of scenario `scenario_id` of `workspace_id` now, in the caller's
/// transaction: what `POST /api/v1/drills/runs`, the web page's "Start run" and the
/// `drill.start_run` command (`/incident drill` in Slack) all call, recording `started_by`
/// (a user of the workspace). With an `idempotency_key` a run already started with it is
/// answered, not started again.
pub async fn start_now(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    scenario_id: Uuid,
    idempotency_key: Option<&str>,
    started_by: Option<Uuid>,
) -> Result<Started, StartRefused> {
    let scenario = store::scenario(conn, workspace_id, scenario_id)
        .await?
        .ok_or(StartRefused::NotFound(scenario_id))?;
    // Stored only once it parsed; a parser change that now refuses it is the file's fault.
    let parsed = incident_schema::drill::parse(&scenario.source)?;
    if let Some(mut run) = start(conn, &scenario, workspace_id, &parsed, idempotency_key).await? {
        if let Some(user) = started_by {
            store::set_started_by(conn, run.id, user).await?;
            run.started_by = Some(user);
        }
        return Ok(Started::New(run));
    }
    let key = idempotency_key.ok_or(StartRefused::KeyTaken)?;
    store::run_by_key(conn, workspace_id, key)
        .await?
        .map(Started::Existing)
        .ok_or(StartRefused::KeyTaken)
}

/// Why [`cancel`] cancelled nothing.
#[derive(Debug, thiserror::Error)]
pub enum CancelRefused {
    /// No such run in the workspace.
    #[error("no such run")]
    NotFound,
    /// The run has ended already, in this state.
    #[error("the run has ended ({0})")]
    Ended(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Cancels running run `run_id` of `workspace_id`, in the caller's transaction: it waits
/// for a step being played to commit (the runner's lock on the run), so no step is played
/// after it returns. What `POST /api/v1/drills/runs/{id}/cancel` and the run page's
/// "Cancel run" call.
pub async fn cancel(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    run_id: Uuid,
) -> Result<store::RunRow, CancelRefused> {
    let run = store::run(conn, workspace_id, run_id)
        .await?
        .ok_or(CancelRefused::NotFound)?;
    if store::lock_running(conn, run.id, false).await?.is_none()
        || !store::end_run(conn, run.id, "cancelled", None).await?
    {
        let state = store::run(conn, workspace_id, run_id)
            .await?
            .map_or_else(|| run.state.clone(), |r| r.state);
        return Err(CancelRefused::Ended(state));
    }
    store::run(conn, workspace_id, run_id)
        .await?
        .ok_or(CancelRefused::NotFound)
}

/// The `incident.declare` of a run whose script fires no alert.
fn declare(run: &store::RunRow, scenario: &Scenario) -> Declare {
    let mut incident = Declaration::new(scenario.title.clone(), scenario.severity);
    incident.description = scenario.description.clone();
    incident.is_drill = Some(true);
    incident.affected_services = Some(
        scenario
            .services
            .iter()
            .map(|name| ServiceView {
                name: name.clone(),
                impact: ServiceImpact::Degraded,
            })
            .collect(),
    );
    Declare {
        idempotency_key: Some(run.idempotency_key.clone()),
        actor_id: None,
        incident,
    }
}

/// The Alertmanager notification of one synthetic alert of `run`, `firing` or `resolved`.
fn alert(
    run: &store::RunRow,
    scenario: &Scenario,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    firing: bool,
) -> Effect {
    let Some(integration_id) = run.integration_id else {
        return Effect::Fail(
            "the workspace had no enabled integration to send the drill's alerts through \
             when the run started"
                .to_owned(),
        );
    };
    let mut labels = labels.clone();
    labels.insert(DRILL_LABEL.to_owned(), run.id.to_string());
    labels.insert(
        DRILL_SEVERITY_LABEL.to_owned(),
        scenario.severity.to_string(),
    );
    let status = if firing { "firing" } else { "resolved" };
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    // Go's zero time while firing, as Alertmanager sends it.
    let ends_at = if firing {
        "0001-01-01T00:00:00Z".to_owned()
    } else {
        time(chrono::Utc::now())
    };
    let data = json!({
        "integration_id": integration_id,
        "source": "alertmanager",
        "version": "4",
        "groupKey": format!("drill:{}", run.id),
        "status": status,
        "receiver": "drill",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": time(run.started_at),
            "endsAt": ends_at,
        }],
    });
    match Envelope::new(topology::ALERT_MESSAGE, run.workspace_id, data) {
        Ok(envelope) => Effect::Play(Box::new(OutgoingMessage {
            exchange: topology::ALERTS_INGEST.to_owned(),
            routing_key: "alert.drill".to_owned(),
            mandatory: true,
            envelope,
            trace_context: None,
        })),
        Err(e) => Effect::Fail(format!("the step's message cannot be built: {e}")),
    }
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
        Action::Alert {
            labels,
            annotations,
        } => return alert(run, &scenario, labels, annotations, true),
        Action::ResolveAlert { alertname } => {
            // The parser checked an earlier step fires it.
            let fired = scenario.steps.iter().find_map(|s| match &s.action {
                Action::Alert {
                    labels,
                    annotations,
                } if labels.get("alertname") == Some(alertname) => Some((labels, annotations)),
                _ => None,
            });
            return match fired {
                Some((labels, annotations)) => alert(run, &scenario, labels, annotations, false),
                None => Effect::Fail(format!("no step fires an alert named {alertname:?}")),
            };
        }
        Action::Hint { text } => format!("[DRILL] Hint: {text}"),
        Action::Update { text } => format!("[DRILL] Stakeholder update: {text}"),
        Action::Severity { severity } => {
            let Some(incident_id) = run.incident_id else {
                return Effect::Wait;
            };
            let change = ChangeSeverity {
                incident_id,
                actor_id: None,
                severity: *severity,
            };
            return match OutgoingMessage::of(run.workspace_id, &change) {
                Ok(message) => Effect::Play(Box::new(message)),
                Err(e) => Effect::Fail(format!("the step's message cannot be built: {e}")),
            };
        }
    };
    let Some(incident_id) = run.incident_id else {
        return Effect::Wait;
    };
    // An internal UPDATE: the war room posts it to the channel, and an internal one never
    // counts as the team's first public update.
    let update = AddUpdate {
        incident_id,
        actor_id: None,
        message: text,
        is_public: false,
        kind: Some(TimelineKind::Update),
    };
    match OutgoingMessage::of(run.workspace_id, &update) {
        Ok(message) => Effect::Play(Box::new(message)),
        Err(e) => Effect::Fail(format!("the step's message cannot be built: {e}")),
    }
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
