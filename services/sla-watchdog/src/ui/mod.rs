//! The drill pages, under `/ui/drills` (the Ingress routes that prefix here; in the stack
//! they share core's port, and core serves the sign-in and the shell's assets): the
//! workspace's scenarios with their schedule and last score, a "Start run" button for
//! responders and admins, the runs newest first; and one run with its state, the steps
//! played with their times, each expectation met or missed with the time measured against
//! its targets, the comparison with the run before, the drill incident's link, and "Cancel
//! run" while it runs.
//!
//! Handlers resolve the session, call the functions the API calls
//! ([`crate::drill::runner::start_now`], [`crate::drill::runner::cancel`], the
//! [`crate::drill::store`] reads, scoped by the session's workspace: another workspace's
//! run is the same 404 as a missing one) and render. Forms carry the session's CSRF token
//! ([`VerifiedForm`]: refused with 403 without it); a viewer is offered no form and a
//! post of one is refused with 403. A start form carries a key rendered with the page, so
//! a form sent twice starts one run.

pub mod pages;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use incident_schema::AccessRole;
use incident_schema::drill::{Action, ExpectationScore, Score, Trend};
use incident_schema::text::IdempotencyKey;
use incident_web::shell::{Section, Shell, error_page};
use incident_web::view::When;
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use self::pages::{DrillsPage, ExpectationItem, RunItem, RunPage, ScenarioItem, StepItem};
use crate::AppState;
use crate::drill::runner::{self, CancelRefused, StartRefused, Started};
use crate::drill::store::{self, RunRow};

/// Every page route, for the Ingress check (`tests/system/ingress.rs`).
pub const ROUTES: &[&str] = &[
    "/ui/drills",
    "/ui/drills/runs",
    "/ui/drills/runs/{id}",
    "/ui/drills/runs/{id}/cancel",
];

/// Runs the list shows.
const RUNS_SHOWN: i64 = 50;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/drills", get(list))
        .route("/ui/drills/runs", post(start))
        .route("/ui/drills/runs/{id}", get(run))
        .route("/ui/drills/runs/{id}/cancel", post(cancel))
}

/// A page that could not be served: its status and what it says.
#[derive(Debug)]
pub struct PageError(StatusCode, String);

impl PageError {
    fn missing() -> Self {
        Self(
            StatusCode::NOT_FOUND,
            "No such drill run or scenario in this workspace.".to_owned(),
        )
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "drill page failed on the database");
        Self(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again shortly.".to_owned(),
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0, None, &self.1)
    }
}

fn require_responder(session: &WebSession) -> Result<(), PageError> {
    if session.may(AccessRole::Responder) {
        Ok(())
    } else {
        Err(PageError(
            StatusCode::FORBIDDEN,
            "Your role is viewer: you can read drills, not start or cancel them.".to_owned(),
        ))
    }
}

/// `125` → `2m 05s`; `3600` → `1h 00m`; `45` → `45s`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn score_of(value: Option<&serde_json::Value>) -> Option<Score> {
    value.and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn summary(score: &Score) -> String {
    format!("{} of {} met ({} %)", score.met, score.total, score.percent)
}

fn references(rows: Vec<(Uuid, i32)>) -> HashMap<Uuid, String> {
    rows.into_iter()
        .map(|(id, n)| (id, format!("INC-{n}")))
        .collect()
}

fn run_item(run: &RunRow, refs: &HashMap<Uuid, String>) -> RunItem {
    RunItem {
        id: run.id.to_string(),
        scenario: run.scenario_name.clone(),
        state: run.state.clone(),
        started: When::of(run.started_at),
        ended: run.ended_at.map(When::of),
        score: score_of(run.score.as_ref()).map(|s| summary(&s)),
        incident: run.incident_id.and_then(|i| refs.get(&i).cloned()),
    }
}

