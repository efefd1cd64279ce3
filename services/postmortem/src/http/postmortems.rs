//! `/api/v1/incidents/{id}/postmortem` (draft, read) and `/api/v1/postmortems…` (list,
//! read, Markdown export, edit, publish).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use incident_runtime::api::json::{ApiJson, parse};
use incident_runtime::api::problem::Problem;
use incident_schema::{AccessRole, PostmortemStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, parse_id, readable_incident, readable_postmortem};
use crate::error::DomainError;
use crate::postmortem::review::{self, PostmortemPatch};
use crate::postmortem::{PostmortemView, store};
use crate::{Actor, AppState, action_item, draft, export, settings};
use incident_runtime::api::auth::Auth;

/// Options of a draft request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftOptions {
    /// Rewrite the existing draft from the incident as it stands now; refused (409) once a
    /// person edited it or it left DRAFT.
    #[serde(default)]
    pub regenerate: bool,
}

/// Draft the incident's postmortem.
///
/// The incident must be RESOLVED or CLOSED. Answers 201 with the new draft, or 200 with
/// the postmortem the incident already has (one per incident, however many requests
/// race). With `"regenerate": true` an unedited DRAFT is rewritten (200). The body is
/// optional.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/postmortem", operation_id = "draft_postmortem", tag = "postmortems",
    params(("id" = String, Path, description = "Incident id or reference (INC-42)")),
    request_body(content = Option<DraftOptions>, description = "Optional"),
    responses(
        (status = 201, description = "Drafted", body = PostmortemView),
        (status = 200, description = "The existing (or regenerated) postmortem", body = PostmortemView),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Incident still open, or the draft was edited by a person", body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn draft(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PostmortemView>)> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let incident = readable_incident(&mut conn, &auth, &id).await?;
    auth.require(AccessRole::Responder)?;
    let options: DraftOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DraftOptions::default()
    } else {
        parse(&body)?
    };
    let request = draft::DraftRequest {
        workspace_id: auth.workspace_id,
        incident_id: incident.id,
        regenerate: options.regenerate,
        actor_id: auth.user_id,
        trigger: draft::Trigger::Request,
    };
    let outcome = match draft::prepare(&mut conn, &request).await? {
        draft::Prepared::Existing(record) => draft::DraftOutcome::Existing(*record),
        draft::Prepared::Compose { facts, existing } => {
            // No connection is held while the model (if any) writes.
            drop(conn);
            let composed = draft::compose(&facts, state.llm.as_deref()).await;
            let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
            let outcome = draft::save(&mut tx, &request, &facts, existing, &composed, None).await?;
            tx.commit().await.map_err(DomainError::from)?;
            conn = state.pool.acquire().await.map_err(DomainError::from)?;
            outcome
        }
    };
    let status = match outcome {
        draft::DraftOutcome::Created(_) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let view = PostmortemView::load(&mut conn, outcome.into_record()).await?;
    Ok((status, Json(view)))
}

/// Read the incident's postmortem.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}/postmortem", operation_id = "get_incident_postmortem", tag = "postmortems",
    params(("id" = String, Path, description = "Incident id or reference (INC-42)")),
    responses((status = 200, body = PostmortemView), (status = 404, description = "No such incident, or not drafted yet", body = Problem))
)]
pub async fn of_incident(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<PostmortemView>> {
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let incident = readable_incident(&mut conn, &auth, &id).await?;
    let record = store::of_incident(&mut conn, auth.workspace_id, incident.id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    Ok(Json(PostmortemView::load(&mut conn, record).await?))
}

/// Filters of the postmortem list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostmortemFilter {
    /// Only this status.
    pub status: Option<PostmortemStatus>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// Postmortems to skip.
    pub offset: Option<i64>,
}

/// A page of postmortems.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemPage {
    /// Newest first.
    pub items: Vec<PostmortemView>,
}

/// List the workspace's postmortems, newest first.
#[utoipa::path(
    get, path = "/api/v1/postmortems", operation_id = "list_postmortems", tag = "postmortems", params(PostmortemFilter),
    responses((status = 200, body = PostmortemPage), (status = 401, body = Problem), (status = 422, body = Problem))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(filter): Query<PostmortemFilter>,
) -> ApiResult<Json<PostmortemPage>> {
    let limit = filter.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be 1 to 200").into());
    }
    let offset = filter.offset.unwrap_or(0);
    if offset < 0 {
        return Err(DomainError::invalid("offset", "must not be negative").into());
    }
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let records = store::list(&mut conn, &auth.reader(), filter.status, limit, offset).await?;
    let mut items = Vec::with_capacity(records.len());
    for record in records {
        items.push(PostmortemView::load(&mut conn, record).await?);
    }
    Ok(Json(PostmortemPage { items }))
}

