//! The watchdog's HTTP API: drills under `/api/v1/drills` (issue 11). Thin adapters that
//! authenticate ([`Auth`]: every query scoped by its workspace, so another workspace's
//! scenario or run answers 404), parse, call one function of [`crate::drill`] and map the
//! result onto problem+json ([`DrillError`]).
//!
//! Roles, as the other services have them: any token of the workspace (viewer included)
//! reads; uploading, replacing and deleting scenarios, starting and cancelling runs need
//! the responder role ([`Responder`], refused with 403 before the body is read).
//!
//! A scenario is uploaded as the TOML file itself (`text/plain` or `application/toml`,
//! with `name` and `schedule` in the query string) or as JSON `{"source", "name",
//! "schedule"}`; a file that does not parse answers 422 with `field` and the extension
//! member `line` (the file's line, 0 for the whole file), and nothing is stored. The name
//! defaults to the scenario's title. The OpenAPI fragment is served at [`OPENAPI_PATH`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use incident_runtime::api::auth::{Auth, Responder};
use incident_runtime::api::openapi::BearerAuth;
use incident_runtime::api::problem::{self, ApiProblem, Code, Problem, ToProblem};
use incident_schema::drill::ScenarioError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Connection as _, PgConnection};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::drill::runner;
use crate::drill::scenario::{self, ScenarioRefused};
use crate::drill::store::{self, RunRow, ScenarioRow, StepRow};

/// Where the fragment is served.
pub const OPENAPI_PATH: &str = "/api/v1/drills/openapi.json";

/// Largest accepted request body: a scenario file ([`incident_schema::drill::MAX_SOURCE`])
/// with room for its JSON escaping.
pub const BODY_LIMIT: usize = 4 * incident_schema::drill::MAX_SOURCE;

/// Why a drill request failed, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The scenario file does not parse (422 naming `field` and `line`).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A field is missing, malformed or out of range (422).
    #[error("{field}: {message}")]
    Validation {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Not in the caller's workspace (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with what is stored: a name taken, a run already ended (409).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl DrillError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ScenarioRefused> for DrillError {
    fn from(refused: ScenarioRefused) -> Self {
        match refused {
            ScenarioRefused::Invalid(e) => Self::Scenario(e),
            ScenarioRefused::Schedule(message) => Self::invalid("schedule", message),
            ScenarioRefused::Name => Self::invalid("name", "must be 1 to 100 characters"),
            e @ ScenarioRefused::NameTaken(_) => Self::Conflict(e.to_string()),
            ScenarioRefused::NotFound => Self::NotFound("scenario"),
            ScenarioRefused::Database(e) => Self::Database(e),
        }
    }
}

impl From<runner::StartRefused> for DrillError {
    fn from(refused: runner::StartRefused) -> Self {
        match refused {
            runner::StartRefused::NotFound(_) => Self::NotFound("scenario"),
            runner::StartRefused::Invalid(e) => Self::Scenario(e),
            e @ runner::StartRefused::KeyTaken => Self::Conflict(e.to_string()),
            runner::StartRefused::Database(e) => Self::Database(e),
        }
    }
}

impl From<crate::drill::runner::RunnerError> for DrillError {
    fn from(e: crate::drill::runner::RunnerError) -> Self {
        match e {
            crate::drill::runner::RunnerError::Database(e) => Self::Database(e),
            crate::drill::runner::RunnerError::Message(m) => {
                Self::Database(sqlx::Error::Protocol(m))
            }
        }
    }
}

/// The problem table of the drill API.
impl ToProblem for DrillError {
    fn code(&self) -> Code {
        match self {
            Self::Scenario(_) | Self::Validation { .. } => Code::Validation,
            Self::NotFound(_) => Code::NotFound,
            Self::Conflict(_) => Code::Conflict,
            Self::Database(e) => Code::of_database(e),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }

    fn extend(&self, p: &mut ApiProblem) {
        match self {
            Self::Scenario(e) => {
                p.problem.field = Some(e.field.clone());
                p.extend("line", e.line);
            }
            Self::Validation { field, .. } => p.problem.field = Some(field.clone()),
            _ => {}
        }
    }
}

/// An HTTP error of the drill API.
pub type ApiError = problem::ApiError<DrillError>;

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(title = "incident drills", description = "Drill scenarios (TOML files a team keeps in git), their runs and the steps each run plays (the SLA watchdog)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

/// The routes and the OpenAPI fragment describing them.
pub fn routes() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_scenarios, create_scenario))
        .routes(routes!(get_scenario, put_scenario, delete_scenario))
        .routes(routes!(list_runs, start_run))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
        .split_for_parts();
    incident_runtime::api::openapi::finish(&mut doc);
    (router, doc)
}

