//! Sign-in with OpenID Connect: `/ui/login/sso` sends the browser to the identity
//! provider, `/ui/login/sso/callback` brings it back signed in.
//!
//! The start keeps the sign-in's nonce and PKCE verifier server-side
//! ([`crate::access::sso::remember`], ten minutes, single use) and hands the browser
//! only the state, in the provider's URL and in a short-lived `HttpOnly` cookie: the
//! callback must carry the same state as the browser's cookie (so a sign-in started in
//! another browser cannot be finished in this one, which is how login CSRF would work),
//! and the state is taken once (a replayed callback finds nothing). The ID token is
//! verified by `incident_web::oidc`; the person is then found or created in the
//! workspace the sign-in was started for ([`crate::access::sso::sign_in`]) and gets
//! the same session cookie as the token form gives.
//!
//! Every refusal shows the sign-in page again with what went wrong and its stable
//! reason, and is logged with it.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use incident_runtime::metrics::WEB_SSO_SIGN_INS;
use incident_schema::workspace::get_workspace_by_slug;
use incident_web::oidc;
use incident_web::{csrf, session};
use serde::Deserialize;

use super::UiState;
use super::error::UiError;
use super::signin::{login_page, safe_next};
use crate::access::sso::{self, Policy};

/// The cookie carrying a started sign-in's state back to the callback.
pub const STATE_COOKIE: &str = "incident_sso_state";
/// The workspace a sign-in is for when the form names none.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Single sign-on as configured: the provider's client and the first-sign-in policy.
#[derive(Clone, Debug)]
pub struct Sso {
    /// The relying party (one per process: it caches the discovery document and keys).
    pub client: Arc<oidc::Client>,
    /// Who may get a user on first sign-in, and with what role.
    pub policy: Policy,
}

/// `GET /ui/login/sso` query.
#[derive(Debug, Deserialize)]
pub struct Start {
    workspace: Option<String>,
    next: Option<String>,
}

fn refused(
    state: &UiState,
    status: StatusCode,
    headers: &HeaderMap,
    next: String,
    why: String,
) -> Response {
    let mut response = login_page(state, status, headers, next, Some(why));
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(STATE_COOKIE, "", None, session::is_https(headers)),
    );
    response
}

/// `GET /ui/login/sso`: starts a sign-in for the workspace and sends the browser to the
/// identity provider.
#[tracing::instrument(skip_all, err(Debug))]
pub async fn start(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<Start>,
) -> Result<Response, UiError> {
    let next = safe_next(q.next.as_deref());
    let Some(sso) = state.sso.clone() else {
        return Ok(refused(
            &state,
            StatusCode::NOT_FOUND,
            &headers,
            next,
            "Single sign-on is not configured here; sign in with an API token.".into(),
        ));
    };
    let slug = q
        .workspace
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_WORKSPACE)
        .to_ascii_lowercase();
    let mut conn = state.app.pool.acquire().await?;
    let Some(workspace) = get_workspace_by_slug(&mut conn, &slug).await? else {
        return Ok(refused(
            &state,
            StatusCode::NOT_FOUND,
            &headers,
            next,
            format!("There is no workspace {slug:?}."),
        ));
    };
    let started = match sso.client.authorize().await {
        Ok(started) => started,
        Err(refusal) => {
            tracing::warn!(reason = refusal.reason(), error = %refusal, "single sign-on could not start");
            return Ok(refused(
                &state,
                StatusCode::BAD_GATEWAY,
                &headers,
                next,
                match refusal {
                    // Not a passing outage: the provider is not the one configured, or
                    // the configuration lacks what it needs.
                    oidc::Refusal::IssuerMismatch { .. } | oidc::Refusal::TenantsRequired(_) => {
                        format!(
                            "Single sign-on is not set up correctly; ask an administrator to check it (reason: {}).",
                            refusal.reason()
                        )
                    }
                    _ => format!(
                        "The identity provider could not be reached; try again shortly (reason: {}).",
                        refusal.reason()
                    ),
                },
            ));
        }
    };
    sso::remember(&mut conn, workspace.id, &started, &next).await?;
    let mut response = Redirect::to(&started.url).into_response();
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(
            STATE_COOKIE,
            &started.state,
            Some(sso::LOGIN_LIFETIME),
            session::is_https(&headers),
        ),
    );
    Ok(response)
}

