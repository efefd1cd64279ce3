//! RFC 9457 problem documents with stable `type`s (`https://incident.dev/problems/<code>`).
//!
//! [`Code`] is the one table of problem kinds: each stable `type` suffix once, with its
//! HTTP status and title (as meilisearch's `Code`). A service's domain error maps into it
//! with one [`ToProblem`] impl and is answered through [`ApiError`]; database failures are
//! answered by one policy, [`ApiProblem::database`].
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

/// A stable kind of problem: its `type` is [`PROBLEM_BASE`] + [`Code::slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A field is missing, malformed or out of range (422).
    Validation,
    /// The resource does not exist for the caller (404).
    NotFound,
    /// A status move the lifecycle does not allow (409).
    IllegalTransition,
    /// Closing an incident whose postmortem has open action items (409).
    OpenActionItems,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The caller's role does not allow this (403).
    Forbidden,
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// A dependency (the database) is unavailable; try again (503).
    Unavailable,
    /// Something failed on our side (500).
    Internal,
    /// The framework refused the request (400).
    BadRequest,
    /// The route does not take the method (405).
    MethodNotAllowed,
    /// The request took too long (408).
    Timeout,
    /// The body is over the limit (413).
    PayloadTooLarge,
    /// The body's media type is not accepted (415).
    UnsupportedMediaType,
    /// An error status the table has no kind for (the status is the response's own).
    HttpError,
    /// A body that is not JSON at all (400).
    Malformed,
    /// A disabled integration accepts nothing (403).
    IntegrationDisabled,
    /// A postmortem asked for while its incident is open (409).
    IncidentOpen,
    /// Regenerating would overwrite a postmortem a person edited (409).
    PostmortemEdited,
    /// A workspace template does not compile or render (422).
    Template,
    /// An analytics range whose start is not before its end, or too long (422).
    InvalidRange,
    /// A time zone the database does not know (422).
    UnknownTimeZone,
    /// No representation the `Accept` header allows (406).
    NotAcceptable,
    /// Something this needs is not set up: an issue tracker, a secrets key (409).
    NotConfigured,
    /// A service we call on the caller's behalf (an issue tracker) failed (502).
    Upstream,
}

impl Code {
    /// The table: status, `type` suffix and title of each kind, each written once.
    const fn row(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::Validation => (S::UNPROCESSABLE_ENTITY, "validation", "Invalid request"),
            Self::NotFound => (S::NOT_FOUND, "not-found", "Not found"),
            Self::IllegalTransition => (
                S::CONFLICT,
                "illegal-transition",
                "Illegal status transition",
            ),
            Self::OpenActionItems => (S::CONFLICT, "open-action-items", "Open action items"),
            Self::Conflict => (S::CONFLICT, "conflict", "Conflict"),
            Self::Forbidden => (S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Unavailable => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Self::Internal => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            Self::BadRequest => (S::BAD_REQUEST, "bad-request", "Bad request"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Timeout => (S::REQUEST_TIMEOUT, "timeout", "Request timeout"),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::HttpError => (S::BAD_REQUEST, "http-error", "Request failed"),
            Self::Malformed => (S::BAD_REQUEST, "malformed", "Malformed JSON"),
            Self::IntegrationDisabled => {
                (S::FORBIDDEN, "integration-disabled", "Integration disabled")
            }
            Self::IncidentOpen => (S::CONFLICT, "incident-open", "Incident still open"),
            Self::PostmortemEdited => (
                S::CONFLICT,
                "postmortem-edited",
                "Postmortem edited by a person",
            ),
            Self::Template => (S::UNPROCESSABLE_ENTITY, "template", "Invalid template"),
            Self::InvalidRange => (S::UNPROCESSABLE_ENTITY, "invalid-range", "Invalid range"),
            Self::UnknownTimeZone => (
                S::UNPROCESSABLE_ENTITY,
                "unknown-time-zone",
                "Unknown time zone",
            ),
            Self::NotAcceptable => (S::NOT_ACCEPTABLE, "not-acceptable", "Not acceptable"),
            Self::NotConfigured => (S::CONFLICT, "not-configured", "Not configured"),
            Self::Upstream => (S::BAD_GATEWAY, "upstream", "Upstream service failed"),
        }
    }

    /// Every kind, in table order.
    pub const ALL: [Code; 25] = [
        Self::Validation,
        Self::NotFound,
        Self::IllegalTransition,
        Self::OpenActionItems,
        Self::Conflict,
        Self::Forbidden,
        Self::Unauthorized,
        Self::Unavailable,
        Self::Internal,
        Self::BadRequest,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::HttpError,
        Self::Malformed,
        Self::IntegrationDisabled,
        Self::IncidentOpen,
        Self::PostmortemEdited,
        Self::Template,
        Self::InvalidRange,
        Self::UnknownTimeZone,
        Self::NotAcceptable,
        Self::NotConfigured,
        Self::Upstream,
    ];

    /// The kinds the framework answers by status, in the order they are matched.
    const FRAMEWORK: [Code; 10] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::Unavailable,
    ];

