//! The HTTP surface: thin adapters that parse, authenticate, call one domain function
//! and map the result.
//!
//! - `/webhooks/{alertmanager|grafana|grafana_oncall|generic}/{integration}`: alerts in, authenticated
//!   by the integration's secret ([`webhooks`]);
//! - `/webhooks/pagerduty/{integration}` and `/webhooks/pagerduty/v2/enqueue`: PagerDuty
//!   Events API v2 events, the routing key as the secret ([`pagerduty`]);
//! - `/webhooks/opsgenie[/{integration}]/v2/alerts[/{alias}/close]`: Opsgenie's Alert
//!   API, the `GenieKey` as the secret ([`opsgenie`]);
//! - `/api/v1/integrations…`: integration management, for admins ([`integrations`]);
//! - `/api/v1/alert-groups…`: groups with their explanations, for any token
//!   ([`alert_groups`]);
//! - `/api/v1/ingestion/openapi.json`: the OpenAPI document of all of the above.

pub mod alert_groups;
pub mod integration_auth;
pub mod integrations;
pub mod opsgenie;
pub mod pagerduty;
pub mod webhooks;

use axum::http::HeaderMap;
use axum::http::header::HOST;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Largest accepted request body: Alertmanager batches a whole group in one notification.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/ingestion/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "incident ingestion",
        description = "Alerts in (Alertmanager, Grafana, Grafana OnCall, PagerDuty Events API v2, Opsgenie's Alert API, generic webhooks), integrations, alert groups and declare rules."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = [])),
    components(schemas(incident_runtime::api::problem::Problem))
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "integration_secret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The integration's secret, as a bearer token or as the `token` query parameter",
                    ))
                    .build(),
            ),
        );
    }
}

/// The routes and the OpenAPI document describing them.
pub fn routes() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(webhooks::alertmanager))
        .routes(routes!(webhooks::grafana))
        .routes(routes!(webhooks::generic))
        .routes(routes!(webhooks::grafana_oncall))
        .routes(routes!(pagerduty::receive))
        .routes(routes!(pagerduty::enqueue))
        .routes(routes!(opsgenie::create))
        .routes(routes!(opsgenie::close))
        .routes(routes!(opsgenie::create_by_key))
        .routes(routes!(opsgenie::close_by_key))
        .routes(routes!(integrations::list, integrations::create))
        .routes(routes!(
            integrations::get_one,
            integrations::patch,
            integrations::delete
        ))
        .routes(routes!(integrations::rotate_secret))
        .routes(routes!(integrations::dry_run))
        .routes(routes!(alert_groups::list))
        .routes(routes!(alert_groups::get_one))
        .split_for_parts();
    incident_runtime::api::openapi::finish(&mut doc);
    (router, doc)
}

/// The full router, the OpenAPI document included.
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = routes();
    incident_runtime::api::openapi::serve_document(api, OPENAPI_PATH, doc, BODY_LIMIT)
        .with_state(state)
}

/// The OpenAPI document (for the snapshot test and tooling).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The base of the URLs we hand out: `INCIDENT_PUBLIC_URL` when set, else the request's
/// `Host` (with `X-Forwarded-Proto`'s scheme when a proxy says `https`).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}
