//! `POST /webhooks/{alertmanager|grafana|grafana_oncall|generic}/{integration}`: alerts
//! in (PagerDuty's events: [`super::pagerduty`]).
//!
//! In order: the integration must exist and be of the webhook's kind (404), the secret
//! must be given, as `Authorization: Bearer <secret>` or `?token=<secret>`, and be its
//! secret (401), the integration must be enabled (403), all checked by the
//! [`IntegrationAuth`] extractor; only then is the body read (at
//! most [`super::BODY_LIMIT`], else 413) and parsed (400 when not JSON, 422 naming the
//! field when of the wrong shape). The notification is then committed in one
//! transaction, alerts, groups and the messages they cause, and answered 202: an alert
//! answered 2xx is durable. Incidents are declared by core from the commands this
//! transaction wrote, never while the source waits.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use chrono::Utc;
use incident_schema::{AlertGroupStatus, Integration, IntegrationKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::integration_auth::{
    AlertmanagerHook, GenericHook, GrafanaHook, GrafanaOnCallHook, IntegrationAuth, WebhookKind,
};
use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::ingest::{self, Decision, IngestOutcome};
use crate::source::{
    self, alertmanager::AlertmanagerPayload, generic::GenericPayload, grafana::GrafanaPayload,
    grafana_oncall::GrafanaOnCallPayload,
};
use incident_runtime::api::problem::Problem;

/// The query a webhook URL may carry.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The integration's secret, for sources that cannot send a header.
    pub token: Option<String>,
}

/// What a webhook answers: the notification is committed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// Alerts in the notification.
    pub accepted: usize,
    /// Alerts seen for the first time.
    pub new_alerts: usize,
    /// Stored alerts it changed.
    pub updated_alerts: usize,
    /// Notifications older than what was stored (counted only).
    pub stale_notifications: usize,
    /// The groups it touched.
    pub alert_groups: Vec<AcceptedGroup>,
}

/// A group a notification touched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcceptedGroup {
    /// Its id (`GET /api/v1/alert-groups/{id}` explains it).
    pub id: Uuid,
    /// Its key.
    pub group_key: String,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Opened by this notification.
    pub opened: bool,
    /// Resolved by this notification.
    pub resolved: bool,
    /// What it decided.
    pub decision: Decision,
}

impl From<&IngestOutcome> for Accepted {
    fn from(o: &IngestOutcome) -> Self {
        Self {
            accepted: o.alerts,
            new_alerts: o.new_alerts,
            updated_alerts: o.updated_alerts,
            stale_notifications: o.stale_notifications,
            alert_groups: o
                .alert_groups
                .iter()
                .map(|g| AcceptedGroup {
                    id: g.id,
                    group_key: g.group_key.clone(),
                    status: g.status,
                    opened: g.opened,
                    resolved: g.resolved,
                    decision: g.decision,
                })
                .collect(),
        }
    }
}

/// Reads the body within the limit.
pub(crate) async fn body(request: Request, state: &AppState) -> Result<Bytes, IngestError> {
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngestError::PayloadTooLarge(super::BODY_LIMIT)
        } else {
            IngestError::Malformed(format!("cannot read the body: {}", e.body_text()))
        }
    })
}

/// Logs a webhook's failure: a client's mistake (a malformed or invalid body, a wrong
/// secret, an unknown or disabled integration, too large a body) at WARN, since nothing is
/// wrong with us; anything else at ERROR.
pub(super) fn log_failure(kind: IntegrationKind, id: &str, e: &ApiError) {
    let status = e.status();
    let route = format!("/webhooks/{}/{{integration}}", kind.as_str().to_lowercase());
    if status.is_client_error() {
        tracing::warn!(integration_id = %id, kind = %kind, %route, status = status.as_u16(), error = %e, "webhook refused");
    } else {
        tracing::error!(integration_id = %id, kind = %kind, %route, status = status.as_u16(), error = %e, "webhook failed");
    }
}

