//! The public status page at `/status/{slug}` (no sign-in), its Atom feed
//! (`/status/{slug}/feed.atom`) and JSON form (`/status/{slug}/index.json`), and the
//! admin's setting that turns it on and names it (`/ui/settings/status-page`).
//!
//! Off by default: a workspace without the setting, like a slug that does not exist,
//! answers 404. It shows the workspace's incidents that are neither PRIVATE nor drills,
//! open ones and those of the last 90 days, with their public timeline entries only
//! (never an internal one), the affected services' current state (the worst impact
//! among open incidents) and an overall line. Every answer carries
//! `Cache-Control: public, max-age=30, stale-while-revalidate=60` and an `ETag`
//! (`If-None-Match` answers 304), so a burst of readers during an outage costs a
//! query every 30 seconds per cache, not per reader.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use incident_schema::workspace::{
    StatusPageSettings, get_workspace, get_workspace_by_slug, set_status_page,
};
use incident_schema::{AccessRole, Incident, ServiceImpact, Workspace};
use incident_web::shell::{Section, Shell};
use incident_web::{VerifiedForm, WebSession, render, session};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::UiState;
use super::error::UiError;
use super::pages::{
    PublicIncident, PublicService, PublicUpdate, StatusFeed, StatusPage, StatusSettingsPage,
    StatusView, When,
};
use super::store;
use crate::error::DomainError;

/// How far back "recent" goes.
pub const RECENT_DAYS: i64 = 90;
/// The cache header of every status page answer.
const CACHE: &str = "public, max-age=30, stale-while-revalidate=60";
/// Longest status page name.
const MAX_NAME: usize = 120;

fn state_of(impact: ServiceImpact) -> (&'static str, u8) {
    match impact {
        ServiceImpact::Degraded => ("degraded", 1),
        ServiceImpact::PartialOutage => ("partial_outage", 2),
        ServiceImpact::TotalOutage => ("major_outage", 3),
    }
}

fn summary_of(state: &str) -> &'static str {
    match state {
        "major_outage" => "Major outage",
        "partial_outage" => "Partial outage",
        "degraded" => "Degraded performance",
        _ => "All systems operational",
    }
}

/// Builds what the page shows from the workspace's public incidents.
pub async fn load(
    conn: &mut sqlx::PgConnection,
    workspace: &Workspace,
    settings: &StatusPageSettings,
) -> Result<StatusView, sqlx::Error> {
    let now = Utc::now();
    let incidents: Vec<Incident> =
        store::public_incidents(conn, workspace.id, now - Duration::days(RECENT_DAYS)).await?;
    let ids: Vec<_> = incidents.iter().map(|i| i.id).collect();
    let updates = store::public_updates(conn, workspace.id, &ids).await?;
    let services = store::services(conn, workspace.id, &ids).await?;

    // Every service named by a listed incident: the worst impact among open ones.
    let mut worst: BTreeMap<String, u8> = BTreeMap::new();
    let mut open_without_services = false;
    let mut current = Vec::new();
    let mut recent = Vec::new();
    for incident in &incidents {
        let own: Vec<_> = services
            .iter()
            .filter(|s| s.incident_id == incident.id)
            .collect();
        let open = incident.status.is_open();
        if open && own.is_empty() {
            open_without_services = true;
        }
        for s in &own {
            let level = if open { state_of(s.impact).1 } else { 0 };
            let entry = worst.entry(s.service_name.clone()).or_insert(0);
            *entry = (*entry).max(level);
        }
        let public = PublicIncident {
            reference: incident.number.to_string(),
            title: incident.title.clone(),
            status: incident.status.to_string(),
            open,
            started_at: When::of(incident.detected_at).iso,
            resolved_at: incident.resolved_at.map(|t| When::of(t).iso),
            services: own
                .iter()
                .map(|s| PublicService {
                    name: s.service_name.clone(),
                    state: if open {
                        state_of(s.impact).0
                    } else {
                        "operational"
                    }
                    .to_owned(),
                })
                .collect(),
            updates: updates
                .iter()
                .filter(|u| u.incident_id == incident.id)
                .map(|u| PublicUpdate {
                    id: u.id.to_string(),
                    message: u.message.clone(),
                    at: When::of(u.occurred_at).iso,
                    label: When::of(u.occurred_at).label,
                })
                .collect(),
            updated_at: When::of(incident.updated_at).iso,
        };
        if open {
            current.push(public);
        } else {
            recent.push(public);
        }
    }
    let level_name = |l: u8| match l {
        3 => "major_outage",
        2 => "partial_outage",
        1 => "degraded",
        _ => "operational",
    };
    let mut top = worst.values().copied().max().unwrap_or(0);
    if open_without_services {
        top = top.max(1);
    }
    let state = level_name(top);
    Ok(StatusView {
        name: settings
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| workspace.name.clone()),
        state: state.to_owned(),
        summary: summary_of(state).to_owned(),
        services: worst
            .into_iter()
            .map(|(name, l)| PublicService {
                name,
                state: level_name(l).to_owned(),
            })
            .collect(),
        current,
        recent,
        generated_at: When::of(now).iso,
        path: format!("/status/{}", workspace.slug),
    })
}