/// The full router, the OpenAPI fragment included.
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = routes();
    incident_runtime::api::openapi::serve_document(api, OPENAPI_PATH, doc, BODY_LIMIT)
        .with_state(state)
}

/// The OpenAPI fragment (for the whole document the stack merges).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// A path id: another workspace's id and a malformed one both answer 404.
fn parse_id(key: &str, what: &'static str) -> Result<Uuid, DrillError> {
    key.parse().map_err(|_| DrillError::NotFound(what))
}

/// A scenario as JSON: the file and how it is stored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioBody {
    /// The scenario file (TOML, at most 64 KiB).
    pub source: String,
    /// Its name, unique in the workspace (1 to 100 characters; default: its title).
    /// Ignored when replacing: a scenario keeps its name.
    #[serde(default)]
    pub name: Option<String>,
    /// A 6-field cron expression (UTC) to run it on; none: started by hand only.
    #[serde(default)]
    pub schedule: Option<String>,
}

/// Query parameters of a scenario uploaded as the file itself.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScenarioQuery {
    /// Its name (with a `text/plain` or `application/toml` body; default: its title).
    pub name: Option<String>,
    /// Its cron schedule (with a `text/plain` or `application/toml` body).
    pub schedule: Option<String>,
}

/// Reads a scenario upload: JSON, or the file itself.
fn scenario_body(
    headers: &HeaderMap,
    query: ScenarioQuery,
    body: &Bytes,
) -> Result<ScenarioBody, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => Ok(incident_runtime::api::json::parse::<ScenarioBody>(body)?),
        "text/plain" | "application/toml" | "text/toml" => {
            let source = std::str::from_utf8(body)
                .map_err(|_| DrillError::invalid("source", "the file is not UTF-8"))?;
            Ok(ScenarioBody {
                source: source.to_owned(),
                name: query.name,
                schedule: query.schedule,
            })
        }
        other => Err(ApiProblem::new(
            Code::UnsupportedMediaType,
            format!(
                "a scenario is sent as text/plain or application/toml (the file) or \
                 application/json ({{\"source\": ...}}), not {:?}",
                if other.is_empty() {
                    "no Content-Type"
                } else {
                    other
                }
            ),
        )
        .into()),
    }
}

