//! The web app's incident pages and the public status page, served by core (it owns
//! what they change). The shell (layout, assets, sessions, CSRF, live updates) is the
//! shared `incident-web` crate.
//!
//! - `/ui/login`, `/ui/logout` ([`signin`]): the token login form and sign-out;
//! - `/ui/login/sso`, `/ui/login/sso/callback` ([`sso`]): single sign-on with OpenID
//!   Connect, when it is configured;
//! - `/ui/incidents...` ([`incidents`]): the list, the declare form, an incident's page,
//!   its forms and its live event stream;
//! - `/ui/analytics` ([`analytics`], charts drawn by [`chart`]) and its CSV download;
//! - `/ui/settings/status-page` and `/status/{slug}` ([`status_page`]);
//! - `/ui/settings/users` (and `/{id}`), `/ui/settings/tokens` and `/ui/settings/sla` ([`admin`]):
//!   the admin's users, API tokens and SLA policies.
//!
//! Handlers are adapters like the API's: they resolve the session, call the same domain
//! functions (`declare`, `lifecycle`, `change`) in a transaction and render. The pages
//! write no SQL of their own; what they read that the API has no function for lives in
//! [`store`]. An incident is looked up with [`crate::incident::query::find`] under the
//! session's reader, so a PRIVATE incident the viewer may not read, another workspace's
//! and a missing one are the same 404 page.

pub mod admin;
pub mod analytics;
pub mod chart;
pub mod error;
pub mod incidents;
pub mod pages;
pub mod signin;
pub mod sso;
pub mod status_page;
pub mod store;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use incident_runtime::api::auth::AuthState;
use incident_runtime::api::token_cache::TokenCache;
use incident_web::sse::Hub;
use sqlx::PgPool;

use crate::AppState;

/// What the pages share: core's state and the live-update hub.
#[derive(Clone)]
pub struct UiState {
    /// Core's state (pool, bus).
    pub app: AppState,
    /// The fan-out of incident changes to open pages.
    pub hub: Hub,
    /// Single sign-on, when configured.
    pub sso: Option<sso::Sso>,
}

impl AuthState for UiState {
    fn auth_pool(&self) -> &PgPool {
        &self.app.pool
    }

    fn token_cache(&self) -> &TokenCache {
        &self.app.tokens
    }
}

/// The pages, the assets and the status page; single sign-on's routes answer only when
/// `sso` is given.
pub fn router(app: AppState, sso: Option<sso::Sso>) -> Router {
    let state = UiState {
        hub: Hub::new(app.pool.clone()),
        app,
        sso,
    };
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/incidents") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/incidents") }))
        .route("/ui/login", get(signin::form).post(signin::submit))
        .route("/ui/login/sso", get(sso::start))
        .route("/ui/login/sso/callback", get(sso::callback))
        .route("/ui/logout", post(signin::logout))
        .route(
            "/ui/incidents",
            get(incidents::list).post(incidents::declare),
        )
        .route("/ui/incidents/rows", get(incidents::list_rows))
        .route("/ui/incidents/events", get(incidents::list_events))
        .route("/ui/incidents/new", get(incidents::declare_form))
        .route("/ui/incidents/{id}", get(incidents::page))
        .route("/ui/incidents/{id}/head", get(incidents::head))
        .route("/ui/incidents/{id}/timeline", get(incidents::timeline))
        .route("/ui/incidents/{id}/events", get(incidents::events))
        .route("/ui/incidents/{id}/status", post(incidents::change_status))
        .route("/ui/incidents/{id}/roles", post(incidents::assign_role))
        .route("/ui/incidents/{id}/entries", post(incidents::add_entry))
        .route(
            "/ui/settings/status-page",
            get(status_page::settings).post(status_page::save_settings),
        )
        .route(
            "/ui/settings/users",
            get(admin::users).post(admin::add_user),
        )
        .route(
            "/ui/settings/users/{id}",
            get(admin::user).post(admin::save_user),
        )
        .route(
            "/ui/settings/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route(
            "/ui/settings/tokens/{id}/revoke",
            get(admin::revoke_form).post(admin::revoke),
        )
        .route("/ui/settings/sla", get(admin::sla))
        .route("/ui/settings/sla/{severity}", post(admin::save_sla))
        .route("/ui/analytics", get(analytics::page))
        .route("/ui/analytics/export.csv", get(analytics::export))
        .route("/status/{slug}", get(status_page::page))
        .route("/status/{slug}/feed.atom", get(status_page::feed))
        .route("/status/{slug}/index.json", get(status_page::json))
        .merge(incident_web::assets::routes())
        .with_state(state)
}
