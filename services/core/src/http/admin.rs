//! `/api/v1/users`, `/api/v1/tokens` (workspace admins) and `/api/v1/workspaces`
//! (instance administrators).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use incident_schema::{Severity, SlaPolicy};
use uuid::Uuid;

use crate::AppState;
use crate::access::admin::{
    self, CreatedToken, CreatedWorkspace, NewTokenRequest, NewUserRequest, NewWorkspaceRequest,
    TokenView, UserPatch, UserView,
};
use crate::access::auth::{Admin, Auth, InstanceAdmin};
use crate::error::{ApiError, DomainError};
use crate::incident::sla_policy::{self, PolicyInput};
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;

type ApiResult<T> = Result<T, ApiError>;

/// The workspace's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<UserView>>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        admin::list_users(&mut conn, auth.workspace_id)
            .await?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let user = admin::add_user(&mut conn, auth.workspace_id, &body).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Change a user (admin).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", request_body = UserPatch, params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_user(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> ApiResult<Json<UserView>> {
    let id: Uuid = id.parse().map_err(|_| DomainError::NotFound("user"))?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        admin::update_user(&mut conn, auth.workspace_id, id, &body)
            .await?
            .into(),
    ))
}

/// The workspace's API tokens (admin; secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin", responses((status = 200, body = Vec<TokenView>), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Admin(auth): Admin,
) -> ApiResult<Json<Vec<TokenView>>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        admin::list_tokens(&mut conn, auth.workspace_id)
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect(),
    ))
}

/// Create an API token (admin); its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(admin::add_token(&mut conn, auth.workspace_id, &body, false).await?),
    ))
}

/// Revoke an API token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = TokenView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    let id: Uuid = id.parse().map_err(|_| DomainError::NotFound("token"))?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        admin::revoke_token(&mut conn, auth.workspace_id, id)
            .await?
            .into(),
    ))
}

/// Create a workspace (instance administrators): answers with an admin token for it.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "admin", request_body = NewWorkspaceRequest,
    responses((status = 201, body = CreatedWorkspace), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    _: InstanceAdmin,
    ApiJson(body): ApiJson<NewWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWorkspace>)> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let created = admin::add_workspace(&mut tx, &body).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The workspace's SLA policies, one per severity.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "admin", responses((status = 200, body = Vec<SlaPolicy>), (status = 401, body = Problem)))]
pub async fn list_sla_policies(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(sla_policy::list(&mut conn, auth.workspace_id).await?))
}

/// Set the SLA policy of a severity (admin); applies to incidents declared afterwards.
#[utoipa::path(put, path = "/api/v1/sla-policies/{severity}", tag = "admin", request_body = PolicyInput, params(("severity" = Severity, Path)),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_sla_policy(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(severity): Path<String>,
    ApiJson(body): ApiJson<PolicyInput>,
) -> ApiResult<Json<SlaPolicy>> {
    let severity: Severity = severity.parse().map_err(|e: incident_schema::ParseError| {
        DomainError::invalid("severity", e.to_string())
    })?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        sla_policy::put(&mut conn, auth.workspace_id, severity, &body).await?,
    ))
}