    /// The HTTP status it is answered with.
    pub const fn status(self) -> StatusCode {
        self.row().0
    }

    /// The last segment of its `type` URI.
    pub const fn slug(self) -> &'static str {
        self.row().1
    }

    /// Its title.
    pub const fn title(self) -> &'static str {
        self.row().2
    }

    /// Its `type` URI.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }

    /// The kind of an error status the framework answered by itself.
    pub fn for_status(status: StatusCode) -> Self {
        match Self::FRAMEWORK.into_iter().find(|c| c.status() == status) {
            Some(code) => code,
            None if status.is_server_error() => Self::Internal,
            None => Self::HttpError,
        }
    }

    /// The kind a database failure is answered as: a data exception (SQLSTATE class 22: a
    /// value the database cannot hold, such as a NUL character in text or a number out of
    /// range) is the client's input; an unreachable database is unavailable; anything
    /// else is internal.
    pub fn of_database(error: &sqlx::Error) -> Self {
        let sqlstate = |prefixes: &[&str]| match error {
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| prefixes.iter().any(|p| c.starts_with(p))),
            _ => false,
        };
        if sqlstate(&["22"]) {
            Self::Validation
        } else if matches!(
            error,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ) || sqlstate(&["08", "57P"])
        {
            Self::Unavailable
        } else {
            Self::Internal
        }
    }
}

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
    /// Extension members beyond [`Problem`]'s (RFC 9457 §3.2), such as a template's
    /// `line`; `None` for almost every problem.
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl ApiProblem {
    /// A problem of kind `code`, answered with its status.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self::with_status(code, code.status(), detail)
    }

    /// A problem of kind `code` answered with `status` (the framework's own errors, whose
    /// status the kind does not fix).
    pub fn with_status(code: Code, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            problem: Box::new(Problem {
                problem_type: code.type_uri(),
                title: code.title().to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                field: None,
                allowed: None,
            }),
            extensions: None,
        }
    }

    /// Adds the extension member `name`.
    pub fn extend(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.extensions
            .get_or_insert_default()
            .insert(name.to_owned(), value.into());
    }

    /// A 422 validation problem naming `field`.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(Code::Validation, detail);
        p.problem.field = Some(field.into());
        p
    }

    /// A 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }

    /// A 401.
    pub fn unauthorized(detail: &str) -> Self {
        Self::new(Code::Unauthorized, detail)
    }

    /// A 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, detail)
    }

    /// A database failure, classified by [`Code::of_database`]: logged here, answered
    /// without its text (503 when the database is unreachable, else 500), except a data
    /// exception, which is the client's input and answered 422 with the database's reason.
    pub fn database(error: &sqlx::Error) -> Self {
        match Code::of_database(error) {
            Code::Validation => {
                tracing::warn!(%error, "a request carried a value the database cannot store");
                let reason = match error {
                    sqlx::Error::Database(db) => db.message().to_owned(),
                    other => other.to_string(),
                };
                Self::validation("body", format!("a value cannot be stored: {reason}"))
            }
            code => {
                tracing::error!(%error, "database error while handling a request");
                let detail = if code == Code::Unavailable {
                    "the database is unavailable; try again"
                } else {
                    "the request could not be completed; try again"
                };
                Self::new(code, detail)
            }
        }
    }
}

