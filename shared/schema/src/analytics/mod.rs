//! Analytics: how fast a workspace responds, recovers and learns, read-only over the
//! shared schema, for core's `/api/v1/analytics` and the watchdog's weekly digest.
//!
//! - [`params`]: the query string parsed into a [`Request`] (range, grouping, filters);
//! - [`query`]: the SQL: [`query::summary`], [`query::grouped`] (by week, month,
//!   severity, service, week × severity; weeks and months without incidents included);
//! - [`rollup`]: the cells of whole past days, their builder, and the merge with live rows;
//! - [`csv`]: the same values as `text/csv`, flattened from their JSON form so the two
//!   never disagree;
//! - [`gauges`]: the per-workspace figures the Prometheus gauges show.
//!
//! Invariants:
//!
//! - **Cohort by detection**: an incident belongs to the range, week and month it was
//!   detected in (in the workspace's time zone, `workspaces.time_zone`), and so do its
//!   SLA findings, postmortem and action items. Alert load is counted by when the group
//!   opened.
//! - **Drills** are left out of every measure unless asked for (`drill=true` gives the
//!   drills alone); the summary reports how many there were on their own.
//! - **PRIVATE incidents count** in every number; what identifies one (its reference and
//!   title, in the summary's slowest incidents) is shown only to a reader
//!   `incident_readable` lets read it.
//! - **Nothing made up**: a duration nobody can compute (no acknowledged incident in a
//!   week) is `null`, never 0; so is a share with nothing to divide.
//! - Durations run from `detected_at`: to `acknowledged_at` (MTTA), `mitigated_at`
//!   (MTTM), the final resolution `COALESCE(last_resolved_at, resolved_at, closed_at)` of
//!   a RESOLVED or CLOSED incident (MTTR; a reopen moves it, an incident open again has
//!   none), and `closed_at` (time to close). Seconds, as `f64`.
//! - Whole past days come from exact rollups ([`rollup`], migration 0095: every
//!   duration's values kept sorted, so percentiles over merged days are exact), the rest
//!   of a range is read live; a trigger forgets a day on any late change to it, so late
//!   events are always counted. `incidents_analytics_idx` (migration 0083: the range's
//!   key and the columns the measures read) bounds the live work to the range.

pub mod csv;
pub mod gauges;
pub mod params;
pub mod query;
pub mod rollup;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Severity;

/// What the analytics are asked for: one workspace, a range and filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The filters.
    pub filter: Filter,
}

/// Which incidents are counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only these severities (empty: all).
    pub severities: Vec<Severity>,
    /// Only incidents affecting one of these services, matched case-insensitively
    /// (empty: all).
    pub services: Vec<String>,
    /// Drills instead of real incidents.
    pub drill: bool,
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// ISO weeks (`2026-W53`), every week of the range present.
    Week,
    /// Calendar months (`2026-12`), every month of the range present.
    Month,
    /// Severity, every severity (of the filter) present.
    Severity,
    /// Affected service (an incident with two services counts in both; `null`: none).
    Service,
    /// ISO week × severity, every pair present.
    WeekSeverity,
}

impl Grouping {
    /// Every grouping, as spelled in the query string.
    pub const ALL: [(&'static str, Grouping); 5] = [
        ("week", Self::Week),
        ("month", Self::Month),
        ("severity", Self::Severity),
        ("service", Self::Service),
        ("week_severity", Self::WeekSeverity),
    ];

    /// Whether rows are periods of time.
    pub fn is_periodic(self) -> bool {
        matches!(self, Self::Week | Self::Month | Self::WeekSeverity)
    }
}

/// Count, mean, median, p90 and max of one duration, in seconds; all `null` without a
/// single value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Incidents with the duration.
    pub count: i64,
    /// Mean.
    pub mean_seconds: Option<f64>,
    /// Median (continuous percentile).
    pub median_seconds: Option<f64>,
    /// 90th percentile (continuous).
    pub p90_seconds: Option<f64>,
    /// Longest.
    pub max_seconds: Option<f64>,
}

/// How many incidents met one SLA target. Only decided incidents count: one still open
/// before its deadline has neither met nor missed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetShare {
    /// Met the target.
    pub met: i64,
    /// Missed it.
    pub missed: i64,
    /// `met / (met + missed)`; `null` when nothing is decided.
    pub share: Option<f64>,
}

/// SLA figures: targets met, and the watchdog's findings (`sla_events`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaMeasures {
    /// First response (acknowledge, or any later status) by `sla_deadline`.
    pub acknowledge: TargetShare,
    /// Final resolution (or close) by `sla_resolve_deadline`.
    pub resolve: TargetShare,
    /// SEV1/SEV2 incidents whose severity's policy has an update cadence: met when the
    /// watchdog never found an update due.
    pub update: TargetShare,
    /// Breaches found (every target).
    pub breaches: i64,
    /// Acknowledge breaches.
    pub acknowledge_breaches: i64,
    /// Resolve breaches.
    pub resolve_breaches: i64,
    /// Warnings found (a target close to its deadline).
    pub warnings: i64,
    /// Public updates found due (missed cadences).
    pub updates_due: i64,
}

