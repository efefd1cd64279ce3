//! The envelope every message travels in.
//!
//! ```json
//! { "id": "0192…", "type": "incident.declared", "version": 1,
//!   "occurred_at": "2026-11-27T10:00:00Z", "workspace_id": "…",
//!   "correlation_id": "…", "causation_id": null, "data": { … } }
//! ```
//!
//! `id` is a UUID v7 (time ordered) and doubles as the AMQP `message_id` and the inbox
//! key. `version` is the version of the message's shape, not of the incident (events
//! about an incident carry the incident's version in `data`). Unknown fields are
//! ignored: consumers must tolerate fields added later.

use chrono::{DateTime, Utc};
use incident_schema::contract::Message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique message id (UUID v7).
    pub id: Uuid,
    /// The message type, e.g. `incident.declared`; also its routing key.
    #[serde(rename = "type")]
    pub message_type: String,
    /// Version of this message type's `data` shape.
    pub version: u32,
    /// When the fact happened or the request was made.
    pub occurred_at: DateTime<Utc>,
    /// The tenant the message belongs to.
    pub workspace_id: Uuid,
    /// The id of the first message of the chain (an alert, a request).
    pub correlation_id: Uuid,
    /// The id of the message that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// The payload.
    pub data: serde_json::Value,
}

impl Envelope {
    /// A new message starting its own correlation chain.
    pub fn new(
        message_type: impl Into<String>,
        workspace_id: Uuid,
        data: impl Serialize,
    ) -> Result<Self, serde_json::Error> {
        let id = Uuid::now_v7();
        Ok(Self {
            id,
            message_type: message_type.into(),
            version: 1,
            occurred_at: Utc::now(),
            workspace_id,
            correlation_id: id,
            causation_id: None,
            data: serde_json::to_value(data)?,
        })
    }

    /// A new message of the contract's type `M`, starting its own correlation chain.
    pub fn of<M: Message>(workspace_id: Uuid, payload: &M) -> Result<Self, serde_json::Error> {
        Self::new(M::TYPE, workspace_id, payload)
    }

    /// Marks this message as caused by `cause`, if there is one.
    pub fn caused_by_opt(self, cause: Option<&Envelope>) -> Self {
        match cause {
            Some(cause) => self.caused_by(cause),
            None => self,
        }
    }

    /// Marks this message as caused by `cause`, continuing its correlation chain.
    pub fn caused_by(mut self, cause: &Envelope) -> Self {
        self.correlation_id = cause.correlation_id;
        self.causation_id = Some(cause.id);
        self
    }

    /// Sets the shape version of `data`.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Parses `data` as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use incident_schema::contract::{AlertGroupOpened, Declare, IncidentDeclared};

    use super::*;

    #[test]
    fn an_envelope_round_trips_through_its_flat_json_shape() {
        let workspace = Uuid::now_v7();
        let e = Envelope::new(
            <IncidentDeclared>::TYPE,
            workspace,
            serde_json::json!({"number": 42}),
        )
        .expect("serializable");
        let json = serde_json::to_value(&e).expect("serializable");
        assert_eq!(json["type"], <IncidentDeclared>::TYPE);
        assert_eq!(json["version"], 1);
        assert_eq!(json["data"]["number"], 42);
        assert_eq!(json["correlation_id"], json["id"]);
        let back: Envelope = serde_json::from_value(json).expect("parses");
        assert_eq!(back, e);
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let e = Envelope::new("x.y", Uuid::now_v7(), 1).expect("serializable");
        let mut json = serde_json::to_value(&e).expect("serializable");
        json["added_later"] = serde_json::json!("ignored");
        let back: Envelope = serde_json::from_value(json).expect("parses");
        assert_eq!(back.id, e.id);
    }

    #[test]
    fn a_caused_message_continues_the_correlation_chain() {
        let first =
            Envelope::new(<AlertGroupOpened>::TYPE, Uuid::now_v7(), 1).expect("serializable");
        let second = Envelope::new(Declare::TYPE, first.workspace_id, 2)
            .expect("serializable")
            .caused_by(&first);
        assert_eq!(second.correlation_id, first.id);
        assert_eq!(second.causation_id, Some(first.id));
        assert_ne!(second.id, first.id);
    }
}
