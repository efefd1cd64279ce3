//! The postmortem service's pages, under `/ui/postmortems` (the Ingress routes that
//! prefix here; in the stack they share core's port, and core serves the shell's assets
//! and the sign-in): the list, a postmortem (sections, computed impact, frozen timeline,
//! the action item board) with its forms and Markdown download, and the workspace's
//! action items; and the postmortem settings page (`/ui/settings/postmortems`, routed
//! here by the Ingress too). The shell (layout, sessions, CSRF) is the shared
//! `incident-web` crate.
//!
//! The postmortem's page is live (`…/events`, the shell's SSE helper fed like core's
//! incident page): a change to its incident's action items, by anyone anywhere, or a
//! section edited elsewhere re-fetches its document and board fragments.
//!
//! Handlers are adapters like the API's: they resolve the session, find what is named
//! under the session's reader (404 otherwise), call the same domain function the API's
//! handler calls, and render or redirect.

pub mod action_items;
pub mod error;
pub mod pages;
pub mod postmortems;
pub mod settings;
pub mod store;

use axum::routing::{get, post};
use axum::{Extension, Router};
use incident_web::sse::Hub;

use crate::AppState;

/// Every page route, for the Ingress check (`tests/system/ingress.rs`).
pub const ROUTES: &[&str] = &[
    "/ui/postmortems",
    "/ui/postmortems/action-items",
    "/ui/postmortems/action-items/{id}",
    "/ui/postmortems/{ref}",
    "/ui/postmortems/{ref}/edit",
    "/ui/postmortems/{ref}/document",
    "/ui/postmortems/{ref}/board",
    "/ui/postmortems/{ref}/events",
    "/ui/postmortems/{ref}/sections/{section}",
    "/ui/postmortems/{ref}/review",
    "/ui/postmortems/{ref}/publish",
    "/ui/postmortems/{ref}/draft",
    "/ui/postmortems/{ref}/export.md",
    "/ui/postmortems/{ref}/action-items",
    "/ui/settings/postmortems",
    "/ui/settings/postmortems/template",
    "/ui/settings/postmortems/template/reset",
    "/ui/settings/postmortems/tracker",
    "/ui/settings/postmortems/tracker/remove",
];

/// The pages; `hub` feeds the postmortem page's live updates.
pub fn router(hub: Hub) -> Router<AppState> {
    Router::new()
        .route("/ui/postmortems", get(postmortems::list))
        .route("/ui/postmortems/action-items", get(action_items::list))
        .route(
            "/ui/postmortems/action-items/{id}",
            post(action_items::change),
        )
        .route(
            "/ui/postmortems/{ref}",
            get(postmortems::page).post(postmortems::save_all),
        )
        .route("/ui/postmortems/{ref}/edit", get(postmortems::edit_form))
        .route(
            "/ui/postmortems/{ref}/document",
            get(postmortems::document_fragment),
        )
        .route(
            "/ui/postmortems/{ref}/board",
            get(postmortems::board_fragment),
        )
        .route("/ui/postmortems/{ref}/events", get(postmortems::events))
        .route(
            "/ui/postmortems/{ref}/sections/{section}",
            get(postmortems::section_form).post(postmortems::save_section),
        )
        .route("/ui/postmortems/{ref}/review", post(postmortems::review))
        .route("/ui/postmortems/{ref}/publish", post(postmortems::publish))
        .route("/ui/postmortems/{ref}/draft", post(postmortems::draft))
        .route(
            "/ui/postmortems/{ref}/export.md",
            get(postmortems::export_markdown),
        )
        .route(
            "/ui/postmortems/{ref}/action-items",
            post(action_items::create),
        )
        .route(
            settings::PAGE,
            get(settings::page).post(settings::save_settings),
        )
        .route(
            "/ui/settings/postmortems/template",
            post(settings::save_template),
        )
        .route(
            "/ui/settings/postmortems/template/reset",
            post(settings::reset_template),
        )
        .route(
            "/ui/settings/postmortems/tracker",
            post(settings::save_tracker),
        )
        .route(
            "/ui/settings/postmortems/tracker/remove",
            post(settings::remove_tracker),
        )
        .layer(Extension(hub))
}
