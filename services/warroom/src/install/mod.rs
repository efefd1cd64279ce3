//! Installing the Slack app per workspace with OAuth v2 (issue 17).
//!
//! 1. `GET /slack/install?workspace=<id>`: an admin of that workspace (bearer token, the
//!    same auth as every API route; another workspace's id answers 404) is redirected to
//!    Slack's authorize page with our client id, the bot scopes we use ([`BOT_SCOPES`]),
//!    the redirect URL (`INCIDENT_PUBLIC_URL` + [`CALLBACK_PATH`]) and a fresh `state`.
//!    Why an authenticated admin and not a signed link: a link is a bearer credential of
//!    its own that works for whoever holds it until it expires, and it needs a second
//!    secret and a route to mint it; the admin's token is already how every change to a
//!    workspace is authorised, and the single-use state is what carries that
//!    authorisation across Slack's redirect.
//! 2. `GET /slack/oauth/callback?code&state`: the state is taken once (unknown, reused or
//!    older than ten minutes: 400, `bad-request`, field `state`; a browser is sent to the
//!    settings page instead, which says what failed, see [`InstallFailure`]); `oauth.v2.access`
//!    exchanges the code; the bot token is sealed with `INCIDENT_SECRETS_KEY` and stored
//!    with the team, the enterprise, the bot user and the scopes. A reinstall replaces the
//!    token. A Slack team another workspace of ours is installed in is refused (409).
//! 3. Enterprise Grid: an organisation-wide install (`is_enterprise_install`, `team`
//!    null) is stored for the enterprise; requests from any of its teams without an
//!    install of their own route to it. An org token must name the team a channel is
//!    created in: `GET /slack/install?team=T…` chooses it (passed to Slack's authorize
//!    page as the preselected team, kept with the state); without it an org install
//!    is refused (400, field `team`) and nothing is stored.
//!
//! The token is never logged and never put in an event; the state is stored only as its
//! SHA-256. Without `INCIDENT_SLACK_CLIENT_ID` both routes answer 409 `not-configured`.

pub mod store;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use incident_runtime::Config;
use incident_runtime::api::auth::Auth;
use incident_runtime::api::problem::{ApiProblem, Code};
use incident_runtime::api::token;
use incident_runtime::sealed::SealingKey;
use incident_schema::AccessRole;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::slack::SlackClient;
use crate::slack::form;

/// Where an admin starts the install.
pub const INSTALL_PATH: &str = "/slack/install";
/// Where Slack sends the browser back (the manifest's `redirect_urls`).
pub const CALLBACK_PATH: &str = "/slack/oauth/callback";

/// The bot scopes the war room uses, as `deploy/slack/manifest.yaml` lists them.
pub const BOT_SCOPES: &[&str] = &[
    "channels:manage",
    "channels:write.topic",
    "channels:write.invites",
    "channels:read",
    "channels:join",
    "groups:write",
    "groups:read",
    "reactions:read",
    "chat:write",
    "im:write",
    "pins:write",
    "bookmarks:write",
    "users:read",
    "users:read.email",
    "commands",
];

