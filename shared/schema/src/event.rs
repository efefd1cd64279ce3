//! The event contract on `incidents.events`: the message types and the common shape of
//! their `data`, shared by the service that publishes each event and those that consume it.
//!
//! Every event about an incident carries the incident as it stood after the change under
//! `data.incident` ([`IncidentSnapshot`]: the row plus its `reference`), including its
//! `version`, `is_drill` and `visibility`, so a consumer that mirrors state can ignore an
//! older version arriving late, drills are recognisable everywhere, and a consumer can keep
//! a PRIVATE incident private (no title in a public channel, nothing on a status page). Event-specific fields sit beside
//! it (`from`, `to`, `target`, ...). Consumers ignore fields they do not know.
//!
//! The payload types are in [`crate::contract`]; the names here are their `TYPE`s, kept
//! for the code that matches on a name.

use crate::contract::Message;
use crate::contract::events::*;

pub use crate::contract::snapshot::{IncidentRef, IncidentSnapshot};

/// `incident.declared`: a new incident (data: `incident`, `actor_id`).
pub const INCIDENT_DECLARED: &str = <IncidentDeclared>::TYPE;
/// `incident.acknowledged` (data: `incident`, `actor_id`).
pub const INCIDENT_ACKNOWLEDGED: &str = <IncidentAcknowledged>::TYPE;
/// `incident.status_changed` (data: `incident`, `from`, `to`, `message`, `actor_id`).
pub const INCIDENT_STATUS_CHANGED: &str = <IncidentStatusChanged>::TYPE;
/// `incident.severity_changed` (data: `incident`, `from`, `to`, `actor_id`).
pub const INCIDENT_SEVERITY_CHANGED: &str = <IncidentSeverityChanged>::TYPE;
/// `incident.updated`: fields other than status and severity changed (data: `incident`, `fields`, `actor_id`).
pub const INCIDENT_UPDATED: &str = <IncidentUpdated>::TYPE;
/// `incident.role_assigned` (data: `incident`, `role`, `user_id` (null when cleared), `previous_user_id`, `actor_id`).
pub const INCIDENT_ROLE_ASSIGNED: &str = <IncidentRoleAssigned>::TYPE;
/// `incident.timeline_entry_added` (data: `incident`, `entry`).
pub const INCIDENT_TIMELINE_ENTRY_ADDED: &str = <IncidentTimelineEntryAdded>::TYPE;
/// `incident.services_changed` (data: `incident`, `services`).
pub const INCIDENT_SERVICES_CHANGED: &str = <IncidentServicesChanged>::TYPE;
/// `incident.member_added`: someone was given access to the incident (data: `incident`, `user_id`, `actor_id`).
pub const INCIDENT_MEMBER_ADDED: &str = <IncidentMemberAdded>::TYPE;
/// `incident.member_removed`: someone's explicit access was taken away (data: `incident`, `user_id`, `actor_id`).
pub const INCIDENT_MEMBER_REMOVED: &str = <IncidentMemberRemoved>::TYPE;
/// `incident.visibility_changed`: made PRIVATE or PUBLIC (data: `incident`, `from`, `to`, `actor_id`).
pub const INCIDENT_VISIBILITY_CHANGED: &str = <IncidentVisibilityChanged>::TYPE;
/// `incident.alert_group_linked` (data: `incident`, `alert_group_id`).
pub const INCIDENT_ALERT_GROUP_LINKED: &str = <IncidentAlertGroupLinked>::TYPE;
/// `incident.sla_warning`: a deadline is near (data: `incident`, `target`, `deadline`).
pub const INCIDENT_SLA_WARNING: &str = <IncidentSlaWarning>::TYPE;
/// `incident.sla_breached`: a deadline passed unmet (data: `incident`, `target`, `deadline`).
pub const INCIDENT_SLA_BREACHED: &str = <IncidentSlaBreached>::TYPE;
/// `incident.update_due`: an open SEV1/SEV2 incident missed its update cadence (data: `incident`, `slot`, `due_at`).
pub const INCIDENT_UPDATE_DUE: &str = <IncidentUpdateDue>::TYPE;
/// `incident.warroom_opened` (data: `incident`, `channel_id`, `channel_url`).
pub const INCIDENT_WARROOM_OPENED: &str = <IncidentWarroomOpened>::TYPE;
/// `alert_group.opened`.
pub const ALERT_GROUP_OPENED: &str = <AlertGroupOpened>::TYPE;
/// `alert_group.resolved`.
pub const ALERT_GROUP_RESOLVED: &str = <AlertGroupResolved>::TYPE;
/// `postmortem.drafted`.
pub const POSTMORTEM_DRAFTED: &str = <PostmortemDrafted>::TYPE;
/// `postmortem.published`.
pub const POSTMORTEM_PUBLISHED: &str = <PostmortemPublished>::TYPE;
/// `action_item.created`.
pub const ACTION_ITEM_CREATED: &str = <ActionItemCreated>::TYPE;
/// `action_item.updated`.
pub const ACTION_ITEM_UPDATED: &str = <ActionItemUpdated>::TYPE;
/// `action_item.overdue`.
pub const ACTION_ITEM_OVERDUE: &str = ActionItemOverdue::TYPE;
/// `workspace.daily_digest`: open incidents, breaches of the last day, overdue action items.
pub const WORKSPACE_DAILY_DIGEST: &str = WorkspaceDailyDigest::TYPE;
