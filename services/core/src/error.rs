//! The error policy of the core service, in one table.
//!
//! Domain functions return [`DomainError`]; HTTP handlers turn it into an
//! `application/problem+json` response whose `type` is stable
//! (`https://incident.dev/problems/<code>`) and documented in the OpenAPI document; AMQP
//! consumers turn it into a permanent (dead-letter) or transient (retry) failure.
//! Database errors never leak their text to HTTP clients: they are logged and answered
//! with a generic 500 (or 503 when the database is unavailable).

use incident_bus::HandlerError;
use incident_runtime::api::problem::{self, ApiProblem, Code, ToProblem};
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
    /// An analytics range that is empty, reversed or too long.
    #[error("{0}")]
    InvalidRange(String),
    /// A time zone Postgres does not know.
    #[error("unknown time zone {0:?}: expected an IANA name such as Europe/Berlin or UTC")]
    UnknownTimeZone(String),
    /// The `Accept` header allows nothing the route produces.
    #[error("{0}")]
    NotAcceptable(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<incident_schema::analytics::params::AnalyticsError> for DomainError {
    fn from(e: incident_schema::analytics::params::AnalyticsError) -> Self {
        use incident_schema::analytics::params::AnalyticsError as A;
        match e {
            A::Invalid { field, message } => Self::invalid(field, message),
            A::Range(message) => Self::InvalidRange(message),
            A::Database(db) => Self::Database(db),
        }
    }
}

impl DomainError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The problem table: each variant's kind, and the members it adds.
impl ToProblem for DomainError {
    fn code(&self) -> Code {
        match self {
            Self::Validation { .. } => Code::Validation,
            Self::NotFound(_) => Code::NotFound,
            Self::IllegalTransition { .. } => Code::IllegalTransition,
            Self::OpenActionItems(_) => Code::OpenActionItems,
            Self::Conflict(_) => Code::Conflict,
            Self::Forbidden(_) => Code::Forbidden,
            Self::InvalidRange(_) => Code::InvalidRange,
            Self::UnknownTimeZone(_) => Code::UnknownTimeZone,
            Self::NotAcceptable(_) => Code::NotAcceptable,
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
        match self {
            Self::Validation { field, .. } => p.problem.field = Some(field.clone()),
            Self::UnknownTimeZone(_) => p.problem.field = Some("time_zone".into()),
            Self::IllegalTransition { allowed, .. } => {
                p.problem.allowed = serde_json::to_value(allowed).ok()
            }
            _ => {}
        }
    }
}

/// An HTTP error: a domain error or a ready problem (from the auth extractor, say).
pub type ApiError = problem::ApiError<DomainError>;

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
