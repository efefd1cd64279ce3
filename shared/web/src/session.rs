//! Browser sessions.
//!
//! Signing in opens a session for an API token that was verified exactly like the API's
//! bearer auth (`find_active_api_token` on its SHA-256): the browser gets a cookie holding
//! a fresh random secret, and `web_sessions` stores only the secret's SHA-256 (migration
//! `0070_web.sql`). The cookie is `HttpOnly`, `SameSite=Lax`, `Path=/`, expires with the
//! session, and is `Secure` when the request came over HTTPS (directly or through a proxy
//! saying so in `X-Forwarded-Proto` / `Forwarded`).
//!
//! A session authenticates as its API token: the same workspace, user and role. Every
//! lookup joins the token, so revoking the token (or its expiry) ends every session
//! opened with it at once; signing out revokes the session itself. Sessions never carry
//! instance administration (creating workspaces stays with the API).
//!
//! The sign-in seam: [`open`] takes a verified [`ApiToken`]. The login form verifies a
//! pasted token; OpenID Connect, when it comes, will verify an ID token, find or create
//! the user and its token, and call the same function.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use incident_runtime::api::auth::{Auth, AuthState};
use incident_runtime::api::token;
use incident_schema::AccessRole;
use incident_schema::auth::{ApiToken, find_active_api_token};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::csrf;
use crate::shell::Viewer;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "incident_session";
/// How long a session lasts (never longer than its token).
pub const LIFETIME: Duration = Duration::hours(12);
/// Where a request without a session is sent.
pub const LOGIN_PATH: &str = "/ui/login";

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The session's id.
    pub id: Uuid,
    /// What the session may do: its token's workspace, user and role.
    pub auth: Auth,
    /// Who is signed in, for the navigation.
    pub viewer: Viewer,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

impl WebSession {
    /// Whether the session's role includes `role`.
    pub fn may(&self, role: AccessRole) -> bool {
        self.auth.role.includes(role)
    }
}

/// A newly opened session: the cookie secret (handed to the browser once) and when it ends.
#[derive(Debug)]
pub struct Opened {
    /// The cookie value.
    pub secret: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Verifies a pasted API token like the bearer auth does; none if it is unknown,
/// revoked or expired.
pub async fn verify_token(
    conn: &mut PgConnection,
    secret: &str,
) -> Result<Option<ApiToken>, sqlx::Error> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Ok(None);
    }
    find_active_api_token(conn, &token::hash(secret)).await
}

/// Opens a session for a verified token. It ends after [`LIFETIME`], or when the token
/// does if that is sooner.
pub async fn open(conn: &mut PgConnection, token: &ApiToken) -> Result<Opened, sqlx::Error> {
    // Sessions that ended more than a day ago are of no use to anyone: signing in prunes
    // them (by the expiry index), so the table holds roughly the live ones.
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < now() - interval '1 day'")
        .execute(&mut *conn)
        .await?;
    let generated = token::generate();
    let mut expires_at = Utc::now() + LIFETIME;
    if let Some(token_end) = token.expires_at {
        expires_at = expires_at.min(token_end);
    }
    sqlx::query(
        "INSERT INTO web_sessions (workspace_id, api_token_id, session_hash, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token.workspace_id)
    .bind(token.id)
    .bind(&generated.hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(Opened {
        secret: generated.secret,
        expires_at,
    })
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    expires_at: DateTime<Utc>,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    role: AccessRole,
    token_id: Uuid,
    token_name: String,
    display_name: Option<String>,
}

/// The live session whose cookie is `secret`: neither expired nor signed out, and its
/// token neither revoked nor expired.
pub async fn find(
    conn: &mut PgConnection,
    secret: &str,
) -> Result<Option<WebSession>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.id, s.expires_at, t.workspace_id, t.user_id, t.role, t.id AS token_id,
                t.name AS token_name, u.display_name
         FROM web_sessions s
         JOIN api_tokens t ON t.id = s.api_token_id AND t.workspace_id = s.workspace_id
         LEFT JOIN users u ON u.id = t.user_id
         WHERE s.session_hash = $1
           AND s.revoked_at IS NULL AND s.expires_at > now()
           AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
    )
    .bind(token::hash(secret))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| WebSession {
        id: r.id,
        auth: Auth {
            workspace_id: r.workspace_id,
            user_id: r.user_id,
            role: r.role,
            token_id: r.token_id,
            instance_admin: false,
        },
        viewer: Viewer::new(r.display_name.unwrap_or(r.token_name), r.role),
        csrf: csrf::token_for(secret),
        expires_at: r.expires_at,
    }))
}

/// Signs a session out; later requests with its cookie are refused.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE web_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Whether the browser reached us over HTTPS: a TLS-terminating proxy says so in
/// `X-Forwarded-Proto: https` or `Forwarded: proto=https`.
pub fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    let forwarded = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value for cookie `name`: HttpOnly, SameSite=Lax, Path=/, `Secure` over
/// HTTPS; `max_age` none deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let age = max_age.map_or(0, |d| d.num_seconds().max(0));
    let secure = if secure { "; Secure" } else { "" };
    let value = if max_age.is_some() { value } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The session cookie for a newly opened session.
pub fn session_cookie(opened: &Opened, secure: bool) -> (axum::http::HeaderName, HeaderValue) {
    let age = opened.expires_at - Utc::now();
    (
        SET_COOKIE,
        set_cookie(COOKIE_NAME, &opened.secret, Some(age), secure),
    )
}

/// Why a page could not find a session: the browser is sent to sign in.
#[derive(Debug)]
pub enum SessionRejection {
    /// No live session; sign in and come back to `next`.
    SignIn {
        /// The page that was asked for.
        next: String,
    },
    /// The database failed.
    Database(sqlx::Error),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::SignIn { next } => {
                let mut to = String::from(LOGIN_PATH);
                if next.starts_with("/ui/") && !next.starts_with("/ui/login") {
                    to.push_str("?next=");
                    to.push_str(&crate::shell::url_encode(&next));
                }
                let mut response = Redirect::to(&to).into_response();
                // htmx follows a redirect inside the fragment it asked for; tell it to
                // load the sign-in page as a whole page instead.
                if let Ok(v) = HeaderValue::from_str(&to) {
                    response.headers_mut().insert("hx-redirect", v);
                }
                response
            }
            SessionRejection::Database(e) => {
                tracing::error!(error = %e, "session lookup failed");
                crate::shell::error_page(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "The database is not reachable; try again shortly.",
                )
            }
        }
    }
}

impl<S: AuthState> FromRequestParts<S> for WebSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(found) = parts.extensions.get::<WebSession>() {
            return Ok(found.clone());
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/ui/incidents".to_owned(), |p| p.as_str().to_owned());
        let Some(secret) = read_cookie(&parts.headers, COOKIE_NAME) else {
            return Err(SessionRejection::SignIn { next });
        };
        let mut conn = state
            .auth_pool()
            .acquire()
            .await
            .map_err(SessionRejection::Database)?;
        let found = find(&mut conn, secret)
            .await
            .map_err(SessionRejection::Database)?;
        let session = found.ok_or(SessionRejection::SignIn { next })?;
        parts.extensions.insert(session.clone());
        Ok(session)
    }
}
