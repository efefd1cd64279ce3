//! The war room's settings page, `/ui/settings/war-room` (the Ingress routes that path
//! here; in the stack it shares core's port, and core serves the sign-in and the shell's
//! assets): which severities get a channel, drills, archiving, the announcement channel,
//! and the workspace's Slack installation with the link that installs the app.
//!
//! For admins, as the API's `PUT` is and as the other settings pages are: anyone else
//! is answered 403 (the navigation offers it to admins only). The form is a plain POST
//! with the session's CSRF token, saved through [`crate::admin::validated`] like the API.
//!
//! A failed install comes back here from Slack's redirect with `?install_error=<code>`
//! (see [`InstallFailure`]): the Slack section says what went wrong and offers to install
//! again.
//!
//! "Install to Slack" links `/slack/install?workspace=<id>`, whose handler takes an
//! API token; [`session_as_auth`] lets a signed-in browser through it by resolving the
//! session cookie to the session's `Auth` (the token it was opened with) when the
//! request has no `Authorization` header. A cross-site link there only sends the admin
//! to Slack's consent page for their own workspace, where nothing happens without them.

pub mod pages;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use incident_schema::{AccessRole, Severity};
use incident_web::shell::{Section, Shell, error_page, render_status};
use incident_web::view::{Choice, When};
use incident_web::{VerifiedForm, WebSession};
use serde::Deserialize;

use self::pages::{SettingsPage, SlackState};
use crate::AppState;
use crate::error::WarRoomError;
use crate::install::{self, InstallFailure, store as installs};
use crate::store::{self, Settings};

/// The page's path.
pub const SETTINGS_PAGE: &str = "/ui/settings/war-room";

/// Every page route, for the Ingress check (`tests/system/ingress.rs`).
pub const ROUTES: &[&str] = &[SETTINGS_PAGE];

/// The page.
pub fn router() -> Router<AppState> {
    Router::new().route(SETTINGS_PAGE, get(page).post(save))
}

/// A page that could not be served.
pub struct UiError(StatusCode, String);

impl From<WarRoomError> for UiError {
    fn from(e: WarRoomError) -> Self {
        match e {
            WarRoomError::Validation { .. } => {
                Self(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            WarRoomError::Database(db) => db.into(),
        }
    }
}

impl From<sqlx::Error> for UiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "page failed on the database");
        Self(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again shortly.".to_owned(),
        )
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        error_page(self.0, None, &self.1)
    }
}

fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Admin) {
        Ok(())
    } else {
        Err(UiError(
            StatusCode::FORBIDDEN,
            "Only workspace admins change the war room's settings.".to_owned(),
        ))
    }
}

/// The Slack team an installation serves, as the page names it: its team, or for an
/// Enterprise Grid organisation-wide install the organisation (and the team its war rooms
/// are created in).
fn team_label(i: &installs::Installation) -> String {
    match (&i.team_id, &i.enterprise_id) {
        (Some(team), _) if !i.is_enterprise_install => team.clone(),
        (_, Some(org)) => match &i.channel_team_id {
            Some(team) => format!("organisation {org} (war rooms in {team})"),
            None => format!("organisation {org}"),
        },
        (Some(team), None) => team.clone(),
        (None, None) => "unknown team".to_owned(),
    }
}

/// The workspace's Slack installation as the page shows it.
async fn slack_state(state: &AppState, session: &WebSession) -> Result<SlackState, sqlx::Error> {
    let found = installs::installation(&state.pool, session.auth.workspace_id).await?;
    Ok(match found {
        Some(i) => match (i.uninstalled_at, i.uninstall_reason.clone()) {
            (Some(at), reason) => SlackState::Uninstalled {
                team_id: team_label(&i),
                reason: reason.unwrap_or_else(|| "uninstalled".to_owned()),
                at: When::of(at),
            },
            (None, _) => SlackState::Installed {
                team_id: team_label(&i),
                bot_user_id: i.bot_user_id,
                installed: When::of(i.installed_at),
            },
        },
        None if state.teams.single().is_some() => SlackState::SingleToken,
        None => SlackState::None,
    })
}

