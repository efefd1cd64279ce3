//! The messages ingestion writes to its outbox, and their exact shapes.
//!
//! Events on `incidents.events`:
//! - `alert_group.opened`: `{ "alert_group": <GroupSummary>, "reason": "…" }`
//! - `alert_group.resolved`: `{ "alert_group": <GroupSummary>, "incident_id": … | null }`
//!
//! Commands to core on `incidents.commands` (shapes in core's `commands` module):
//! - `incident.declare`: `{ "idempotency_key": "<alert group id>", "incident": { "title",
//!   "description", "severity", "detected_at", "affected_services": [{"name", "impact"}],
//!   "alert_group_ids": [<alert group id>] } }`
//! - `incident.link_alert_group`: `{ "incident_id", "alert_group_id" }`
//! - `incident.add_update`: `{ "incident_id", "message": "Alert group … resolved (n alerts)",
//!   "is_public": false, "kind": "NOTE" }`

use chrono::{DateTime, Utc};
use incident_bus::{Envelope, OutgoingMessage};
use incident_schema::contract::{
    AddUpdate, AlertGroupOpened, AlertGroupResolved, Declaration, Declare as DeclareCommand,
    LinkAlertGroup, Message, ServiceView,
};
use incident_schema::{AlertGroupStatus, ServiceImpact, Severity, TimelineKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Decision;
use crate::source::{IncomingAlert, Labels};

/// Longest incident title core accepts, in characters.
const MAX_TITLE: usize = 200;
/// Longest incident description core accepts, in characters.
const MAX_DESCRIPTION: usize = 20_000;
/// Alerts listed in a declared incident's description.
const LISTED_ALERTS: usize = 10;

/// An alert group as events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupSummary {
    /// Its id.
    pub id: Uuid,
    /// The integration its alerts came through.
    pub integration_id: Uuid,
    /// What its alerts share.
    pub group_key: String,
    /// Title for people.
    pub title: String,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// The labels its alerts share.
    #[schema(value_type = Object)]
    pub labels: Labels,
    /// The severity its rule chose.
    pub severity: Option<Severity>,
    /// The affected service its rule named.
    pub service: Option<String>,
    /// What it decided.
    pub decision: Decision,
    /// Alerts in it.
    pub alert_count: i32,
    /// Alerts firing in it.
    pub firing_count: i32,
    /// The incident core confirmed, if any.
    pub incident_id: Option<Uuid>,
}

/// Makes the envelopes of one transaction, all caused by `cause` if given.
pub struct Messages<'a> {
    workspace_id: Uuid,
    cause: Option<&'a Envelope>,
    /// What was made, in order.
    pub out: Vec<OutgoingMessage>,
}

impl<'a> Messages<'a> {
    /// Messages of `workspace_id`, caused by `cause`.
    pub fn new(workspace_id: Uuid, cause: Option<&'a Envelope>) -> Self {
        Self {
            workspace_id,
            cause,
            out: Vec::new(),
        }
    }

    fn push<M: Message>(&mut self, payload: &M) {
        // As `json!` before it: the payloads have string keys only and cannot fail to
        // serialise.
        let envelope = Envelope::of(self.workspace_id, payload)
            .expect("a contract payload serialises to JSON");
        self.out.push(OutgoingMessage::routed::<M>(
            envelope.caused_by_opt(self.cause),
        ));
    }

    /// `alert_group.opened`.
    pub fn opened(&mut self, group: &GroupSummary, reason: &str) {
        self.push(&AlertGroupOpened {
            alert_group: group.clone(),
            reason: reason.to_owned(),
        });
    }

    /// `alert_group.resolved`.
    pub fn resolved(&mut self, group: &GroupSummary) {
        self.push(&AlertGroupResolved {
            alert_group: group.clone(),
            incident_id: group.incident_id,
        });
    }

    /// `incident.declare` for `group`.
    pub fn declare(&mut self, declare: &Declare<'_>) {
        self.push(&declare.command());
    }

