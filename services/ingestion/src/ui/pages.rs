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
