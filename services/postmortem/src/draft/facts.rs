//! What a draft is written from, read in one go: the incident, its affected services, its
//! timeline with the authors' names, its alert groups with their alert counts, the SLA
//! policy of its severity, the watchdog's findings and the workspace's postmortem
//! settings. Everything is read from the tables of its owners; nothing is written here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use incident_schema::incident::get_incident;
use incident_schema::sla::get_sla_policy;
use incident_schema::timeline::list_timeline;
use incident_schema::{
    AffectedService, AlertGroupStatus, Incident, SlaEvent, SlaPolicy, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};
use crate::settings::{self, PostmortemSettings};

/// One timeline entry with its author's name.
#[derive(Debug, Clone)]
pub struct TimelineFact {
    /// The entry as core wrote it.
    pub entry: TimelineEntry,
    /// The author's display name; none for the system (or a deleted user).
    pub author: Option<String>,
}

/// The user a role entry names (`data.user_id`).
fn named_user(entry: &TimelineEntry) -> Option<Uuid> {
    entry
        .data
        .get("user_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| id.parse().ok())
}

/// An alert group linked to the incident, with the alerts in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct AlertGroupFact {
    /// The group's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Alerts in the group (counted from `alerts`).
    pub alerts: i64,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Everything a draft is written from.
#[derive(Debug, Clone)]
pub struct DraftFacts {
    /// The incident as it stands.
    pub incident: Incident,
    /// Its affected services, worst impact first.
    pub services: Vec<AffectedService>,
    /// Its timeline, oldest first.
    pub timeline: Vec<TimelineFact>,
    /// Its alert groups, oldest first.
    pub alert_groups: Vec<AlertGroupFact>,
    /// The SLA policy of its severity.
    pub policy: Option<SlaPolicy>,
    /// The watchdog's findings about it.
    pub sla_events: Vec<SlaEvent>,
    /// The workspace's postmortem settings.
    pub settings: PostmortemSettings,
    /// The database's clock when the facts were read.
    pub as_of: DateTime<Utc>,
}

/// Reads the facts about incident `incident_id` of `workspace_id`.
pub async fn gather(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> DomainResult<DraftFacts> {
    let incident = get_incident(conn, workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let services: Vec<AffectedService> = sqlx::query_as(
        "SELECT * FROM affected_services WHERE workspace_id = $1 AND incident_id = $2
         ORDER BY impact, service_name",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let entries = list_timeline(conn, workspace_id, incident_id).await?;
    // Authors, and the people role entries name (`data.user_id`).
    let mut author_ids: Vec<Uuid> = entries
        .iter()
        .filter_map(|e| e.author_id)
        .chain(entries.iter().filter_map(named_user))
        .collect();
    author_ids.sort_unstable();
    author_ids.dedup();
    let names: HashMap<Uuid, String> = sqlx::query_as::<_, (Uuid, String)>(
        "SELECT id, display_name FROM users WHERE workspace_id = $1 AND id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(&author_ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let timeline = entries
        .into_iter()
        .map(|mut entry| {
            // A role entry written before core named people says "assigned to user
            // <id>": the published postmortem shows the name instead.
            if let Some(user) = named_user(&entry)
                && let Some(name) = names.get(&user)
            {
                entry.message = entry.message.replace(&format!("user {user}"), name);
            }
            TimelineFact {
                author: entry.author_id.and_then(|id| names.get(&id).cloned()),
                entry,
            }
        })
        .collect();
    let alert_groups: Vec<AlertGroupFact> = sqlx::query_as(
        "SELECT g.id, g.title, g.status, g.opened_at, g.resolved_at,
                (SELECT count(*) FROM alerts a WHERE a.alert_group_id = g.id) AS alerts
         FROM alert_groups g
         WHERE g.workspace_id = $1 AND g.incident_id = $2
         ORDER BY g.opened_at, g.id",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let policy = get_sla_policy(conn, workspace_id, incident.severity).await?;
    let sla_events: Vec<SlaEvent> = sqlx::query_as(
        "SELECT * FROM sla_events WHERE workspace_id = $1 AND incident_id = $2
         ORDER BY detected_at, id",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let settings = settings::get(conn, workspace_id).await?;
    let as_of: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await?;
    Ok(DraftFacts {
        incident,
        services,
        timeline,
        alert_groups,
        policy,
        sla_events,
        settings,
        as_of,
    })
}
