//! The integration pages, under `/ui/integrations`: the list (kind, name, webhook URL,
//! state) with the create form, an integration's page (its webhook URL to copy, the
//! secret shown once after creating or rotating, its declare rules, the dry run), and the
//! confirm step of a rotation.
//!
//! Reading needs any role (a webhook URL holds no secret); every form is for admins,
//! as the API is, and a viewer's or responder's page offers none. Each form is a plain
//! POST with the session's CSRF token that calls the function the API's handler calls
//! (`integration::create`, `update`, `rotate_secret`, `ingest::dry_run`). A secret is
//! rendered only in the answer to the POST that made it (never stored, never in a URL);
//! every other form answers 303 back to the page. Another workspace's integration and a
//! missing one are the same 404.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use incident_schema::{AccessRole, Integration, IntegrationKind};
use incident_web::shell::{Section, Shell, error_page, render_status};
use incident_web::view::{Choice, When};
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::{
    DryRunGroup, DryRunView, IntegrationPage, IntegrationRow, IntegrationsPage, RotatePage,
    ShownSecret,
};
use super::rules_text;
use crate::AppState;
use crate::error::IngestError;
use crate::http::base_url;
use crate::ingest::{self, IngestOutcome};
use crate::integration::{
    self, IntegrationPatch, IntegrationView, IntegrationWithSecret, NewIntegration, store,
};
use crate::source;

/// A page that could not be served: the status the API answers for the error, as HTML.
#[derive(Debug)]
pub enum UiError {
    /// The domain refused or failed.
    Domain(IngestError),
    /// The viewer's role does not allow the write (their page offered no such control).
    Forbidden,
}

impl From<IngestError> for UiError {
    fn from(e: IngestError) -> Self {
        Self::Domain(e)
    }
}

impl From<sqlx::Error> for UiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Domain(IngestError::Database(e))
    }
}

fn missing() -> UiError {
    UiError::Domain(IngestError::NotFound("integration"))
}

/// The status a page answers for `e` (the API's).
fn status_of(e: &IngestError) -> StatusCode {
    match e {
        IngestError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        IngestError::Malformed(_) => StatusCode::BAD_REQUEST,
        IngestError::NotFound(_) => StatusCode::NOT_FOUND,
        IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        IngestError::Disabled => StatusCode::FORBIDDEN,
        IngestError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Conflict(_) => StatusCode::CONFLICT,
        IngestError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a page says for `e`: the API's detail, never a database's text.
fn message_of(e: &IngestError) -> String {
    match e {
        IngestError::NotFound(_) => "No such integration, or it is not of your workspace.".into(),
        IngestError::Database(db) => {
            tracing::error!(error = %db, "page failed on the database");
            "Something went wrong on our side; try again shortly.".into()
        }
        other => other.to_string(),
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            Self::Domain(e) => error_page(status_of(&e), None, &message_of(&e)),
            Self::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                None,
                "Only workspace admins change integrations.",
            ),
        }
    }
}

type PageResult = Result<Response, UiError>;

/// Refuses a non-admin's write with 403.
fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Admin) {
        Ok(())
    } else {
        Err(UiError::Forbidden)
    }
}

fn row_of(view: &IntegrationView) -> IntegrationRow {
    IntegrationRow {
        id: view.id.to_string(),
        kind: view.kind.to_string(),
        name: view.name.clone(),
        enabled: view.enabled,
        webhook_url: view.webhook_url.clone(),
    }
}

fn parse_id(id: &str) -> Result<Uuid, UiError> {
    id.parse().map_err(|_| missing())
}

/// The integration `id` of the session's workspace; 404 otherwise.
async fn find(state: &AppState, session: &WebSession, id: &str) -> Result<Integration, UiError> {
    let id = parse_id(id)?;
    let mut conn = state.pool.acquire().await?;
    store::get(&mut conn, session.auth.workspace_id, id)
        .await?
        .ok_or_else(missing)
}

/// What the integration's page shows besides the integration itself.
#[derive(Default)]
struct Extras {
    secret: Option<ShownSecret>,
    rules: Option<String>,
    rules_error: Option<String>,
    rules_saved: bool,
    payload: String,
    dry_run_error: Option<String>,
    dry_run: Option<DryRunView>,
}

fn integration_page(
    session: &WebSession,
    row: Integration,
    base: &str,
    status: StatusCode,
    extras: Extras,
) -> Response {
    let view = IntegrationView::new(row, base);
    render_status(
        status,
        &IntegrationPage {
            shell: Shell::signed_in(
                format!("Integration {}", view.name),
                session,
                Section::Integrations,
            ),
            integration: row_of(&view),
            grouping_key: view.grouping_key.clone(),
            max_incidents_per_minute: view.max_incidents_per_minute,
            secret: extras.secret,
            rules: extras
                .rules
                .unwrap_or_else(|| rules_text::text_of(&view.rules)),
            rules_error: extras.rules_error,
            rules_saved: extras.rules_saved,
            payload: extras.payload,
            dry_run_error: extras.dry_run_error,
            dry_run: extras.dry_run,
            created: When::of(view.created_at),
        },
    )
}