/// The install flow's settings, when the app's client id is configured.
#[derive(Clone)]
pub struct OAuthSettings {
    /// The app's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: SecretString,
    /// Slack's authorize page.
    pub authorize_url: String,
    /// Our callback's public URL.
    pub redirect_url: String,
    /// Seals the bot tokens.
    pub key: SealingKey,
    /// The Web API base (for `oauth.v2.access`).
    pub api_url: String,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

impl OAuthSettings {
    /// From the configuration (checked complete at load), or `None` when the install flow
    /// is off.
    pub fn from_config(config: &Config) -> Option<Self> {
        let client_id = config.slack_client_id.clone()?.trim().to_owned();
        let public = config.public_url.as_deref()?.trim_end_matches('/');
        Some(Self {
            client_id,
            client_secret: config.slack_client_secret.clone()?,
            authorize_url: config.slack_oauth_url.clone(),
            redirect_url: format!("{public}{CALLBACK_PATH}"),
            key: config.sealing_key()?,
            api_url: config.slack_api_url.clone(),
        })
    }
}

fn not_configured() -> ApiProblem {
    ApiProblem::new(
        Code::NotConfigured,
        "installing Slack per workspace is off: set INCIDENT_SLACK_CLIENT_ID, INCIDENT_SLACK_CLIENT_SECRET, INCIDENT_SECRETS_KEY and INCIDENT_PUBLIC_URL",
    )
}

fn bad_state(detail: &str) -> ApiProblem {
    let mut p = ApiProblem::new(Code::BadRequest, detail);
    p.problem.field = Some("state".to_owned());
    p
}

/// The install's query.
#[derive(Debug, Deserialize)]
pub struct InstallQuery {
    /// The workspace to install for (the token's own when absent).
    #[serde(default)]
    pub workspace: Option<String>,
    /// The Slack team to preselect on Slack's page, and where an organisation-wide
    /// install creates war rooms (`T…`).
    #[serde(default)]
    pub team: Option<String>,
}

/// `GET /slack/install`: redirects an admin of the workspace to Slack's authorize page.
#[tracing::instrument(skip_all, fields(workspace_id), err(Debug))]
pub async fn install(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<InstallQuery>,
) -> Result<Response, ApiProblem> {
    // Another workspace (or no such one) answers 404, before the role is looked at.
    if let Some(asked) = query.workspace.as_deref()
        && asked.parse::<Uuid>().ok() != Some(auth.workspace_id)
    {
        return Err(ApiProblem::not_found("workspace"));
    }
    tracing::Span::current().record("workspace_id", tracing::field::display(auth.workspace_id));
    auth.require(AccessRole::Admin)?;
    let Some(oauth) = &state.oauth else {
        return Err(not_configured());
    };
    let team = query
        .team
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(team) = team
        && !(team.starts_with('T')
            && team.len() <= 32
            && team.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        let mut p = ApiProblem::new(Code::BadRequest, "`team` must be a Slack team id (T…)");
        p.problem.field = Some("team".to_owned());
        return Err(p);
    }
    // 192 random bits, as API tokens have; only the hash is stored.
    let generated = token::generate();
    store::begin_flow(
        &state.pool,
        &generated.hash,
        auth.workspace_id,
        auth.user_id,
        team,
    )
    .await
    .map_err(|e| ApiProblem::database(&e))?;
    let scopes = BOT_SCOPES.join(",");
    let mut pairs = vec![
        ("client_id", oauth.client_id.as_str()),
        ("scope", scopes.as_str()),
        ("redirect_uri", oauth.redirect_url.as_str()),
        ("state", generated.secret.as_str()),
    ];
    if let Some(team) = team {
        pairs.push(("team", team));
    }
    let query = form::encode(pairs);
    let location = format!("{}?{query}", oauth.authorize_url);
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// The callback's query, as Slack sends it.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    /// The code to exchange.
    #[serde(default)]
    pub code: Option<String>,
    /// Our state, back.
    #[serde(default)]
    pub state: Option<String>,
    /// Set instead of `code` when the user cancelled (`access_denied`).
    #[serde(default)]
    pub error: Option<String>,
}

/// Why an install failed, as the war room's settings page names it to a browser
/// (`/ui/settings/war-room?install_error=<code>`): a stable code, never text from the
/// request, so the page says only what it wrote itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallFailure {
    /// Installing per workspace is off on this server.
    NotConfigured,
    /// The state is missing, unknown, used or older than ten minutes.
    BadState,
    /// The person cancelled on Slack's page, or Slack did not authorise the install.
    Denied,
    /// Slack sent no code.
    NoCode,
    /// Slack refused the code or granted something unusable.
    SlackRefused,
    /// An organisation-wide install without the team war rooms are created in.
    TeamRequired,
    /// The Slack team is installed for another workspace.
    TeamTaken,
    /// Something failed on our side.
    Failed,
}

