//! The fan-out: the `core.webhooks` consumer, which turns each event on the bus into one
//! delivery per enabled subscription of its workspace that takes its type, in the
//! inbox's transaction (so a redelivered message makes no second delivery, and the
//! unique `(subscription, event)` keeps a second consumer from making one either).
//!
//! Events are taken generically (a raw [`Handler`], not a typed `Dispatch`): a webhook
//! forwards an event's `data` as the producer wrote it, whatever its type, so a new
//! event type reaches subscribers of `*` without a change here.
//!
//! PRIVATE incidents: an event about one reaches only subscriptions that opted in
//! (`include_private`). Its visibility is read from the event's snapshot (as the war
//! room does, a value this build does not know counts as PRIVATE) or, for events without
//! one, from the incident's row.
//!
//! Drills: an event about a drill incident reaches no subscription (whatever its types):
//! a webhook feeds a pager or a chat outside the drill, and a drill notifies nobody but
//! its participants (ARCHITECTURE.md, "Drills"). Whether the incident is a drill is read
//! from the snapshot (`is_drill`) or the incident's row. `drill.run_completed`, a report
//! about a drill rather than its incident, is delivered as any event.

use chrono::SecondsFormat;
use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, QueueSpec};
use incident_schema::contract::{DrillRunCompleted, Message as _};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::store;

/// The queue the fan-out consumes: every event of the contract.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::CORE_WEBHOOKS)
}

/// The `core.webhooks` consumer.
pub struct Fanout;

impl Handler for Fanout {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(fan_out(tx, message))
    }
}

/// The incident an event is about: `data.incident.id`, or `data.incident_id`.
pub fn incident_of(data: &Value) -> Option<Uuid> {
    data.pointer("/incident/id")
        .or_else(|| data.get("incident_id"))
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
}

/// Whether the event is about a drill incident: its snapshot's `is_drill`, else the
/// incident's row.
async fn about_a_drill(
    tx: &mut PgConnection,
    message: &Envelope,
    incident_id: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    match (
        message
            .data
            .pointer("/incident/is_drill")
            .and_then(Value::as_bool),
        incident_id,
    ) {
        (Some(is_drill), _) => Ok(is_drill),
        (None, Some(id)) => store::incident_is_drill(tx, message.workspace_id, id).await,
        (None, None) => Ok(false),
    }
}

/// The body of a delivery: the Standard Webhooks envelope `{type, timestamp, data}`,
/// `data` being the event's with the workspace's and the incident's ids added.
pub fn body(
    event_type: &str,
    occurred_at: chrono::DateTime<chrono::Utc>,
    workspace_id: Uuid,
    incident_id: Option<Uuid>,
    data: &Value,
) -> String {
    let mut data = match data {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".into(), other.clone());
            map
        }
    };
    data.insert("workspace_id".into(), json!(workspace_id));
    data.insert("incident_id".into(), json!(incident_id));
    json!({
        "type": event_type,
        "timestamp": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

async fn fan_out(tx: &mut PgConnection, message: &Envelope) -> Result<(), HandlerError> {
    let incident_id = incident_of(&message.data);
    if message.message_type != DrillRunCompleted::TYPE
        && about_a_drill(tx, message, incident_id).await?
    {
        tracing::debug!(message_type = %message.message_type, "event about a drill incident: no webhook deliveries");
        return Ok(());
    }
    let private = match (
        message
            .data
            .pointer("/incident/visibility")
            .and_then(Value::as_str),
        incident_id,
    ) {
        (Some(visibility), _) => visibility != "PUBLIC",
        (None, Some(id)) => store::incident_is_private(tx, message.workspace_id, id).await?,
        (None, None) => false,
    };
    let payload = body(
        &message.message_type,
        message.occurred_at,
        message.workspace_id,
        incident_id,
        &message.data,
    );
    let written = store::fan_out(
        tx,
        message.workspace_id,
        message.id,
        &message.message_type,
        incident_id,
        private,
        &payload,
        None,
    )
    .await?;
    tracing::debug!(deliveries = written, message_type = %message.message_type, "webhook deliveries written");
    Ok(())
}
