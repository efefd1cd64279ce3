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

use chrono::Utc;
use incident_bus::Envelope;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_schema::Incident;
use incident_schema::event::IncidentSnapshot;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;

/// Writes event `message_type` with `data` (to which `incident` is added) to the outbox,
/// caused by `cause` when a consumed message led to it.
pub async fn emit(
    conn: &mut PgConnection,
    message_type: &str,
    incident: &Incident,
    mut data: serde_json::Map<String, Value>,
    cause: Option<&Envelope>,
) -> Result<(), sqlx::Error> {
    let snapshot = serde_json::to_value(IncidentSnapshot::of(incident))
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    data.insert("incident".into(), snapshot);
    let id = Uuid::now_v7();
    let mut envelope = Envelope {
        id,
        message_type: message_type.to_owned(),
        version: 1,
        occurred_at: Utc::now(),
        workspace_id: incident.workspace_id,
        correlation_id: id,
        causation_id: None,
        data: Value::Object(data),
    };
    if let Some(cause) = cause {
        envelope = envelope.caused_by(cause);
    }
    outbox::enqueue(conn, SERVICE, &[OutgoingMessage::event(envelope)]).await
}

/// A `data` object from a `json!({...})` literal (anything else gives an empty object).
pub fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
