//! `/api/v1/postmortem/tracker` (the workspace's Jira or Linear: anyone reads it without
//! its credential, admins set and remove it) and `/api/v1/action-items/{id}/export`
//! (file an item there).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use incident_runtime::api::auth::Auth;
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;
use incident_schema::AccessRole;

use super::{ApiResult, parse_id, readable_item};
use crate::AppState;
use crate::action_item::{ActionItemView, store};
use crate::error::DomainError;
use crate::tracker::{self, TrackerInput, TrackerView, export};

/// Read the workspace's issue tracker (never its credential).
#[utoipa::path(
    get, path = "/api/v1/postmortem/tracker", operation_id = "get_issue_tracker", tag = "postmortem settings",
    responses(
        (status = 200, body = TrackerView), (status = 401, body = Problem),
        (status = 404, description = "The workspace has no issue tracker", body = Problem),
    )
)]
pub async fn get_tracker(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<TrackerView>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(tracker::view(&mut conn, auth.workspace_id).await?))
}

/// Set the workspace's issue tracker (admin).
///
/// Jira (`kind: jira`): `base_url` (the site), `jira_flavor` `cloud` (REST v3, `username`
/// is the account's email and `credential` an API token) or `server` (REST v2, a personal
/// access token), `project` (key) and `issue_type` (default `Task`). Linear (`kind:
/// linear`): `credential` (an API key), `project` (the team's id). The credentials are
/// checked with the tracker first (422 naming `credential` when it refuses them, 502 when
/// it cannot be reached) and stored sealed; they are never shown again. `auto_export`
/// files every new action item. Needs `INCIDENT_SECRETS_KEY` (409 `not-configured`).
#[utoipa::path(
    put, path = "/api/v1/postmortem/tracker", operation_id = "put_issue_tracker", tag = "postmortem settings",
    request_body = TrackerInput,
    responses(
        (status = 200, body = TrackerView), (status = 403, body = Problem),
        (status = 409, description = "No INCIDENT_SECRETS_KEY to seal the credential with", body = Problem),
        (status = 422, body = Problem), (status = 502, description = "The tracker could not be reached", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn put_tracker(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<TrackerInput>,
) -> ApiResult<Json<TrackerView>> {
    auth.require(AccessRole::Admin)?;
    let view = tracker::configure(
        &state.pool,
        &state.trackers,
        auth.workspace_id,
        auth.user_id,
        &body,
    )
    .await?;
    Ok(Json(view))
}

/// Remove the workspace's issue tracker (admin). Filed items keep their links; nothing
/// more is filed or read.
#[utoipa::path(
    delete, path = "/api/v1/postmortem/tracker", operation_id = "delete_issue_tracker", tag = "postmortem settings",
    responses(
        (status = 204, description = "Removed"), (status = 403, body = Problem),
        (status = 404, description = "The workspace has no issue tracker", body = Problem),
    )
)]
pub async fn delete_tracker(State(state): State<AppState>, auth: Auth) -> ApiResult<StatusCode> {
    auth.require(AccessRole::Admin)?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    if tracker::remove(&mut conn, auth.workspace_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(DomainError::NotFound("issue tracker").into())
    }
}

/// File an action item in the workspace's issue tracker.
///
/// The request is stored first, then the issue is filed at once: 200 with the item and
/// its `tracker` link when that worked (or the item was filed before), 202 when the
/// tracker failed (`tracker.last_error` says why; it is retried with back-off and never
/// filed twice). Filing sets the item's `external_url` when it had none. Once filed, the
/// item is marked DONE when the tracker's issue is done (polled every
/// `INCIDENT_TRACKER_POLL_SECS`). 409 `not-configured` without a tracker.
#[utoipa::path(
    post, path = "/api/v1/action-items/{id}/export", operation_id = "export_action_item", tag = "action items",
    params(("id" = String, Path, description = "Action item id")),
    responses(
        (status = 200, description = "Filed", body = ActionItemView),
        (status = 202, description = "Asked for; the tracker failed and filing is retried", body = ActionItemView),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The workspace has no issue tracker", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn export_item(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ActionItemView>)> {
    let id = parse_id(&id, "action item")?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    readable_item(&mut tx, &auth, id).await?;
    auth.require(AccessRole::Responder)?;
    export::request(&mut tx, auth.workspace_id, id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    export::file_due(&state.pool, &state.trackers, Some(id)).await?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let item = store::view(&mut conn, auth.workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("action item"))?;
    let filed = item.tracker.as_ref().is_some_and(|t| t.key.is_some());
    let status = if filed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(item)))
}