async fn show(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    settings: &Settings,
    notice: Notice,
    error: Option<String>,
) -> Result<Response, UiError> {
    let slack = slack_state(state, session).await?;
    let install_url = state.oauth.is_some().then(|| {
        format!(
            "{}?workspace={}",
            install::INSTALL_PATH,
            session.auth.workspace_id
        )
    });
    let severities = Severity::ALL
        .iter()
        .map(|s| {
            Choice::new(
                s.as_str(),
                s.as_str(),
                settings.severities.iter().any(|c| c == s.as_str()),
            )
        })
        .collect();
    Ok(render_status(
        status,
        &SettingsPage {
            shell: Shell::signed_in("War room", session, Section::WarRoomSettings),
            slack,
            install_url,
            severities,
            drills: settings.drills,
            archive_on_close: settings.archive_on_close,
            announcement_channel: settings.announcement_channel.clone().unwrap_or_default(),
            saved: notice.saved,
            install_error: notice.install_error.map(InstallFailure::message),
            error,
        },
    ))
}

/// What the page says above its sections, from the query a redirect left.
#[derive(Debug, Default, Clone, Copy)]
struct Notice {
    /// The settings were just saved.
    saved: bool,
    /// An install from this browser just failed.
    install_error: Option<InstallFailure>,
}

/// `?saved=1` after a save; `?install_error=<code>` after a failed install
/// ([`InstallFailure`]: a code, so the page never repeats text from the URL).
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    install_error: Option<String>,
}

/// `GET /ui/settings/war-room` (admin).
pub async fn page(
    State(state): State<AppState>,
    session: WebSession,
    Query(saved): Query<Saved>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let settings = store::settings(&state.pool, session.auth.workspace_id).await?;
    let notice = Notice {
        saved: saved.saved.is_some(),
        // An unknown code still says the install failed.
        install_error: saved
            .install_error
            .as_deref()
            .map(|code| InstallFailure::parse(code).unwrap_or(InstallFailure::Failed)),
    };
    show(&state, &session, StatusCode::OK, &settings, notice, None).await
}

/// The settings form: checkboxes are sent only when checked, `severities` once per box.
#[derive(Debug, Default)]
pub struct SettingsPost {
    severities: Vec<String>,
    drills: bool,
    archive_on_close: bool,
    announcement_channel: String,
}

impl<'de> Deserialize<'de> for SettingsPost {
    /// From the form's pairs (serde_urlencoded gives repeated keys as pairs, not a list).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(d)?;
        let mut form = SettingsPost::default();
        for (key, value) in pairs {
            match key.as_str() {
                "severities" => form.severities.push(value),
                "drills" => form.drills = true,
                "archive_on_close" => form.archive_on_close = true,
                "announcement_channel" => form.announcement_channel = value,
                _ => {}
            }
        }
        Ok(form)
    }
}

/// `POST /ui/settings/war-room` (admin): saves through the API's validation; a refusal
/// shows the form again as sent (422) and changes nothing.
pub async fn save(
    State(state): State<AppState>,
    posted: VerifiedForm<SettingsPost>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let sent = Settings {
        severities: form.severities,
        drills: form.drills,
        archive_on_close: form.archive_on_close,
        announcement_channel: Some(form.announcement_channel),
    };
    match crate::admin::validated(sent.clone()) {
        Ok(settings) => {
            store::put_settings(&state.pool, session.auth.workspace_id, &settings).await?;
            tracing::info!(workspace_id = %session.auth.workspace_id, "war room settings changed");
            Ok(Redirect::to(&format!("{SETTINGS_PAGE}?saved=1")).into_response())
        }
        Err(e @ WarRoomError::Validation { .. }) => {
            let message = e.to_string();
            show(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &sent,
                Notice::default(),
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Lets a signed-in browser reach a route that takes an API token (`/slack/install`):
/// a request without `Authorization` whose session cookie is live gets the session's
/// `Auth`, which the route's extractor takes as it would the token's. Anything else
/// passes unchanged (and is refused by the route as before).
pub async fn session_as_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.headers().contains_key(AUTHORIZATION)
        && let Some(secret) = incident_web::session::read_cookie(
            request.headers(),
            incident_web::session::COOKIE_NAME,
        )
        .map(str::to_owned)
    {
        match state.pool.acquire().await {
            Ok(mut conn) => match incident_web::session::find(&mut conn, &secret).await {
                Ok(Some(session)) => {
                    request.extensions_mut().insert(session.auth);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "session lookup failed"),
            },
            Err(e) => tracing::warn!(error = %e, "session lookup failed"),
        }
    }
    next.run(request).await
}