/// `GET /ui/drills`: the scenarios and the runs.
pub async fn list(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    let ws = session.auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let scenarios = store::scenarios(&mut conn, ws).await?;
    let scores: HashMap<Uuid, (Uuid, serde_json::Value)> = store::latest_scores(&mut conn, ws)
        .await?
        .into_iter()
        .map(|(scenario, run, score)| (scenario, (run, score)))
        .collect();
    let runs = store::runs(&mut conn, ws, None, RUNS_SHOWN).await?;
    let incidents: Vec<Uuid> = runs.iter().filter_map(|r| r.incident_id).collect();
    let refs = references(store::incident_numbers(&mut conn, ws, &incidents).await?);
    let scenarios = scenarios
        .iter()
        .map(|s| ScenarioItem {
            id: s.id.to_string(),
            name: s.name.clone(),
            story: format!(
                "{} · {}",
                s.parsed["severity"].as_str().unwrap_or_default(),
                s.parsed["title"].as_str().unwrap_or_default()
            ),
            schedule: s.schedule.clone(),
            last_score: scores.get(&s.id).and_then(|(run, score)| {
                score_of(Some(score)).map(|score| (run.to_string(), summary(&score)))
            }),
        })
        .collect();
    Ok(render(&DrillsPage {
        shell: Shell::signed_in("Drills", &session, Section::Drills),
        scenarios,
        runs: runs.iter().map(|r| run_item(r, &refs)).collect(),
        start_key: Uuid::new_v4().simple().to_string(),
    }))
}

/// The "Start run" form.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    scenario_id: String,
    #[serde(default)]
    key: String,
}

/// `POST /ui/drills/runs`: starts a run of the form's scenario now, then shows it.
pub async fn start(
    State(state): State<AppState>,
    posted: VerifiedForm<StartForm>,
) -> Result<Response, PageError> {
    let VerifiedForm { session, form } = posted;
    require_responder(&session)?;
    let scenario_id: Uuid = form
        .scenario_id
        .trim()
        .parse()
        .map_err(|_| PageError::missing())?;
    let key = match form.key.trim() {
        "" => None,
        key => Some(format!(
            "ui:{}",
            IdempotencyKey::parse(key)
                .map_err(|e| PageError(StatusCode::UNPROCESSABLE_ENTITY, format!("key: {e}")))?
                .as_str()
        )),
    };
    let ws = session.auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let started = runner::start_now(
        &mut tx,
        ws,
        scenario_id,
        key.as_deref(),
        session.auth.user_id,
    )
    .await
    .map_err(|e| match e {
        StartRefused::NotFound(_) => PageError::missing(),
        StartRefused::Database(e) => PageError::from(e),
        e @ (StartRefused::Invalid(_) | StartRefused::KeyTaken) => {
            PageError(StatusCode::CONFLICT, e.to_string())
        }
    })?;
    tx.commit().await?;
    if let Started::New(run) = &started {
        tracing::info!(run = %run.id, scenario = %scenario_id, "drill run started from the page");
    }
    Ok(Redirect::to(&format!("/ui/drills/runs/{}", started.run().id)).into_response())
}

fn step_what(action: Option<&Action>) -> String {
    match action {
        Some(Action::Alert { labels, .. }) => format!(
            "Alert {} fires",
            labels.get("alertname").map_or("", String::as_str)
        ),
        Some(Action::ResolveAlert { alertname }) => format!("Alert {alertname} resolves"),
        Some(Action::Hint { text }) => format!("Hint: {text}"),
        Some(Action::Update { text }) => format!("Update: {text}"),
        Some(Action::Severity { severity }) => format!("Severity becomes {severity}"),
        None => "(no longer in the scenario)".to_owned(),
    }
}

fn expectation(e: &ExpectationScore) -> ExpectationItem {
    let measured = e
        .measured_seconds
        .map_or_else(|| "did not happen".to_owned(), duration);
    let compared = e.previous_seconds.map(|before| {
        let before = duration(before);
        match e.trend {
            Some(Trend::Faster) => format!("faster than {before}"),
            Some(Trend::Slower) => format!("slower than {before}"),
            Some(Trend::Same) => format!("as fast as {before}"),
            None => format!("{before} before"),
        }
    });
    ExpectationItem {
        name: e.expectation.label().to_owned(),
        outcome: if e.met { "met" } else { "missed" }.to_owned(),
        measured,
        target: e.target_seconds.map_or_else(
            || "before the run ends".to_owned(),
            |t| format!("within {}", duration(t)),
        ),
        sla: e.sla_target_seconds.map(|t| {
            format!(
                "{} ({})",
                duration(t),
                if e.met_sla == Some(true) {
                    "met"
                } else {
                    "missed"
                }
            )
        }),
        compared,
    }
}

