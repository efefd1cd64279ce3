//! Text for people: the incident list as a table, one incident with its roles and
//! latest timeline entries, one-line confirmations. Read from the API's JSON through
//! small views holding only the fields shown (unknown fields are ignored, so a newer API
//! does not break an older CLI). No colours: the output is the same on a terminal, in a
//! pipe and in a log.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::failure::Failure;

/// How many timeline entries `show` prints.
pub const LATEST_ENTRIES: usize = 10;

/// The longest title the list prints before cutting it.
const TITLE_WIDTH: usize = 60;

/// An incident, as far as the text output shows it.
#[derive(Debug, Deserialize)]
pub struct Incident {
    /// Its id.
    pub id: Uuid,
    /// Its per-workspace number.
    pub number: i64,
    /// `INC-<number>`.
    pub reference: String,
    /// One line.
    pub title: String,
    /// Longer text.
    #[serde(default)]
    pub description: String,
    /// `SEV1`…
    pub severity: String,
    /// `INVESTIGATING`…
    pub status: String,
    /// `PUBLIC` or `PRIVATE`.
    #[serde(default)]
    pub visibility: String,
    /// A practice run.
    #[serde(default)]
    pub is_drill: bool,
    /// Detection.
    pub detected_at: DateTime<Utc>,
    /// First acknowledgement.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// First arrival at MONITORING.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// First arrival at RESOLVED.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Arrival at CLOSED.
    pub closed_at: Option<DateTime<Utc>>,
    /// Incident Commander.
    pub commander_id: Option<Uuid>,
    /// Tech Lead.
    pub tech_lead_id: Option<Uuid>,
    /// Comms Lead.
    pub comms_lead_id: Option<Uuid>,
    /// Affected services.
    #[serde(default)]
    pub affected_services: Vec<Service>,
    /// The war room.
    pub slack_channel_url: Option<String>,
    /// Whether an SLA target was missed.
    #[serde(default)]
    pub sla_breached: bool,
}

/// An affected service.
#[derive(Debug, Deserialize)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// How badly.
    pub impact: String,
}

/// A timeline entry.
#[derive(Debug, Deserialize)]
pub struct Entry {
    /// What it records.
    pub kind: String,
    /// The text.
    pub message: String,
    /// Shown on the status page.
    #[serde(default)]
    pub is_public: bool,
    /// Who wrote it.
    pub author_id: Option<Uuid>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// A user of the workspace.
#[derive(Debug, Deserialize)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Name.
    pub display_name: String,
}

/// `value` read as `T`; a shape the CLI cannot read is the server's fault.
pub fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, Failure> {
    serde_json::from_value(value.clone()).map_err(|e| Failure::Unexpected {
        url: what.to_owned(),
        reason: e.to_string(),
    })
}

/// The incident's page in the web app.
pub fn incident_url(base: &str, incident: &Incident) -> String {
    format!("{base}/ui/incidents/{}", incident.number)
}

/// `2026-03-02 10:00 UTC`.
pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn time_or_dash(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map_or_else(|| "-".to_owned(), time)
}

/// The incidents as a table, newest first (as the API lists them).
pub fn table(incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return "No incidents.".to_owned();
    }
    let header = ["REF", "SEV", "STATUS", "DETECTED", "TITLE"];
    let rows: Vec<[String; 5]> = incidents
        .iter()
        .map(|i| {
            let mut title = cut(&i.title, TITLE_WIDTH);
            if i.is_drill {
                title.push_str(" [drill]");
            }
            if i.visibility == "PRIVATE" {
                title.push_str(" [private]");
            }
            [
                i.reference.clone(),
                i.severity.clone(),
                i.status.clone(),
                time(&i.detected_at),
                title,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out
    };
    let mut lines = vec![line(&header.map(str::to_owned))];
    lines.extend(rows.iter().map(|row| line(row)));
    lines.join("\n")
}

/// One incident: its fields, roles, and the latest timeline entries (oldest of them first).
pub fn incident(base: &str, incident: &Incident, timeline: &[Entry], users: &[User]) -> String {
    let names: HashMap<Uuid, &User> = users.iter().map(|u| (u.id, u)).collect();
    let person = |id: &Option<Uuid>| match id {
        None => "-".to_owned(),
        Some(id) => names.get(id).map_or_else(
            || id.to_string(),
            |u| format!("{} <{}>", u.display_name, u.email),
        ),
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", incident.reference, incident.title);
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "  {name:<13} {value}");
    };
    field("status", &incident.status);
    field("severity", &incident.severity);
    field("visibility", &incident.visibility);
    if incident.is_drill {
        field("drill", "yes");
    }
    field("detected", &time(&incident.detected_at));
    field("acknowledged", &time_or_dash(&incident.acknowledged_at));
    field("mitigated", &time_or_dash(&incident.mitigated_at));
    field("resolved", &time_or_dash(&incident.resolved_at));
    if incident.closed_at.is_some() {
        field("closed", &time_or_dash(&incident.closed_at));
    }
    if incident.sla_breached {
        field("sla", "breached");
    }
    let services: Vec<String> = incident
        .affected_services
        .iter()
        .map(|s| format!("{} ({})", s.name, s.impact))
        .collect();
    field(
        "services",
        &if services.is_empty() {
            "-".to_owned()
        } else {
            services.join(", ")
        },
    );
    if let Some(room) = &incident.slack_channel_url {
        field("war room", room);
    }
    field("link", &incident_url(base, incident));
    if !incident.description.is_empty() {
        let _ = writeln!(out, "\n{}", incident.description.trim_end());
    }
    let _ = writeln!(out, "\nRoles");
    for (name, holder) in [
        ("commander", &incident.commander_id),
        ("tech lead", &incident.tech_lead_id),
        ("comms lead", &incident.comms_lead_id),
    ] {
        let _ = writeln!(out, "  {name:<13} {}", person(holder));
    }
    let shown = timeline.len().min(LATEST_ENTRIES);
    let _ = writeln!(out, "\nTimeline (latest {shown} of {})", timeline.len());
    let latest = &timeline[timeline.len() - shown..];
    let kind_width = latest.iter().map(|e| e.kind.len()).max().unwrap_or(0);
    for entry in latest {
        let public = if entry.is_public { " [public]" } else { "" };
        let author = entry
            .author_id
            .map(|id| {
                let name = names
                    .get(&id)
                    .map_or_else(|| id.to_string(), |u| u.display_name.clone());
                format!(" ({name})")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {:<kind_width$}  {}{public}{author}",
            time(&entry.occurred_at),
            entry.kind,
            first_line(&entry.message)
        );
    }
    out.trim_end().to_owned()
}

/// `text` cut to `width` characters, with an ellipsis when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn long_titles_are_cut_with_an_ellipsis() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghijk", 5), "abcd…");
    }
}
