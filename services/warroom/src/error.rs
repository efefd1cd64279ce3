//! The error policy of the war room, in one table.
//!
//! - The settings API (`/api/v1/warroom/settings`) answers [`WarRoomError`] as
//!   `application/problem+json` through [`ApiError`], with the kinds of the shared
//!   [`Code`] table; database errors are answered by the shared policy
//!   ([`ApiProblem::database`]) and never leak their text.
//! - The Slack endpoints answer [`InboundError`] with its status and an empty body, as
//!   Slack's own SDKs do (Slack reads only the status): the server's problem layer
//!   gives clients that read the body the problem of that status.
//!
//! | error | status | code |
//! |---|---|---|
//! | `WarRoomError::Validation` | 422 | `validation` |
//! | `WarRoomError::Database` | 500, 503 when unavailable (422 for a value it cannot hold) | `internal` / `unavailable` / `validation` |
//! | `InboundError::Malformed` (a payload that does not parse) | 400 | `bad-request` |
//! | `InboundError::Unauthorized` (signature, timestamp or replay refused) | 401 | `unauthorized` |
//! | `InboundError::Failed` (the database failed; logged) | 500 | `internal` |
//! | `InboundError::NotConfigured` (no signing secret) | 503 | `unavailable` |

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_runtime::api::problem::{self, ApiProblem, Code, ToProblem};

/// What went wrong in the settings API.
#[derive(Debug, thiserror::Error)]
pub enum WarRoomError {
    /// A field is malformed.
    #[error("{message}")]
    Validation {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ToProblem for WarRoomError {
    fn code(&self) -> Code {
        match self {
            Self::Validation { .. } => Code::Validation,
            Self::Database(e) => Code::of_database(e),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Database(e) => Some(e),
            Self::Validation { .. } => None,
        }
    }

    fn extend(&self, p: &mut ApiProblem) {
        if let Self::Validation { field, .. } = self {
            p.problem.field = Some((*field).to_owned());
        }
    }
}

/// An error of the settings API: a [`WarRoomError`] or a ready problem (from the auth
/// extractor).
pub type ApiError = problem::ApiError<WarRoomError>;

/// Why a Slack request was not served.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// `INCIDENT_SLACK_SIGNING_SECRET` is not set: nothing can be verified.
    #[error("no signing secret is configured")]
    NotConfigured,
    /// The signature, its timestamp or its first use was refused.
    #[error("the request's signature was refused")]
    Unauthorized,
    /// The payload does not parse.
    #[error("the payload does not parse")]
    Malformed,
    /// Something of ours failed (logged where it happened).
    #[error("the request failed")]
    Failed,
}

impl InboundError {
    /// Something of ours failed: logged now, answered 500.
    pub fn failed(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "a Slack request failed");
        Self::Failed
    }

    /// The kind of problem it is.
    pub fn code(&self) -> Code {
        match self {
            Self::NotConfigured => Code::Unavailable,
            Self::Unauthorized => Code::Unauthorized,
            Self::Malformed => Code::BadRequest,
            Self::Failed => Code::Internal,
        }
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }
}

impl IntoResponse for InboundError {
    fn into_response(self) -> Response {
        self.status().into_response()
    }
}
