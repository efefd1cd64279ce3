//! RFC 9457 problem documents with stable `type`s (`https://incident.dev/problems/<code>`).
//!
//! Every error a service answers is one, the framework's own included: [`normalise`] turns
//! axum's plain-text or empty rejections (a malformed query string or path, an oversized
//! body, a wrong method) into problems, and [`no_route`] answers unknown paths. Both are
//! installed once for every binary by [`crate::server::serve`].

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://incident.dev/problems/";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem: `https://incident.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, human-readable summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened here.
    pub detail: String,
    /// The offending field, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For illegal transitions: the statuses allowed from the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed: Option<serde_json::Value>,
}

/// A problem ready to be answered.
#[derive(Debug, Clone)]
pub struct ApiProblem {
    /// HTTP status.
    pub status: StatusCode,
    /// The body (boxed: errors travel in `Result`s and should stay small).
    pub problem: Box<Problem>,
}

impl ApiProblem {
    /// A problem with a stable `code` (the last segment of its `type`).
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            problem: Box::new(Problem {
                problem_type: format!("{PROBLEM_BASE}{code}"),
                title: title.to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                field: None,
                allowed: None,
            }),
        }
    }

    /// A 422 validation problem naming `field`.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        );
        p.problem.field = Some(field.into());
        p
    }

    /// A 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        )
    }

    /// A 401.
    pub fn unauthorized(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    /// A 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// A database failure: logged here, answered without its text (503 when the database
    /// is unreachable, else 500). A data exception (SQLSTATE class 22: a value the
    /// database cannot hold, such as a NUL character in text or a number out of range) is
    /// the client's input, answered 422.
    pub fn database(error: &sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = error
            && db.code().is_some_and(|c| c.starts_with("22"))
        {
            tracing::warn!(%error, "a request carried a value the database cannot store");
            return Self::validation(
                "body",
                format!("a value cannot be stored: {}", db.message()),
            );
        }
        tracing::error!(%error, "database error while handling a request");
        let unavailable = matches!(
            error,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ) || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")));
        if unavailable {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the database is unavailable; try again",
            )
        } else {
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request could not be completed; try again",
            )
        }
    }
}

/// The stable code and title of a status the framework answers by itself.
fn framework_code(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad-request", "Bad request"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "Unauthorized"),
        StatusCode::FORBIDDEN => ("forbidden", "Forbidden"),
        StatusCode::NOT_FOUND => ("not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "Request timeout"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("validation", "Invalid request"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "Service unavailable"),
        s if s.is_server_error() => ("internal", "Internal error"),
        _ => ("http-error", "Request failed"),
    }
}

/// Turns an error response that is not already a problem (axum's plain-text rejections,
/// an empty 405, a panic caught as 500) into one with the same status, keeping `Allow`
/// and `Retry-After`. Errors a service answers with another JSON shape on purpose (the
/// readiness report) are left alone: only empty and `text/plain` bodies are rewritten.
pub async fn normalise(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let (code, title) = framework_code(status);
    // A server error's text (a panic message) is for the log, not the client.
    let detail = if text.is_empty() || status.is_server_error() {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".to_owned(),
            s if s.is_server_error() => "the request could not be completed; try again".to_owned(),
            _ => title.to_owned(),
        }
    } else {
        text
    };
    let mut problem = ApiProblem::new(status, code, title, detail).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// The fallback for a path no route serves.
pub async fn no_route(method: Method, uri: Uri) -> ApiProblem {
    ApiProblem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!("no route serves {method} {}", uri.path()),
    )
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(*self.problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
