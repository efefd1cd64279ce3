//! The error policy of the postmortem service, in one table.
//!
//! Domain functions return [`DomainError`]; HTTP handlers answer it as
//! `application/problem+json` with a stable `type` (`https://incident.dev/problems/<code>`),
//! AMQP consumers turn it into a permanent (dead-letter) or transient (retry) failure.
//! Database errors never leak their text to HTTP clients: they are logged and answered
//! with a generic 500 (503 when the database is unavailable). A template that does not
//! compile answers 422 with the extension member `line` (RFC 9457 §3.2).

use incident_bus::HandlerError;
use incident_runtime::api::problem::{self, ApiProblem, Code, ToProblem};

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
    /// Something this needs is not set up (an issue tracker, the secrets key).
    #[error("{0}")]
    NotConfigured(String),
    /// The workspace's issue tracker failed.
    #[error(transparent)]
    Tracker(#[from] crate::tracker::TrackerError),
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
}

/// The problem table: each variant's kind, and the members it adds.
impl ToProblem for DomainError {
    fn code(&self) -> Code {
        match self {
            Self::Validation { .. } => Code::Validation,
            Self::NotFound(_) => Code::NotFound,
            Self::IllegalTransition { .. } => Code::IllegalTransition,
            Self::IncidentOpen(_) => Code::IncidentOpen,
            Self::NotRegenerable(_) => Code::PostmortemEdited,
            Self::Template { .. } => Code::Template,
            Self::NotConfigured(_) => Code::NotConfigured,
            Self::Tracker(_) => Code::Upstream,
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
            Self::Template { line, .. } => {
                p.problem.field = Some("template".into());
                p.extend("line", *line);
            }
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
