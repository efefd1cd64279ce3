//! Ingestion's pages, under `/ui/alerts` and `/ui/integrations` (the Ingress routes those
//! prefixes here; in the stack they share core's port, and core serves the sign-in and
//! the shell's assets):
//!
//! - the workspace's alert groups with their state and alert counts, and one group with
//!   its alerts and why it grouped and what it decided. They read what the API reads
//!   ([`crate::ingest::view`]) under the session's reader: a group linked to an incident
//!   the viewer may not read, another workspace's and a missing one are the same 404, and
//!   left out of the list. Reading needs any role; there is nothing to post.
//! - the integrations ([`integrations`]): list, create, webhook URL, secret rotation,
//!   declare rules ([`rules_text`]: the API's validation, with the line at fault), the
//!   dry run; forms for admins.

pub mod integrations;
pub mod pages;
pub mod rules_text;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use incident_schema::AlertGroupStatus;
use incident_web::shell::{Section, Shell, error_page};
use incident_web::view::{Choice, When};
use incident_web::{WebSession, render};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use self::pages::{AlertRow, GroupPage, GroupRow, GroupsPage};
use crate::AppState;
use crate::ingest::view::{self, AlertGroupView, GroupFilter};

/// Every page route, for the Ingress check (`tests/system/ingress.rs`).
pub const ROUTES: &[&str] = &[
    "/ui/alerts",
    "/ui/alerts/{id}",
    "/ui/integrations",
    "/ui/integrations/{id}",
    "/ui/integrations/{id}/rotate",
    "/ui/integrations/{id}/rules",
    "/ui/integrations/{id}/enabled",
    "/ui/integrations/{id}/dry-run",
];

/// Groups a page shows.
const PAGE_SIZE: i64 = 50;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/alerts", get(list))
        .route("/ui/alerts/{id}", get(group))
        .route(
            "/ui/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route("/ui/integrations/{id}", get(integrations::page))
        .route(
            "/ui/integrations/{id}/rotate",
            get(integrations::rotate_form).post(integrations::rotate),
        )
        .route(
            "/ui/integrations/{id}/rules",
            axum::routing::post(integrations::save_rules),
        )
        .route(
            "/ui/integrations/{id}/enabled",
            axum::routing::post(integrations::set_enabled),
        )
        .route(
            "/ui/integrations/{id}/dry-run",
            axum::routing::post(integrations::dry_run),
        )
}

/// A page that could not be served.
pub struct PageError(StatusCode, &'static str);

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "page failed on the database");
        Self(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again shortly.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0, None, self.1)
    }
}

async fn references(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    groups: &[&AlertGroupView],
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let ids: Vec<Uuid> = groups.iter().filter_map(|g| g.incident_id).collect();
    let rows: Vec<(Uuid, incident_schema::IncidentNumber)> =
        sqlx::query_as("SELECT id, number FROM incidents WHERE workspace_id = $1 AND id = ANY($2)")
            .bind(workspace_id)
            .bind(&ids)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, n.to_string()))
        .collect())
}

fn row(g: &AlertGroupView, refs: &HashMap<Uuid, String>) -> GroupRow {
    GroupRow {
        id: g.id.to_string(),
        title: g.title.clone(),
        status: g.status.to_string(),
        decision: g.decision.as_str().to_owned(),
        severity: g.severity.map(|s| s.to_string()),
        service: g.service.clone(),
        firing: g.firing_count,
        alerts: g.alert_count,
        incident: g.incident_id.and_then(|i| refs.get(&i).cloned()),
        opened: When::of(g.opened_at),
        last_alert: When::of(g.last_alert_at),
    }
}

/// The list's query (the API's filters that make sense in a form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
}

/// `GET /ui/alerts`: newest first, 50 a page, by status.
pub async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let status = match q.status.trim() {
        "" => None,
        s => Some(
            s.parse::<AlertGroupStatus>()
                .map_err(|_| PageError(StatusCode::UNPROCESSABLE_ENTITY, "Unknown status."))?,
        ),
    };
    let before = match q.before.trim() {
        "" => None,
        b => Some(
            b.parse::<Uuid>()
                .map_err(|_| PageError(StatusCode::UNPROCESSABLE_ENTITY, "Unknown page."))?,
        ),
    };
    let filter = GroupFilter {
        status,
        integration_id: None,
        incident_id: None,
        before,
        limit: Some(PAGE_SIZE),
    };
    let mut conn = state.pool.acquire().await?;
    let groups = view::list(&mut conn, &session.auth.reader(), &filter).await?;
    let refs = references(
        &mut conn,
        session.auth.workspace_id,
        &groups.iter().collect::<Vec<_>>(),
    )
    .await?;
    let next = (groups.len() as i64 == PAGE_SIZE)
        .then(|| groups.last())
        .flatten()
        .map(|last| {
            let mut pairs = vec![("before", last.id.to_string())];
            if !q.status.is_empty() {
                pairs.push(("status", q.status.clone()));
            }
            format!(
                "/ui/alerts?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        });
    let statuses: Vec<&str> = AlertGroupStatus::ALL.iter().map(|s| s.as_str()).collect();
    Ok(render(&GroupsPage {
        shell: Shell::signed_in("Alert groups", &session, Section::AlertGroups),
        statuses: Choice::of(&statuses, q.status.trim()),
        rows: groups.iter().map(|g| row(g, &refs)).collect(),
        next,
    }))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn labels(value: &serde_json::Value) -> String {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `GET /ui/alerts/{id}`: the group, why it grouped and decided, its alerts.
pub async fn group(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let missing = PageError(
        StatusCode::NOT_FOUND,
        "No such alert group, or you may not see it.",
    );
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(missing);
    };
    let mut conn = state.pool.acquire().await?;
    let Some(detail) = view::get(&mut conn, &session.auth.reader(), id).await? else {
        return Err(missing);
    };
    let refs = references(&mut conn, session.auth.workspace_id, &[&detail.group]).await?;
    let g = &detail.group;
    Ok(render(&GroupPage {
        shell: Shell::signed_in(
            format!("Alert group {}", g.title),
            &session,
            Section::AlertGroups,
        ),
        group: row(g, &refs),
        group_key: g.group_key.clone(),
        labels: labels(&g.labels.0),
        explanation: pretty(&g.explanation.0),
        alerts: detail
            .alerts
            .iter()
            .map(|a| AlertRow {
                fingerprint: a.fingerprint.clone(),
                status: a.status.to_string(),
                labels: labels(&a.labels.0),
                starts: When::of(a.starts_at),
                last_seen: When::of(a.last_seen_at),
                notifications: a.notification_count,
            })
            .collect(),
    }))
}
