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
use crate::http::unit::{reading, within};
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
    reading(&state.pool, async |conn| {
        let users = admin::list_users(conn, auth.workspace_id).await?;
        Ok(Json(users.into_iter().map(UserView::from).collect()))
    })
    .await
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    reading(&state.pool, async |conn| {
        let user = admin::add_user(conn, auth.workspace_id, &body).await?;
        Ok((StatusCode::CREATED, Json(user.into())))
    })
    .await
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
    reading(&state.pool, async |conn| {
        let user = admin::update_user(conn, auth.workspace_id, id, &body).await?;
        Ok(Json(user.into()))
    })
    .await
}

/// The workspace's API tokens (admin; secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin", responses((status = 200, body = Vec<TokenView>), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Admin(auth): Admin,
) -> ApiResult<Json<Vec<TokenView>>> {
    reading(&state.pool, async |conn| {
        let tokens = admin::list_tokens(conn, auth.workspace_id).await?;
        Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
    })
    .await
}

/// Create an API token (admin); its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    reading(&state.pool, async |conn| {
        let token = admin::add_token(conn, auth.workspace_id, &body, false).await?;
        Ok((StatusCode::CREATED, Json(token)))
    })
    .await
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
    let token = reading(&state.pool, async |conn| {
        admin::revoke_token(conn, auth.workspace_id, id).await
    })
    .await?;
    // Refused at once by this process; other processes' caches let it go within their TTL.
    state.tokens.evict(&token.token_hash);
    Ok(Json(token.into()))
}

/// Create a workspace (instance administrators): answers with an admin token for it.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "admin", request_body = NewWorkspaceRequest,
    responses((status = 201, body = CreatedWorkspace), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    _: InstanceAdmin,
    ApiJson(body): ApiJson<NewWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWorkspace>)> {
    within(&state.pool, async |tx| {
        let created = admin::add_workspace(tx, &body).await?;
        Ok((StatusCode::CREATED, Json(created)))
    })
    .await
}

/// The workspace's SLA policies, one per severity.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "admin", responses((status = 200, body = Vec<SlaPolicy>), (status = 401, body = Problem)))]
pub async fn list_sla_policies(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    reading(&state.pool, async |conn| {
        Ok(Json(sla_policy::list(conn, auth.workspace_id).await?))
    })
    .await
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
    reading(&state.pool, async |conn| {
        Ok(Json(
            sla_policy::put(conn, auth.workspace_id, severity, &body).await?,
        ))
    })
    .await
}
