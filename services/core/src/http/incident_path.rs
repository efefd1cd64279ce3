//! [`IncidentPath`]: the `{id}` of `/api/v1/incidents/{id}…` resolved once, in the
//! extractor, for every incident route.
//!
//! `{id}` is the incident's id or its reference (`INC-42`), looked up in the caller's
//! workspace under the private-incident rule ([`crate::incident::query::find`]): another
//! workspace's incident, a PRIVATE one the caller is not involved in and one that does
//! not exist all answer the same 404 before the handler runs, before a role is checked
//! and before the body is read, so a caller cannot tell them apart.
//!
//! Handlers that change something take the resolved id and work in their own transaction
//! (the domain functions lock the row). Commands on `incidents.commands` do not come
//! through here: they act as the system.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use incident_schema::Incident;
use uuid::Uuid;

use crate::AppState;
use crate::access::auth::Auth;
use crate::error::{ApiError, DomainError};
use crate::incident::query;

/// An incident of the caller's workspace that the caller may read, named by the route's
/// `{id}` segment.
#[derive(Debug, Clone)]
pub struct IncidentPath {
    /// The incident as it stood when the request arrived.
    pub incident: Incident,
    /// The caller.
    pub auth: Auth,
}

impl IncidentPath {
    /// The incident's id.
    pub fn id(&self) -> Uuid {
        self.incident.id
    }
}

impl FromRequestParts<AppState> for IncidentPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| DomainError::NotFound("incident"))?;
        let key = params
            .iter()
            .find_map(|(name, value)| (name == "id").then(|| value.to_owned()))
            .ok_or(DomainError::NotFound("incident"))?;
        let mut conn = state.pool.acquire().await.map_err(DomainError::from)?;
        let incident = query::find(&mut conn, &auth.reader(), &key).await?;
        Ok(Self { incident, auth })
    }
}