/// The measures of one set of incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Measures {
    /// Incidents.
    pub incidents: i64,
    /// Detected → acknowledged.
    pub mtta: Stats,
    /// Detected → mitigated.
    pub mttm: Stats,
    /// Detected → (finally) resolved.
    pub mttr: Stats,
    /// Detected → closed.
    pub time_to_close: Stats,
    /// SLA targets and findings.
    pub sla: SlaMeasures,
}

/// One period of a periodic grouping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    /// `2026-W53` (ISO week) or `2026-12` (month).
    pub label: String,
    /// Where it starts, in the workspace's time zone, as an instant.
    pub starts_at: DateTime<Utc>,
    /// Where the next one starts.
    pub ends_at: DateTime<Utc>,
}

/// One row of a grouping: its key (the parts the grouping has; the others `null`) and
/// its measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Row {
    /// The period (week and month groupings).
    pub period: Option<Period>,
    /// The severity (severity groupings).
    pub severity: Option<Severity>,
    /// The affected service (service grouping; `null`: incidents without one).
    pub service: Option<String>,
    /// The measures of the row's incidents.
    pub measures: Measures,
}

/// The rows of one grouping over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Grouped {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The workspace's time zone periods are cut in.
    pub time_zone: String,
    /// The grouping.
    pub by: Grouping,
    /// In period, severity or service order.
    pub rows: Vec<Row>,
}

/// Incidents by how they started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sources {
    /// Declared by an alert group's rule.
    pub alert: i64,
    /// Declared by a person (API, Slack).
    pub person: i64,
}

/// Incidents affecting one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceCount {
    /// The service (names are matched case-insensitively; shown in the spelling that
    /// sorts first bytewise).
    pub service: String,
    /// Incidents affecting it.
    pub incidents: i64,
}

/// Action items of the range's postmortems.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionItemMeasures {
    /// All of them.
    pub total: i64,
    /// OPEN or IN_PROGRESS.
    pub open: i64,
    /// Open and past their due date (today in the workspace's time zone).
    pub overdue: i64,
    /// DONE.
    pub done: i64,
    /// WONT_DO.
    pub wont_do: i64,
    /// `done / (total - wont_do)`; `null` without any.
    pub completion_rate: Option<f64>,
    /// Median created → completed of the done ones, in seconds.
    pub median_seconds_to_done: Option<f64>,
}

/// Whether the range's incidents were learned from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FollowThrough {
    /// Postmortems (any status).
    pub postmortems_drafted: i64,
    /// Postmortems published.
    pub postmortems_published: i64,
    /// Median final resolution → publish, in seconds.
    pub median_seconds_resolve_to_publish: Option<f64>,
    /// Their action items.
    pub action_items: ActionItemMeasures,
}

/// Alert groups and alerts of one integration or service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertLoadRow {
    /// The integration's name, or the service (`null`: groups without one).
    pub name: Option<String>,
    /// Alert groups opened in the range.
    pub groups: i64,
    /// Alerts in them.
    pub alerts: i64,
    /// Groups that declared an incident.
    pub declared: i64,
    /// `declared / groups`; `null` without groups.
    pub declared_share: Option<f64>,
}

/// Alert load: alert groups opened in the range (the service filter applies to their
/// service; severity and drill do not, alerts have neither).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertLoad {
    /// Every group.
    pub total: AlertLoadRow,
    /// By integration, busiest first.
    pub by_integration: Vec<AlertLoadRow>,
    /// By service, busiest first.
    pub by_service: Vec<AlertLoadRow>,
}

/// One of the slowest incidents to resolve. A PRIVATE incident the reader cannot read
/// shows neither reference nor title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlowIncident {
    /// `INC-42`; `null` when the reader may not see the incident.
    pub reference: Option<String>,
    /// The title; `null` when the reader may not see the incident.
    pub title: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// Detected → final resolution, in seconds.
    pub seconds_to_resolve: f64,
}

/// The whole range at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The workspace's time zone.
    pub time_zone: String,
    /// The measures of every incident counted.
    pub measures: Measures,
    /// Incidents by severity, every severity present.
    pub by_severity: BTreeMap<String, i64>,
    /// Incidents by current status, every status present.
    pub by_status: BTreeMap<String, i64>,
    /// Incidents by affected service, most first.
    pub by_service: Vec<ServiceCount>,
    /// Incidents by how they started.
    pub by_source: Sources,
    /// Drills detected in the range (severity and service filters applied), reported on
    /// their own: with `drill=false` they are in no other number.
    pub drills: i64,
    /// Postmortems and action items.
    pub follow_through: FollowThrough,
    /// Alert groups and alerts.
    pub alert_load: AlertLoad,
    /// The five slowest to resolve.
    pub slowest: Vec<SlowIncident>,
}
