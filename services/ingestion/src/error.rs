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
//! | `Database` | 500, or 503 when the database is unavailable (422 for a value it cannot hold) | `internal` / `unavailable` / `validation` |
//!
//! AMQP consumers turn it into a failure of the runner: a database outage (or a
//! concurrent writer that won a race, see [`is_retryable`]) is transient and retried;
//! everything else can never succeed and is dead-lettered with its reason logged.
//! Database errors never leak their text to HTTP clients.

use incident_bus::HandlerError;
use incident_runtime::api::problem::{self, ApiProblem, Code, ToProblem};

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
}

/// The problem table: each variant's kind, and the members it adds.
impl ToProblem for IngestError {
    fn code(&self) -> Code {
        match self {
            Self::Validation { .. } => Code::Validation,
            Self::Malformed(_) => Code::Malformed,
            Self::NotFound(_) => Code::NotFound,
            Self::Unauthorized(_) => Code::Unauthorized,
            Self::Disabled => Code::IntegrationDisabled,
            Self::PayloadTooLarge(_) => Code::PayloadTooLarge,
            Self::Conflict(_) => Code::Conflict,
            Self::Database(e) => Code::of_database(e),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }

    fn extend(&self, p: &mut ApiProblem) {
        if let Self::Validation { field, .. } = self {
            p.problem.field = Some(field.clone());
        }
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
pub type ApiError = problem::ApiError<IngestError>;

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
