//! The events on `incidents.events`: facts that happened, each published by the service
//! owning the data.
//!
//! Every event about an incident carries the incident as it stood after the change under
//! `incident`, and (except `incident.warroom_opened`) whether it is a drill under
//! `is_drill`. The incident is generic: a producer writes the whole [`IncidentSnapshot`],
//! a consumer reads either that or just [`IncidentRef`] (its id). Fields a consumer has
//! always tolerated missing default when absent; unknown fields are ignored, so fields may
//! be added.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::commands::{GeneratePostmortem, ServiceView};
use super::snapshot::{IncidentPart, IncidentSnapshot};
use super::{Kind, Message};
use crate::{
    ActionItemStatus, IncidentStatus, Role, Severity, SlaTarget, TimelineEntry, Visibility,
};

/// Implements [`Message`] for an event generic over its incident part.
macro_rules! incident_event {
    ($ty:ident = $name:literal) => {
        impl<I: IncidentPart> Message for $ty<I> {
            const TYPE: &'static str = $name;
            const KIND: Kind = Kind::Event;
        }
    };
}

/// Implements [`Message`] for an event without an incident part.
macro_rules! event {
    ($ty:ident = $name:literal) => {
        impl Message for $ty {
            const TYPE: &'static str = $name;
            const KIND: Kind = Kind::Event;
        }
    };
}

/// `incident.declared`: a new incident (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDeclared<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// Who declared it; none when declared from alerts.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
    /// The affected services it was declared with.
    #[serde(default)]
    pub affected_services: Vec<ServiceView>,
    /// The alert groups it was declared from.
    #[serde(default)]
    pub alert_group_ids: Vec<Uuid>,
}
incident_event!(IncidentDeclared = "incident.declared");

/// `incident.acknowledged` (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentAcknowledged<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// Who acknowledged.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentAcknowledged = "incident.acknowledged");

/// `incident.status_changed` (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentStatusChanged<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The status before (core always sends it).
    #[serde(default)]
    pub from: Option<IncidentStatus>,
    /// The status after.
    pub to: IncidentStatus,
    /// What the person moving it said.
    #[serde(default)]
    pub message: Option<String>,
    /// Whether it left RESOLVED or CLOSED for an open status.
    #[serde(default)]
    pub reopen: bool,
    /// Whether it was closed with open action items (`force`).
    #[serde(default)]
    pub forced: bool,
    /// Who moved it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentStatusChanged = "incident.status_changed");

/// `incident.severity_changed` (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSeverityChanged<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The severity before.
    pub from: Severity,
    /// The severity after.
    pub to: Severity,
    /// Who changed it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentSeverityChanged = "incident.severity_changed");

/// `incident.updated`: fields other than status and severity changed (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdated<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The fields that changed (`title`, `description`, ...).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Who changed them.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentUpdated = "incident.updated");

/// `incident.role_assigned` (core); `user_id` is null when the role was cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRoleAssigned<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The role.
    pub role: Role,
    /// Who holds it now; none: cleared.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Who held it before.
    #[serde(default)]
    pub previous_user_id: Option<Uuid>,
    /// Who assigned it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentRoleAssigned = "incident.role_assigned");

/// `incident.timeline_entry_added`: a NOTE or UPDATE written by a person (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentTimelineEntryAdded<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The entry.
    pub entry: TimelineEntry,
    /// Who wrote it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentTimelineEntryAdded = "incident.timeline_entry_added");

/// `incident.services_changed`: the affected services were replaced (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentServicesChanged<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The services now, by name.
    #[serde(default)]
    pub services: Vec<ServiceView>,
    /// Who changed them.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentServicesChanged = "incident.services_changed");

/// `incident.member_added`: someone was given access to the incident (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentMemberAdded<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The new member.
    pub user_id: Uuid,
    /// Who added them.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentMemberAdded = "incident.member_added");

/// `incident.member_removed`: someone's explicit access was taken away (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentMemberRemoved<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The former member.
    pub user_id: Uuid,
    /// Who removed them.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentMemberRemoved = "incident.member_removed");

