//! `GET`/`PUT /api/v1/workspace/settings`: the caller's workspace's settings kept by core
//! (its time zone); reading needs any token, changing the admin role.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::access::auth::{Admin, Auth};
use crate::access::settings::{self, WorkspaceSettings};
use crate::error::{ApiError, DomainError};
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;

/// The workspace's settings.
#[utoipa::path(get, path = "/api/v1/workspace/settings", tag = "admin",
    responses(
        (status = 200, description = "The settings", body = WorkspaceSettings),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<WorkspaceSettings>, ApiError> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(settings::get(&mut conn, auth.workspace_id).await?))
}

/// Replace them (admin). An unknown time zone answers 422 `unknown-time-zone`.
#[utoipa::path(put, path = "/api/v1/workspace/settings", tag = "admin", request_body = WorkspaceSettings,
    responses(
        (status = 200, description = "The settings as stored (the zone as Postgres spells it)", body = WorkspaceSettings),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown time zone (`unknown-time-zone`) or a malformed body", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_settings(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<WorkspaceSettings>,
) -> Result<Json<WorkspaceSettings>, ApiError> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        settings::put(&mut conn, auth.workspace_id, &body).await?,
    ))
}
