//! PagerDuty's Events API v2 in: `POST /webhooks/pagerduty/{integration}`, and
//! `POST /webhooks/pagerduty/v2/enqueue`, where the routing key alone names the
//! integration (PagerDuty clients are configured with a URL override and a routing key,
//! nothing else: Alertmanager's `pagerduty_configs` `url` and `routing_key`, say).
//!
//! The secret is the event's `routing_key`, or, as on every webhook, `Authorization:
//! Bearer <secret>` or `?token=<secret>` (which win when given). Because the body carries
//! it, the body is read (at most [`super::BODY_LIMIT`]) before the secret is checked; then
//! the same order as the other webhooks: unknown integration 404, missing or wrong secret
//! 401, disabled 403, not JSON 400, a wrong shape 422 naming the field.
//!
//! Answers as PagerDuty does, `202 {"status": "success", "message": "Event processed",
//! "dedup_key": …}` (with our webhook answer's counts and groups beside them). Errors stay
//! `application/problem+json` with their stable `type`, and carry PagerDuty's `message`
//! and `errors` as extension members, so both kinds of client understand them. PagerDuty's
//! string `status` ("invalid event") cannot be one: RFC 9457 gives `status` to the HTTP
//! status number.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use incident_runtime::api::problem::{Problem, ToProblem as _};
use incident_schema::{Integration, IntegrationKind};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::integration_auth::secret;
use super::webhooks::{Accepted, TokenQuery, body, log_failure, rejection};
use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::ingest;
use crate::integration;
use crate::source::{self, pagerduty::PagerDutyAction, pagerduty::PagerDutyEvent};

const KIND: IntegrationKind = IntegrationKind::Pagerduty;

/// PagerDuty's answer to an accepted event, with ours beside it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PagerDutyAccepted {
    /// `success`.
    pub status: &'static str,
    /// `Event processed`.
    pub message: &'static str,
    /// The event's alert key (generated for a trigger without one).
    pub dedup_key: String,
    /// What the event changed, as every webhook answers.
    #[serde(flatten)]
    pub outcome: Accepted,
}

/// A refusal: the problem, with PagerDuty's `message` and `errors` members.
#[derive(Debug)]
pub struct PagerDutyError(ApiError);

impl From<ApiError> for PagerDutyError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<IngestError> for PagerDutyError {
    fn from(e: IngestError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PagerDutyError {
    fn into_response(self) -> Response {
        let mut problem = match self.0 {
            ApiError::Domain(e) => e.problem(),
            ApiError::Problem(p) => p,
        };
        // PagerDuty's wording for a refused event, so its clients log what they expect.
        let message = match problem.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                "Event object is invalid".to_owned()
            }
            _ => problem.problem.title.clone(),
        };
        let error = match &problem.problem.field {
            Some(field) => format!("{field}: {}", problem.problem.detail),
            None => problem.problem.detail.clone(),
        };
        problem.extend("message", message);
        problem.extend("errors", json!([error]));
        problem.into_response()
    }
}

/// Which integration a request addresses.
enum Target {
    /// `/webhooks/pagerduty/{integration}`.
    Id(String),
    /// `/webhooks/pagerduty/v2/enqueue`: the one whose secret the routing key is.
    RoutingKey,
}

/// Events from PagerDuty Events API v2 clients, for one integration.
///
/// The body is one event (`trigger`, `acknowledge` or `resolve`); its `routing_key` is
/// the integration's secret (or send the secret as a bearer token or `?token=`).
#[utoipa::path(
    post, path = "/webhooks/pagerduty/{integration}", operation_id = "receive_pagerduty", tag = "webhooks",
    request_body = PagerDutyEvent,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security((), ("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = PagerDutyAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %id, kind = "pagerduty"))]
pub async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<PagerDutyAccepted>), PagerDutyError> {
    handle(state, Target::Id(id), request).await
}

/// Events from PagerDuty Events API v2 clients, found by their routing key.
///
/// Point a PagerDuty client's events URL here (Alertmanager: `pagerduty_configs` with
/// `url: https://<host>/webhooks/pagerduty/v2/enqueue`) and set its routing key to the
/// integration's secret.
#[utoipa::path(
    post, path = "/webhooks/pagerduty/v2/enqueue", operation_id = "enqueue_pagerduty", tag = "webhooks",
    request_body = PagerDutyEvent,
    params(TokenQuery),
    security((), ("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = PagerDutyAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(kind = "pagerduty"))]
pub async fn enqueue(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<PagerDutyAccepted>), PagerDutyError> {
    handle(state, Target::RoutingKey, request).await
}

/// Receives one event, counting and logging its refusal.
async fn handle(
    state: AppState,
    target: Target,
    request: Request,
) -> Result<(StatusCode, Json<PagerDutyAccepted>), PagerDutyError> {
    let id = match &target {
        Target::Id(id) => id.clone(),
        Target::RoutingKey => "(by routing key)".to_owned(),
    };
    let result = receive_event(state, target, request).await;
    if let Err(e) = &result {
        if let ApiError::Domain(domain) = e {
            metrics::counter!(incident_runtime::metrics::INGESTION_REJECTED, "reason" => rejection(domain)).increment(1);
        }
        log_failure(KIND, &id, e);
    }
    Ok(result?)
}

async fn receive_event(
    state: AppState,
    target: Target,
    request: Request,
) -> Result<(StatusCode, Json<PagerDutyAccepted>), ApiError> {
    let id = match &target {
        Target::Id(id) => Some(
            id.parse::<Uuid>()
                .map_err(|_| IngestError::NotFound("integration"))?,
        ),
        Target::RoutingKey => None,
    };
    let given = secret(request.headers(), request.uri());
    let bytes = body(request, &state).await?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| IngestError::Malformed(e.to_string()))?;
    let secret = given.or_else(|| source::pagerduty::routing_key(&value));
    let integration = authenticate(&state, id, secret.as_deref()).await?;
    let event = source::parse_pagerduty(&value, Utc::now())?;
    let outcome = match event.action {
        PagerDutyAction::Acknowledge => {
            ingest::acknowledge(&state.pool, &integration, &event.dedup_key).await?
        }
        PagerDutyAction::Trigger | PagerDutyAction::Resolve => {
            ingest::ingest_committed(&state.pool, &integration, &event.notification).await?
        }
    };
    ingest::record_metrics(&outcome, "http");
    Ok((
        StatusCode::ACCEPTED,
        Json(PagerDutyAccepted {
            status: "success",
            message: "Event processed",
            dedup_key: event.dedup_key,
            outcome: Accepted::from(&outcome),
        }),
    ))
}

/// The integration addressed by `id` (or, without one, by the secret alone).
async fn authenticate(
    state: &AppState,
    id: Option<Uuid>,
    secret: Option<&str>,
) -> Result<Integration, IngestError> {
    let mut conn = state.pool.acquire().await?;
    match id {
        None => integration::authenticate_by_secret(&mut conn, KIND, secret).await,
        Some(id) => {
            if secret.is_none() {
                // Unknown integrations are 404 before anything else, as on every webhook.
                integration::store::find(&mut conn, id)
                    .await?
                    .filter(|i| i.kind == KIND)
                    .ok_or(IngestError::NotFound("integration"))?;
                return Err(IngestError::Unauthorized(
                    "missing integration secret: send it as the event's `routing_key`, as `Authorization: Bearer <secret>` or as `?token=<secret>`",
                ));
            }
            integration::authenticate(&mut conn, id, KIND, secret).await
        }
    }
}
