//! Cross-site request forgery protection.
//!
//! Every form of a session carries a token derived from the session's secret
//! (`SHA-256("csrf:" + secret)`, hex): a page of another site can neither read the
//! `HttpOnly` cookie nor the token, so it cannot forge a form that passes. Nothing is
//! stored; the token is as long-lived as the session. [`VerifiedForm`] checks it (the
//! `_csrf` field, or an `X-CSRF-Token` header) before the form is parsed, so a POST
//! without it is refused with 403 whatever its body. `SameSite=Lax` on the cookie is a
//! second fence, not the only one.
//!
//! The login form comes before any session: it uses a double-submit token instead (a
//! random value in a short-lived cookie and in the form, which must agree).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_runtime::api::auth::AuthState;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::session::{SessionRejection, WebSession};
use crate::shell::error_page;

/// The form field carrying the token.
pub const FIELD: &str = "_csrf";
/// The header carrying the token (for scripted requests).
pub const HEADER: &str = "x-csrf-token";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "incident_login_csrf";
/// Largest form accepted.
const FORM_LIMIT: usize = 256 * 1024;

/// The CSRF token of the session whose cookie secret is `secret`.
pub fn token_for(secret: &str) -> String {
    Sha256::digest(format!("csrf:{secret}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random token for the login form's double submit.
pub fn login_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Compares in time independent of where the inputs differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A form posted by a signed-in browser, its CSRF token verified.
#[derive(Debug)]
pub struct VerifiedForm<T> {
    /// The session that posted it.
    pub session: WebSession,
    /// The form's fields (the `_csrf` field is not part of `T`; unknown fields are ignored).
    pub form: T,
}

/// Why a posted form was refused.
#[derive(Debug)]
pub enum FormRejection {
    /// No session.
    Session(SessionRejection),
    /// The CSRF token is missing or wrong.
    Forgery,
    /// The body is not a form of the expected shape.
    Malformed(String),
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        match self {
            FormRejection::Session(s) => s.into_response(),
            FormRejection::Forgery => error_page(
                StatusCode::FORBIDDEN,
                None,
                "This form is missing its security token or it is out of date. Go back, reload the page and send it again.",
            ),
            FormRejection::Malformed(why) => error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &format!("The form could not be read: {why}"),
            ),
        }
    }
}

impl<S: AuthState, T: DeserializeOwned> FromRequest<S> for VerifiedForm<T> {
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = WebSession::from_request_parts(&mut parts, state)
            .await
            .map_err(FormRejection::Session)?;
        let header = parts
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|e| FormRejection::Malformed(e.to_string()))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| FormRejection::Malformed(e.to_string()))?;
        let given = fields
            .iter()
            .find_map(|(k, v)| (k == FIELD).then(|| v.clone()))
            .or(header);
        if !given.is_some_and(|g| same(&g, &session.csrf)) {
            tracing::warn!(session_id = %session.id, "form refused: CSRF token missing or wrong");
            return Err(FormRejection::Forgery);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| FormRejection::Malformed(e.to_string()))?;
        Ok(Self { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_session_and_compare_exactly() {
        let a = token_for("inc_a");
        let b = token_for("inc_b");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(same(&a, &token_for("inc_a")));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..63]));
    }
}