fn kinds(chosen: &str) -> Vec<Choice> {
    let values: Vec<&str> = IntegrationKind::ALL.iter().map(|k| k.as_str()).collect();
    Choice::of(&values, chosen)
}

async fn list_page(
    state: &AppState,
    session: &WebSession,
    headers: &HeaderMap,
    status: StatusCode,
    form: (&str, &str),
    error: Option<String>,
) -> PageResult {
    let base = base_url(state, headers);
    let mut conn = state.pool.acquire().await?;
    let rows = store::list(&mut conn, session.auth.workspace_id)
        .await?
        .into_iter()
        .map(|row| row_of(&IntegrationView::new(row, &base)))
        .collect();
    Ok(render_status(
        status,
        &IntegrationsPage {
            shell: Shell::signed_in("Integrations", session, Section::Integrations),
            rows,
            kinds: kinds(form.0),
            name: form.1.to_owned(),
            error,
        },
    ))
}

/// `GET /ui/integrations`: the workspace's integrations, by name.
pub async fn list(
    State(state): State<AppState>,
    session: WebSession,
    headers: HeaderMap,
) -> PageResult {
    list_page(
        &state,
        &session,
        &headers,
        StatusCode::OK,
        ("alertmanager", ""),
        None,
    )
    .await
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct CreatePost {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
}

fn shown(created: IntegrationWithSecret, reason: &str) -> ShownSecret {
    ShownSecret {
        secret: created.secret,
        webhook_url_with_token: created.webhook_url_with_token,
        reason: reason.to_owned(),
    }
}

/// `POST /ui/integrations`: creates one (admin) and shows its page with the secret, once.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: VerifiedForm<CreatePost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let Ok(kind) = form.kind.parse::<IntegrationKind>() else {
        let e = IngestError::invalid("kind", format!("unknown kind {:?}", form.kind));
        let status = status_of(&e);
        return list_page(
            &state,
            &session,
            &headers,
            status,
            (&form.kind, &form.name),
            Some(e.to_string()),
        )
        .await;
    };
    let base = base_url(&state, &headers);
    let input = NewIntegration {
        kind,
        name: form.name.clone(),
        rules: None,
        grouping_key: None,
        max_incidents_per_minute: None,
    };
    let mut conn = state.pool.acquire().await?;
    match integration::create(&mut conn, session.auth.workspace_id, &input, &base).await {
        Ok(created) => {
            let id = created.integration.id;
            let row = store::get(&mut conn, session.auth.workspace_id, id)
                .await?
                .ok_or_else(missing)?;
            Ok(integration_page(
                &session,
                row,
                &base,
                StatusCode::CREATED,
                Extras {
                    secret: Some(shown(created, "created")),
                    ..Extras::default()
                },
            ))
        }
        Err(e @ (IngestError::Validation { .. } | IngestError::Conflict(_))) => {
            drop(conn);
            list_page(
                &state,
                &session,
                &headers,
                status_of(&e),
                (kind.as_str(), &form.name),
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?saved=rules` after a save.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /ui/integrations/{id}`: the integration, its webhook URL, rules and dry run.
pub async fn page(
    State(state): State<AppState>,
    session: WebSession,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(saved): Query<Saved>,
) -> PageResult {
    let row = find(&state, &session, &id).await?;
    Ok(integration_page(
        &session,
        row,
        &base_url(&state, &headers),
        StatusCode::OK,
        Extras {
            rules_saved: saved.saved.as_deref() == Some("rules"),
            ..Extras::default()
        },
    ))
}

/// `GET /ui/integrations/{id}/rotate`: asks before rotating (admin).
pub async fn rotate_form(
    State(state): State<AppState>,
    session: WebSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let row = find(&state, &session, &id).await?;
    require_admin(&session)?;
    let view = IntegrationView::new(row, &base_url(&state, &headers));
    Ok(render(&RotatePage {
        shell: Shell::signed_in(
            format!("Rotate the secret of {}", view.name),
            &session,
            Section::Integrations,
        ),
        integration: row_of(&view),
    }))
}

/// Nothing but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /ui/integrations/{id}/rotate`: replaces the secret (admin) and shows the new one,
/// once; the old one stops working at once.
pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: VerifiedForm<Empty>,
) -> PageResult {
    let session = posted.session;
    let row = find(&state, &session, &id).await?;
    require_admin(&session)?;
    let base = base_url(&state, &headers);
    let mut conn = state.pool.acquire().await?;
    let rotated =
        integration::rotate_secret(&mut conn, session.auth.workspace_id, row.id, &base).await?;
    let row = store::get(&mut conn, session.auth.workspace_id, row.id)
        .await?
        .ok_or_else(missing)?;
    Ok(integration_page(
        &session,
        row,
        &base,
        StatusCode::OK,
        Extras {
            secret: Some(shown(rotated, "rotated")),
            ..Extras::default()
        },
    ))
}

/// The rules form.
#[derive(Debug, Deserialize)]
pub struct RulesPost {
    #[serde(default)]
    rules: String,
}

/// `POST /ui/integrations/{id}/rules`: replaces the declare rules (admin) with the text's,
/// parsed and validated as the API does; a refusal shows the page again with the text
/// as sent and the line at fault (422), and changes nothing.
pub async fn save_rules(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: VerifiedForm<RulesPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let row = find(&state, &session, &id).await?;
    require_admin(&session)?;
    let base = base_url(&state, &headers);
    let parsed = match rules_text::parse(&form.rules) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Ok(integration_page(
                &session,
                row,
                &base,
                StatusCode::UNPROCESSABLE_ENTITY,
                Extras {
                    rules: Some(form.rules),
                    rules_error: Some(e.to_string()),
                    ..Extras::default()
                },
            ));
        }
    };
    let patch = IntegrationPatch {
        rules: Some(parsed),
        ..IntegrationPatch::default()
    };
    let mut conn = state.pool.acquire().await?;
    integration::update(&mut conn, session.auth.workspace_id, row.id, &patch).await?;
    Ok(Redirect::to(&format!("/ui/integrations/{}?saved=rules", row.id)).into_response())
}

