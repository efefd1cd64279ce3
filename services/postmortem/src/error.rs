//! The error policy of the postmortem service, in one table.
//!
//! Domain functions return [`DomainError`]; HTTP handlers answer it as
//! `application/problem+json` with a stable `type` (`https://incident.dev/problems/<code>`),
//! AMQP consumers turn it into a permanent (dead-letter) or transient (retry) failure.
//! Database errors never leak their text to HTTP clients: they are logged and answered
//! with a generic 500 (503 when the database is unavailable). A template that does not
//! compile answers 422 with the extension member `line` (RFC 9457 §3.2).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_bus::HandlerError;
use incident_runtime::api::problem::ApiProblem;

/// What went wrong, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A field is missing, malformed or out of range.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field (JSON path).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The resource does not exist in the caller's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A status move the lifecycle does not allow.
    #[error("cannot move {what} from {from} to {to}")]
    IllegalTransition {
        /// `postmortem` or `action item`.
        what: &'static str,
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
        /// Statuses reachable from `from`.
        allowed: Vec<String>,
    },
    /// A postmortem is asked for while its incident is still open.
    #[error("incident {0} is still open; a postmortem is drafted once it is RESOLVED or CLOSED")]
    IncidentOpen(String),
    /// Regenerating would overwrite what a person wrote (or reviewed).
    #[error(
        "the postmortem was edited by a person or is past DRAFT ({0}); regenerating would overwrite it"
    )]
    NotRegenerable(String),
    /// A workspace template does not compile or render.
    #[error("template error on line {line}: {message}")]
    Template {
        /// 1-based line of the template at fault (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl DomainError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The problem table: HTTP status, stable code and title per variant.
    fn status_and_code(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Validation { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::IllegalTransition { .. } => (
                StatusCode::CONFLICT,
                "illegal-transition",
                "Illegal status transition",
            ),
            Self::IncidentOpen(_) => (StatusCode::CONFLICT, "incident-open", "Incident still open"),
            Self::NotRegenerable(_) => (
                StatusCode::CONFLICT,
                "postmortem-edited",
                "Postmortem edited by a person",
            ),
            Self::Template { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "template",
                "Invalid template",
            ),
            Self::Database(e) if incident_bus::consumer::is_transient_database_error(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Database(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The problem this error answers with.
    pub fn problem(&self) -> ApiProblem {
        if let Self::Database(e) = self {
            return ApiProblem::database(e);
        }
        let (status, code, title) = self.status_and_code();
        let mut p = ApiProblem::new(status, code, title, self.to_string());
        match self {
            Self::Validation { field, .. } => p.problem.field = Some(field.clone()),
            Self::Template { .. } => p.problem.field = Some("template".into()),
            Self::IllegalTransition { allowed, .. } => {
                p.problem.allowed = serde_json::to_value(allowed).ok()
            }
            _ => {}
        }
        p
    }
}

/// An HTTP error: a domain error or a ready problem (from the auth extractor, say).
#[derive(Debug)]
pub enum ApiError {
    /// A domain error, mapped through the table.
    Domain(DomainError),
    /// A problem built elsewhere.
    Problem(ApiProblem),
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        Self::Domain(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Domain(e.into())
    }
}

impl From<ApiProblem> for ApiError {
    fn from(p: ApiProblem) -> Self {
        Self::Problem(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Domain(DomainError::Template { line, message }) => {
                let error = DomainError::Template { line, message };
                let problem = error.problem();
                // The shared Problem has no `line`; add it as an RFC 9457 extension member.
                let mut body = serde_json::to_value(&*problem.problem)
                    .unwrap_or_else(|_| serde_json::json!({}));
                if let Some(map) = body.as_object_mut() {
                    map.insert("line".into(), line.into());
                }
                let mut response = (problem.status, axum::Json(body)).into_response();
                response.headers_mut().insert(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/problem+json"),
                );
                response
            }
            Self::Domain(e) => e.problem().into_response(),
            Self::Problem(p) => p.into_response(),
        }
    }
}

impl From<DomainError> for HandlerError {
    /// Messages: a database outage is retried; everything else can never succeed.
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Database(db) => HandlerError::from(db),
            other => HandlerError::permanent(other),
        }
    }
}

/// Result of a domain function.
pub type DomainResult<T> = Result<T, DomainError>;