/// `incident.visibility_changed`: made PRIVATE or PUBLIC (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentVisibilityChanged<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The visibility before.
    pub from: Visibility,
    /// The visibility after.
    pub to: Visibility,
    /// Who changed it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentVisibilityChanged = "incident.visibility_changed");

/// `incident.alert_group_linked`: an alert group joined the incident (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentAlertGroupLinked<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// Whether it is a drill.
    #[serde(default)]
    pub is_drill: bool,
    /// The group.
    pub alert_group_id: Uuid,
    /// Who linked it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(IncidentAlertGroupLinked = "incident.alert_group_linked");

/// `incident.sla_warning`: a deadline is near (the watchdog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSlaWarning<I = IncidentSnapshot> {
    /// The incident after the change.
    pub incident: I,
    /// `ACKNOWLEDGE` or `RESOLVE`.
    pub target: SlaTarget,
    /// The deadline near.
    pub deadline: DateTime<Utc>,
    /// Whether the incident is a drill.
    #[serde(default)]
    pub is_drill: bool,
}
incident_event!(IncidentSlaWarning = "incident.sla_warning");

/// `incident.sla_breached`: a deadline passed unmet (the watchdog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSlaBreached<I = IncidentSnapshot> {
    /// The incident after the change.
    pub incident: I,
    /// `ACKNOWLEDGE` or `RESOLVE`.
    pub target: SlaTarget,
    /// The deadline passed.
    pub deadline: DateTime<Utc>,
    /// Whether the incident is a drill.
    #[serde(default)]
    pub is_drill: bool,
}
incident_event!(IncidentSlaBreached = "incident.sla_breached");

/// `incident.update_due`: an open incident missed its public update cadence (the watchdog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdateDue<I = IncidentSnapshot> {
    /// The incident.
    pub incident: I,
    /// The reminder's number for this incident (1, 2, ...).
    pub slot: i32,
    /// When the public update was due.
    pub due_at: DateTime<Utc>,
    /// Whole cadences elapsed since the last public update (or detection).
    pub missed_updates: i64,
    /// The cadence, in minutes.
    pub cadence_minutes: i32,
    /// Whether the incident is a drill.
    #[serde(default)]
    pub is_drill: bool,
}
incident_event!(IncidentUpdateDue = "incident.update_due");

/// `incident.warroom_opened`: the war room's Slack channel exists (the war room). Its
/// `incident` already names the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentWarroomOpened<I = IncidentSnapshot> {
    /// The incident, with `slack_channel_id` and `slack_channel_url` set.
    pub incident: I,
    /// The Slack channel id.
    pub channel_id: String,
    /// The Slack channel link.
    pub channel_url: String,
}
incident_event!(IncidentWarroomOpened = "incident.warroom_opened");

/// Implements [`Message`] for an alert group event, generic over how the group is read.
macro_rules! alert_group_event {
    ($ty:ident = $name:literal) => {
        impl<G> Message for $ty<G>
        where
            G: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        {
            const TYPE: &'static str = $name;
            const KIND: Kind = Kind::Event;
        }
    };
}

/// `alert_group.opened`: a new alert group (ingestion). The group is ingestion's
/// `GroupSummary` (`id`, `integration_id`, `group_key`, `title`, `status`, `labels`,
/// `severity`, `service`, `decision`, `alert_count`, `firing_count`, `incident_id`); a
/// consumer reads it as JSON or as its own type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroupOpened<G = serde_json::Value> {
    /// The group.
    pub alert_group: G,
    /// Why it opened, in words.
    pub reason: String,
}
alert_group_event!(AlertGroupOpened = "alert_group.opened");

/// `alert_group.resolved`: every alert of a group resolved (ingestion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroupResolved<G = serde_json::Value> {
    /// The group (see [`AlertGroupOpened`]).
    pub alert_group: G,
    /// Its incident, if core confirmed one.
    #[serde(default)]
    pub incident_id: Option<Uuid>,
}
alert_group_event!(AlertGroupResolved = "alert_group.resolved");

/// What asked for a postmortem draft, as `postmortem.drafted` records it: the name of
/// the message that did, or `request` (HTTP).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DraftTrigger {
    /// The incident reached RESOLVED or CLOSED ([`IncidentStatusChanged`]).
    StatusChanged,
    /// The [`GeneratePostmortem`] command.
    Command,
    /// `POST /api/v1/incidents/{id}/postmortem`.
    Request,
}

