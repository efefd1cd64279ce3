//! The events the postmortem service publishes on `incidents.events`, written to its
//! outbox (publisher `postmortem`) in the transaction of the change they report.
//!
//! Shapes (`data`; every one carries `incident`, the [`IncidentSnapshot`] of the incident
//! the postmortem is about, as it stands when the event is written):
//! - `postmortem.drafted`: `{ postmortem_id, incident, trigger, regenerated, generation,
//!   link, markdown_link, actor_id }`; `trigger` is `incident.status_changed`,
//!   `postmortem.generate` or `request` (HTTP);
//! - `postmortem.published`: `{ postmortem_id, incident, summary, link, markdown_link,
//!   url, published_at, actor_id }`; `url` is the Markdown export under
//!   `INCIDENT_PUBLIC_URL` when that is configured, else null;
//! - `action_item.created`: `{ action_item, incident, actor_id }`;
//! - `action_item.updated`: `{ action_item, changed, from_status, to_status, incident,
//!   actor_id }`; `changed` lists the fields that changed.

use incident_bus::Envelope;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_schema::Incident;
use incident_schema::contract::{IncidentSnapshot, Message};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;

/// The snapshot an event about `incident` carries.
pub fn snapshot(incident: &Incident) -> IncidentSnapshot {
    IncidentSnapshot::of(incident)
}

/// Writes event `payload` of `workspace_id` to the outbox, caused by `cause` when a
/// consumed message led to it.
pub async fn emit<M: Message>(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    payload: &M,
    cause: Option<&Envelope>,
) -> Result<(), sqlx::Error> {
    let message = OutgoingMessage::of(workspace_id, payload)
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?
        .caused_by(cause);
    outbox::enqueue(conn, SERVICE, &[message]).await
}
