//! Opsgenie's Alert API in: create (`POST …/v2/alerts`) and close
//! (`POST …/v2/alerts/{identifier}/close?identifierType=alias`), under
//! `/webhooks/opsgenie/{integration}` or, where the key alone names the integration,
//! `/webhooks/opsgenie` (an Opsgenie client's API URL: Alertmanager's `opsgenie_configs`
//! `api_url: https://<host>/webhooks/opsgenie/`).
//!
//! The secret is Opsgenie's `Authorization: GenieKey <key>` (or, as on every webhook,
//! `Authorization: Bearer <secret>` or `?token=<secret>`), checked before the body is
//! read: unknown integration 404, missing or wrong secret 401, disabled 403, then not
//! JSON 400 and a wrong shape 422 naming the field. Only `identifierType=alias` closes
//! (our alerts are known by their alias; Opsgenie's own ids are never issued).
//!
//! Answers as Opsgenie does, `202 {"result": "Request will be processed", "took": …,
//! "requestId": …}` (with our webhook answer's counts and groups beside them); errors
//! are problems that also carry Opsgenie's `message`, `took` and `requestId`.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use incident_runtime::api::problem::{Problem, ToProblem as _};
use incident_schema::{Integration, IntegrationKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::integration_auth::secret;
use super::webhooks::{Accepted, TokenQuery, body, log_failure, rejection};
use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::ingest;
use crate::integration;
use crate::source::{
    self,
    opsgenie::{OpsgenieAlert, OpsgenieClose},
};

const KIND: IntegrationKind = IntegrationKind::Opsgenie;

/// Opsgenie's answer to an accepted request, with ours beside it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpsgenieAccepted {
    /// `Request will be processed`.
    pub result: &'static str,
    /// Seconds it took.
    pub took: f64,
    /// The request's id.
    #[serde(rename = "requestId")]
    pub request_id: Uuid,
    /// What the request changed, as every webhook answers.
    #[serde(flatten)]
    pub outcome: Accepted,
}

/// The query of a close.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CloseQuery {
    /// How `{identifier}` names the alert: `alias` (the only one accepted).
    #[serde(rename = "identifierType")]
    #[param(rename = "identifierType")]
    pub identifier_type: Option<String>,
}

/// A refusal: the problem, with Opsgenie's `message`, `took` and `requestId` members.
#[derive(Debug)]
pub struct OpsgenieError(ApiError);

impl From<ApiError> for OpsgenieError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for OpsgenieError {
    fn into_response(self) -> Response {
        let mut problem = match self.0 {
            ApiError::Domain(e) => e.problem(),
            ApiError::Problem(p) => p,
        };
        let message = match &problem.problem.field {
            Some(field) => format!("{field}: {}", problem.problem.detail),
            None => problem.problem.detail.clone(),
        };
        problem.extend("message", message);
        problem.extend("took", json!(0.0));
        problem.extend("requestId", Uuid::new_v4().to_string());
        problem.into_response()
    }
}

type Answer = Result<(StatusCode, Json<OpsgenieAccepted>), OpsgenieError>;

/// What a request asks for.
enum Action {
    Create,
    Close(String, Option<String>),
}

/// Creates (or, by its alias, updates) an alert of one integration.
#[utoipa::path(
    post, path = "/webhooks/opsgenie/{integration}/v2/alerts", operation_id = "create_opsgenie_alert", tag = "webhooks",
    request_body = OpsgenieAlert,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = OpsgenieAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %id, kind = "opsgenie"))]
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Answer {
    handle(state, Some(id), Action::Create, request).await
}

/// Closes the alert of an alias, of one integration.
#[utoipa::path(
    post, path = "/webhooks/opsgenie/{integration}/v2/alerts/{identifier}/close", operation_id = "close_opsgenie_alert", tag = "webhooks",
    request_body(content = OpsgenieClose, description = "Optional"),
    params(("integration" = Uuid, Path, description = "The integration's id"),
           ("identifier" = String, Path, description = "The alert's alias"), CloseQuery, TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = OpsgenieAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %id, kind = "opsgenie"))]
