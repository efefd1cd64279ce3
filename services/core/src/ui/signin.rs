//! Sign-in with an API token (the login form), and sign-out.
//!
//! The form is protected by a double-submit token (cookie and hidden field); the pasted
//! token is verified like the API's bearer auth and exchanged for a session
//! ([`incident_web::session`]); the token itself is never stored in the browser.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use incident_web::shell::{Shell, render_status};
use incident_web::{VerifiedForm, csrf, session};
use serde::Deserialize;

use super::UiState;
use super::error::UiError;
use super::pages::LoginPage;

/// `?next=`.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only our own pages are places to return to.
pub(super) fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/ui/incidents")
        .to_owned()
}

/// The login page: the token form, and the single sign-on button when it is configured.
pub(super) fn login_page(
    state: &UiState,
    status: StatusCode,
    headers: &HeaderMap,
    next: String,
    error: Option<String>,
) -> Response {
    let token = csrf::login_token();
    let cookie = session::set_cookie(
        csrf::LOGIN_COOKIE,
        &token,
        Some(Duration::minutes(30)),
        session::is_https(headers),
    );
    let page = LoginPage {
        shell: Shell::public("Sign in"),
        csrf: token,
        next,
        error,
        sso: state.sso.is_some(),
    };
    let mut response = render_status(status, &page);
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// `GET /ui/login`.
pub async fn form(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    login_page(
        &state,
        StatusCode::OK,
        &headers,
        safe_next(q.next.as_deref()),
        None,
    )
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct Login {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /ui/login`: verifies the token, opens a session, goes to `next`.
pub async fn submit(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Result<Response, UiError> {
    let next = safe_next(login.next.as_deref());
    let expected = session::read_cookie(&headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !csrf::same(expected, &login.csrf) {
        return Ok(login_page(
            &state,
            StatusCode::FORBIDDEN,
            &headers,
            next,
            Some("The form was out of date; sign in again.".to_owned()),
        ));
    }
    let mut conn = state.app.pool.acquire().await?;
    let Some(token) = session::verify_token(&mut conn, &login.token).await? else {
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &headers,
            next,
            Some("That token is unknown, revoked or expired.".to_owned()),
        ));
    };
    let opened = session::open(&mut conn, &token).await?;
    let https = session::is_https(&headers);
    let mut response = Redirect::to(&next).into_response();
    let (name, value) = session::session_cookie(&opened, https);
    response.headers_mut().append(name, value);
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(csrf::LOGIN_COOKIE, "", None, https),
    );
    tracing::info!(workspace_id = %token.workspace_id, token_id = %token.id, "signed in to the web app");
    Ok(response)
}

/// Sign-out carries nothing but its token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /ui/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<UiState>,
    headers: HeaderMap,
    form: VerifiedForm<Empty>,
) -> Result<Response, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    session::revoke(&mut conn, form.session.id).await?;
    let mut response = Redirect::to(session::LOGIN_PATH).into_response();
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(session::COOKIE_NAME, "", None, session::is_https(&headers)),
    );
    Ok(response)
}