async fn run_page(
    conn: &mut PgConnection,
    session: &WebSession,
    run: RunRow,
) -> Result<Response, PageError> {
    let ws = session.auth.workspace_id;
    let steps = store::steps(conn, run.id).await?;
    let incidents: Vec<Uuid> = run.incident_id.into_iter().collect();
    let refs = references(store::incident_numbers(conn, ws, &incidents).await?);
    let scenario = crate::drill::scenario_of(&run.scenario).ok();
    let started_by = match run.started_by {
        Some(user) => store::user_name(conn, ws, user).await?,
        None => None,
    };
    let score = score_of(run.score.as_ref());
    let steps = steps
        .into_iter()
        .map(|s| {
            let action = scenario.as_ref().and_then(|sc| {
                usize::try_from(s.step_index)
                    .ok()
                    .and_then(|i| sc.steps.get(i))
                    .map(|step| &step.action)
            });
            StepItem {
                number: s.step_index + 1,
                what: step_what(action),
                state: match (&s.done_at, &s.failure) {
                    (None, _) => "pending",
                    (Some(_), None) => "played",
                    (Some(_), Some(_)) => "failed",
                }
                .to_owned(),
                due: When::of(s.due_at),
                done: s.done_at.map(When::of),
                failure: s.failure,
            }
        })
        .collect();
    let page = RunPage {
        shell: Shell::signed_in(
            format!("Drill run {}", run.scenario_name),
            session,
            Section::Drills,
        ),
        run: run_item(&run, &refs),
        deadline: When::of(run.ends_at),
        started_by,
        steps,
        expectations: score
            .as_ref()
            .map(|s| s.expectations.iter().map(expectation).collect())
            .unwrap_or_default(),
        previous_run: score
            .as_ref()
            .and_then(|s| s.previous_run_id)
            .map(|id| id.to_string()),
        can_cancel: run.state == "running" && session.may(AccessRole::Responder),
    };
    Ok(render(&page))
}

/// `GET /ui/drills/runs/{id}`: one run.
pub async fn run(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: Uuid = id.parse().map_err(|_| PageError::missing())?;
    let mut conn = state.pool.acquire().await?;
    let run = store::run(&mut conn, session.auth.workspace_id, id)
        .await?
        .ok_or_else(PageError::missing)?;
    run_page(&mut conn, &session, run).await
}

/// The "Cancel run" form (its CSRF token only).
#[derive(Debug, Deserialize)]
pub struct CancelForm {}

/// `POST /ui/drills/runs/{id}/cancel`: cancels a running run, then shows it.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: VerifiedForm<CancelForm>,
) -> Result<Response, PageError> {
    let VerifiedForm { session, .. } = posted;
    let id: Uuid = id.parse().map_err(|_| PageError::missing())?;
    let ws = session.auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    // Another workspace's run is a 404 before the role is judged, as in the API.
    store::run(&mut conn, ws, id)
        .await?
        .ok_or_else(PageError::missing)?;
    require_responder(&session)?;
    let mut tx = conn.begin().await?;
    match runner::cancel(&mut tx, ws, id).await {
        Ok(_) => tx.commit().await?,
        Err(CancelRefused::NotFound) => return Err(PageError::missing()),
        Err(CancelRefused::Ended(state)) => {
            return Err(PageError(
                StatusCode::CONFLICT,
                format!("The run has ended ({state}); there is nothing to cancel."),
            ));
        }
        Err(CancelRefused::Database(e)) => return Err(e.into()),
    }
    tracing::info!(run = %id, "drill run cancelled from the page");
    Ok(Redirect::to(&format!("/ui/drills/runs/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(125), "2m 05s");
        assert_eq!(duration(3600), "1h 00m");
        assert_eq!(duration(5430), "1h 30m");
    }
}