    /// `incident.link_alert_group`.
    pub fn link(&mut self, incident_id: Uuid, alert_group_id: Uuid) {
        self.push(&LinkAlertGroup {
            incident_id,
            actor_id: None,
            alert_group_id,
        });
    }

    /// `incident.add_update`: a private note that the group resolved.
    pub fn resolved_note(&mut self, incident_id: Uuid, title: &str, alert_count: i32) {
        let alerts = if alert_count == 1 { "alert" } else { "alerts" };
        self.push(&AddUpdate {
            incident_id,
            actor_id: None,
            message: format!("Alert group \"{title}\" resolved ({alert_count} {alerts})"),
            is_public: false,
            kind: Some(TimelineKind::Note),
        });
    }
}

/// What an `incident.declare` is made from.
pub struct Declare<'a> {
    /// The group declaring (its id is the idempotency key).
    pub group_id: Uuid,
    /// The group's title.
    pub title: &'a str,
    /// The severity the rule chose.
    pub severity: Severity,
    /// The affected service and its impact.
    pub service: Option<(&'a str, ServiceImpact)>,
    /// The alert that chose the rule.
    pub chosen: &'a IncomingAlert,
    /// Every firing alert that made the group decide.
    pub alerts: &'a [&'a IncomingAlert],
    /// Why, in words (the rule and the grouping).
    pub reason: &'a str,
    /// The transaction's time: `detected_at` is never later.
    pub now: DateTime<Utc>,
    /// A drill's group: the incident is declared as a drill.
    pub is_drill: bool,
}

impl Declare<'_> {
    fn command(&self) -> DeclareCommand {
        let detected_at = self
            .alerts
            .iter()
            .map(|a| a.starts_at)
            .min()
            .unwrap_or(self.now)
            .min(self.now);
        let services: Vec<ServiceView> = self
            .service
            .iter()
            .map(|(name, impact)| ServiceView {
                name: truncate(name, 100),
                impact: *impact,
            })
            .collect();
        let mut incident = Declaration::new(truncate(self.title, MAX_TITLE), self.severity);
        incident.description = Some(truncate(&self.description(), MAX_DESCRIPTION));
        incident.detected_at = Some(detected_at.into());
        incident.affected_services = Some(services);
        incident.alert_group_ids = Some(vec![self.group_id]);
        incident.is_drill = self.is_drill.then_some(true);
        DeclareCommand {
            idempotency_key: Some(self.group_id.to_string()),
            actor_id: None,
            incident,
        }
    }

    fn description(&self) -> String {
        let mut text = String::new();
        if let Some(d) = ["description", "message"]
            .iter()
            .find_map(|k| self.chosen.annotations.get(*k))
        {
            text.push_str(d.trim());
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "Declared from alert group {} ({} firing alert{}): {}\n",
            self.group_id,
            self.alerts.len(),
            if self.alerts.len() == 1 { "" } else { "s" },
            self.reason
        ));
        for link in &self.chosen.links {
            text.push_str(&format!(
                "{}: {}\n",
                link.text.as_deref().unwrap_or("link"),
                link.href
            ));
        }
        if let Some(runbook) = self.chosen.annotations.get("runbook_url") {
            text.push_str(&format!("runbook: {runbook}\n"));
        }
        text.push_str("\nAlerts:\n");
        for alert in self.alerts.iter().take(LISTED_ALERTS) {
            let labels: Vec<String> = alert
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            text.push_str(&format!("- {} {{{}}}\n", alert.title(), labels.join(", ")));
        }
        if self.alerts.len() > LISTED_ALERTS {
            text.push_str(&format!(
                "- and {} more\n",
                self.alerts.len() - LISTED_ALERTS
            ));
        }
        text
    }
}

/// At most `max` characters of `s`, trimmed; never empty.
pub fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    let t: String = if s.chars().count() > max {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    };
    if t.is_empty() { "Alert".to_owned() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cut_to_what_core_accepts() {
        let long = "x".repeat(300);
        let t = truncate(&long, 200);
        assert_eq!(t.chars().count(), 200);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("  ", 10), "Alert");
    }
}