/// A domain error that answers HTTP as a problem: one impl per service maps each variant
/// onto a [`Code`] (its status, `type` and title come from the table).
pub trait ToProblem: std::fmt::Display {
    /// The kind of problem this is.
    fn code(&self) -> Code;

    /// What happened here (by default the error's text).
    fn detail(&self) -> String {
        self.to_string()
    }

    /// The database failure behind this error, if it is one: answered by
    /// [`ApiProblem::database`], whose text never reaches the client.
    fn database(&self) -> Option<&sqlx::Error> {
        None
    }

    /// Members beyond the kind and the detail: `field`, `allowed`, extensions.
    fn extend(&self, _problem: &mut ApiProblem) {}

    /// The problem this error answers with.
    fn problem(&self) -> ApiProblem {
        if let Some(error) = self.database() {
            return ApiProblem::database(error);
        }
        let mut problem = ApiProblem::new(self.code(), self.detail());
        self.extend(&mut problem);
        problem
    }
}

/// An HTTP error of a service whose domain error is `E`: that error, mapped through its
/// [`ToProblem`] impl, or a problem built elsewhere (by an extractor, say).
#[derive(Debug)]
pub enum ApiError<E> {
    /// A domain error.
    Domain(E),
    /// A ready problem.
    Problem(ApiProblem),
}

impl<E: ToProblem> From<E> for ApiError<E> {
    fn from(e: E) -> Self {
        Self::Domain(e)
    }
}

impl<E> From<ApiProblem> for ApiError<E> {
    fn from(p: ApiProblem) -> Self {
        Self::Problem(p)
    }
}

impl<E: From<sqlx::Error>> From<sqlx::Error> for ApiError<E> {
    fn from(e: sqlx::Error) -> Self {
        Self::Domain(e.into())
    }
}

impl<E: ToProblem> ApiError<E> {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(e) => match e.database() {
                Some(db) => Code::of_database(db).status(),
                None => e.code().status(),
            },
            Self::Problem(p) => p.status,
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for ApiError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Domain(e) => e.fmt(f),
            Self::Problem(p) => f.write_str(&p.problem.detail),
        }
    }
}

impl<E: ToProblem> IntoResponse for ApiError<E> {
    fn into_response(self) -> Response {
        match self {
            Self::Domain(e) => e.problem().into_response(),
            Self::Problem(p) => p.into_response(),
        }
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
    let code = Code::for_status(status);
    // A server error's text (a panic message) is for the log, not the client.
    let detail = if text.is_empty() || status.is_server_error() {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".to_owned(),
            s if s.is_server_error() => "the request could not be completed; try again".to_owned(),
            _ => code.title().to_owned(),
        }
    } else {
        text
    };
    let mut problem = ApiProblem::with_status(code, status, detail).into_response();
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
        Code::NotFound,
        format!("no route serves {method} {}", uri.path()),
    )
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = match self.extensions {
            None => (status, Json(*self.problem)).into_response(),
            Some(extensions) => {
                // Extension members sit beside the standard ones in one object.
                let mut body =
                    serde_json::to_value(&*self.problem).unwrap_or_else(|_| serde_json::json!({}));
                if let Some(map) = body.as_object_mut() {
                    map.extend(*extensions);
                }
                (status, Json(body)).into_response()
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_slug() {
        let mut slugs: Vec<_> = Code::ALL.iter().map(|c| c.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Code::ALL.len());
    }

    #[test]
    fn the_framework_kinds_are_found_by_their_status() {
        for code in Code::FRAMEWORK {
            assert_eq!(Code::for_status(code.status()), code);
        }
        assert_eq!(Code::for_status(StatusCode::BAD_GATEWAY), Code::Internal);
        assert_eq!(Code::for_status(StatusCode::IM_A_TEAPOT), Code::HttpError);
    }
}
