//! `/api/v1/integrations…`: integrations, for workspace admins. The secret is shown in
//! the answers to creating an integration and to rotating its secret, never again.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use incident_runtime::api::auth::Auth;
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;
use incident_schema::AccessRole;
use uuid::Uuid;

use super::base_url;
use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::ingest::{self, IngestOutcome};
use crate::integration::{
    self, IntegrationPatch, IntegrationView, IntegrationWithSecret, NewIntegration, store,
};
use crate::source;

type ApiResult<T> = Result<T, ApiError>;

fn parse_id(id: &str) -> Result<Uuid, IngestError> {
    id.parse().map_err(|_| IngestError::NotFound("integration"))
}

/// The workspace's integrations (admin).
#[utoipa::path(get, path = "/api/v1/integrations", operation_id = "list_integrations", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Display))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<IntegrationView>>> {
    auth.require(AccessRole::Admin)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    Ok(Json(
        store::list(&mut conn, auth.workspace_id)
            .await?
            .into_iter()
            .map(|row| IntegrationView::new(row, &base))
            .collect(),
    ))
}

/// Create an integration (admin).
///
/// Answers 201 with the integration, its `secret` (shown this once) and its webhook URL,
/// also with the secret as `?token=`, ready to paste into the source's configuration.
#[utoipa::path(post, path = "/api/v1/integrations", operation_id = "create_integration", tag = "integrations", request_body = NewIntegration,
    responses((status = 201, body = IntegrationWithSecret), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Display))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewIntegration>,
) -> ApiResult<(StatusCode, Json<IntegrationWithSecret>)> {
    auth.require(AccessRole::Admin)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    let created = integration::create(&mut conn, auth.workspace_id, &body, &base).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One integration (admin).
#[utoipa::path(get, path = "/api/v1/integrations/{id}", operation_id = "get_integration", tag = "integrations", params(("id" = Uuid, Path)),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, integration_id = %id), err(Display))]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<IntegrationView>> {
    auth.require(AccessRole::Admin)?;
    let id = parse_id(&id)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    let row = store::get(&mut conn, auth.workspace_id, id)
        .await?
        .ok_or(IngestError::NotFound("integration"))?;
    Ok(Json(IntegrationView::new(row, &base)))
}

/// Change an integration (admin): name, rules, grouping key, storm guard, enabled.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", operation_id = "patch_integration", tag = "integrations", request_body = IntegrationPatch,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, integration_id = %id), err(Display))]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IntegrationPatch>,
) -> ApiResult<Json<IntegrationView>> {
    auth.require(AccessRole::Admin)?;
    let id = parse_id(&id)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    let row = integration::update(&mut conn, auth.workspace_id, id, &body).await?;
    Ok(Json(IntegrationView::new(row, &base)))
}

/// Delete an integration (admin), with its alerts and groups.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", operation_id = "delete_integration", tag = "integrations", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, integration_id = %id), err(Display))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require(AccessRole::Admin)?;
    let id = parse_id(&id)?;
    let mut conn = state.pool.acquire().await?;
    if store::delete(&mut conn, auth.workspace_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(IngestError::NotFound("integration").into())
    }
}

/// Replace an integration's secret (admin); the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate-secret", operation_id = "rotate_integration_secret", tag = "integrations", params(("id" = Uuid, Path)),
    responses((status = 200, body = IntegrationWithSecret), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, integration_id = %id), err(Display))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<IntegrationWithSecret>> {
    auth.require(AccessRole::Admin)?;
    let id = parse_id(&id)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    Ok(Json(
        integration::rotate_secret(&mut conn, auth.workspace_id, id, &base).await?,
    ))
}

/// What a sample payload would do (admin), without storing or sending anything.
///
/// The body is a payload in the integration's format, as its source would send it. The
/// answer is what the pipeline would do with it now: the groups it would open, update or
/// resolve, what each would decide and why, and the events and commands it would send.
/// The pipeline runs for real in a transaction that is rolled back.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/dry-run", operation_id = "dry_run_integration", tag = "integrations", params(("id" = Uuid, Path)),
    request_body(content = Object, description = "A payload in the integration's format"),
    responses((status = 200, body = IngestOutcome), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, integration_id = %id), err(Display))]
pub async fn dry_run(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<IngestOutcome>> {
    auth.require(AccessRole::Admin)?;
    let id = parse_id(&id)?;
    let integration = {
        let mut conn = state.pool.acquire().await?;
        store::get(&mut conn, auth.workspace_id, id)
            .await?
            .ok_or(IngestError::NotFound("integration"))?
    };
    let bytes = super::webhooks::body(request, &state).await?;
    let notification = source::parse(integration.kind, &bytes, Utc::now())?;
    Ok(Json(
        ingest::dry_run(&state.pool, &integration, &notification).await?,
    ))
}