async fn published(state: &UiState, slug: &str) -> Result<Option<StatusView>, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    let Some(workspace) = get_workspace_by_slug(&mut conn, slug).await? else {
        return Ok(None);
    };
    let settings = workspace.status_page();
    if !settings.enabled {
        return Ok(None);
    }
    Ok(Some(load(&mut conn, &workspace, &settings).await?))
}

fn not_published() -> Response {
    let mut response = incident_web::shell::error_page(
        StatusCode::NOT_FOUND,
        None,
        "There is no public status page here.",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    response
}

/// A cacheable answer: 304 when the client's `If-None-Match` has this body's tag.
fn cached(headers: &HeaderMap, content_type: &'static str, body: String) -> Response {
    let digest = Sha256::digest(body.as_bytes());
    let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{tag}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, CACHE.to_owned()),
        (header::ETAG, etag),
        (header::VARY, "Accept-Encoding".to_owned()),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn rendered<T: askama::Template>(headers: &HeaderMap, kind: &'static str, t: &T) -> Response {
    match t.render() {
        Ok(body) => cached(headers, kind, body),
        Err(e) => {
            tracing::error!(error = %e, "status page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /status/{slug}`.
pub async fn page(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, UiError> {
    let Some(view) = published(&state, &slug).await? else {
        return Ok(not_published());
    };
    let page = StatusPage {
        shell: Shell::public(view.name.clone()),
        view,
    };
    Ok(rendered(&headers, "text/html; charset=utf-8", &page))
}

/// The absolute base URL of this request (for the feed's ids and links).
fn base_url(headers: &HeaderMap) -> String {
    let scheme = if session::is_https(headers) {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// `GET /status/{slug}/feed.atom`: one entry per public update, newest first.
pub async fn feed(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, UiError> {
    let Some(view) = published(&state, &slug).await? else {
        return Ok(not_published());
    };
    let feed = StatusFeed {
        view,
        base: base_url(&headers),
    };
    Ok(rendered(
        &headers,
        "application/atom+xml; charset=utf-8",
        &feed,
    ))
}

/// `GET /status/{slug}/index.json`: the same content as JSON.
pub async fn json(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, UiError> {
    let Some(view) = published(&state, &slug).await? else {
        return Ok(not_published());
    };
    let body = serde_json::to_string(&view).map_err(|e| DomainError::Conflict(e.to_string()))?;
    Ok(cached(&headers, "application/json", body))
}

fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Admin) {
        Ok(())
    } else {
        Err(UiError(DomainError::Forbidden(
            "only workspace admins change the status page".to_owned(),
        )))
    }
}

/// `?saved=1` after a save.
#[derive(Debug, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /ui/settings/status-page` (admins).
pub async fn settings(
    State(state): State<UiState>,
    session: WebSession,
    Query(saved): Query<Saved>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let mut conn = state.app.pool.acquire().await?;
    let workspace = get_workspace(&mut conn, session.auth.workspace_id)
        .await?
        .ok_or(DomainError::NotFound("workspace"))?;
    let current = workspace.status_page();
    Ok(render(&StatusSettingsPage {
        shell: Shell::signed_in("Status page", &session, Section::Settings),
        enabled: current.enabled,
        name: current.name.unwrap_or_default(),
        path: format!("/status/{}", workspace.slug),
        saved: saved.saved.is_some(),
    }))
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    name: String,
}

/// `POST /ui/settings/status-page` (admins).
pub async fn save_settings(
    State(state): State<UiState>,
    posted: VerifiedForm<SettingsForm>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let name = form.name.trim();
    if name.chars().count() > MAX_NAME || name.contains('\0') {
        return Err(
            DomainError::invalid("name", format!("at most {MAX_NAME} characters, no NUL")).into(),
        );
    }
    let settings = StatusPageSettings {
        enabled: form.enabled.is_some(),
        name: (!name.is_empty()).then(|| name.to_owned()),
    };
    let mut conn = state.app.pool.acquire().await?;
    set_status_page(&mut conn, session.auth.workspace_id, &settings).await?;
    tracing::info!(workspace_id = %session.auth.workspace_id, enabled = settings.enabled, "status page settings changed");
    Ok(Redirect::to("/ui/settings/status-page?saved=1").into_response())
}