impl DraftTrigger {
    /// The spelling on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => <IncidentStatusChanged>::TYPE,
            Self::Command => GeneratePostmortem::TYPE,
            Self::Request => "request",
        }
    }
}

impl Serialize for DraftTrigger {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DraftTrigger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        [Self::StatusChanged, Self::Command, Self::Request]
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown draft trigger {text:?}")))
    }
}

/// `postmortem.drafted` (postmortem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostmortemDrafted<I = IncidentSnapshot> {
    /// The incident the postmortem is about.
    pub incident: I,
    /// The postmortem.
    pub postmortem_id: Uuid,
    /// What asked for the draft.
    pub trigger: DraftTrigger,
    /// Whether an unedited draft was rewritten.
    #[serde(default)]
    pub regenerated: bool,
    /// Where each section came from (template, LLM, ...), as postmortem records it.
    #[serde(default)]
    pub generation: serde_json::Value,
    /// The API path of the postmortem.
    pub link: String,
    /// The API path of its Markdown export.
    pub markdown_link: String,
    /// Who asked.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(PostmortemDrafted = "postmortem.drafted");

/// `postmortem.published` (postmortem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostmortemPublished<I = IncidentSnapshot> {
    /// The incident the postmortem is about.
    pub incident: I,
    /// The postmortem.
    pub postmortem_id: Uuid,
    /// Its summary.
    #[serde(default)]
    pub summary: String,
    /// The API path of the postmortem.
    pub link: String,
    /// The API path of its Markdown export.
    pub markdown_link: String,
    /// The export under `INCIDENT_PUBLIC_URL`, when that is configured.
    #[serde(default)]
    pub url: Option<String>,
    /// When it was published.
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// Who published it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(PostmortemPublished = "postmortem.published");

/// `action_item.created` (postmortem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemCreated<I = IncidentSnapshot> {
    /// The incident of the item's postmortem.
    pub incident: I,
    /// The item as postmortem's API shows it (postmortem's `ActionItemView`).
    pub action_item: serde_json::Value,
    /// Who created it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(ActionItemCreated = "action_item.created");

/// `action_item.updated` (postmortem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemUpdated<I = IncidentSnapshot> {
    /// The incident of the item's postmortem.
    pub incident: I,
    /// The item after the change (postmortem's `ActionItemView`).
    pub action_item: serde_json::Value,
    /// The fields that changed.
    #[serde(default)]
    pub changed: Vec<String>,
    /// The status before.
    pub from_status: ActionItemStatus,
    /// The status after.
    pub to_status: ActionItemStatus,
    /// Who changed it.
    #[serde(default)]
    pub actor_id: Option<Uuid>,
}
incident_event!(ActionItemUpdated = "action_item.updated");

/// `action_item.overdue`: an open action item passed its due date (the watchdog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemOverdue {
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
event!(ActionItemOverdue = "action_item.overdue");

/// `workspace.daily_digest`: open incidents, breaches of the last day, overdue action
/// items (the watchdog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceDailyDigest {
    /// The schedule occurrence this digest is for.
    pub scheduled_for: DateTime<Utc>,
    /// When the figures were taken (the database's `now()`).
    pub generated_at: DateTime<Utc>,
    /// Open incidents, drills left out.
    pub open_incidents: OpenIncidents,
    /// SLA breaches recorded in the 24 hours before `generated_at`, drills left out.
    pub breaches_last_24h: Breaches,
    /// Open action items past their due date, drills left out.
    pub overdue_action_items: OverdueActionItems,
}
event!(WorkspaceDailyDigest = "workspace.daily_digest");

/// `workspace.weekly_digest`: the last complete ISO week, in the workspace's time zone,
/// against the week before it (the watchdog, from `incident_schema::analytics`; drills
/// left out, PRIVATE incidents counted and never named).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceWeeklyDigest {
    /// The schedule occurrence this digest is for.
    pub scheduled_for: DateTime<Utc>,
    /// When the figures were taken (the database's `now()`).
    pub generated_at: DateTime<Utc>,
    /// The zone the weeks are cut in.
    pub time_zone: String,
    /// The last complete week.
    pub week: WeekFigures,
    /// The week before it.
    pub previous: WeekFigures,
}
event!(WorkspaceWeeklyDigest = "workspace.weekly_digest");

