//! `/api/v1/incidents…`: declare, list, read, change, and the lifecycle, roles, timeline
//! and affected services of one incident. `{id}` accepts the id or the reference (`INC-42`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use incident_schema::timeline::list_timeline as timeline_of;
use incident_schema::{IncidentStatus, Role, TimelineEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::access::auth::{Auth, Responder};
use crate::error::{ApiError, DomainError};
use crate::incident::change::{self, IncidentPatch, NewEntry};
use crate::incident::declare::{self, DeclareIncident};
use crate::incident::query::{self, ListFilter};
use crate::incident::store;
use crate::incident::view::{IncidentView, ServiceView};
use crate::incident::{Actor, lifecycle};
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;

type ApiResult<T> = Result<T, ApiError>;

/// A page of incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    /// Newest first.
    pub items: Vec<IncidentView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Declare an incident.
///
/// Answers 201 with the new incident. With an `Idempotency-Key` header, a retried declare
/// answers 200 with the incident the first one created, never a second incident.
#[utoipa::path(
    post, path = "/api/v1/incidents", tag = "incidents",
    request_body = DeclareIncident,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one incident per key")),
    responses(
        (status = 201, description = "Declared", body = IncidentView),
        (status = 200, description = "An earlier declare with the same key", body = IncidentView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn declare(
    State(state): State<AppState>,
    Responder(auth): Responder,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DeclareIncident>,
) -> ApiResult<(StatusCode, Json<IncidentView>)> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| DomainError::invalid("Idempotency-Key", "must be visible ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let declared =
        declare::declare(&mut tx, Actor::from(&auth), &body, key.as_deref(), None).await?;
    // A new incident's services and alert groups are the ones just given (ingestion links
    // the groups when it sees the event), so the view needs no second read under the
    // counter's lock; a repeated key reads the first incident as it stands.
    let view = if declared.created {
        let services: Vec<ServiceView> = body
            .affected_services
            .iter()
            .map(|s| ServiceView {
                name: s.name.trim().to_owned(),
                impact: s.impact,
            })
            .collect();
        IncidentView::with(declared.incident, services, body.alert_group_ids.clone())
    } else {
        IncidentView::load(&mut tx, declared.incident)
            .await
            .map_err(DomainError::from)?
    };
    tx.commit().await.map_err(DomainError::from)?;
    Ok((
        if declared.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view),
    ))
}

/// List incidents, newest first, with filters and cursor pagination.
#[utoipa::path(
    get, path = "/api/v1/incidents", tag = "incidents", params(ListFilter),
    responses((status = 200, body = IncidentPage), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<ListFilter>,
) -> ApiResult<Json<IncidentPage>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let page = query::list(&mut conn, auth.workspace_id, &filter).await?;
    Ok(Json(IncidentPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Read one incident.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference (INC-42)")),
    responses((status = 200, body = IncidentView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentView>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let incident = query::find(&mut conn, auth.workspace_id, &id).await?;
    Ok(Json(
        IncidentView::load(&mut conn, incident)
            .await
            .map_err(DomainError::from)?,
    ))
}

/// Resolves `{id}` to the incident's id within the caller's workspace.
async fn incident_id(
    tx: &mut sqlx::PgConnection,
    auth: &Auth,
    key: &str,
) -> Result<Uuid, ApiError> {
    Ok(query::find(tx, auth.workspace_id, key).await?.id)
}

/// Change title, description, impact, root cause or severity.
///
/// A severity change moves the SLA deadlines.
#[utoipa::path(
    patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = IncidentPatch,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn patch(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IncidentPatch>,
) -> ApiResult<Json<IncidentView>> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let incident = change::update(&mut tx, Actor::from(&auth), id, &body).await?;
    let view = IncidentView::load(&mut tx, incident)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// Acknowledge an incident (stamps `acknowledged_at` once).
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentView>> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let incident = lifecycle::acknowledge(&mut tx, Actor::from(&auth), id, None).await?;
    let view = IncidentView::load(&mut tx, incident)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// The new status.
    pub status: IncidentStatus,
    /// Why, for the timeline.
    #[serde(default)]
    pub message: Option<String>,
    /// Close even though the postmortem has open action items (recorded on the timeline).
    #[serde(default)]
    pub force: bool,
}

/// Move an incident to another status.
///
/// Forward moves (skipping allowed), RESOLVED → INVESTIGATING as a reopen, nothing out of
/// CLOSED. An illegal move answers 409 naming the allowed statuses; closing while the
/// postmortem has open action items answers 409 unless `force` is set.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/status", tag = "incidents", request_body = StatusChange,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 404, body = Problem), (status = 409, description = "Illegal transition", body = Problem), (status = 422, body = Problem))
)]
pub async fn change_status(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusChange>,
) -> ApiResult<Json<IncidentView>> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let incident = lifecycle::change_status(
        &mut tx,
        Actor::from(&auth),
        id,
        body.status,
        body.message.as_deref(),
        body.force,
        None,
    )
    .await?;
    let view = IncidentView::load(&mut tx, incident)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// A role holder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignment {
    /// A user of the workspace.
    pub user_id: Uuid,
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    role.parse::<Role>()
        .map_err(|e| ApiError::from(DomainError::invalid("role", e.to_string())))
}

/// Assign a role (commander, tech_lead, comms_lead).
#[utoipa::path(
    put, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents", request_body = RoleAssignment,
    params(("id" = String, Path, description = "Id or reference"), ("role" = Role, Path, description = "commander, tech_lead or comms_lead")),
    responses((status = 200, body = IncidentView), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn assign_role(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path((id, role)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleAssignment>,
) -> ApiResult<Json<IncidentView>> {
    let role = parse_role(&role)?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let incident = change::assign_role(
        &mut tx,
        Actor::from(&auth),
        id,
        role,
        Some(body.user_id),
        None,
    )
    .await?;
    let view = IncidentView::load(&mut tx, incident)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// Clear a role.
#[utoipa::path(
    delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference"), ("role" = Role, Path, description = "commander, tech_lead or comms_lead")),
    responses((status = 200, body = IncidentView), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn clear_role(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<IncidentView>> {
    let role = parse_role(&role)?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let incident = change::assign_role(&mut tx, Actor::from(&auth), id, role, None, None).await?;
    let view = IncidentView::load(&mut tx, incident)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// The timeline, oldest first.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 404, body = Problem))
)]
pub async fn list_timeline(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<TimelineEntry>>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let id = incident_id(&mut conn, &auth, &id).await?;
    Ok(Json(
        timeline_of(&mut conn, auth.workspace_id, id)
            .await
            .map_err(DomainError::from)?,
    ))
}

/// Add a NOTE or an UPDATE (public or internal) to the timeline.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", request_body = NewEntry,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 201, body = serde_json::Value), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn add_timeline_entry(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewEntry>,
) -> ApiResult<(StatusCode, Json<TimelineEntry>)> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    let (_, entry) = change::add_entry(&mut tx, Actor::from(&auth), id, &body, None).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// The affected services.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/services", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<ServiceView>), (status = 404, body = Problem))
)]
pub async fn get_services(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ServiceView>>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let id = incident_id(&mut conn, &auth, &id).await?;
    let services = store::affected_services(&mut conn, auth.workspace_id, id)
        .await
        .map_err(DomainError::from)?;
    Ok(Json(services.iter().map(ServiceView::from).collect()))
}

/// Replace the affected services.
#[utoipa::path(
    put, path = "/api/v1/incidents/{id}/services", tag = "incidents", request_body = Vec<ServiceView>,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<ServiceView>), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn put_services(
    State(state): State<AppState>,
    Responder(auth): Responder,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Vec<ServiceView>>,
) -> ApiResult<Json<Vec<ServiceView>>> {
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    let id = incident_id(&mut tx, &auth, &id).await?;
    change::set_services(&mut tx, Actor::from(&auth), id, &body).await?;
    let services = store::affected_services(&mut tx, auth.workspace_id, id)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(services.iter().map(ServiceView::from).collect()))
}
