//! `/api/v1/postmortems/{id}/action-items` (list, create) and `/api/v1/action-items…`
//! (the workspace's listing with filters, read, change).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use incident_runtime::api::auth::Auth;
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;
use incident_schema::{AccessRole, ActionItemStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiResult, parse_id, readable_item, readable_postmortem};
use crate::action_item::ActionItemView;
use crate::action_item::store::{self, AssigneeFilter, ItemFilter};
use crate::action_item::tracking::{self, ActionItemPatch, NewActionItem};
use crate::error::DomainError;
use crate::{Actor, AppState};

/// A list of action items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionItemPage {
    /// Due first (undated last), then most urgent.
    pub items: Vec<ActionItemView>,
}

/// List a postmortem's action items.
#[utoipa::path(
    get, path = "/api/v1/postmortems/{id}/action-items", operation_id = "list_postmortem_action_items", tag = "action items",
    params(("id" = String, Path, description = "Postmortem id")),
    responses((status = 200, body = ActionItemPage), (status = 404, body = Problem))
)]
pub async fn list_of_postmortem(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionItemPage>> {
    let id = parse_id(&id, "postmortem")?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    readable_postmortem(&mut conn, &auth, id).await?;
    let items = store::of_postmortem(&mut conn, auth.workspace_id, id).await?;
    Ok(Json(ActionItemPage { items }))
}

/// Add an action item to a postmortem.
///
/// It starts OPEN (priority P3 unless given) and `action_item.created` is emitted.
#[utoipa::path(
    post, path = "/api/v1/postmortems/{id}/action-items", operation_id = "create_action_item", tag = "action items",
    request_body = NewActionItem,
    params(("id" = String, Path, description = "Postmortem id")),
    responses(
        (status = 201, body = ActionItemView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewActionItem>,
) -> ApiResult<(StatusCode, Json<ActionItemView>)> {
    let id = parse_id(&id, "postmortem")?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    readable_postmortem(&mut tx, &auth, id).await?;
    auth.require(AccessRole::Responder)?;
    let item = tracking::create(&mut tx, Actor::from(&auth), id, &body).await?;
    tx.commit().await.map_err(DomainError::from)?;
    if item.tracker.is_some() {
        // Filed on creation (`auto_export`): the exporter need not wait for its tick.
        state.trackers.wake.notify_one();
    }
    Ok((StatusCode::CREATED, Json(item)))
}

/// Filters of the action item listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// Comma-separated statuses, e.g. `OPEN,IN_PROGRESS`.
    pub status: Option<String>,
    /// A user id, `me` (the token's user) or `none` (unassigned).
    pub assignee: Option<String>,
    /// Only overdue items (`true`: open and past due), or only the others (`false`).
    pub overdue: Option<bool>,
    /// Only items of this postmortem.
    pub postmortem_id: Option<Uuid>,
    /// Only items of this incident's postmortem.
    pub incident_id: Option<Uuid>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
}

fn filter(query: &ItemQuery, auth: &Auth) -> Result<ItemFilter, DomainError> {
    let statuses = match &query.status {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ActionItemStatus>()
                    .map_err(|e| DomainError::invalid("status", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let assignee = match query.assignee.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) if s.eq_ignore_ascii_case("none") => Some(AssigneeFilter::Nobody),
        Some(s) if s.eq_ignore_ascii_case("me") => {
            Some(AssigneeFilter::User(auth.user_id.ok_or_else(|| {
                DomainError::invalid("assignee", "`me` needs a token that belongs to a user")
            })?))
        }
        Some(s) => Some(AssigneeFilter::User(s.parse().map_err(|_| {
            DomainError::invalid("assignee", "must be a user id, `me` or `none`")
        })?)),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be 1 to 500"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(DomainError::invalid("offset", "must not be negative"));
    }
    Ok(ItemFilter {
        statuses,
        assignee,
        overdue: query.overdue,
        postmortem_id: query.postmortem_id,
        incident_id: query.incident_id,
        limit,
        offset,
    })
}

/// List the workspace's action items.
#[utoipa::path(
    get, path = "/api/v1/action-items", operation_id = "list_action_items", tag = "action items", params(ItemQuery),
    responses((status = 200, body = ActionItemPage), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<ItemQuery>,
) -> ApiResult<Json<ActionItemPage>> {
    let filter = filter(&query, &auth)?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let items = store::list(&mut conn, &auth.reader(), &filter).await?;
    Ok(Json(ActionItemPage { items }))
}

/// Read an action item.
#[utoipa::path(
    get, path = "/api/v1/action-items/{id}", operation_id = "get_action_item", tag = "action items",
    params(("id" = String, Path, description = "Action item id")),
    responses((status = 200, body = ActionItemView), (status = 404, body = Problem))
)]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionItemView>> {
    let id = parse_id(&id, "action item")?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    Ok(Json(readable_item(&mut conn, &auth, id).await?))
}

/// Change an action item.
///
/// `OPEN ⇄ IN_PROGRESS`, either → `DONE` (stamps `completed_at` once) or `WONT_DO` (with
/// `wont_do_reason`); DONE and WONT_DO are final (409 naming the allowed statuses).
/// `action_item.updated` is emitted when anything changed, listing what.
#[utoipa::path(
    patch, path = "/api/v1/action-items/{id}", operation_id = "patch_action_item", tag = "action items", request_body = ActionItemPatch,
    params(("id" = String, Path, description = "Action item id")),
    responses(
        (status = 200, body = ActionItemView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Illegal status transition", body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActionItemPatch>,
) -> ApiResult<Json<ActionItemView>> {
    let id = parse_id(&id, "action item")?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    readable_item(&mut tx, &auth, id).await?;
    auth.require(AccessRole::Responder)?;
    let item = tracking::update(&mut tx, Actor::from(&auth), id, &body).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(item))
}
