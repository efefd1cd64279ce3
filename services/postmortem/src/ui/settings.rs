//! The postmortem settings page, `/ui/settings/postmortems` (the Ingress routes that
//! prefix here; in the stack it shares core's port): when drafts are made, what the LLM
//! may be shown, the workspace's Markdown template and its issue tracker.
//!
//! For admins, as the API's writes are and as the other settings pages are: anyone else
//! is answered 403 (the navigation offers it to admins only). Every form is a plain POST
//! with the session's CSRF token answered with 303 back to the page (`?saved=…`), and
//! calls the domain function the API's handler calls ([`settings::put`],
//! [`settings::put_template`], [`settings::reset_template`], [`tracker::configure`],
//! [`tracker::remove`]); a refusal shows the page again as sent, with 422 (or the status
//! the API answers) and the message beside its field, and stores nothing.
//!
//! The tracker's credential is write-only: the page says whether one is set, never
//! renders it, and a save with the field left empty keeps the stored one (opened with the
//! sealing key and checked with the tracker again like a new one).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use incident_schema::AccessRole;
use incident_web::shell::{Section, Shell, render_status};
use incident_web::{VerifiedForm, WebSession};
use secrecy::SecretString;
use serde::Deserialize;

use super::error::{UiError, status_of};
use super::pages::{Choice, FieldError, SettingsPage, TrackerForm, When};
use super::postmortems::Empty;
use crate::AppState;
use crate::error::DomainError;
use crate::settings::{self, DraftTrigger, PostmortemSettings};
use crate::tracker::{self, JiraFlavor, TrackerInput, TrackerKind, TrackerView};

/// The page's path.
pub const PAGE: &str = "/ui/settings/postmortems";

type PageResult = Result<Response, UiError>;

/// The draft triggers as the page offers them.
const TRIGGERS: [(DraftTrigger, &str, &str); 3] = [
    (
        DraftTrigger::OnResolve,
        "ON_RESOLVE",
        "When the incident is resolved",
    ),
    (DraftTrigger::OnClose, "ON_CLOSE", "When it is closed"),
    (
        DraftTrigger::OnRequest,
        "ON_REQUEST",
        "Only when someone asks",
    ),
];

/// The tracker form's fields that have a place of their own on the page.
const TRACKER_FIELDS: [&str; 5] = [
    "base_url",
    "username",
    "credential",
    "project",
    "issue_type",
];

fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Admin) {
        Ok(())
    } else {
        Err(UiError::AdminOnly)
    }
}

/// What the page shows besides the stored values: a form sent and refused.
#[derive(Default)]
struct Shown {
    settings: Option<PostmortemSettings>,
    template: Option<String>,
    tracker: Option<TrackerForm>,
    saved: Option<String>,
    error: Option<FieldError>,
}

fn tracker_form(view: Option<&TrackerView>) -> TrackerForm {
    let kind = view.map_or("jira", |v| v.kind.as_str());
    let flavor = match view.and_then(|v| v.jira_flavor) {
        Some(JiraFlavor::Server) => "server",
        _ => "cloud",
    };
    TrackerForm {
        kinds: kinds(kind),
        base_url: view.map(|v| v.base_url.clone()).unwrap_or_default(),
        flavors: flavors(flavor),
        username: view.and_then(|v| v.username.clone()).unwrap_or_default(),
        project: view.map(|v| v.project.clone()).unwrap_or_default(),
        issue_type: view.and_then(|v| v.issue_type.clone()).unwrap_or_default(),
        auto_export: view.is_some_and(|v| v.auto_export),
        configured: view.is_some(),
        updated: view.map(|v| When::of(v.updated_at)),
    }
}

fn kinds(chosen: &str) -> Vec<Choice> {
    [TrackerKind::Jira, TrackerKind::Linear]
        .iter()
        .map(|k| Choice::new(k.as_str(), &k.to_string(), k.as_str() == chosen))
        .collect()
}

fn flavors(chosen: &str) -> Vec<Choice> {
    [
        ("cloud", "Cloud (REST v3)"),
        ("server", "Server or Data Center (REST v2)"),
    ]
    .iter()
    .map(|(v, l)| Choice::new(v, l, *v == chosen))
    .collect()
}

