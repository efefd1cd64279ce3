//! The error policy of the ingestion service, in one table.
//!
//! Domain functions return [`IngestError`]. HTTP handlers answer it as
//! `application/problem+json` with a stable `type` (`https://incident.dev/problems/<code>`):
//!
//! | variant | status | code |
//! |---|---|---|
//! | `Malformed` (not JSON at all) | 400 | `malformed` |
//! | `Unauthorized` (missing or wrong integration secret) | 401 | `unauthorized` |
//! | `Disabled` (a disabled integration) | 403 | `integration-disabled` |
//! | `NotFound` | 404 | `not-found` |
//! | `Conflict` (a duplicate name) | 409 | `conflict` |
//! | `PayloadTooLarge` | 413 | `payload-too-large` |
//! | `Validation` (JSON of the wrong shape, naming the field) | 422 | `validation` |
//! | `Database` | 500, or 503 when the database is unavailable | `internal` / `unavailable` |
//!
//! AMQP consumers turn it into a failure of the runner: a database outage (or a
//! concurrent writer that won a race, see [`is_retryable`]) is transient and retried;
//! everything else can never succeed and is dead-lettered with its reason logged.
//! Database errors never leak their text to HTTP clients.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_bus::HandlerError;
use incident_runtime::api::problem::ApiProblem;

/// What went wrong, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A field is missing, malformed or out of range (JSON of the wrong shape).
    #[error("{field}: {message}")]
    Validation {
        /// The offending field (JSON path, e.g. `alerts[3].startsAt`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// The resource does not exist (in the caller's workspace).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The integration secret is missing or wrong.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The integration is disabled and accepts nothing.
    #[error("the integration is disabled")]
    Disabled,
    /// The body is larger than the limit.
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The request conflicts with the current state (a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result of a domain function.
pub type IngestResult<T> = Result<T, IngestError>;

impl IngestError {
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
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed", "Malformed JSON"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Disabled => (
                StatusCode::FORBIDDEN,
                "integration-disabled",
                "Integration disabled",
            ),
            Self::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
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
        if let Self::Validation { field, .. } = self {
            p.problem.field = Some(field.clone());
        }
        p
    }
}

/// Whether a failed ingest transaction is worth running again from the start: a
/// deadlock or serialization failure, or a unique violation because a concurrent
/// notification inserted the same alert or group first (the retry sees its row).
pub fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01" | "23505"))
        }
        _ => false,
    }
}

/// An HTTP error: a domain error or a ready problem (from the auth extractor, say).
#[derive(Debug)]
pub enum ApiError {
    /// A domain error, mapped through the table.
    Domain(IngestError),
    /// A problem built elsewhere.
    Problem(ApiProblem),
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
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

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Domain(e) => e.fmt(f),
            Self::Problem(p) => f.write_str(&p.problem.detail),
        }
    }
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(e) => e.status_and_code().0,
            Self::Problem(p) => p.status,
        }
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

impl From<IngestError> for HandlerError {
    /// Messages: a database outage or a lost race is retried; everything else can never
    /// succeed and is dead-lettered.
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Database(db) if is_retryable(&db) => HandlerError::transient(db),
            IngestError::Database(db) => HandlerError::from(db),
            other => HandlerError::permanent(other),
        }
    }
}
