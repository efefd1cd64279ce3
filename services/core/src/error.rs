//! The error policy of the core service, in one table.
//!
//! Domain functions return [`DomainError`]; HTTP handlers turn it into an
//! `application/problem+json` response whose `type` is stable
//! (`https://incident.dev/problems/<code>`) and documented in the OpenAPI document; AMQP
//! consumers turn it into a permanent (dead-letter) or transient (retry) failure.
//! Database errors never leak their text to HTTP clients: they are logged and answered
//! with a generic 500 (or 503 when the database is unavailable).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use incident_bus::HandlerError;
use incident_schema::IncidentStatus;
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://incident.dev/problems/";

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
    /// The request conflicts with the current state (a duplicate email, say).
    #[error("{0}")]
    Conflict(String),
    /// The caller is not authenticated.
    #[error("{0}")]
    Unauthorized(&'static str),
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
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
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

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
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
    /// For illegal transitions: the statuses that are allowed from the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<IncidentStatus>>,
}

/// An HTTP error response.
#[derive(Debug)]
pub struct ApiError(pub DomainError);

impl<E: Into<DomainError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.0.status_and_code();
        let detail = match &self.0 {
            DomainError::Database(e) => {
                tracing::error!(error = %e, "database error while handling a request");
                "the request could not be completed; try again".to_owned()
            }
            other => other.to_string(),
        };
        let problem = Problem {
            problem_type: format!("{PROBLEM_BASE}{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            field: match &self.0 {
                DomainError::Validation { field, .. } => Some(field.clone()),
                _ => None,
            },
            allowed: match &self.0 {
                DomainError::IllegalTransition { allowed, .. } => Some(allowed.to_vec()),
                _ => None,
            },
        };
        let mut response = (status, Json(problem)).into_response();
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