fn check_text(field: &str, value: &str) -> Result<(), DrillError> {
    if value.contains('\0') {
        return Err(DrillError::invalid(
            field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

/// A blank schedule is none.
fn schedule_of(body: &ScenarioBody) -> Result<Option<&str>, DrillError> {
    let schedule = body
        .schedule
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(s) = schedule {
        check_text("schedule", s)?;
    }
    Ok(schedule)
}

/// The workspace's drill scenarios, by name.
#[utoipa::path(
    get, path = "/api/v1/drills/scenarios", operation_id = "list_drill_scenarios", tag = "drills",
    responses((status = 200, body = Vec<ScenarioRow>), (status = 401, body = Problem))
)]
pub async fn list_scenarios(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<ScenarioRow>>> {
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    Ok(Json(store::scenarios(&mut conn, auth.workspace_id).await?))
}

/// Upload a drill scenario (responder).
///
/// The body is the TOML file (`text/plain` or `application/toml`, `name` and `schedule`
/// in the query string) or JSON `{"source", "name", "schedule"}`. A file that does not
/// parse answers 422 naming `field` and `line`; nothing is stored.
#[utoipa::path(
    post, path = "/api/v1/drills/scenarios", operation_id = "create_drill_scenario", tag = "drills",
    params(ScenarioQuery),
    request_body(content(
        (ScenarioBody = "application/json"),
        (String = "text/plain"),
        (String = "application/toml"))),
    responses(
        (status = 201, body = ScenarioRow),
        (status = 403, body = Problem),
        (status = 409, description = "A scenario of the workspace has the name", body = Problem),
        (status = 415, body = Problem),
        (status = 422, description = "The file does not parse: `field` and `line` say where", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.0.workspace_id), err(Debug))]
pub async fn create_scenario(
    State(state): State<AppState>,
    auth: Responder,
    Query(query): Query<ScenarioQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ScenarioRow>)> {
    let body = scenario_body(&headers, query, &body)?;
    check_text("source", &body.source)?;
    let schedule = schedule_of(&body)?;
    let name = match body.name.as_deref() {
        Some(name) => name.to_owned(),
        None => {
            incident_schema::drill::parse(&body.source)
                .map_err(DrillError::from)?
                .title
        }
    };
    check_text("name", &name)?;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    let stored = scenario::create(
        &mut conn,
        auth.0.workspace_id,
        &name,
        &body.source,
        schedule,
    )
    .await
    .map_err(DrillError::from)?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Read a drill scenario.
#[utoipa::path(
    get, path = "/api/v1/drills/scenarios/{id}", operation_id = "get_drill_scenario", tag = "drills",
    params(("id" = String, Path, description = "Scenario id")),
    responses((status = 200, body = ScenarioRow), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_scenario(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ScenarioRow>> {
    let id = parse_id(&id, "scenario")?;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    let found = store::scenario(&mut conn, auth.workspace_id, id)
        .await?
        .ok_or(DrillError::NotFound("scenario"))?;
    Ok(Json(found))
}

/// Replace a drill scenario's file and schedule (responder); it keeps its name.
///
/// Runs in flight keep the scenario they started with. Same bodies and refusals as the
/// upload.
#[utoipa::path(
    put, path = "/api/v1/drills/scenarios/{id}", operation_id = "put_drill_scenario", tag = "drills",
    params(("id" = String, Path, description = "Scenario id"), ScenarioQuery),
    request_body(content(
        (ScenarioBody = "application/json"),
        (String = "text/plain"),
        (String = "application/toml"))),
    responses(
        (status = 200, body = ScenarioRow),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 415, body = Problem),
        (status = 422, description = "The file does not parse: `field` and `line` say where", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.0.workspace_id), err(Debug))]
pub async fn put_scenario(
    State(state): State<AppState>,
    auth: Responder,
    Path(id): Path<String>,
    Query(query): Query<ScenarioQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ScenarioRow>> {
    let id = parse_id(&id, "scenario")?;
    let body = scenario_body(&headers, query, &body)?;
    check_text("source", &body.source)?;
    let schedule = schedule_of(&body)?;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    // Another workspace's scenario answers 404 before its body is judged.
    store::scenario(&mut conn, auth.0.workspace_id, id)
        .await?
        .ok_or(DrillError::NotFound("scenario"))?;
    let stored = scenario::replace(&mut conn, auth.0.workspace_id, id, &body.source, schedule)
        .await
        .map_err(DrillError::from)?;
    Ok(Json(stored))
}

/// Delete a drill scenario (responder). Its runs are kept, with their copy of the
/// scenario and its name; their `scenario_id` becomes `null`.
#[utoipa::path(
    delete, path = "/api/v1/drills/scenarios/{id}", operation_id = "delete_drill_scenario", tag = "drills",
    params(("id" = String, Path, description = "Scenario id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.0.workspace_id), err(Debug))]
pub async fn delete_scenario(
    State(state): State<AppState>,
    auth: Responder,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "scenario")?;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    if !store::delete_scenario(&mut conn, auth.0.workspace_id, id).await? {
        return Err(DrillError::NotFound("scenario").into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A run with its script's steps.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: RunRow,
    /// The scenario as it was when the run started (`source`, `parsed`).
    #[schema(value_type = Object)]
    pub scenario: Value,
    /// Every step, in the script's order.
    pub steps: Vec<StepView>,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    /// Its index in the script.
    pub index: i32,
    /// What it does: `alert`, `resolve_alert`, `hint`, `update` or `severity`.
    pub kind: Option<String>,
    /// `pending`, `played` or `failed`.
    pub state: &'static str,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// When it was played or failed.
    pub done_at: Option<DateTime<Utc>>,
    /// Why it could not be played.
    pub failure: Option<String>,
}

impl StepView {
    fn of(step: StepRow, run: &RunRow) -> Self {
        let kind = usize::try_from(step.step_index).ok().and_then(|i| {
            run.scenario["parsed"]["steps"][i]["action"]["kind"]
                .as_str()
                .map(str::to_owned)
        });
        let state = match (&step.done_at, &step.failure) {
            (None, _) => "pending",
            (Some(_), None) => "played",
            (Some(_), Some(_)) => "failed",
        };
        Self {
            index: step.step_index,
            kind,
            state,
            due_at: step.due_at,
            done_at: step.done_at,
            failure: step.failure,
        }
    }
}

async fn view(conn: &mut PgConnection, run: RunRow) -> Result<RunView, DrillError> {
    let steps = store::steps(conn, run.id).await?;
    let steps = steps.into_iter().map(|s| StepView::of(s, &run)).collect();
    Ok(RunView {
        scenario: run.scenario.clone(),
        run,
        steps,
    })
}

/// What run to start.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The scenario to play.
    pub scenario_id: Uuid,
}

/// Start a run of a scenario now (responder): its steps are due from now on.
#[utoipa::path(
    post, path = "/api/v1/drills/runs", operation_id = "start_drill_run", tag = "drills",
    request_body = StartRun,
    responses(
        (status = 201, body = RunView),
        (status = 403, body = Problem),
        (status = 404, description = "No such scenario in the workspace", body = Problem),
        (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.0.workspace_id), err(Debug))]
pub async fn start_run(
    State(state): State<AppState>,
    auth: Responder,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let body: StartRun = incident_runtime::api::json::parse(&body)?;
    let workspace_id = auth.0.workspace_id;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    let mut tx = conn.begin().await.map_err(DrillError::from)?;
    let started = runner::start_now(
        &mut tx,
        workspace_id,
        body.scenario_id,
        None,
        auth.0.user_id,
    )
    .await
    .map_err(DrillError::from)?;
    let run = match started {
        runner::Started::New(run) => run,
        runner::Started::Existing(_) => {
            return Err(DrillError::Conflict("the run exists already".into()).into());
        }
    };
    let view = view(&mut tx, run).await?;
    tx.commit().await.map_err(DrillError::from)?;
    tracing::info!(run = %view.run.id, scenario = %body.scenario_id, "drill run started");
    Ok((StatusCode::CREATED, Json(view)))
}

/// Filters of the run listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only the runs of this scenario.
    #[param(value_type = Option<Uuid>)]
    pub scenario_id: Option<String>,
    /// Most runs to answer, 1 to 500 (default 100).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
}

/// The workspace's drill runs, newest first.
#[utoipa::path(
    get, path = "/api/v1/drills/runs", operation_id = "list_drill_runs", tag = "drills",
    params(RunQuery),
    responses((status = 200, body = Vec<RunRow>), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list_runs(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<RunQuery>,
) -> ApiResult<Json<Vec<RunRow>>> {
    let scenario_id = match query.scenario_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Uuid>()
                .map_err(|_| DrillError::invalid("scenario_id", "must be a scenario id"))?,
        ),
    };
    let limit = match query.limit.as_deref().map(str::trim) {
        None | Some("") => 100,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| DrillError::invalid("limit", "must be 1 to 500"))?,
    };
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    Ok(Json(
        store::runs(&mut conn, auth.workspace_id, scenario_id, limit).await?,
    ))
}

/// Read a drill run: its state and each step, when it was due and when it was played.
#[utoipa::path(
    get, path = "/api/v1/drills/runs/{id}", operation_id = "get_drill_run", tag = "drills",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let id = parse_id(&id, "run")?;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    let run = store::run(&mut conn, auth.workspace_id, id)
        .await?
        .ok_or(DrillError::NotFound("run"))?;
    Ok(Json(view(&mut conn, run).await?))
}

/// Cancel a running drill run (responder): it plays no further step.
///
/// It waits for a step being played to commit (the runner's lock on the run), so no step
/// is played after the answer. A run that has ended answers 409.
#[utoipa::path(
    post, path = "/api/v1/drills/runs/{id}/cancel", operation_id = "cancel_drill_run", tag = "drills",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, body = RunView),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "The run has ended", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.0.workspace_id), err(Debug))]
pub async fn cancel_run(
    State(state): State<AppState>,
    auth: Responder,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let id = parse_id(&id, "run")?;
    let workspace_id = auth.0.workspace_id;
    let mut conn = state.pool.acquire().await.map_err(DrillError::from)?;
    let mut tx = conn.begin().await.map_err(DrillError::from)?;
    let run = runner::cancel(&mut tx, workspace_id, id)
        .await
        .map_err(|e| match e {
            runner::CancelRefused::NotFound => DrillError::NotFound("run"),
            e @ runner::CancelRefused::Ended(_) => DrillError::Conflict(e.to_string()),
            runner::CancelRefused::Database(e) => DrillError::Database(e),
        })?;
    let view = view(&mut tx, run).await?;
    tx.commit().await.map_err(DrillError::from)?;
    tracing::info!(run = %id, "drill run cancelled");
    Ok(Json(view))
}