/// The enable/disable form.
#[derive(Debug, Deserialize)]
pub struct EnabledPost {
    #[serde(default)]
    enabled: String,
}

/// `POST /ui/integrations/{id}/enabled`: enables or disables it (admin).
pub async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: VerifiedForm<EnabledPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let row = find(&state, &session, &id).await?;
    require_admin(&session)?;
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(
                IngestError::invalid("enabled", format!("{other:?} is not true or false")).into(),
            );
        }
    };
    let patch = IntegrationPatch {
        enabled: Some(enabled),
        ..IntegrationPatch::default()
    };
    let mut conn = state.pool.acquire().await?;
    integration::update(&mut conn, session.auth.workspace_id, row.id, &patch).await?;
    Ok(Redirect::to(&format!("/ui/integrations/{}", row.id)).into_response())
}

/// The dry run form.
#[derive(Debug, Deserialize)]
pub struct DryRunPost {
    #[serde(default)]
    payload: String,
}

/// The outcome as the page shows it.
pub fn dry_run_view(outcome: &IngestOutcome) -> DryRunView {
    DryRunView {
        alerts: outcome.alerts,
        new_alerts: outcome.new_alerts,
        groups: outcome
            .alert_groups
            .iter()
            .map(|g| DryRunGroup {
                title: g.title.clone(),
                group_key: g.group_key.clone(),
                change: if g.opened {
                    "opened"
                } else if g.resolved {
                    "resolved"
                } else {
                    "updated"
                }
                .to_owned(),
                decision: g.decision.as_str().to_owned(),
                firing: g.firing_count,
                alerts: g.alert_count,
                explanation: serde_json::to_string_pretty(&g.explanation).unwrap_or_default(),
            })
            .collect(),
        messages: outcome
            .messages
            .iter()
            .map(|m| format!("{} {}", m.kind, m.message_type))
            .collect(),
    }
}

/// `POST /ui/integrations/{id}/dry-run`: what the payload would do (admin), computed by
/// the pipeline in a transaction that is rolled back, as the API's dry run.
pub async fn dry_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: VerifiedForm<DryRunPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let row = find(&state, &session, &id).await?;
    require_admin(&session)?;
    let base = base_url(&state, &headers);
    let outcome = match source::parse(row.kind, form.payload.as_bytes(), Utc::now()) {
        Ok(notification) => ingest::dry_run(&state.pool, &row, &notification).await,
        Err(e) => Err(e),
    };
    let (status, extras) = match outcome {
        Ok(outcome) => (
            StatusCode::OK,
            Extras {
                dry_run: Some(dry_run_view(&outcome)),
                payload: form.payload,
                ..Extras::default()
            },
        ),
        Err(e @ IngestError::Database(_)) => return Err(e.into()),
        Err(e) => (
            status_of(&e),
            Extras {
                dry_run_error: Some(e.to_string()),
                payload: form.payload,
                ..Extras::default()
            },
        ),
    };
    Ok(integration_page(&session, row, &base, status, extras))
}