/// Read a postmortem; `{id}.md` answers its Markdown export instead.
#[utoipa::path(
    get, path = "/api/v1/postmortems/{id}", operation_id = "get_postmortem", tag = "postmortems",
    params(("id" = String, Path, description = "Postmortem id")),
    responses((status = 200, body = PostmortemView), (status = 404, body = Problem))
)]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    // axum paths cannot match `{id}.md`, so the export shares this route.
    if let Some(id) = id.strip_suffix(".md") {
        return markdown(&state, &auth, id).await;
    }
    let id = parse_id(&id, "postmortem")?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let record = readable_postmortem(&mut conn, &auth, id).await?;
    Ok(Json(PostmortemView::load(&mut conn, record).await?).into_response())
}

/// Export a postmortem as Markdown.
///
/// Rendered with the workspace's template, or the built-in one. The header
/// `x-postmortem-template` says which: `workspace`, `default`, or `default-fallback` when
/// the workspace's template failed on this postmortem.
#[utoipa::path(
    get, path = "/api/v1/postmortems/{id}.md", operation_id = "export_postmortem_markdown", tag = "postmortems",
    params(("id" = String, Path, description = "Postmortem id")),
    responses(
        (status = 200, description = "The postmortem as Markdown", content_type = "text/markdown", body = String),
        (status = 404, body = Problem),
    )
)]
#[expect(
    dead_code,
    reason = "documents the `.md` form of `get_one` in the OpenAPI fragment"
)]
pub(crate) async fn export_markdown() {}

async fn markdown(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Response> {
    let id = parse_id(id, "postmortem")?;
    let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
    let record = readable_postmortem(&mut conn, auth, id).await?;
    let incident = crate::postmortem::incident_of(&mut conn, &record).await?;
    let items = action_item::store::of_postmortem(&mut conn, auth.workspace_id, id).await?;
    let template = settings::template(&mut conn, auth.workspace_id).await?;
    drop(conn);
    let context = export::ExportContext::new(&record, &incident, items);
    let rendered = export::render(template.as_deref(), &context)?;
    let filename = format!("inline; filename=\"{}-postmortem.md\"", incident.number);
    let mut response = rendered.markdown.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    headers.insert(
        "x-postmortem-template",
        HeaderValue::from_static(rendered.template),
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Edit a postmortem's sections, or move it between DRAFT and IN_REVIEW.
///
/// Each section given replaces it and is marked `human` in `generation`; the postmortem is
/// then never regenerated. Changing a published postmortem stamps `amended_at`.
#[utoipa::path(
    patch, path = "/api/v1/postmortems/{id}", operation_id = "patch_postmortem", tag = "postmortems", request_body = PostmortemPatch,
    params(("id" = String, Path, description = "Postmortem id")),
    responses(
        (status = 200, body = PostmortemView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Illegal status transition", body = Problem), (status = 422, body = Problem),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PostmortemPatch>,
) -> ApiResult<Json<PostmortemView>> {
    let id = parse_id(&id, "postmortem")?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    readable_postmortem(&mut tx, &auth, id).await?;
    auth.require(AccessRole::Responder)?;
    let record = review::edit(&mut tx, Actor::from(&auth), id, &body).await?;
    let view = PostmortemView::load(&mut tx, record).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}

/// Publish a postmortem.
///
/// Stamps `published_at` and emits `postmortem.published` (the war room posts its summary
/// and link). Publishing again answers the published postmortem and emits nothing.
#[utoipa::path(
    post, path = "/api/v1/postmortems/{id}/publish", operation_id = "publish_postmortem", tag = "postmortems",
    params(("id" = String, Path, description = "Postmortem id")),
    responses((status = 200, body = PostmortemView), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn publish(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<PostmortemView>> {
    let id = parse_id(&id, "postmortem")?;
    let mut tx = state.pool.begin().await.map_err(DomainError::from)?;
    readable_postmortem(&mut tx, &auth, id).await?;
    auth.require(AccessRole::Responder)?;
    let record =
        review::publish(&mut tx, Actor::from(&auth), id, state.public_url.as_deref()).await?;
    let view = PostmortemView::load(&mut tx, record).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(view))
}
