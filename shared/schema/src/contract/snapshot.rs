//! The incident as events carry it under `data.incident`: the row plus its display
//! reference (`INC-42`).
//!
//! [`IncidentSnapshot`] is the whole incident, typed with the domain enums. Consumers that
//! only need to know which incident an event is about read it as [`IncidentRef`] instead
//! (every event about an incident is generic over how much of it the consumer reads).
//! Fields added to the row after the first release default when absent, so a consumer
//! reads a snapshot from an older producer; unknown fields are ignored, so a newer
//! producer's snapshot parses too. So are values of the domain enums a consumer does not
//! know yet (a future `SEV0` severity or status): severity, status and visibility are
//! [`Reported`], the known value or the name as written, so an old consumer acts on what
//! it knows and shows the rest as named instead of dead-lettering the event.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{Incident, IncidentNumber, IncidentStatus, Severity, Visibility};

/// How much of `data.incident` a consumer reads: the whole [`IncidentSnapshot`] or just
/// its id ([`IncidentRef`]).
pub trait IncidentPart:
    Serialize + DeserializeOwned + std::fmt::Debug + Clone + PartialEq + Send + Sync + 'static
{
    /// The incident's id.
    fn id(&self) -> Uuid;
}

/// An incident as events carry it: every column of its row, and its `reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSnapshot {
    /// `INC-<number>`.
    pub reference: String,
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Per-workspace number.
    pub number: IncidentNumber,
    /// One-line summary.
    pub title: String,
    /// Longer description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Current severity.
    pub severity: Reported<Severity>,
    /// Current lifecycle status.
    pub status: Reported<IncidentStatus>,
    /// Who or what is affected, in words.
    #[serde(default)]
    pub impact: Option<String>,
    /// When the problem was detected.
    pub detected_at: DateTime<Utc>,
    /// First acknowledgement.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// First arrival at MONITORING.
    #[serde(default)]
    pub mitigated_at: Option<DateTime<Utc>>,
    /// First arrival at RESOLVED.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Arrival at CLOSED.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether any SLA deadline passed unmet.
    #[serde(default)]
    pub sla_breached: bool,
    /// The acknowledge deadline.
    #[serde(default)]
    pub sla_deadline: Option<DateTime<Utc>>,
    /// The resolve deadline.
    #[serde(default)]
    pub sla_resolve_deadline: Option<DateTime<Utc>>,
    /// The Incident Commander.
    #[serde(default)]
    pub commander_id: Option<Uuid>,
    /// The Tech Lead.
    #[serde(default)]
    pub tech_lead_id: Option<Uuid>,
    /// The Comms Lead.
    #[serde(default)]
    pub comms_lead_id: Option<Uuid>,
    /// The war room's Slack channel id.
    #[serde(default)]
    pub slack_channel_id: Option<String>,
    /// The war room's Slack channel link.
    #[serde(default)]
    pub slack_channel_url: Option<String>,
    /// The root cause, once known.
    #[serde(default)]
    pub root_cause: Option<String>,
    /// Incremented on every change: a consumer mirroring state ignores an older one.
    pub version: i64,
    /// A drill.
    #[serde(default)]
    pub is_drill: bool,
    /// Who may see it; absent from snapshots older than visibility (see
    /// [`IncidentSnapshot::visibility`]).
    #[serde(default)]
    pub visibility: Option<Reported<Visibility>>,
    /// The user who declared it.
    #[serde(default)]
    pub declared_by: Option<Uuid>,
    /// The key of the command that created it.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The last public update.
    #[serde(default)]
    pub last_public_update_at: Option<DateTime<Utc>>,
    /// Row creation.
    #[serde(default)]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(default)]
    pub updated_at: DateTime<Utc>,
}

