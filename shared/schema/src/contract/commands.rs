//! The commands on `incidents.commands`: requests to the service owning the data.
//!
//! Core owns `incident.*`, postmortem owns `postmortem.*`, the SLA watchdog `drill.*`.
//! The envelope's `workspace_id` scopes everything; `actor_id` is an optional user of that workspace and is left out
//! when there is none. Optional fields a producer does not set are left out too, so each
//! producer's shape on the wire stays what it always was.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Kind, Message};
use crate::{AffectedService, IncidentStatus, Role, ServiceImpact, Severity, TimelineKind};
use crate::{Timestamp, Visibility};

/// Implements [`Message`] for a command.
macro_rules! command {
    ($ty:ident = $name:literal) => {
        impl Message for $ty {
            const TYPE: &'static str = $name;
            const KIND: Kind = Kind::Command;
        }
    };
}

/// An affected service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ServiceView {
    /// The service's name.
    pub name: String,
    /// How badly it is affected.
    pub impact: ServiceImpact,
}

impl From<&AffectedService> for ServiceView {
    fn from(s: &AffectedService) -> Self {
        Self {
            name: s.service_name.clone(),
            impact: s.impact,
        }
    }
}

/// `incident.declare`: declare an incident, once per idempotency key (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declare {
    /// A retry with the same key finds the first incident instead of declaring twice (an
    /// alert group's id, `slack:<trigger id>`).
    pub idempotency_key: Option<String>,
    /// Who declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// What to declare.
    pub incident: Declaration,
}
command!(Declare = "incident.declare");

/// The incident an `incident.declare` asks for: the fields of `POST /incidents`, those a
/// producer leaves out taking the same defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// One-line summary, 1 to 200 characters.
    pub title: String,
    /// Longer description (default empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SEV1 (critical) to SEV4 (low).
    pub severity: Severity,
    /// When the problem was detected (default now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<Timestamp>,
    /// Who or what is affected, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    /// Affected services (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_services: Option<Vec<ServiceView>>,
    /// Alert groups that triggered it (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_group_ids: Option<Vec<Uuid>>,
    /// A practice run (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_drill: Option<bool>,
    /// PUBLIC (default) or PRIVATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// The Incident Commander, a user of the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commander_id: Option<Uuid>,
}

impl Declaration {
    /// A declaration of `title` at `severity`, everything else left to its default.
    pub fn new(title: impl Into<String>, severity: Severity) -> Self {
        Self {
            title: title.into(),
            description: None,
            severity,
            detected_at: None,
            impact: None,
            affected_services: None,
            alert_group_ids: None,
            is_drill: None,
            visibility: None,
            commander_id: None,
        }
    }
}

/// `incident.acknowledge` (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// The incident.
    pub incident_id: Uuid,
    /// Who acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
}
command!(Acknowledge = "incident.acknowledge");

/// `incident.change_status`: move the incident in its lifecycle (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeStatus {
    /// The incident.
    pub incident_id: Uuid,
    /// Who moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// Where to.
    pub status: IncidentStatus,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Close even with open postmortem action items.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}
command!(ChangeStatus = "incident.change_status");

/// `incident.change_severity`: move the incident to another severity, its SLA deadlines
/// with it (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSeverity {
    /// The incident.
    pub incident_id: Uuid,
    /// Who changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// The new severity.
    pub severity: Severity,
}
command!(ChangeSeverity = "incident.change_severity");

/// `drill.start_run`: start a run of a drill scenario now (the SLA watchdog, which owns
/// the drill tables), as `POST /api/v1/drills/runs` does; the war room's
/// `/incident drill <scenario>` sends it. The scenario is named by its id, which the
/// sender resolved in the envelope's workspace; the idempotency key (derived from the
/// request that asked, `slack:drill:<trigger id>`) makes a resent command start one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartDrillRun {
    /// The scenario to play, of the envelope's workspace.
    pub scenario_id: Uuid,
    /// Who starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// One run per key (1 to 255 printable ASCII characters).
    pub idempotency_key: String,
}
command!(StartDrillRun = "drill.start_run");

/// `incident.add_update`: a NOTE or UPDATE on the timeline (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddUpdate {
    /// The incident.
    pub incident_id: Uuid,
    /// Who writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// The text.
    pub message: String,
    /// Public (status page) or internal (default).
    #[serde(default)]
    pub is_public: bool,
    /// `NOTE` or `UPDATE` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TimelineKind>,
}
command!(AddUpdate = "incident.add_update");

/// `incident.assign_role`: assign a role, or clear it with a null `user_id` (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignRole {
    /// The incident.
    pub incident_id: Uuid,
    /// Who assigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// The role.
    pub role: Role,
    /// Who gets it; none: cleared.
    pub user_id: Option<Uuid>,
}
command!(AssignRole = "incident.assign_role");

/// `incident.add_member`: a user joins the incident as a member (core), as
/// `PUT /api/v1/incidents/{id}/members/{user_id}` does; the war room's "Join" button on an
/// incident's announcement sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddMember {
    /// The incident.
    pub incident_id: Uuid,
    /// Who adds them (themselves, for "Join").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// The user who joins, of the same workspace.
    pub user_id: Uuid,
}
command!(AddMember = "incident.add_member");

/// `incident.link_alert_group`: an alert group joins the incident (core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkAlertGroup {
    /// The incident.
    pub incident_id: Uuid,
    /// Who links it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// The group, of the same workspace.
    pub alert_group_id: Uuid,
}
command!(LinkAlertGroup = "incident.link_alert_group");

/// `postmortem.generate`: draft the incident's postmortem, or with `regenerate` rewrite
/// an unedited draft (postmortem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratePostmortem {
    /// The incident, resolved or closed.
    pub incident_id: Uuid,
    /// Rewrite an unedited draft.
    #[serde(default)]
    pub regenerate: bool,
    /// Who asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
}
command!(GeneratePostmortem = "postmortem.generate");
