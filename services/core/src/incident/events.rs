//! Writing core's events to the outbox, in the caller's transaction.
//!
//! Every incident event carries the incident as it stands after the change
//! (`data.incident`, with its `version` and `is_drill`) next to the event's own fields.

use incident_bus::Envelope;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_schema::Incident;
use incident_schema::event::IncidentSnapshot;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::SERVICE;
use crate::error::{DomainError, DomainResult};

/// Writes event `event_type` about `incident` with `fields` beside the snapshot.
pub async fn emit(
    conn: &mut PgConnection,
    incident: &Incident,
    event_type: &str,
    fields: Value,
    cause: Option<&Envelope>,
) -> DomainResult<()> {
    let mut data = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    data.insert(
        "incident".into(),
        serde_json::to_value(IncidentSnapshot::of(incident))
            .map_err(|e| DomainError::invalid("incident", e.to_string()))?,
    );
    data.insert("is_drill".into(), Value::Bool(incident.is_drill));
    let mut envelope = Envelope::new(event_type, incident.workspace_id, Value::Object(data))
        .map_err(|e| DomainError::invalid("event", e.to_string()))?;
    if let Some(cause) = cause {
        envelope = envelope.caused_by(cause);
    }
    outbox::enqueue(conn, SERVICE, &[OutgoingMessage::event(envelope)]).await?;
    Ok(())
}
