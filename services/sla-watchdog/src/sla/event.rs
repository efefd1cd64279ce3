//! The events the watchdog publishes on `incidents.events`, and their `data` shapes.
//!
//! Every event about an incident carries the incident as it stood after the change
//! under `data.incident` ([`IncidentSnapshot`]), and every event says whether it is about
//! a drill (`is_drill`), so consumers can mark or skip drills without a lookup. The
//! envelope's workspace is the incident's, and its `occurred_at` is when the database
//! recorded the finding. Consumers ignore fields they do not know, so fields may be added.

use chrono::{DateTime, NaiveDate, Utc};
use incident_bus::{Envelope, OutgoingMessage};
use incident_schema::event::{
    ACTION_ITEM_OVERDUE, INCIDENT_SLA_BREACHED, INCIDENT_SLA_WARNING, INCIDENT_UPDATE_DUE,
    IncidentSnapshot,
};
use incident_schema::{Incident, SlaEvent, SlaTarget};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sla::finding::Finding;
use crate::sla::store::OverdueActionItem;

/// `data` of `incident.sla_warning` and `incident.sla_breached`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaDeadlineData {
    /// The incident after the change.
    pub incident: IncidentSnapshot,
    /// `ACKNOWLEDGE` or `RESOLVE`.
    pub target: SlaTarget,
    /// The deadline near or passed.
    pub deadline: DateTime<Utc>,
    /// Whether the incident is a drill.
    pub is_drill: bool,
}

/// `data` of `incident.update_due`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateDueData {
    /// The incident.
    pub incident: IncidentSnapshot,
    /// The reminder's number for this incident (1, 2, ...).
    pub slot: i32,
    /// When the public update was due.
    pub due_at: DateTime<Utc>,
    /// Whole cadences elapsed since the last public update (or detection).
    pub missed_updates: i64,
    /// The cadence, in minutes.
    pub cadence_minutes: i32,
    /// Whether the incident is a drill.
    pub is_drill: bool,
}

/// `data` of `action_item.overdue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemOverdueData {
    /// The action item.
    pub action_item_id: Uuid,
    /// The postmortem it came from.
    pub postmortem_id: Uuid,
    /// The postmortem's incident.
    pub incident_id: Uuid,
    /// What to do.
    pub description: String,
    /// Who does it.
    pub assignee_id: Option<Uuid>,
    /// When it was due.
    pub due_date: NaiveDate,
    /// Whether the incident is a drill.
    pub is_drill: bool,
}

/// The event reporting `finding`, recorded as `recorded`, about `incident` as it stands
/// after the finding's change.
pub fn finding_event(
    incident: &Incident,
    finding: &Finding,
    recorded: &SlaEvent,
) -> Result<OutgoingMessage, serde_json::Error> {
    let snapshot = IncidentSnapshot::of(incident);
    let envelope = match *finding {
        Finding::Breach { target, deadline } | Finding::Warning { target, deadline } => {
            let message_type = if finding.is_breach() {
                INCIDENT_SLA_BREACHED
            } else {
                INCIDENT_SLA_WARNING
            };
            Envelope::new(
                message_type,
                incident.workspace_id,
                SlaDeadlineData {
                    incident: snapshot,
                    target,
                    deadline,
                    is_drill: incident.is_drill,
                },
            )?
        }
        Finding::UpdateDue {
            slot,
            due_at,
            missed_updates,
            cadence_minutes,
        } => Envelope::new(
            INCIDENT_UPDATE_DUE,
            incident.workspace_id,
            UpdateDueData {
                incident: snapshot,
                slot,
                due_at,
                missed_updates,
                cadence_minutes,
                is_drill: incident.is_drill,
            },
        )?,
    };
    Ok(OutgoingMessage::event(Envelope {
        occurred_at: recorded.detected_at,
        ..envelope
    }))
}

/// The event reporting an overdue action item.
pub fn overdue_event(item: &OverdueActionItem) -> Result<OutgoingMessage, serde_json::Error> {
    let envelope = Envelope::new(
        ACTION_ITEM_OVERDUE,
        item.workspace_id,
        ActionItemOverdueData {
            action_item_id: item.id,
            postmortem_id: item.postmortem_id,
            incident_id: item.incident_id,
            description: item.description.clone(),
            assignee_id: item.assignee_id,
            due_date: item.due_date,
            is_drill: item.is_drill,
        },
    )?;
    Ok(OutgoingMessage::event(Envelope {
        occurred_at: item.overdue_flagged_at,
        ..envelope
    }))
}
