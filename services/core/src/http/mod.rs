//! The public HTTP API under `/api/v1`: thin adapters that parse, authorise through
//! extractors ([`crate::access::auth::Auth`], the role-requiring `Responder` / `Admin`,
//! and [`incident_path::IncidentPath`] for an incident the caller may read), call one domain function in a transaction and map the
//! result. Core's part of the OpenAPI document is generated from the same handlers and
//! served at [`OPENAPI_PATH`]; core also serves the whole API's document at
//! [`WHOLE_OPENAPI_PATH`]: `services/core/openapi.json`, merged from every service's part
//! by `incident_stack::openapi` (services do not depend on each other, so core cannot
//! generate it) and committed; a system test fails when it is stale.

pub mod admin;
pub mod analytics;
pub mod incident_path;
pub mod incidents;
pub mod settings;
pub mod unit;
pub mod webhooks;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use incident_runtime::api::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Where core's part of the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/core/openapi.json";

/// Where the whole API's OpenAPI document is served.
pub const WHOLE_OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The whole API's OpenAPI document, as committed (regenerated with
/// `cargo run -p incident-stack --example openapi -- --write`).
pub const WHOLE_OPENAPI: &str = include_str!("../../openapi.json");

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "incident", description = "Incident management: the lifecycle, roles, timeline and administration."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(incident_runtime::api::problem::Problem, incident_schema::Role))
)]
struct ApiDoc;

/// The routes and the OpenAPI document describing them.
pub fn routes() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(incidents::declare, incidents::list))
        .routes(routes!(incidents::get_one, incidents::patch))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(incidents::change_status))
        .routes(routes!(incidents::assign_role, incidents::clear_role))
        .routes(routes!(
            incidents::list_timeline,
            incidents::add_timeline_entry
        ))
        .routes(routes!(incidents::get_services, incidents::put_services))
        .routes(routes!(incidents::list_members))
        .routes(routes!(incidents::add_member, incidents::remove_member))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::patch_user))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::create_workspace))
        .routes(routes!(admin::list_sla_policies))
        .routes(routes!(admin::put_sla_policy))
        .routes(routes!(settings::get_settings, settings::put_settings))
        .routes(routes!(analytics::summary))
        .routes(routes!(analytics::series))
        .routes(routes!(analytics::breakdown))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(
            webhooks::get_one,
            webhooks::patch,
            webhooks::delete
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(webhooks::test))
        .split_for_parts();
    incident_runtime::api::openapi::finish(&mut doc);
    (router, doc)
}

/// The full router, the OpenAPI document included.
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = routes();
    let api = api.route(
        WHOLE_OPENAPI_PATH,
        get(|| async { ([(CONTENT_TYPE, "application/json")], WHOLE_OPENAPI) }),
    );
    incident_runtime::api::openapi::serve_document(api, OPENAPI_PATH, doc, BODY_LIMIT)
        .with_state(state)
}

/// Core's part of the OpenAPI document (for the snapshot test and the merge).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}
