//! The events the watchdog publishes on `incidents.events`, and their `data` shapes.
//!
//! Every event about an incident carries the incident as it stood after the change
//! under `data.incident` ([`IncidentSnapshot`]); the payload types are the contract's, and every event says whether it is about
//! a drill (`is_drill`), so consumers can mark or skip drills without a lookup. The
//! envelope's workspace is the incident's, and its `occurred_at` is when the database
//! recorded the finding. Consumers ignore fields they do not know, so fields may be added.

use incident_bus::OutgoingMessage;
use incident_schema::contract::{
    ActionItemOverdue, IncidentSlaBreached, IncidentSlaWarning, IncidentSnapshot, IncidentUpdateDue,
};
use incident_schema::{Incident, SlaEvent};

use crate::sla::finding::Finding;
use crate::sla::store::OverdueActionItem;

/// `data` of `incident.sla_warning` and `incident.sla_breached`, which share one shape.
pub type SlaDeadlineData = IncidentSlaWarning;

/// `data` of `incident.update_due`.
pub type UpdateDueData = IncidentUpdateDue;

/// `data` of `action_item.overdue`.
pub type ActionItemOverdueData = ActionItemOverdue;

/// The event reporting `finding`, recorded as `recorded`, about `incident` as it stands
/// after the finding's change.
pub fn finding_event(
    incident: &Incident,
    finding: &Finding,
    recorded: &SlaEvent,
) -> Result<OutgoingMessage, serde_json::Error> {
    let snapshot = IncidentSnapshot::of(incident);
    let ws = incident.workspace_id;
    let is_drill = incident.is_drill;
    let message = match *finding {
        Finding::Breach { target, deadline } => OutgoingMessage::of(
            ws,
            &IncidentSlaBreached {
                incident: snapshot,
                target,
                deadline,
                is_drill,
            },
        )?,
        Finding::Warning { target, deadline } => OutgoingMessage::of(
            ws,
            &IncidentSlaWarning {
                incident: snapshot,
                target,
                deadline,
                is_drill,
            },
        )?,
        Finding::UpdateDue {
            slot,
            due_at,
            missed_updates,
            cadence_minutes,
        } => OutgoingMessage::of(
            ws,
            &IncidentUpdateDue {
                incident: snapshot,
                slot,
                due_at,
                missed_updates,
                cadence_minutes,
                is_drill,
            },
        )?,
    };
    Ok(message.occurred_at(recorded.detected_at))
}

/// The event reporting an overdue action item.
pub fn overdue_event(item: &OverdueActionItem) -> Result<OutgoingMessage, serde_json::Error> {
    let message = OutgoingMessage::of(
        item.workspace_id,
        &ActionItemOverdue {
            action_item_id: item.id,
            postmortem_id: item.postmortem_id,
            incident_id: item.incident_id,
            description: item.description.clone(),
            assignee_id: item.assignee_id,
            due_date: item.due_date,
            is_drill: item.is_drill,
        },
    )?;
    Ok(message.occurred_at(item.overdue_flagged_at))
}