/// Receives one notification for an authenticated integration and logs its failure.
async fn receive<K: WebhookKind>(
    state: AppState,
    auth: IntegrationAuth<K>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let integration = auth.integration;
    let result = receive_notification(state, &integration, request).await;
    if let Err(e) = &result {
        log_failure(K::KIND, &integration.id.to_string(), e);
    }
    result
}

async fn receive_notification(
    state: AppState,
    integration: &Integration,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let kind = integration.kind;
    let bytes = body(request, &state).await?;
    let notification = source::parse(kind, &bytes, Utc::now()).inspect_err(|e| {
        metrics::counter!(incident_runtime::metrics::INGESTION_REJECTED, "reason" => rejection(e)).increment(1);
    })?;
    let outcome = ingest::ingest_committed(&state.pool, integration, &notification).await?;
    ingest::record_metrics(&outcome, "http");
    Ok((StatusCode::ACCEPTED, Json(Accepted::from(&outcome))))
}

pub(super) fn rejection(e: &IngestError) -> &'static str {
    match e {
        IngestError::Validation { .. } => "invalid",
        IngestError::Malformed(_) => "malformed",
        IngestError::NotFound(_) => "unknown_integration",
        IngestError::Unauthorized(_) => "unauthorized",
        IngestError::Disabled => "disabled",
        IngestError::PayloadTooLarge(_) => "too_large",
        IngestError::Conflict(_) | IngestError::Database(_) => "error",
    }
}

/// Alerts from Prometheus Alertmanager.
///
/// Point an Alertmanager `webhook_configs` receiver at this URL (with the secret as
/// `http_config.authorization.credentials`, or `?token=`). Accepts version 4 of the
/// payload exactly as Alertmanager sends it, batches included.
#[utoipa::path(
    post, path = "/webhooks/alertmanager/{integration}", operation_id = "receive_alertmanager", tag = "webhooks",
    request_body = AlertmanagerPayload,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %auth.integration.id, kind = "alertmanager"))]
pub async fn alertmanager(
    State(state): State<AppState>,
    auth: IntegrationAuth<AlertmanagerHook>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    receive(state, auth, request).await
}

/// Alerts from Grafana Alerting.
///
/// Point a Grafana webhook contact point at this URL (with the secret as its
/// authorization credentials, or `?token=`).
#[utoipa::path(
    post, path = "/webhooks/grafana/{integration}", operation_id = "receive_grafana", tag = "webhooks",
    request_body = GrafanaPayload,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %auth.integration.id, kind = "grafana"))]
pub async fn grafana(
    State(state): State<AppState>,
    auth: IntegrationAuth<GrafanaHook>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    receive(state, auth, request).await
}

/// Alerts from Grafana OnCall's formatted webhook.
///
/// `alert_uid` identifies the alert, `state: "alerting"` fires it and `state: "ok"`
/// resolves it; only `title` is required. Point an OnCall outgoing webhook at this URL
/// (with the secret as its `Authorization: Bearer` header, or `?token=`).
#[utoipa::path(
    post, path = "/webhooks/grafana_oncall/{integration}", operation_id = "receive_grafana_oncall", tag = "webhooks",
    request_body = GrafanaOnCallPayload,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %auth.integration.id, kind = "grafana_oncall"))]
pub async fn grafana_oncall(
    State(state): State<AppState>,
    auth: IntegrationAuth<GrafanaOnCallHook>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    receive(state, auth, request).await
}

/// Alerts in the generic shape, from anything that can send JSON.
///
/// The body is one alert or `{"alerts": [...]}`; only `title` is required. `dedup_key`
/// identifies an alert across notifications, `group_key` groups alerts, `severity` and
/// `service` become labels declare rules match on.
#[utoipa::path(
    post, path = "/webhooks/generic/{integration}", operation_id = "receive_generic", tag = "webhooks",
    request_body = GenericPayload,
    params(("integration" = Uuid, Path, description = "The integration's id"), TokenQuery),
    security(("integration_secret" = [])),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(integration_id = %auth.integration.id, kind = "generic"))]
pub async fn generic(
    State(state): State<AppState>,
    auth: IntegrationAuth<GenericHook>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    receive(state, auth, request).await
}
