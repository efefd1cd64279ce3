//! Alert sources (integrations), the alerts they send and the groups alerts are
//! collected in before they become (or join) incidents. Written by the ingestion service.
//!
//! Invariants: one alert row per integration and fingerprint; at most one OPEN group per
//! integration and group key; a group links to an incident of its own workspace.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::parse::domain_enum;

domain_enum! {
    /// Where an integration's alerts come from: which payload format it accepts.
    pub enum IntegrationKind (kind = "integration kind", postgres = "integration_kind") {
        /// Prometheus Alertmanager's webhook.
        Alertmanager = "alertmanager",
        /// Grafana alerting's webhook.
        Grafana = "grafana",
        /// Our own generic JSON format.
        Generic = "generic",
        /// PagerDuty's Events API v2 (`trigger`, `acknowledge`, `resolve` by `dedup_key`).
        Pagerduty = "pagerduty",
        /// Grafana OnCall's formatted webhook (`state` `alerting` or `ok`).
        GrafanaOncall = "grafana_oncall",
        /// Opsgenie's Alert API (create, and close by alias).
        Opsgenie = "opsgenie",
    }
}

domain_enum! {
    /// Whether an alert is firing.
    pub enum AlertStatus (kind = "alert status", postgres = "alert_status") {
        /// The condition holds.
        Firing = "FIRING",
        /// The condition no longer holds.
        Resolved = "RESOLVED",
    }
}

domain_enum! {
    /// Whether an alert group still collects alerts.
    pub enum AlertGroupStatus (kind = "alert group status", postgres = "alert_group_status") {
        /// Some alert of the group fires; new alerts with its key join it.
        Open = "OPEN",
        /// Every alert resolved; a new alert with its key opens a new group.
        Resolved = "RESOLVED",
    }
}

/// A row of `integrations`. The secret's hash is never serialised.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Integration {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Payload format.
    pub kind: IntegrationKind,
    /// Unique per workspace.
    pub name: String,
    /// SHA-256 of the webhook secret.
    #[serde(skip)]
    pub secret_hash: Vec<u8>,
    /// The declare rules: which groups become incidents, at which severity.
    pub rules: serde_json::Value,
    /// What alerts are grouped by; none: the source's own grouping.
    pub grouping_key: Option<String>,
    /// Storm guard: at most this many incidents declared per minute.
    pub max_incidents_per_minute: Option<i32>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was disabled; a disabled integration accepts nothing.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A row of `alerts`: one alert (integration and fingerprint), updated as it repeats.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// The integration it came through.
    pub integration_id: Uuid,
    /// The group it currently belongs to.
    pub alert_group_id: Uuid,
    /// The source's identity of the alert; unique per integration.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The source's labels.
    pub labels: serde_json::Value,
    /// The source's annotations.
    pub annotations: serde_json::Value,
    /// When the source says it started.
    pub starts_at: DateTime<Utc>,
    /// When the source says it ended.
    pub ends_at: Option<DateTime<Utc>>,
    /// Link back to the source.
    pub generator_url: Option<String>,
    /// The last notification as received.
    pub raw: serde_json::Value,
    /// First notification received.
    pub first_seen_at: DateTime<Utc>,
    /// Last notification received.
    pub last_seen_at: DateTime<Utc>,
    /// Notifications received.
    pub notification_count: i32,
}

/// A row of `alert_groups`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertGroup {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// The integration its alerts came through.
    pub integration_id: Uuid,
    /// What its alerts share; one OPEN group per integration and key.
    pub group_key: String,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Title for people.
    pub title: String,
    /// The labels its alerts share.
    pub labels: serde_json::Value,
    /// The incident it was declared as or linked to.
    pub incident_id: Option<Uuid>,
    /// Alerts in the group.
    pub alert_count: i32,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Last alert notification received.
    pub last_alert_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