impl IncidentSnapshot {
    /// The snapshot of `incident`.
    pub fn of(incident: &Incident) -> Self {
        Self {
            reference: incident.number.to_string(),
            id: incident.id,
            workspace_id: incident.workspace_id,
            number: incident.number,
            title: incident.title.clone(),
            description: incident.description.clone(),
            severity: incident.severity.into(),
            status: incident.status.into(),
            impact: incident.impact.clone(),
            detected_at: incident.detected_at,
            acknowledged_at: incident.acknowledged_at,
            mitigated_at: incident.mitigated_at,
            resolved_at: incident.resolved_at,
            closed_at: incident.closed_at,
            sla_breached: incident.sla_breached,
            sla_deadline: incident.sla_deadline,
            sla_resolve_deadline: incident.sla_resolve_deadline,
            commander_id: incident.commander_id,
            tech_lead_id: incident.tech_lead_id,
            comms_lead_id: incident.comms_lead_id,
            slack_channel_id: incident.slack_channel_id.clone(),
            slack_channel_url: incident.slack_channel_url.clone(),
            root_cause: incident.root_cause.clone(),
            version: incident.version,
            is_drill: incident.is_drill,
            visibility: Some(incident.visibility.into()),
            declared_by: incident.declared_by,
            idempotency_key: incident.idempotency_key.clone(),
            last_public_update_at: incident.last_public_update_at,
            created_at: incident.created_at,
            updated_at: incident.updated_at,
        }
    }

    /// Who may see the incident. A snapshot without `visibility`, or with one this build
    /// does not know, counts as PRIVATE: a consumer that cannot tell keeps it to itself.
    pub fn visibility(&self) -> Visibility {
        self.visibility
            .as_ref()
            .and_then(Reported::known)
            .unwrap_or(Visibility::Private)
    }
}

/// A domain value as a snapshot carries it: one this build knows, or one a newer producer
/// wrote that it does not, kept as its name. On the wire both are the plain string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported<T> {
    /// A value this build knows.
    Known(T),
    /// A value this build does not know, as written.
    Unknown(String),
}

impl<T: Copy> Reported<T> {
    /// The value, if this build knows it.
    pub fn known(&self) -> Option<T> {
        match self {
            Self::Known(value) => Some(*value),
            Self::Unknown(_) => None,
        }
    }
}

impl<T: AsRef<str>> Reported<T> {
    /// The value's name, known or not.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(value) => value.as_ref(),
            Self::Unknown(name) => name,
        }
    }
}

impl<T> From<T> for Reported<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: PartialEq> PartialEq<T> for Reported<T> {
    /// Equal to a known value only: an unknown one is none of this build's values.
    fn eq(&self, other: &T) -> bool {
        matches!(self, Self::Known(value) if value == other)
    }
}

impl<T: AsRef<str>> std::fmt::Display for Reported<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl<T: Serialize> Serialize for Reported<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => value.serialize(serializer),
            Self::Unknown(name) => serializer.serialize_str(name),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Reported<T> {
    /// A string always parses: as `T` when it is one of `T`'s spellings, else as the name.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let known: Result<T, serde::de::value::Error> =
            T::deserialize(name.as_str().into_deserializer());
        Ok(known.map_or(Self::Unknown(name), Self::Known))
    }
}

impl IncidentPart for IncidentSnapshot {
    fn id(&self) -> Uuid {
        self.id
    }
}

/// Which incident an event is about: `data.incident.id`, the rest of the snapshot unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    /// The incident's id.
    pub id: Uuid,
}

