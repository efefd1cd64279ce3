//! The pages' errors: a domain error rendered as an HTML page with the status the API
//! would answer (404 for an incident the viewer may not read, 409 for an illegal move,
//! 422 for a refused field, 403 for a role that does not allow it).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_web::shell::error_page;

use crate::error::DomainError;

/// A page that could not be served.
#[derive(Debug)]
pub struct UiError(pub DomainError);

impl From<DomainError> for UiError {
    fn from(e: DomainError) -> Self {
        Self(e)
    }
}

impl From<sqlx::Error> for UiError {
    fn from(e: sqlx::Error) -> Self {
        Self(DomainError::Database(e))
    }
}

impl UiError {
    /// The status a page answers for this error.
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            DomainError::Validation { .. }
            | DomainError::InvalidRange(_)
            | DomainError::UnknownTimeZone(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            DomainError::NotFound(_) => StatusCode::NOT_FOUND,
            DomainError::IllegalTransition { .. }
            | DomainError::OpenActionItems(_)
            | DomainError::Conflict(_) => StatusCode::CONFLICT,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
            DomainError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the page says.
    pub fn message(&self) -> String {
        match &self.0 {
            DomainError::NotFound(what) => format!("No such {what}, or you may not see it."),
            DomainError::Database(e) => {
                tracing::error!(error = %e, "page failed on the database");
                "Something went wrong on our side; try again shortly.".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        error_page(self.status(), None, &self.message())
    }
}

/// Refuses a viewer's write with 403 (the page offered no such control).
pub fn require_writer(session: &incident_web::WebSession) -> Result<(), UiError> {
    if session.may(incident_schema::AccessRole::Responder) {
        Ok(())
    } else {
        Err(UiError(DomainError::Forbidden(
            "your role is viewer: you can read incidents, not change them".to_owned(),
        )))
    }
}
