//! `/api/v1/postmortem/settings` and `/api/v1/postmortem/template`: the workspace's
//! postmortem settings and Markdown template. Anyone in the workspace reads them; only
//! admins change them.

use axum::Json;
use axum::extract::State;
use incident_runtime::api::auth::Auth;
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;
use incident_schema::AccessRole;
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiResult;
use crate::AppState;
use crate::error::DomainError;
use crate::settings::{self, PostmortemSettings, TemplateView};

/// Read the workspace's postmortem settings.
#[utoipa::path(
    get, path = "/api/v1/postmortem/settings", operation_id = "get_postmortem_settings", tag = "postmortem settings",
    responses((status = 200, body = PostmortemSettings), (status = 401, body = Problem))
)]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<PostmortemSettings>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(settings::get(&mut conn, auth.workspace_id).await?))
}

/// Replace the workspace's postmortem settings (admin).
///
/// `draft_trigger`: `ON_RESOLVE` (default), `ON_CLOSE` or `ON_REQUEST`. `llm_allow_private`
/// and `llm_allow_internal` (default false) let PRIVATE incidents and internal timeline
/// entries be sent to the LLM. Absent fields take their defaults.
#[utoipa::path(
    put, path = "/api/v1/postmortem/settings", operation_id = "put_postmortem_settings", tag = "postmortem settings",
    request_body = PostmortemSettings,
    responses((status = 200, body = PostmortemSettings), (status = 403, body = Problem), (status = 422, body = Problem))
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<PostmortemSettings>,
) -> ApiResult<Json<PostmortemSettings>> {
    auth.require(AccessRole::Admin)?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        settings::put(&mut conn, auth.workspace_id, auth.user_id, &body).await?,
    ))
}

/// Read the workspace's Markdown template (the built-in one when it has none).
#[utoipa::path(
    get, path = "/api/v1/postmortem/template", operation_id = "get_postmortem_template", tag = "postmortem settings",
    responses((status = 200, body = TemplateView), (status = 401, body = Problem))
)]
pub async fn get_template(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<TemplateView>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        settings::template_view(&mut conn, auth.workspace_id).await?,
    ))
}

/// A Markdown template.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The minijinja source (at most 64 KiB).
    pub template: String,
}

/// Replace the workspace's Markdown template (admin).
///
/// The template must compile and render a sample postmortem without touching an undefined
/// name; otherwise 422 with `line`, the line at fault.
#[utoipa::path(
    put, path = "/api/v1/postmortem/template", operation_id = "put_postmortem_template", tag = "postmortem settings",
    request_body = TemplateBody,
    responses(
        (status = 200, body = TemplateView), (status = 403, body = Problem),
        (status = 422, description = "Does not compile or render; `line` says where", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn put_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<Json<TemplateView>> {
    auth.require(AccessRole::Admin)?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        settings::put_template(&mut conn, auth.workspace_id, auth.user_id, &body.template).await?,
    ))
}

/// Drop the workspace's template: exports use the built-in one again (admin).
#[utoipa::path(
    delete, path = "/api/v1/postmortem/template", operation_id = "delete_postmortem_template", tag = "postmortem settings",
    responses((status = 200, body = TemplateView), (status = 403, body = Problem))
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<TemplateView>> {
    auth.require(AccessRole::Admin)?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(
        settings::reset_template(&mut conn, auth.workspace_id, auth.user_id).await?,
    ))
}
