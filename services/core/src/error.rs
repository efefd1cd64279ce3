//! The error policy of the core service, in one table.
//!
//! Domain functions return [`DomainError`]; HTTP handlers turn it into an
//! `application/problem+json` response whose `type` is stable
//! (`https://incident.dev/problems/<code>`) and documented in the OpenAPI document; AMQP
//! consumers turn it into a permanent (dead-letter) or transient (retry) failure.
//! Database errors never leak their text to HTTP clients: they are logged and answered
//! with a generic 500 (or 503 when the database is unavailable).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_bus::HandlerError;
use incident_runtime::api::problem::ApiProblem;
use incident_schema::IncidentStatus;

/// What went wrong, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A field is missing, malformed or out of range.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field (JSON path, e.g. `affected_services[0].impact`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The resource does not exist in the caller's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The lifecycle does not allow the move.
    #[error("cannot move from {from} to {to}")]
    IllegalTransition {
        /// Current status.
        from: IncidentStatus,
        /// Requested status.
        to: IncidentStatus,
        /// Statuses reachable from `from`.
        allowed: &'static [IncidentStatus],
    },
    /// Closing an incident whose postmortem still has open action items, without force.
    #[error(
        "the postmortem has {0} open action item(s); finish them or close with \"force\": true"
    )]
    OpenActionItems(i64),
    /// The request conflicts with the current state (a duplicate email, say).
    #[error("{0}")]
    Conflict(String),
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
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

    /// The problem table: HTTP status and stable code per variant.
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
            Self::OpenActionItems(_) => (
                StatusCode::CONFLICT,
                "open-action-items",
                "Open action items",
            ),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
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

impl DomainError {
    /// The problem this error answers with.
    pub fn problem(&self) -> ApiProblem {
        if let Self::Database(e) = self {
            return ApiProblem::database(e);
        }
        let (status, code, title) = self.status_and_code();
        let mut p = ApiProblem::new(status, code, title, self.to_string());
        match self {
            Self::Validation { field, .. } => p.problem.field = Some(field.clone()),
            Self::IllegalTransition { allowed, .. } => {
                p.problem.allowed = serde_json::to_value(allowed).ok()
            }
            _ => {}
        }
        p
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Domain(e) => e.problem().into_response(),
            Self::Problem(p) => p.into_response(),
        }
    }
}

impl From<DomainError> for HandlerError {
    /// Commands: a database outage is retried; everything else can never succeed.
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Database(db) => HandlerError::from(db),
            other => HandlerError::permanent(other),
        }
    }
}

/// Result of a domain function.
pub type DomainResult<T> = Result<T, DomainError>;