impl InstallFailure {
    /// The code in the settings page's query.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::BadState => "state",
            Self::Denied => "denied",
            Self::NoCode => "code",
            Self::SlackRefused => "slack",
            Self::TeamRequired => "team_required",
            Self::TeamTaken => "team_taken",
            Self::Failed => "failed",
        }
    }

    /// The code parsed.
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::NotConfigured,
            Self::BadState,
            Self::Denied,
            Self::NoCode,
            Self::SlackRefused,
            Self::TeamRequired,
            Self::TeamTaken,
            Self::Failed,
        ]
        .into_iter()
        .find(|f| f.as_str() == code)
    }

    /// What the settings page says.
    pub const fn message(self) -> &'static str {
        match self {
            Self::NotConfigured => "Installing Slack per workspace is off on this server.",
            Self::BadState => {
                "The install link expired or was already used (it works once, for ten minutes). Nothing was installed."
            }
            Self::Denied => {
                "The install was cancelled in Slack, or Slack did not authorise it. Nothing was installed."
            }
            Self::NoCode => "Slack sent back no authorisation code. Nothing was installed.",
            Self::SlackRefused => "Slack refused the install. Nothing was installed.",
            Self::TeamRequired => {
                "An organisation-wide install must name the team its war rooms are created in. Nothing was installed."
            }
            Self::TeamTaken => {
                "That Slack team is already installed for another workspace. Nothing was installed."
            }
            Self::Failed => "The install failed on our side. Nothing was installed.",
        }
    }
}

/// `GET /slack/oauth/callback`: checks the state, exchanges the code and stores the
/// installation; answers it as JSON, or a browser with a redirect to the war room's
/// settings page. A failure is problem+json for API clients; a browser (its `Accept`
/// names HTML) is sent to the settings page with `?install_error=<code>`, which says what
/// went wrong and offers to install again.
pub async fn callback(
    state: State<AppState>,
    headers: axum::http::HeaderMap,
    query: Query<CallbackQuery>,
) -> Response {
    let html = wants_html(&headers);
    match exchange(state, html, query).await {
        Ok(answer) => answer,
        Err((failure, _)) if html => axum::response::Redirect::to(&format!(
            "{}?install_error={}",
            crate::ui::SETTINGS_PAGE,
            failure.as_str()
        ))
        .into_response(),
        Err((_, problem)) => problem.into_response(),
    }
}