/// `webhook.subscription_disabled`: core stopped delivering to an outbound webhook whose
/// deliveries kept failing; its workspace's admins are to be told (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscriptionDisabled {
    /// The subscription.
    pub subscription_id: Uuid,
    /// Where it delivered to.
    pub url: String,
    /// Why it was disabled, in words.
    pub reason: String,
    /// Deliveries in a row that failed for good.
    pub consecutive_failures: i32,
    /// When it was disabled.
    pub disabled_at: DateTime<Utc>,
}
event!(WebhookSubscriptionDisabled = "webhook.subscription_disabled");

/// `drill.run_completed`: a drill run ended with its score (the watchdog); the war room
/// posts the report to the drill's channel once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRunCompleted {
    /// The run.
    pub run_id: Uuid,
    /// Its scenario; none once deleted.
    #[serde(default)]
    pub scenario_id: Option<Uuid>,
    /// The scenario's name when the run started.
    pub scenario_name: String,
    /// The drill incident, if one was declared.
    #[serde(default)]
    pub incident_id: Option<Uuid>,
    /// `completed` (its incident resolved) or `timed_out`.
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Each expectation met or missed, against the run before.
    pub score: crate::drill::Score,
}
event!(DrillRunCompleted = "drill.run_completed");

/// One week's figures in a weekly digest, of the incidents detected in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekFigures {
    /// The ISO week, `2026-W53`.
    pub label: String,
    /// Its start (Monday 00:00 in the workspace's zone).
    pub starts_at: DateTime<Utc>,
    /// The next week's start.
    pub ends_at: DateTime<Utc>,
    /// Incidents detected.
    pub incidents: i64,
    /// By severity, every severity present.
    pub by_severity: BTreeMap<String, i64>,
    /// Median detected → acknowledged, in seconds; none without an acknowledgement.
    pub mtta_median_seconds: Option<f64>,
    /// Median detected → resolved, in seconds; none without a resolved incident.
    pub mttr_median_seconds: Option<f64>,
    /// Share of decided incidents that met the acknowledge target.
    pub acknowledge_met_share: Option<f64>,
    /// Share of decided incidents that met the resolve target.
    pub resolve_met_share: Option<f64>,
    /// SLA breaches found about them.
    pub sla_breaches: i64,
    /// Their postmortems published so far.
    pub postmortems_published: i64,
}

/// Open incidents of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIncidents {
    /// All of them.
    pub total: i64,
    /// By severity: every severity is present, `SEV1` to `SEV4`.
    pub by_severity: BTreeMap<String, i64>,
}

impl OpenIncidents {
    /// No open incident: zero of every severity.
    pub fn empty() -> Self {
        Self {
            total: 0,
            by_severity: Severity::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), 0))
                .collect(),
        }
    }
}

/// Breaches of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Breaches {
    /// All of them.
    pub total: i64,
    /// Acknowledge targets missed.
    pub acknowledge: i64,
    /// Resolve targets missed.
    pub resolve: i64,
}

/// Overdue action items of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OverdueActionItems {
    /// All of them.
    pub total: i64,
    /// The most overdue first, at most the watchdog's listing limit.
    pub items: Vec<OverdueActionItem>,
}

/// One overdue action item in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct OverdueActionItem {
    /// The action item.
    pub action_item_id: Uuid,
    /// The incident whose postmortem it came from.
    pub incident_id: Uuid,
    /// What to do.
    pub description: String,
    /// Who does it.
    pub assignee_id: Option<Uuid>,
    /// When it was due.
    pub due_date: NaiveDate,
}

/// Every incident event, parsed only as far as the incident: the common part of their
/// `data`, for a consumer that mirrors every event about an incident (the war room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AboutIncident<I = IncidentSnapshot> {
    /// The incident as it stood after the change.
    pub incident: I,
}
