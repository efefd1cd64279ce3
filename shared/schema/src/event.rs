//! The event contract on `incidents.events`: the message types and the common shape of
//! their `data`, shared by the service that publishes each event and those that consume it.
//!
//! Every event about an incident carries the incident as it stood after the change under
//! `data.incident` ([`IncidentSnapshot`]: the row plus its `reference`), including its
//! `version`, `is_drill` and `visibility`, so a consumer that mirrors state can ignore an
//! older version arriving late, drills are recognisable everywhere, and a consumer can keep
//! a PRIVATE incident private (no title in a public channel, nothing on a status page). Event-specific fields sit beside
//! it (`from`, `to`, `target`, ...). Consumers ignore fields they do not know.

use serde::{Deserialize, Serialize};

use crate::{Incident, Visibility};

/// `incident.declared`: a new incident (data: `incident`, `actor_id`).
pub const INCIDENT_DECLARED: &str = "incident.declared";
/// `incident.acknowledged` (data: `incident`, `actor_id`).
pub const INCIDENT_ACKNOWLEDGED: &str = "incident.acknowledged";
/// `incident.status_changed` (data: `incident`, `from`, `to`, `message`, `actor_id`).
pub const INCIDENT_STATUS_CHANGED: &str = "incident.status_changed";
/// `incident.severity_changed` (data: `incident`, `from`, `to`, `actor_id`).
pub const INCIDENT_SEVERITY_CHANGED: &str = "incident.severity_changed";
/// `incident.updated`: fields other than status and severity changed (data: `incident`, `fields`, `actor_id`).
pub const INCIDENT_UPDATED: &str = "incident.updated";
/// `incident.role_assigned` (data: `incident`, `role`, `user_id` (null when cleared), `previous_user_id`, `actor_id`).
pub const INCIDENT_ROLE_ASSIGNED: &str = "incident.role_assigned";
/// `incident.timeline_entry_added` (data: `incident`, `entry`).
pub const INCIDENT_TIMELINE_ENTRY_ADDED: &str = "incident.timeline_entry_added";
/// `incident.services_changed` (data: `incident`, `services`).
pub const INCIDENT_SERVICES_CHANGED: &str = "incident.services_changed";
/// `incident.member_added`: someone was given access to the incident (data: `incident`, `user_id`, `actor_id`).
pub const INCIDENT_MEMBER_ADDED: &str = "incident.member_added";
/// `incident.member_removed`: someone's explicit access was taken away (data: `incident`, `user_id`, `actor_id`).
pub const INCIDENT_MEMBER_REMOVED: &str = "incident.member_removed";
/// `incident.visibility_changed`: made PRIVATE or PUBLIC (data: `incident`, `from`, `to`, `actor_id`).
pub const INCIDENT_VISIBILITY_CHANGED: &str = "incident.visibility_changed";
/// `incident.alert_group_linked` (data: `incident`, `alert_group_id`).
pub const INCIDENT_ALERT_GROUP_LINKED: &str = "incident.alert_group_linked";
/// `incident.sla_warning`: a deadline is near (data: `incident`, `target`, `deadline`).
pub const INCIDENT_SLA_WARNING: &str = "incident.sla_warning";
/// `incident.sla_breached`: a deadline passed unmet (data: `incident`, `target`, `deadline`).
pub const INCIDENT_SLA_BREACHED: &str = "incident.sla_breached";
/// `incident.update_due`: an open SEV1/SEV2 incident missed its update cadence (data: `incident`, `slot`, `due_at`).
pub const INCIDENT_UPDATE_DUE: &str = "incident.update_due";
/// `incident.warroom_opened` (data: `incident`, `channel_id`, `channel_url`).
pub const INCIDENT_WARROOM_OPENED: &str = "incident.warroom_opened";
/// `alert_group.opened`.
pub const ALERT_GROUP_OPENED: &str = "alert_group.opened";
/// `alert_group.resolved`.
pub const ALERT_GROUP_RESOLVED: &str = "alert_group.resolved";
/// `postmortem.drafted`.
pub const POSTMORTEM_DRAFTED: &str = "postmortem.drafted";
/// `postmortem.published`.
pub const POSTMORTEM_PUBLISHED: &str = "postmortem.published";
/// `action_item.created`.
pub const ACTION_ITEM_CREATED: &str = "action_item.created";
/// `action_item.updated`.
pub const ACTION_ITEM_UPDATED: &str = "action_item.updated";
/// `action_item.overdue`.
pub const ACTION_ITEM_OVERDUE: &str = "action_item.overdue";
/// `workspace.daily_digest`: open incidents, breaches of the last day, overdue action items.
pub const WORKSPACE_DAILY_DIGEST: &str = "workspace.daily_digest";

/// An incident as events carry it: the row plus its display reference (`INC-42`). The row
/// includes `visibility` (`PUBLIC` or `PRIVATE`); see [`IncidentSnapshot::visibility`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSnapshot {
    /// `INC-<number>`.
    pub reference: String,
    /// The row.
    #[serde(flatten)]
    pub incident: IncidentFields,
}

/// The incident's fields inside a snapshot (the row's serialised form).
pub type IncidentFields = serde_json::Map<String, serde_json::Value>;

impl IncidentSnapshot {
    /// The snapshot of `incident`.
    pub fn of(incident: &Incident) -> Self {
        let incident_fields = match serde_json::to_value(incident) {
            Ok(serde_json::Value::Object(map)) => map,
            // An Incident always serialises to an object; keep the type total anyway.
            _ => serde_json::Map::new(),
        };
        Self {
            reference: incident.number.to_string(),
            incident: incident_fields,
        }
    }

    /// Who may see the incident. A snapshot without a readable `visibility` counts as
    /// PRIVATE: a consumer that cannot tell keeps it to itself.
    pub fn visibility(&self) -> Visibility {
        self.incident
            .get("visibility")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(Visibility::Private)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(fields: serde_json::Value) -> IncidentSnapshot {
        serde_json::from_value(fields).expect("snapshot")
    }

    #[test]
    fn a_snapshot_says_whether_the_incident_is_private_and_doubts_count_as_private() {
        let private =
            snapshot(serde_json::json!({ "reference": "INC-1", "visibility": "PRIVATE" }));
        let public = snapshot(serde_json::json!({ "reference": "INC-2", "visibility": "PUBLIC" }));
        let unknown = snapshot(serde_json::json!({ "reference": "INC-3" }));
        assert_eq!(private.visibility(), Visibility::Private);
        assert_eq!(public.visibility(), Visibility::Public);
        assert_eq!(unknown.visibility(), Visibility::Private);
    }
}
