//! The AMQP front: alert sources publish to the `alerts.ingest` exchange with routing
//! key `alert.<source>` (e.g. `alert.nagios`); ingestion consumes them from the
//! `ingestion.alerts` queue (bound `alert.#`) with the same validation and guarantees as
//! the webhooks.
//!
//! A message is the usual envelope (persistent, `message_id` = envelope `id`, which the
//! inbox deduplicates on; `workspace_id` = the integration's workspace) whose `data` is a
//! generic payload ([`crate::source::generic`]: one alert, or `{"alerts": [...]}`) plus
//! the integration's id:
//!
//! ```json
//! { "id": "0192…", "type": "alert.ingest", "version": 1, "occurred_at": "…",
//!   "workspace_id": "…", "correlation_id": "0192…", "causation_id": null,
//!   "data": { "integration_id": "…",
//!             "alerts": [ { "title": "Disk full on db-1", "severity": "critical",
//!                           "dedup_key": "db-1/disk", "service": "db" } ] } }
//! ```
//!
//! A message may say its alerts are in another source's shape with `data.source`: only
//! `"alertmanager"` (the rest of `data` is then an Alertmanager webhook notification,
//! parsed as the webhook parses it). The SLA watchdog's drill runs send their synthetic
//! alerts that way.
//!
//! The broker's access control is the authentication (no integration secret is sent);
//! the integration must belong to the envelope's workspace. A message that is not an
//! envelope, names no or an unknown integration, or fails validation can never succeed:
//! it is rejected to the dead-letter queue with the reason logged. A database outage is
//! retried. The alerts commit with the inbox row, so a redelivered message changes
//! nothing.

use chrono::Utc;
use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, QueueSpec};
use incident_schema::IntegrationKind;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::IngestError;
use crate::ingest;
use crate::integration::store;
use crate::source;

/// The queue of the AMQP front.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::INGESTION_ALERTS)
}

/// Ingests alerts published to `alerts.ingest`.
pub struct AlertsFront;

impl Handler for AlertsFront {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let outcome = receive(tx, message).await.map_err(|e| match e {
                IngestError::Validation { field, message } => {
                    HandlerError::permanent(format!("invalid alert: data.{field}: {message}"))
                }
                other => HandlerError::from(other),
            })?;
            ingest::record_metrics(&outcome, "amqp");
            Ok(())
        })
    }
}

async fn receive(
    tx: &mut PgConnection,
    message: &Envelope,
) -> Result<ingest::IngestOutcome, IngestError> {
    let Value::Object(data) = &message.data else {
        return Err(IngestError::invalid("data", "must be an object"));
    };
    let integration_id: Uuid = data
        .get("integration_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            IngestError::invalid("integration_id", "must be the id of an integration")
        })?;
    let integration = store::find(tx, integration_id)
        .await?
        .filter(|i| i.workspace_id == message.workspace_id)
        .ok_or_else(|| {
            IngestError::invalid(
                "integration_id",
                format!(
                    "no integration {integration_id} in workspace {}",
                    message.workspace_id
                ),
            )
        })?;
    if integration.disabled_at.is_some() {
        return Err(IngestError::invalid(
            "integration_id",
            format!("integration {integration_id} is disabled"),
        ));
    }
    let mut alerts = data.clone();
    alerts.remove("integration_id");
    let kind = match alerts.remove("source") {
        None => IntegrationKind::Generic,
        Some(Value::String(s)) if s == "alertmanager" => IntegrationKind::Alertmanager,
        Some(other) => {
            return Err(IngestError::invalid(
                "source",
                format!("must be \"alertmanager\" or absent, not {other}"),
            ));
        }
    };
    let notification = source::parse_value(kind, &Value::Object(alerts), Utc::now())?;
    ingest::ingest(tx, &integration, &notification, Some(message)).await
}
