//! `/api/v1/incidents…`: declare, list, read, change, and the lifecycle, roles, members,
//! timeline and affected services of one incident. `{id}` accepts the id or the reference
//! (`INC-42`) and is resolved by [`IncidentPath`], which applies the private-incident rule
//! for every route; lists apply the same rule.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use incident_schema::access;
use incident_schema::text::IdempotencyKey;
use incident_schema::timeline::list_timeline as timeline_of;
use incident_schema::{IncidentStatus, Role, TimelineEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::access::auth::{Auth, Responder};
use crate::error::{ApiError, DomainError};
use crate::http::incident_path::IncidentPath;
use crate::http::unit::{reading, view, within};
use crate::incident::change::{self, IncidentPatch, NewEntry};
use crate::incident::declare::{DeclareIncident, DeclareKey};
use crate::incident::group_commit;
use crate::incident::members::{self, MemberView};
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
/// answers 200 with the incident the first one created, never a second incident; the key
/// reused with a different body answers 422 naming `Idempotency-Key`. An alert group
/// already linked to another incident that is still open answers 409.
#[utoipa::path(
    post, path = "/api/v1/incidents", operation_id = "declare_incident", tag = "incidents",
    request_body = DeclareIncident,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one incident per key")),
    responses(
        (status = 201, description = "Declared", body = IncidentView),
        (status = 200, description = "An earlier declare with the same key", body = IncidentView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "An alert group is linked to another open incident", body = Problem),
        (status = 422, description = "Invalid, or the key was used with another body", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn declare(
    State(state): State<AppState>,
    Responder(auth): Responder,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DeclareIncident>,
) -> ApiResult<(StatusCode, Json<IncidentView>)> {
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            // Bytes past ASCII become U+FFFD, which the key's rule refuses.
            IdempotencyKey::parse(&String::from_utf8_lossy(v.as_bytes()))
                .map_err(|e| DomainError::invalid("Idempotency-Key", e.to_string()))
        })
        .transpose()?;
    let key = key
        .as_ref()
        .map(|k| DeclareKey::of_request(k, &body))
        .transpose()?;
    // Applied with the other declares of the workspace waiting at the same time, in one
    // transaction (`incident::group_commit`); answered once it committed.
    let services: Vec<ServiceView> = body
        .affected_services
        .iter()
        .map(ServiceView::from)
        .collect();
    let groups = body.alert_group_ids.clone();
    let declared = group_commit::declare(&state.pool, Actor::from(&auth), body, key).await?;
    if declared.created {
        // A new incident's services and alert groups are the ones just given (ingestion
        // links the groups when it sees the event), so the view needs no second read.
        let view = IncidentView::with(declared.incident, services, groups);
        return Ok((StatusCode::CREATED, Json(view)));
    }
    reading(&state.pool, async |conn| {
        // A retry answers with the first incident only to someone who may read it, as it
        // stands now.
        if !access::can_read(conn, &auth.reader(), declared.incident.id).await? {
            return Err(DomainError::invalid(
                "Idempotency-Key",
                "the key was already used to declare an incident you cannot read; use a new key",
            ));
        }
        Ok((StatusCode::OK, view(conn, declared.incident).await?))
    })
    .await
}

/// List incidents, newest first, with filters and cursor pagination.
#[utoipa::path(
    get, path = "/api/v1/incidents", operation_id = "list_incidents", tag = "incidents", params(ListFilter),
    responses((status = 200, body = IncidentPage), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<ListFilter>,
) -> ApiResult<Json<IncidentPage>> {
    reading(&state.pool, async |conn| {
        let page = query::list(conn, &auth.reader(), &filter).await?;
        Ok(Json(IncidentPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    })
    .await
}

/// Read one incident.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}", operation_id = "get_incident", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference (INC-42)")),
    responses((status = 200, body = IncidentView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn get_one(
    State(state): State<AppState>,
    path: IncidentPath,
) -> ApiResult<Json<IncidentView>> {
    reading(&state.pool, async |conn| view(conn, path.incident).await).await
}

/// Change title, description, impact, root cause, severity or visibility.
///
/// A severity change moves the SLA deadlines. Making the incident PRIVATE hides it from
/// everyone but workspace admins, its role holders and its members; whoever makes it
/// private becomes a member.
#[utoipa::path(
    patch, path = "/api/v1/incidents/{id}", operation_id = "patch_incident", tag = "incidents", request_body = IncidentPatch,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn patch(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    ApiJson(body): ApiJson<IncidentPatch>,
) -> ApiResult<Json<IncidentView>> {
    within(&state.pool, async |tx| {
        let incident = change::update(tx, Actor::from(&auth), path.id(), &body).await?;
        view(tx, incident).await
    })
    .await
}

/// Acknowledge an incident (stamps `acknowledged_at` once).
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/acknowledge", operation_id = "acknowledge_incident", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
) -> ApiResult<Json<IncidentView>> {
    within(&state.pool, async |tx| {
        let incident = lifecycle::acknowledge(tx, Actor::from(&auth), path.id(), None).await?;
        view(tx, incident).await
    })
    .await
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
    post, path = "/api/v1/incidents/{id}/status", operation_id = "change_incident_status", tag = "incidents", request_body = StatusChange,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = IncidentView), (status = 404, body = Problem), (status = 409, description = "Illegal transition", body = Problem), (status = 422, body = Problem))
)]
pub async fn change_status(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    ApiJson(body): ApiJson<StatusChange>,
) -> ApiResult<Json<IncidentView>> {
    let message = body.message.as_deref();
    within(&state.pool, async |tx| {
        let actor = Actor::from(&auth);
        let incident =
            lifecycle::change_status(tx, actor, path.id(), body.status, message, body.force, None)
                .await?;
        view(tx, incident).await
    })
    .await
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
    path: IncidentPath,
    Responder(auth): Responder,
    Path((_id, role)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleAssignment>,
) -> ApiResult<Json<IncidentView>> {
    let role = parse_role(&role)?;
    let holder = Some(body.user_id);
    within(&state.pool, async |tx| {
        let actor = Actor::from(&auth);
        let incident = change::assign_role(tx, actor, path.id(), role, holder, None).await?;
        view(tx, incident).await
    })
    .await
}

/// Clear a role.
#[utoipa::path(
    delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference"), ("role" = Role, Path, description = "commander, tech_lead or comms_lead")),
    responses((status = 200, body = IncidentView), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn clear_role(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    Path((_id, role)): Path<(String, String)>,
) -> ApiResult<Json<IncidentView>> {
    let role = parse_role(&role)?;
    within(&state.pool, async |tx| {
        let actor = Actor::from(&auth);
        let incident = change::assign_role(tx, actor, path.id(), role, None, None).await?;
        view(tx, incident).await
    })
    .await
}

/// The timeline, oldest first.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 404, body = Problem))
)]
pub async fn list_timeline(
    State(state): State<AppState>,
    path: IncidentPath,
) -> ApiResult<Json<Vec<TimelineEntry>>> {
    reading(&state.pool, async |conn| {
        Ok(Json(
            timeline_of(conn, path.auth.workspace_id, path.id()).await?,
        ))
    })
    .await
}

/// Add a NOTE or an UPDATE (public or internal) to the timeline.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", request_body = NewEntry,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 201, body = serde_json::Value), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn add_timeline_entry(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    ApiJson(body): ApiJson<NewEntry>,
) -> ApiResult<(StatusCode, Json<TimelineEntry>)> {
    within(&state.pool, async |tx| {
        let (_, entry) = change::add_entry(tx, Actor::from(&auth), path.id(), &body, None).await?;
        Ok((StatusCode::CREATED, Json(entry)))
    })
    .await
}