impl IncidentPart for IncidentRef {
    fn id(&self) -> Uuid {
        self.id
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone as _;

    use super::*;

    /// An incident with every optional column set, so each shows in its snapshot.
    pub(crate) fn incident() -> Incident {
        let at = |minute| Utc.with_ymd_and_hms(2026, 11, 27, 10, minute, 0).unwrap();
        let id = |n: u128| Uuid::from_u128(n);
        Incident {
            id: id(1),
            workspace_id: id(2),
            number: IncidentNumber(42),
            title: "Checkout is down".into(),
            description: "5xx on /pay".into(),
            severity: Severity::Sev1,
            status: IncidentStatus::Identified,
            impact: Some("customers cannot pay".into()),
            detected_at: at(0),
            acknowledged_at: Some(at(1)),
            mitigated_at: None,
            resolved_at: None,
            closed_at: None,
            sla_breached: false,
            sla_deadline: Some(at(15)),
            sla_resolve_deadline: Some(at(59)),
            commander_id: Some(id(3)),
            tech_lead_id: None,
            comms_lead_id: None,
            slack_channel_id: Some("C0001".into()),
            slack_channel_url: Some("https://fake.slack.com/archives/C0001".into()),
            root_cause: None,
            version: 3,
            is_drill: false,
            visibility: Visibility::Public,
            declared_by: Some(id(3)),
            idempotency_key: None,
            last_public_update_at: None,
            created_at: at(0),
            updated_at: at(2),
        }
    }

    #[test]
    fn a_snapshot_is_the_row_with_its_reference_exactly_as_before() {
        let incident = incident();
        let mut expected = serde_json::to_value(&incident).expect("row");
        expected["reference"] = "INC-42".into();
        let snapshot = IncidentSnapshot::of(&incident);
        let json = serde_json::to_value(&snapshot).expect("snapshot");
        assert_eq!(json, expected);
        let back: IncidentSnapshot = serde_json::from_value(json).expect("parses");
        assert_eq!(back, snapshot);
    }

    #[test]
    fn a_snapshot_says_whether_the_incident_is_private_and_doubts_count_as_private() {
        let with = |visibility: Option<&str>| {
            let mut json = serde_json::to_value(IncidentSnapshot::of(&incident())).expect("json");
            match visibility {
                Some(v) => json["visibility"] = v.into(),
                None => drop(json.as_object_mut().expect("object").remove("visibility")),
            }
            serde_json::from_value::<IncidentSnapshot>(json).expect("snapshot")
        };
        assert_eq!(with(Some("PRIVATE")).visibility(), Visibility::Private);
        assert_eq!(with(Some("PUBLIC")).visibility(), Visibility::Public);
        assert_eq!(with(None).visibility(), Visibility::Private);
    }

    #[test]
    fn a_snapshot_with_values_from_a_newer_producer_parses_and_is_written_back_as_it_came() {
        let mut json = serde_json::to_value(IncidentSnapshot::of(&incident())).expect("json");
        json["severity"] = "SEV0".into();
        json["status"] = "PAUSED".into();
        json["visibility"] = "INTERNAL".into();
        let snapshot: IncidentSnapshot = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(snapshot.severity, Reported::Unknown("SEV0".into()));
        assert_eq!(snapshot.severity.as_str(), "SEV0");
        assert_eq!(snapshot.status.known(), None);
        assert!(snapshot.status != IncidentStatus::Closed);
        assert_eq!(snapshot.status.to_string(), "PAUSED");
        assert_eq!(
            snapshot.visibility(),
            Visibility::Private,
            "an unknown visibility is kept private"
        );
        assert_eq!(serde_json::to_value(&snapshot).expect("json"), json);
        let known = IncidentSnapshot::of(&incident());
        assert_eq!(known.severity, Severity::Sev1);
        assert_eq!(known.status.known(), Some(IncidentStatus::Identified));
        json["severity"] = 1.into();
        assert!(
            serde_json::from_value::<IncidentSnapshot>(json).is_err(),
            "a value that is not a name is still refused"
        );
    }

    #[test]
    fn a_consumer_may_read_only_the_incident_id() {
        let json = serde_json::to_value(IncidentSnapshot::of(&incident())).expect("json");
        let only: IncidentRef = serde_json::from_value(json).expect("parses");
        assert_eq!(only.id(), Uuid::from_u128(1));
    }
}