pub async fn close(
    State(state): State<AppState>,
    Path((id, identifier)): Path<(String, String)>,
    Query(query): Query<CloseQuery>,
    request: Request,
) -> Answer {
    let action = Action::Close(identifier, query.identifier_type);
    handle(state, Some(id), action, request).await
}

/// Creates (or, by its alias, updates) an alert of the integration whose key is sent.
#[utoipa::path(
    post, path = "/webhooks/opsgenie/v2/alerts", operation_id = "create_opsgenie_alert_by_key", tag = "webhooks",
    request_body = OpsgenieAlert,
    params(TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = OpsgenieAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(kind = "opsgenie"))]
pub async fn create_by_key(State(state): State<AppState>, request: Request) -> Answer {
    handle(state, None, Action::Create, request).await
}

/// Closes the alert of an alias, of the integration whose key is sent.
#[utoipa::path(
    post, path = "/webhooks/opsgenie/v2/alerts/{identifier}/close", operation_id = "close_opsgenie_alert_by_key", tag = "webhooks",
    request_body(content = OpsgenieClose, description = "Optional"),
    params(("identifier" = String, Path, description = "The alert's alias"), CloseQuery, TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = OpsgenieAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(kind = "opsgenie"))]
pub async fn close_by_key(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(query): Query<CloseQuery>,
    request: Request,
) -> Answer {
    let action = Action::Close(identifier, query.identifier_type);
    handle(state, None, action, request).await
}

/// Receives one request, counting and logging its refusal.
async fn handle(state: AppState, id: Option<String>, action: Action, request: Request) -> Answer {
    let started = Instant::now();
    let label = id.clone().unwrap_or_else(|| "(by key)".to_owned());
    let result = receive(state, id, action, request, started).await;
    if let Err(e) = &result {
        if let ApiError::Domain(domain) = e {
            metrics::counter!(incident_runtime::metrics::INGESTION_REJECTED, "reason" => rejection(domain)).increment(1);
        }
        log_failure(KIND, &label, e);
    }
    Ok(result?)
}

async fn receive(
    state: AppState,
    id: Option<String>,
    action: Action,
    request: Request,
    started: Instant,
) -> Result<(StatusCode, Json<OpsgenieAccepted>), ApiError> {
    let id = id
        .map(|id| id.parse::<Uuid>())
        .transpose()
        .map_err(|_| IngestError::NotFound("integration"))?;
    let key = genie_key(request.headers()).or_else(|| secret(request.headers(), request.uri()));
    let integration = authenticate(&state, id, key.as_deref()).await?;
    let bytes = body(request, &state).await?;
    let now = Utc::now();
    let notification = match action {
        Action::Create => source::parse(KIND, &bytes, now)?,
        Action::Close(identifier, kind) => {
            if !kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("alias"))
            {
                return Err(IngestError::invalid(
                    "identifierType",
                    "only identifierType=alias is accepted: alerts are known by their alias",
                )
                .into());
            }
            source::parse_opsgenie_close(&identifier, &close_body(&bytes)?, now)?
        }
    };
    let outcome = ingest::ingest_committed(&state.pool, &integration, &notification).await?;
    ingest::record_metrics(&outcome, "http");
    Ok((
        StatusCode::ACCEPTED,
        Json(OpsgenieAccepted {
            result: "Request will be processed",
            took: started.elapsed().as_secs_f64(),
            request_id: Uuid::new_v4(),
            outcome: Accepted::from(&outcome),
        }),
    ))
}

/// A close's body: optional (empty is none), else JSON.
fn close_body(bytes: &Bytes) -> Result<Value, IngestError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| IngestError::Malformed(e.to_string()))
}

/// The key of `Authorization: GenieKey <key>`.
fn genie_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("GenieKey") && !key.is_empty()).then(|| key.to_owned())
}

/// The integration addressed by `id` (or, without one, by its key alone).
async fn authenticate(
    state: &AppState,
    id: Option<Uuid>,
    key: Option<&str>,
) -> Result<Integration, IngestError> {
    let mut conn = state.pool.acquire().await?;
    match id {
        None => integration::authenticate_by_secret(&mut conn, KIND, key).await,
        Some(id) => integration::authenticate(&mut conn, id, KIND, key).await,
    }
}