/// The affected services.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/services", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<ServiceView>), (status = 404, body = Problem))
)]
pub async fn get_services(
    State(state): State<AppState>,
    path: IncidentPath,
) -> ApiResult<Json<Vec<ServiceView>>> {
    reading(&state.pool, async |conn| {
        let services = store::affected_services(conn, path.auth.workspace_id, path.id()).await?;
        Ok(Json(services.iter().map(ServiceView::from).collect()))
    })
    .await
}

/// Replace the affected services.
#[utoipa::path(
    put, path = "/api/v1/incidents/{id}/services", tag = "incidents", request_body = Vec<ServiceView>,
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<ServiceView>), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn put_services(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    ApiJson(body): ApiJson<Vec<ServiceView>>,
) -> ApiResult<Json<Vec<ServiceView>>> {
    within(&state.pool, async |tx| {
        change::set_services(tx, Actor::from(&auth), path.id(), &body).await?;
        let services = store::affected_services(tx, auth.workspace_id, path.id()).await?;
        Ok(Json(services.iter().map(ServiceView::from).collect()))
    })
    .await
}

/// The members of an incident: people given access explicitly (role holders and admins
/// can read it anyway).
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/members", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference")),
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn list_members(
    State(state): State<AppState>,
    path: IncidentPath,
) -> ApiResult<Json<Vec<MemberView>>> {
    reading(&state.pool, async |conn| {
        Ok(Json(
            members::list(conn, path.auth.workspace_id, path.id()).await?,
        ))
    })
    .await
}

fn parse_user(user_id: &str) -> Result<Uuid, ApiError> {
    user_id
        .parse()
        .map_err(|_| ApiError::from(DomainError::invalid("user_id", "must be a user's id")))
}

/// Add a member: a user of the workspace who may then read the incident even when it is
/// PRIVATE. Adding a member twice changes nothing.
#[utoipa::path(
    put, path = "/api/v1/incidents/{id}/members/{user_id}", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference"), ("user_id" = Uuid, Path, description = "A user of the workspace")),
    responses((status = 200, description = "The members", body = Vec<MemberView>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn add_member(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    Path((_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<MemberView>>> {
    let user_id = parse_user(&user_id)?;
    within(&state.pool, async |tx| {
        members::add(tx, Actor::from(&auth), path.id(), user_id, None).await?;
        Ok(Json(members::list(tx, auth.workspace_id, path.id()).await?))
    })
    .await
}

/// Remove a member. A role they hold still lets them read the incident; removing a
/// non-member changes nothing.
#[utoipa::path(
    delete, path = "/api/v1/incidents/{id}/members/{user_id}", tag = "incidents",
    params(("id" = String, Path, description = "Id or reference"), ("user_id" = Uuid, Path, description = "A user of the workspace")),
    responses((status = 200, description = "The members", body = Vec<MemberView>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    path: IncidentPath,
    Responder(auth): Responder,
    Path((_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<MemberView>>> {
    let user_id = parse_user(&user_id)?;
    within(&state.pool, async |tx| {
        members::remove(tx, Actor::from(&auth), path.id(), user_id, None).await?;
        Ok(Json(members::list(tx, auth.workspace_id, path.id()).await?))
    })
    .await
}