/// The callback's work; a failure carries its kind for a browser and its problem for an
/// API client.
#[tracing::instrument(skip_all, fields(workspace_id, team_id), err(Debug))]
async fn exchange(
    State(state): State<AppState>,
    html: bool,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, (InstallFailure, ApiProblem)> {
    use InstallFailure as F;
    let Some(oauth) = &state.oauth else {
        return Err((F::NotConfigured, not_configured()));
    };
    let Some(flow_state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err((F::BadState, bad_state("the OAuth state is missing")));
    };
    let Some((workspace_id, channel_team)) =
        store::take_flow(&state.pool, &token::hash(flow_state))
            .await
            .map_err(|e| (F::Failed, ApiProblem::database(&e)))?
    else {
        return Err((
            F::BadState,
            bad_state(
                "the OAuth state is unknown, already used or expired; start again from /slack/install",
            ),
        ));
    };
    tracing::Span::current().record("workspace_id", tracing::field::display(workspace_id));
    if let Some(error) = &query.error {
        return Err((
            F::Denied,
            ApiProblem::new(
                Code::BadRequest,
                format!("Slack did not authorise the install: {error}"),
            ),
        ));
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        let mut p = ApiProblem::new(Code::BadRequest, "the OAuth code is missing");
        p.problem.field = Some("code".to_owned());
        return Err((F::NoCode, p));
    };
    let grant = SlackClient::oauth_v2_access(
        &oauth.api_url,
        &oauth.client_id,
        &oauth.client_secret,
        code,
        &oauth.redirect_url,
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "Slack refused the OAuth code");
        (
            F::SlackRefused,
            ApiProblem::new(
                Code::Upstream,
                format!(
                    "Slack refused the install: {}",
                    e.code().unwrap_or(e.kind())
                ),
            ),
        )
    })?;
    let enterprise_id = grant.enterprise.as_ref().map(|e| e.id.clone());
    // What the install is named by in answers and logs: the team, or the organisation.
    let (team_id, team, channel_team_id) = if grant.is_enterprise_install {
        let Some(enterprise) = enterprise_id.clone() else {
            return Err((
                F::SlackRefused,
                ApiProblem::new(
                    Code::Upstream,
                    "Slack granted an organisation-wide install without an enterprise",
                ),
            ));
        };
        let Some(channel_team) = channel_team else {
            let mut p = ApiProblem::new(
                Code::BadRequest,
                "an organisation-wide install must name the team its war rooms are created in: start again from /slack/install?team=T…",
            );
            p.problem.field = Some("team".to_owned());
            return Err((F::TeamRequired, p));
        };
        (None, enterprise, Some(channel_team))
    } else {
        let Some(team) = grant.team.as_ref().map(|t| t.id.clone()) else {
            return Err((
                F::SlackRefused,
                ApiProblem::new(Code::Upstream, "Slack granted no team"),
            ));
        };
        (Some(team.clone()), team, None)
    };
    tracing::Span::current().record("team_id", team.as_str());
    let granted = store::Granted {
        team_id: team_id.clone(),
        enterprise_id,
        is_enterprise_install: grant.is_enterprise_install,
        channel_team_id,
        bot_user_id: grant.bot_user_id.clone(),
        bot_token_sealed: oauth.key.seal(
            secrecy::ExposeSecret::expose_secret(&grant.access_token),
            &store::token_aad(workspace_id),
        ),
        scopes: grant
            .scope
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    match store::save(&state.pool, workspace_id, &granted).await {
        Ok(()) => {}
        Err(store::SaveError::TeamTaken) => {
            return Err((
                F::TeamTaken,
                ApiProblem::new(
                    Code::Conflict,
                    format!("Slack team {team} is already installed for another workspace"),
                ),
            ));
        }
        Err(store::SaveError::Database(e)) => {
            return Err((F::Failed, ApiProblem::database(&e)));
        }
    }
    tracing::info!(%workspace_id, team_id = %team, scopes = granted.scopes.len(), "Slack installed for the workspace");
    // A browser (the settings page's "Install to Slack") goes back to the settings page,
    // which shows the installation; any other client gets the installation as JSON.
    if html {
        return Ok(axum::response::Redirect::to(crate::ui::SETTINGS_PAGE).into_response());
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "workspace_id": workspace_id,
            "team_id": team_id,
            "enterprise_id": granted.enterprise_id,
            "is_enterprise_install": granted.is_enterprise_install,
            "channel_team_id": granted.channel_team_id,
            "bot_user_id": granted.bot_user_id,
            "scopes": granted.scopes,
        })),
    )
        .into_response())
}

/// Whether the request is a browser's navigation (its `Accept` names HTML).
fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = include_str!("../../../../deploy/slack/manifest.yaml");

    /// The manifest's bot scopes: the list items under `bot:`.
    fn manifest_scopes() -> Vec<&'static str> {
        MANIFEST
            .lines()
            .skip_while(|l| l.trim() != "bot:")
            .skip(1)
            .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with(['-', '#']))
            .filter_map(|l| l.trim().strip_prefix("- "))
            .collect()
    }

    #[test]
    fn the_manifest_asks_for_exactly_the_scopes_the_install_asks_for_and_names_the_callback() {
        let mut manifest = manifest_scopes();
        manifest.sort_unstable();
        let mut ours = BOT_SCOPES.to_vec();
        ours.sort_unstable();
        assert_eq!(manifest, ours);
        assert!(MANIFEST.contains(&format!("https://incident.example.com{CALLBACK_PATH}")));
        assert!(MANIFEST.contains("- app_uninstalled") && MANIFEST.contains("- tokens_revoked"));
        // Organisation-wide installs (Enterprise Grid) are accepted, so the app allows them.
        assert!(MANIFEST.contains("org_deploy_enabled: true"));
        for sub in [
            "declare", "list", "status", "severity", "update", "assign", "resolve",
        ] {
            assert!(
                MANIFEST.contains(&format!("| {sub}")) || MANIFEST.contains(&format!("\"{sub} ")),
                "the usage hint names {sub}"
            );
        }
    }
}
