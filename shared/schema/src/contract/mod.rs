//! The message contract: every command and every event on the bus as a payload type,
//! with its name as a constant (ARCHITECTURE.md, "Messaging").
//!
//! A message type implements [`Message`]: its `TYPE` (the envelope's `type` and its
//! routing key) is the one place its name is written, and its `KIND` picks the exchange.
//! Producers build these types and the bus publishes them
//! (`incident_bus::OutgoingMessage::of`); consumers register typed handlers and the bus
//! parses each payload once into its type (`incident_bus::Dispatch`). The wire format is
//! the payload's serde form: optional fields a producer never set are left out, and
//! nothing a consumer has always tolerated missing is required.
//!
//! - [`commands`]: `incident.*` for core, `postmortem.*` for postmortem, `drill.*` for the
//!   SLA watchdog;
//! - [`events`]: facts, each published by the owner of the data;
//! - [`snapshot`]: the incident as events carry it.

pub mod commands;
pub mod events;
pub mod snapshot;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use commands::{
    Acknowledge, AddMember, AddUpdate, AssignRole, ChangeSeverity, ChangeStatus, Declaration,
    Declare, GeneratePostmortem, LinkAlertGroup, ServiceView, StartDrillRun,
};
pub use events::*;
pub use snapshot::{IncidentPart, IncidentRef, IncidentSnapshot, Reported};

/// Whether a message is a fact (on `incidents.events`) or a request to the data's owner
/// (on `incidents.commands`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fact that happened.
    Event,
    /// A request to the owner of the data.
    Command,
}

/// A message type of the contract: its payload is the envelope's `data`.
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The message's name: the envelope's `type` and its routing key.
    const TYPE: &'static str;
    /// Event or command.
    const KIND: Kind;
}

/// Every message type of the contract, with its kind.
pub const ALL: &[(&str, Kind)] = &[
    (Declare::TYPE, Kind::Command),
    (Acknowledge::TYPE, Kind::Command),
    (ChangeStatus::TYPE, Kind::Command),
    (ChangeSeverity::TYPE, Kind::Command),
    (AddUpdate::TYPE, Kind::Command),
    (AssignRole::TYPE, Kind::Command),
    (LinkAlertGroup::TYPE, Kind::Command),
    (AddMember::TYPE, Kind::Command),
    (GeneratePostmortem::TYPE, Kind::Command),
    (StartDrillRun::TYPE, Kind::Command),
    (<IncidentDeclared>::TYPE, Kind::Event),
    (<IncidentAcknowledged>::TYPE, Kind::Event),
    (<IncidentStatusChanged>::TYPE, Kind::Event),
    (<IncidentSeverityChanged>::TYPE, Kind::Event),
    (<IncidentUpdated>::TYPE, Kind::Event),
    (<IncidentRoleAssigned>::TYPE, Kind::Event),
    (<IncidentTimelineEntryAdded>::TYPE, Kind::Event),
    (<IncidentServicesChanged>::TYPE, Kind::Event),
    (<IncidentMemberAdded>::TYPE, Kind::Event),
    (<IncidentMemberRemoved>::TYPE, Kind::Event),
    (<IncidentVisibilityChanged>::TYPE, Kind::Event),
    (<IncidentAlertGroupLinked>::TYPE, Kind::Event),
    (<IncidentSlaWarning>::TYPE, Kind::Event),
    (<IncidentSlaBreached>::TYPE, Kind::Event),
    (<IncidentUpdateDue>::TYPE, Kind::Event),
    (<IncidentWarroomOpened>::TYPE, Kind::Event),
    (<AlertGroupOpened>::TYPE, Kind::Event),
    (<AlertGroupResolved>::TYPE, Kind::Event),
    (<PostmortemDrafted>::TYPE, Kind::Event),
    (<PostmortemPublished>::TYPE, Kind::Event),
    (<ActionItemCreated>::TYPE, Kind::Event),
    (<ActionItemUpdated>::TYPE, Kind::Event),
    (ActionItemOverdue::TYPE, Kind::Event),
    (WorkspaceDailyDigest::TYPE, Kind::Event),
    (WorkspaceWeeklyDigest::TYPE, Kind::Event),
    (WebhookSubscriptionDisabled::TYPE, Kind::Event),
    (DrillRunCompleted::TYPE, Kind::Event),
];

/// The kind of the contract's message type `message_type`, if it is one.
pub fn kind_of(message_type: &str) -> Option<Kind> {
    ALL.iter()
        .find(|(name, _)| *name == message_type)
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind<M: Message>() -> (&'static str, Kind) {
        (M::TYPE, M::KIND)
    }

    #[test]
    fn every_message_type_is_named_once() {
        let mut names: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a message type name is used twice");
    }

    #[test]
    fn the_table_says_each_types_own_kind_and_commands_are_imperative() {
        for (name, kind) in [
            kind::<Declare>(),
            kind::<GeneratePostmortem>(),
            kind::<IncidentDeclared>(),
            kind::<WorkspaceDailyDigest>(),
            kind::<WorkspaceWeeklyDigest>(),
        ] {
            assert_eq!(kind_of(name), Some(kind), "{name}");
        }
        assert_eq!(ALL.iter().filter(|(_, k)| *k == Kind::Command).count(), 10);
        assert_eq!(ALL.iter().filter(|(_, k)| *k == Kind::Event).count(), 27);
        assert_eq!(kind_of("nobody.knows"), None);
    }
}
