//! The pages' errors: a domain error rendered as an HTML page with the status the API
//! answers for it (404 for what the viewer may not read, 409 for an illegal move, 422 for
//! a refused field, 403 for a role that does not allow it).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_schema::AccessRole;
use incident_web::WebSession;
use incident_web::shell::error_page;

use crate::error::DomainError;

/// A page that could not be served.
#[derive(Debug)]
pub enum UiError {
    /// The domain refused or failed.
    Domain(DomainError),
    /// The viewer's role does not allow the write.
    Forbidden,
    /// A settings page, for admins only.
    AdminOnly,
}

impl From<DomainError> for UiError {
    fn from(e: DomainError) -> Self {
        Self::Domain(e)
    }
}

impl From<sqlx::Error> for UiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Domain(DomainError::Database(e))
    }
}

impl UiError {
    /// The status a page answers for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden | Self::AdminOnly => StatusCode::FORBIDDEN,
            Self::Domain(e) => status_of(e),
        }
    }

    /// What the page says.
    pub fn message(&self) -> String {
        match self {
            Self::Forbidden => {
                "Your role is viewer: you can read postmortems, not change them.".to_owned()
            }
            Self::AdminOnly => "Only workspace admins change the postmortem settings.".to_owned(),
            Self::Domain(DomainError::NotFound(what)) => {
                format!("No such {what}, or you may not see it.")
            }
            Self::Domain(DomainError::Database(e)) => {
                tracing::error!(error = %e, "page failed on the database");
                "Something went wrong on our side; try again shortly.".to_owned()
            }
            Self::Domain(other) => other.to_string(),
        }
    }
}

/// The status a page answers for `e`: the API's.
pub fn status_of(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Validation { .. } | DomainError::Template { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::IllegalTransition { .. }
        | DomainError::IncidentOpen(_)
        | DomainError::NotRegenerable(_)
        | DomainError::NotConfigured(_) => StatusCode::CONFLICT,
        DomainError::Tracker(_) => StatusCode::BAD_GATEWAY,
        DomainError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        error_page(self.status(), None, &self.message())
    }
}

/// Refuses a viewer's write with 403 (the page offered no such control).
pub fn require_writer(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Responder) {
        Ok(())
    } else {
        Err(UiError::Forbidden)
    }
}