/// `GET /ui/login/sso/callback` query: the provider's answer.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /ui/login/sso/callback`: verifies the provider's answer, signs the person in and
/// goes to the page the sign-in was started from.
#[tracing::instrument(skip_all, fields(workspace_id), err(Debug))]
pub async fn callback(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, UiError> {
    let fallback = safe_next(None);
    let Some(sso) = state.sso.clone() else {
        return Ok(refused(
            &state,
            StatusCode::NOT_FOUND,
            &headers,
            fallback,
            "Single sign-on is not configured here; sign in with an API token.".into(),
        ));
    };
    let refuse = |status: StatusCode, reason: &'static str, message: &str| {
        tracing::warn!(reason, "single sign-on refused");
        metrics::counter!(WEB_SSO_SIGN_INS, "outcome" => reason).increment(1);
        refused(
            &state,
            status,
            &headers,
            fallback.clone(),
            format!("Single sign-on did not work: {message} (reason: {reason})."),
        )
    };
    if let Some(error) = &q.error {
        let what = q.error_description.as_deref().unwrap_or(error.as_str());
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "provider_error",
            &format!("the identity provider said {what:?}"),
        ));
    }
    let (Some(code), Some(returned)) = (q.code.as_deref(), q.state.as_deref()) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "incomplete_callback",
            "the identity provider's answer lacks its code or state",
        ));
    };
    let cookie = session::read_cookie(&headers, STATE_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !csrf::same(cookie, returned) {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "state_mismatch",
            "this sign-in was not started in this browser",
        ));
    }
    let mut tx = state.app.pool.begin().await?;
    let Some(pending) = sso::take(&mut tx, returned).await? else {
        tx.commit().await?;
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "unknown_state",
            "this sign-in was already used or has expired; start again",
        ));
    };
    // The state is spent whatever happens next.
    tx.commit().await?;
    tracing::Span::current().record(
        "workspace_id",
        tracing::field::display(pending.workspace_id),
    );
    let identity = match sso
        .client
        .finish(code, &pending.code_verifier, &pending.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(refusal) => {
            tracing::warn!(error = %refusal, "the identity provider's answer was refused");
            return Ok(refuse(
                StatusCode::UNAUTHORIZED,
                refusal.reason(),
                &refusal.to_string(),
            ));
        }
    };
    let mut tx = state.app.pool.begin().await?;
    let signed_in =
        match sso::sign_in(&mut tx, pending.workspace_id, &identity, &sso.policy).await? {
            Ok(signed_in) => signed_in,
            Err(refusal) => {
                return Ok(refuse(
                    StatusCode::FORBIDDEN,
                    refusal.reason(),
                    &refusal.to_string(),
                ));
            }
        };
    let opened = session::open(&mut tx, &signed_in.token).await?;
    tx.commit().await?;
    metrics::counter!(WEB_SSO_SIGN_INS, "outcome" => "signed_in").increment(1);
    tracing::info!(
        workspace_id = %pending.workspace_id,
        user_id = ?signed_in.token.user_id,
        created_user = signed_in.created_user,
        "signed in to the web app with single sign-on"
    );
    let https = session::is_https(&headers);
    let mut response = Redirect::to(&safe_next(Some(&pending.next))).into_response();
    let (name, value) = session::session_cookie(&opened, https);
    response.headers_mut().append(name, value);
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(STATE_COOKIE, "", None, https),
    );
    Ok(response)
}
