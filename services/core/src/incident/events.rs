//! Writing core's events to the outbox, in the caller's transaction.
//!
//! Every incident event carries the incident as it stands after the change
//! (`data.incident`, an [`IncidentSnapshot`] with its `version` and `is_drill`) and
//! `is_drill` next to the event's own fields; the payload types are the contract's
//! ([`incident_schema::contract::events`]).

use incident_bus::Envelope;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_schema::Incident;
use incident_schema::contract::{IncidentSnapshot, Message};
use sqlx::PgConnection;

use crate::SERVICE;
use crate::error::{DomainError, DomainResult};

/// The snapshot an event about `incident` carries.
pub fn snapshot(incident: &Incident) -> IncidentSnapshot {
    IncidentSnapshot::of(incident)
}

/// Writes event `payload` about `incident` to the outbox, caused by `cause` if given.
pub async fn emit<M: Message>(
    conn: &mut PgConnection,
    incident: &Incident,
    payload: &M,
    cause: Option<&Envelope>,
) -> DomainResult<()> {
    let message = OutgoingMessage::of(incident.workspace_id, payload)
        .map_err(|e| DomainError::invalid("event", e.to_string()))?
        .caused_by(cause);
    outbox::enqueue(conn, SERVICE, &[message]).await?;
    Ok(())
}
