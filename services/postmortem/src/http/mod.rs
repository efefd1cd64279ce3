//! The service's HTTP API under `/api/v1`: thin adapters that parse, authorise through
//! [`incident_runtime::api::auth::Auth`] (every query scoped by its workspace; writes need
//! the responder role, settings and templates the admin role), call one domain function
//! and map the result.
//!
//! Private incidents: a postmortem or action item of an incident the caller may not read
//! ([`incident_schema::access`]) does not exist for them. Every route that names one
//! resolves it through [`readable_incident`], [`readable_postmortem`] or
//! [`readable_item`] first, before the role check, so it answers 404 whatever the role;
//! lists filter with `incident_readable`. The OpenAPI fragment describing them is served at
//! `/api/v1/postmortem/openapi.json` (core serves the main document).

pub mod action_items;
pub mod postmortems;
pub mod settings;
pub mod trackers;

use incident_runtime::api::openapi::BearerAuth;
use incident_schema::IncidentNumber;
use incident_schema::incident::{get_incident, get_incident_by_number};
use sqlx::PgConnection;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use incident_runtime::api::auth::Auth;
use incident_schema::access;

use crate::AppState;
use crate::action_item::{self, ActionItemView};
use crate::error::{ApiError, DomainError};
use crate::postmortem::{self, PostmortemRecord};

/// Largest accepted request body (templates are the largest).
pub const BODY_LIMIT: usize = 256 * 1024;

/// Where the fragment is served.
pub const OPENAPI_PATH: &str = "/api/v1/postmortem/openapi.json";

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(title = "incident postmortems", description = "Postmortem drafts, review, publishing, Markdown export and action items."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(postmortems::export_markdown),
    components(schemas(incident_runtime::api::problem::Problem))
)]
struct ApiDoc;

/// The routes and the OpenAPI fragment describing them.
pub fn routes() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(postmortems::draft, postmortems::of_incident))
        .routes(routes!(postmortems::list))
        .routes(routes!(postmortems::get_one, postmortems::patch))
        .routes(routes!(postmortems::publish))
        .routes(routes!(
            action_items::list_of_postmortem,
            action_items::create
        ))
        .routes(routes!(action_items::list))
        .routes(routes!(action_items::get_one, action_items::patch))
        .routes(routes!(settings::get_settings, settings::put_settings))
        .routes(routes!(
            trackers::get_tracker,
            trackers::put_tracker,
            trackers::delete_tracker
        ))
        .routes(routes!(trackers::export_item))
        .routes(routes!(
            settings::get_template,
            settings::put_template,
            settings::delete_template
        ))
        .split_for_parts();
    incident_runtime::api::openapi::finish(&mut doc);
    (router, doc)
}

/// The full router, the OpenAPI fragment included.
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = routes();
    incident_runtime::api::openapi::serve_document(api, OPENAPI_PATH, doc, BODY_LIMIT)
        .with_state(state)
}

/// The OpenAPI fragment (for the snapshot test and for merging into core's document).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// A path id: another workspace's id and a malformed one both answer 404.
fn parse_id(key: &str, what: &'static str) -> Result<Uuid, DomainError> {
    key.parse().map_err(|_| DomainError::NotFound(what))
}

/// Resolves an incident `{id}` the caller may read; 404 otherwise.
pub(crate) async fn readable_incident(
    conn: &mut PgConnection,
    auth: &Auth,
    key: &str,
) -> Result<incident_schema::Incident, DomainError> {
    let incident = find_incident(conn, auth.workspace_id, key).await?;
    if !access::can_read(conn, &auth.reader(), incident.id).await? {
        return Err(DomainError::NotFound("incident"));
    }
    Ok(incident)
}

/// The postmortem `id` if the caller may read its incident; 404 otherwise.
async fn readable_postmortem(
    conn: &mut PgConnection,
    auth: &Auth,
    id: Uuid,
) -> Result<PostmortemRecord, DomainError> {
    let record = postmortem::store::get(conn, auth.workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    if !access::can_read(conn, &auth.reader(), record.row.incident_id).await? {
        return Err(DomainError::NotFound("postmortem"));
    }
    Ok(record)
}

/// The action item `id` if the caller may read its incident; 404 otherwise.
pub(crate) async fn readable_item(
    conn: &mut PgConnection,
    auth: &Auth,
    id: Uuid,
) -> Result<ActionItemView, DomainError> {
    let item = action_item::store::view(conn, auth.workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("action item"))?;
    if !access::can_read(conn, &auth.reader(), item.incident_id).await? {
        return Err(DomainError::NotFound("action item"));
    }
    Ok(item)
}

/// Resolves an incident `{id}` (its id, `INC-42` or `42`) within the caller's workspace.
async fn find_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    key: &str,
) -> Result<incident_schema::Incident, DomainError> {
    let found = if let Ok(id) = key.parse::<Uuid>() {
        get_incident(conn, workspace_id, id).await?
    } else if let Ok(number) = key
        .parse::<IncidentNumber>()
        .or_else(|_| key.parse::<i32>().map(IncidentNumber))
    {
        get_incident_by_number(conn, workspace_id, number).await?
    } else {
        None
    };
    found.ok_or(DomainError::NotFound("incident"))
}
