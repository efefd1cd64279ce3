//! The alert group pages' templates and the plain data they render, so the snapshot
//! tests render them from fixed data.

use askama::Template;
use incident_web::Shell;
#[allow(unused_imports, reason = "the shared layout names sections")]
use incident_web::shell::Section;
pub use incident_web::view::{Choice, When};

/// One alert group of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `OPEN` or `RESOLVED`.
    pub status: String,
    /// `NONE`, `DECLARE`, `JOIN`.
    pub decision: String,
    /// The severity its rule gave.
    pub severity: Option<String>,
    /// Its service.
    pub service: Option<String>,
    /// Alerts firing.
    pub firing: i32,
    /// Alerts in it.
    pub alerts: i32,
    /// The linked incident's reference.
    pub incident: Option<String>,
    /// Opened.
    pub opened: When,
    /// Its last alert.
    pub last_alert: When,
}

/// One alert of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Its fingerprint.
    pub fingerprint: String,
    /// `FIRING` or `RESOLVED`.
    pub status: String,
    /// Its labels, `k=v, ...`.
    pub labels: String,
    /// When it started.
    pub starts: When,
    /// When it was last notified.
    pub last_seen: When,
    /// Notifications received.
    pub notifications: i32,
}

/// `/ui/alerts`.
#[derive(Template)]
#[template(path = "ui/alert_groups.html")]
pub struct GroupsPage {
    /// The shell.
    pub shell: Shell,
    /// Status choices.
    pub statuses: Vec<Choice>,
    /// The groups, newest first.
    pub rows: Vec<GroupRow>,
    /// The next page.
    pub next: Option<String>,
}

/// `/ui/alerts/{id}`.
#[derive(Template)]
#[template(path = "ui/alert_group.html")]
pub struct GroupPage {
    /// The shell.
    pub shell: Shell,
    /// The group.
    pub group: GroupRow,
    /// The key it groups by.
    pub group_key: String,
    /// Its common labels.
    pub labels: String,
    /// Why it grouped and what it decided (the explanation, as JSON).
    pub explanation: String,
    /// Its alerts, most recently seen first.
    pub alerts: Vec<AlertRow>,
}

/// One integration as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRow {
    /// Its id.
    pub id: String,
    /// Its kind (`alertmanager`, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Whether it accepts alerts.
    pub enabled: bool,
    /// Where its source sends alerts (no secret in it).
    pub webhook_url: String,
}

/// A secret shown once: after creating an integration or rotating its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownSecret {
    /// The secret.
    pub secret: String,
    /// The webhook URL with the secret as `?token=`.
    pub webhook_url_with_token: String,
    /// Why it is shown: `created` or `rotated`.
    pub reason: String,
}

/// `/ui/integrations`.
#[derive(Template)]
#[template(path = "ui/integrations.html")]
pub struct IntegrationsPage {
    /// The shell.
    pub shell: Shell,
    /// The integrations, by name.
    pub rows: Vec<IntegrationRow>,
    /// The kinds the create form offers.
    pub kinds: Vec<Choice>,
    /// The name the create form was sent with (kept when refused).
    pub name: String,
    /// Why the create form was refused.
    pub error: Option<String>,
}

/// A group of a dry run's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunGroup {
    /// Its title.
    pub title: String,
    /// Its key.
    pub group_key: String,
    /// What happened to it: `opened`, `updated` or `resolved`.
    pub change: String,
    /// `NONE`, `DECLARE`, `JOIN`.
    pub decision: String,
    /// Alerts firing of alerts in it.
    pub firing: i32,
    /// Alerts in it.
    pub alerts: i32,
    /// Why it grouped and decided, as JSON.
    pub explanation: String,
}

/// What a dry run would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunView {
    /// Alerts in the payload.
    pub alerts: usize,
    /// Alerts it would store for the first time.
    pub new_alerts: usize,
    /// The groups it would touch.
    pub groups: Vec<DryRunGroup>,
    /// The messages it would send, `kind type`.
    pub messages: Vec<String>,
}

/// `/ui/integrations/{id}`.
#[derive(Template)]
#[template(path = "ui/integration.html")]
pub struct IntegrationPage {
    /// The shell.
    pub shell: Shell,
    /// The integration.
    pub integration: IntegrationRow,
    /// Its grouping labels; none: the source's own grouping.
    pub grouping_key: Option<String>,
    /// Its storm guard.
    pub max_incidents_per_minute: Option<i32>,
    /// A secret shown this once.
    pub secret: Option<ShownSecret>,
    /// The rules' text (as stored, or as sent when refused).
    pub rules: String,
    /// Why the rules were refused (`line 4: rules[0].severity: ...`).
    pub rules_error: Option<String>,
    /// Whether the rules were just saved.
    pub rules_saved: bool,
    /// The dry run's payload (as sent).
    pub payload: String,
    /// Why the dry run was refused.
    pub dry_run_error: Option<String>,
    /// What the dry run would do.
    pub dry_run: Option<DryRunView>,
    /// Created.
    pub created: When,
}

/// `/ui/integrations/{id}/rotate`: the confirm step.
#[derive(Template)]
#[template(path = "ui/integration_rotate.html")]
pub struct RotatePage {
    /// The shell.
    pub shell: Shell,
    /// The integration.
    pub integration: IntegrationRow,
}
