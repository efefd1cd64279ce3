//! The incident as the API shows it: the row, its reference, its affected services and
//! linked alert groups.

use chrono::{DateTime, Utc};
use incident_schema::{AffectedService, Incident, IncidentStatus, Severity, Visibility};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store;

pub use incident_schema::contract::ServiceView;

/// An incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    /// Its id.
    pub id: Uuid,
    /// Per-workspace number.
    pub number: i32,
    /// `INC-<number>`.
    #[schema(example = "INC-42")]
    pub reference: String,
    /// One-line summary.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// Current severity.
    pub severity: Severity,
    /// Current status.
    pub status: IncidentStatus,
    /// Who or what is affected, in words.
    pub impact: Option<String>,
    /// The root cause, once known.
    pub root_cause: Option<String>,
    /// When the problem was detected.
    pub detected_at: DateTime<Utc>,
    /// First acknowledgement.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// First arrival at MONITORING.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// First arrival at RESOLVED.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Arrival at CLOSED.
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether an SLA target was missed.
    pub sla_breached: bool,
    /// Deadline to acknowledge.
    pub sla_deadline: Option<DateTime<Utc>>,
    /// Deadline to resolve.
    pub sla_resolve_deadline: Option<DateTime<Utc>>,
    /// Incident Commander.
    pub commander_id: Option<Uuid>,
    /// Tech Lead.
    pub tech_lead_id: Option<Uuid>,
    /// Comms Lead.
    pub comms_lead_id: Option<Uuid>,
    /// War room channel.
    pub slack_channel_id: Option<String>,
    /// War room link.
    pub slack_channel_url: Option<String>,
    /// Incremented on every change.
    pub version: i64,
    /// A practice run, left out of statistics.
    pub is_drill: bool,
    /// Who may see it.
    pub visibility: Visibility,
    /// Who declared it (none when declared from alerts).
    pub declared_by: Option<Uuid>,
    /// Affected services.
    pub affected_services: Vec<ServiceView>,
    /// Alert groups linked to it.
    pub alert_group_ids: Vec<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl IncidentView {
    /// The view of `incident` with the given services and alert groups.
    pub fn new(
        incident: Incident,
        services: &[AffectedService],
        alert_group_ids: Vec<Uuid>,
    ) -> Self {
        Self {
            id: incident.id,
            number: incident.number.get(),
            reference: incident.number.to_string(),
            title: incident.title,
            description: incident.description,
            severity: incident.severity,
            status: incident.status,
            impact: incident.impact,
            root_cause: incident.root_cause,
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
            slack_channel_id: incident.slack_channel_id,
            slack_channel_url: incident.slack_channel_url,
            version: incident.version,
            is_drill: incident.is_drill,
            visibility: incident.visibility,
            declared_by: incident.declared_by,
            affected_services: services.iter().map(ServiceView::from).collect(),
            alert_group_ids,
            created_at: incident.created_at,
            updated_at: incident.updated_at,
        }
    }

    /// The view of `incident` with services given as views.
    pub fn with(
        incident: Incident,
        mut services: Vec<ServiceView>,
        alert_group_ids: Vec<Uuid>,
    ) -> Self {
        services.sort_by(|a, b| a.name.cmp(&b.name));
        let mut view = Self::new(incident, &[], alert_group_ids);
        view.affected_services = services;
        view
    }

    /// Loads the services and alert groups of `incident` and builds its view.
    pub async fn load(conn: &mut PgConnection, incident: Incident) -> Result<Self, sqlx::Error> {
        let services = store::affected_services(conn, incident.workspace_id, incident.id).await?;
        let groups = store::alert_group_ids(conn, incident.workspace_id, incident.id).await?;
        Ok(Self::new(incident, &services, groups))
    }
}