async fn stored_tracker(
    state: &AppState,
    session: &WebSession,
) -> Result<Option<TrackerView>, UiError> {
    let mut conn = state.pool.acquire().await?;
    match tracker::view(&mut conn, session.auth.workspace_id).await {
        Ok(view) => Ok(Some(view)),
        Err(DomainError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn show(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    shown: Shown,
) -> PageResult {
    let workspace_id = session.auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let stored = settings::get(&mut conn, workspace_id).await?;
    let template = settings::template_view(&mut conn, workspace_id).await?;
    drop(conn);
    let current = shown.settings.unwrap_or(stored);
    let stored_tracker = stored_tracker(state, session).await?;
    let mut tracker = shown
        .tracker
        .unwrap_or_else(|| tracker_form(stored_tracker.as_ref()));
    tracker.configured = stored_tracker.is_some();
    tracker.updated = stored_tracker.as_ref().map(|v| When::of(v.updated_at));
    let page = SettingsPage {
        shell: Shell::signed_in("Postmortem settings", session, Section::PostmortemSettings),
        triggers: TRIGGERS
            .iter()
            .map(|(t, value, label)| Choice::new(value, label, *t == current.draft_trigger))
            .collect(),
        llm_allow_private: current.llm_allow_private,
        llm_allow_internal: current.llm_allow_internal,
        template: shown.template.unwrap_or(template.template),
        template_is_default: template.is_default,
        template_updated: template.updated_at.map(When::of),
        tracker,
        can_seal: state.trackers.key.is_some(),
        saved: shown.saved,
        error: shown.error,
    };
    Ok(render_status(status, &page))
}

/// A domain refusal as the page shows it: beside `field` when it names one of the
/// form's fields (`fields`), else at the form's top under `fallback`; a database failure
/// is the error page.
fn refusal(
    e: DomainError,
    fields: &[&str],
    fallback: &str,
) -> Result<(StatusCode, FieldError), UiError> {
    let status = status_of(&e);
    let field_error = match e {
        DomainError::Database(_) => return Err(UiError::Domain(e)),
        DomainError::Validation { field, message } if fields.contains(&field.as_str()) => {
            FieldError { field, message }
        }
        DomainError::Template { line, message } => FieldError {
            field: fallback.to_owned(),
            message: if line > 0 {
                format!("Line {line}: {message}")
            } else {
                message
            },
        },
        other => FieldError {
            field: fallback.to_owned(),
            message: other.to_string(),
        },
    };
    Ok((status, field_error))
}

fn saved(what: &str) -> Response {
    Redirect::to(&format!("{PAGE}?saved={what}")).into_response()
}

/// `?saved=…` after a save.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /ui/settings/postmortems` (admin).
pub async fn page(
    State(state): State<AppState>,
    session: WebSession,
    Query(done): Query<Saved>,
) -> PageResult {
    require_admin(&session)?;
    let shown = Shown {
        saved: done.saved,
        ..Shown::default()
    };
    show(&state, &session, StatusCode::OK, shown).await
}

/// The draft and LLM form: checkboxes are sent only when checked.
#[derive(Debug, Deserialize)]
pub struct SettingsPost {
    #[serde(default)]
    draft_trigger: String,
    #[serde(default)]
    llm_allow_private: Option<String>,
    #[serde(default)]
    llm_allow_internal: Option<String>,
}

/// `POST /ui/settings/postmortems` (admin): the draft trigger and the LLM options.
pub async fn save_settings(
    State(state): State<AppState>,
    posted: VerifiedForm<SettingsPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let sent = PostmortemSettings {
        draft_trigger: DraftTrigger::OnResolve,
        llm_allow_private: form.llm_allow_private.is_some(),
        llm_allow_internal: form.llm_allow_internal.is_some(),
    };
    let Some((trigger, _, _)) = TRIGGERS.iter().find(|(_, v, _)| *v == form.draft_trigger) else {
        let shown = Shown {
            settings: Some(sent),
            error: Some(FieldError {
                field: "settings".to_owned(),
                message: "draft_trigger: choose when drafts are made".to_owned(),
            }),
            ..Shown::default()
        };
        return show(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, shown).await;
    };
    let chosen = PostmortemSettings {
        draft_trigger: *trigger,
        ..sent
    };
    let mut conn = state.pool.acquire().await?;
    settings::put(
        &mut conn,
        session.auth.workspace_id,
        session.auth.user_id,
        &chosen,
    )
    .await?;
    tracing::info!(workspace_id = %session.auth.workspace_id, "postmortem settings changed from the settings page");
    Ok(saved("settings"))
}

/// The template form.
#[derive(Debug, Deserialize)]
pub struct TemplatePost {
    #[serde(default)]
    template: String,
}

/// `POST /ui/settings/postmortems/template` (admin): saves the template if it compiles
/// and renders the sample; otherwise the page again with the text as sent and the error
/// (its line) beside the field, nothing stored.
pub async fn save_template(
    State(state): State<AppState>,
    posted: VerifiedForm<TemplatePost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    // Browsers send a textarea's line breaks as CRLF; the template is stored as written.
    let source = form.template.replace("\r\n", "\n");
    let mut conn = state.pool.acquire().await?;
    let result = settings::put_template(
        &mut conn,
        session.auth.workspace_id,
        session.auth.user_id,
        &source,
    )
    .await;
    drop(conn);
    match result {
        Ok(_) => {
            tracing::info!(workspace_id = %session.auth.workspace_id, "postmortem template changed from the settings page");
            Ok(saved("template"))
        }
        Err(e) => {
            let (status, error) = refusal(e, &["template"], "template")?;
            let shown = Shown {
                template: Some(source),
                error: Some(error),
                ..Shown::default()
            };
            show(&state, &session, status, shown).await
        }
    }
}

/// `POST /ui/settings/postmortems/template/reset` (admin): back to the built-in template.
pub async fn reset_template(
    State(state): State<AppState>,
    posted: VerifiedForm<Empty>,
) -> PageResult {
    let VerifiedForm { session, .. } = posted;
    require_admin(&session)?;
    let mut conn = state.pool.acquire().await?;
    settings::reset_template(&mut conn, session.auth.workspace_id, session.auth.user_id).await?;
    tracing::info!(workspace_id = %session.auth.workspace_id, "postmortem template reset from the settings page");
    Ok(saved("template-reset"))
}

/// The tracker form; fields that do not apply to the kind chosen are ignored.
#[derive(Debug, Deserialize)]
pub struct TrackerPost {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    jira_flavor: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    issue_type: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    auto_export: Option<String>,
}

impl TrackerPost {
    /// The form as shown again after a refusal (the credential never).
    fn shown(&self) -> TrackerForm {
        TrackerForm {
            kinds: kinds(&self.kind),
            base_url: self.base_url.clone(),
            flavors: flavors(&self.jira_flavor),
            username: self.username.clone(),
            project: self.project.clone(),
            issue_type: self.issue_type.clone(),
            auto_export: self.auto_export.is_some(),
            configured: false,
            updated: None,
        }
    }

    /// The API's request, with `credential` (the one sent, or the stored one).
    fn input(&self, credential: SecretString) -> Result<TrackerInput, DomainError> {
        let kind = TrackerKind::parse(self.kind.trim())
            .ok_or_else(|| DomainError::invalid("kind", "choose Jira or Linear"))?;
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let input = match kind {
            TrackerKind::Jira => {
                let flavor = match self.jira_flavor.trim() {
                    "server" => JiraFlavor::Server,
                    _ => JiraFlavor::Cloud,
                };
                TrackerInput {
                    kind,
                    base_url: text(&self.base_url),
                    jira_flavor: Some(flavor),
                    username: match flavor {
                        JiraFlavor::Cloud => text(&self.username),
                        JiraFlavor::Server => None,
                    },
                    credential,
                    project: self.project.clone(),
                    issue_type: text(&self.issue_type),
                    auto_export: self.auto_export.is_some(),
                }
            }
            TrackerKind::Linear => TrackerInput {
                kind,
                base_url: text(&self.base_url),
                jira_flavor: None,
                username: None,
                credential,
                project: self.project.clone(),
                issue_type: None,
                auto_export: self.auto_export.is_some(),
            },
        };
        Ok(input)
    }
}

/// The credential to check and store: the one sent, or with the field left empty the
/// stored one (none: the domain refuses the empty one as the API does).
async fn credential_of(
    state: &AppState,
    session: &WebSession,
    sent: &str,
) -> Result<SecretString, DomainError> {
    if !sent.trim().is_empty() {
        return Ok(SecretString::from(sent.to_owned()));
    }
    let mut conn = state.pool.acquire().await?;
    match state
        .trackers
        .open(&mut conn, session.auth.workspace_id)
        .await
    {
        Ok(Some(stored)) => Ok(stored.credential),
        Ok(None) | Err(DomainError::NotConfigured(_)) => Ok(SecretString::from(String::new())),
        Err(e) => Err(e),
    }
}

/// `POST /ui/settings/postmortems/tracker` (admin): checks the credentials with the
/// tracker and stores the settings sealed, as the API's `PUT` does.
pub async fn save_tracker(
    State(state): State<AppState>,
    posted: VerifiedForm<TrackerPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let result = match credential_of(&state, &session, &form.credential).await {
        Ok(credential) => match form.input(credential) {
            Ok(input) => {
                tracker::configure(
                    &state.pool,
                    &state.trackers,
                    session.auth.workspace_id,
                    session.auth.user_id,
                    &input,
                )
                .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(saved("tracker")),
        Err(e) => {
            let (status, error) = refusal(e, &TRACKER_FIELDS, "tracker")?;
            let shown = Shown {
                tracker: Some(form.shown()),
                error: Some(error),
                ..Shown::default()
            };
            show(&state, &session, status, shown).await
        }
    }
}

/// `POST /ui/settings/postmortems/tracker/remove` (admin): no tracker any more (already
/// none: the same answer).
pub async fn remove_tracker(
    State(state): State<AppState>,
    posted: VerifiedForm<Empty>,
) -> PageResult {
    let VerifiedForm { session, .. } = posted;
    require_admin(&session)?;
    let mut conn = state.pool.acquire().await?;
    tracker::remove(&mut conn, session.auth.workspace_id).await?;
    tracing::info!(workspace_id = %session.auth.workspace_id, "issue tracker removed from the settings page");
    Ok(saved("tracker-removed"))
}
