//! `/api/v1/alert-groups…`: alert groups, their alerts, and why each was grouped and
//! what it decided. Any token of the workspace may read them, but for a group linked to
//! an incident it may not read (404, left out of the list).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use incident_runtime::api::auth::Auth;
use incident_runtime::api::problem::Problem;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::ingest::view::{self, AlertGroupDetail, AlertGroupView, GroupFilter};

/// The workspace's alert groups, newest first.
#[utoipa::path(get, path = "/api/v1/alert-groups", operation_id = "list_alert_groups", tag = "alert groups", params(GroupFilter),
    responses((status = 200, body = Vec<AlertGroupView>), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Display))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    filter: Result<Query<GroupFilter>, QueryRejection>,
) -> Result<Json<Vec<AlertGroupView>>, ApiError> {
    let Query(filter) = filter.map_err(|e| IngestError::invalid("query", e.body_text()))?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(view::list(&mut conn, &auth.reader(), &filter).await?))
}

/// One alert group with its alerts and its explanation: why it was grouped (`grouping`)
/// and why it declared, joined or did nothing (`decision`, `reason`, `rule`, `join`).
#[utoipa::path(get, path = "/api/v1/alert-groups/{id}", operation_id = "get_alert_group", tag = "alert groups", params(("id" = Uuid, Path)),
    responses((status = 200, body = AlertGroupDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id, alert_group_id = %id), err(Display))]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<AlertGroupDetail>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| IngestError::NotFound("alert group"))?;
    let mut conn = state.pool.acquire().await?;
    let group = view::get(&mut conn, &auth.reader(), id)
        .await?
        .ok_or(IngestError::NotFound("alert group"))?;
    Ok(Json(group))
}
