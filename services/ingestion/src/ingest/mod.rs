//! The pipeline: one notification (a webhook body or an AMQP message) in one
//! transaction, from parsed alerts to committed alerts, groups, events and commands.
//!
//! In order:
//! 1. **Keys.** Each alert gets its group key: the integration's grouping labels if it
//!    has some, else the source's grouping (Alertmanager's `groupKey`, the generic
//!    `group_key`), else its fingerprint. The transaction takes one advisory lock per key
//!    (sorted), so notifications about the same groups queue, and every change to a group
//!    and its alerts happens under its key's lock: counts and resolution are exact.
//! 2. **Alerts.** The stored alerts with the notification's fingerprints are locked and
//!    each incoming alert is judged against its stored occurrence ([`classify`]): new,
//!    repeated, resolved, re-fired, or stale (out of order, counted only).
//! 3. **Groups.** A new or re-fired alert joins the open group of its key, or opens one;
//!    a group resolves when none of its alerts fires any more. A re-fired alert of a
//!    resolved group moves to the open group of its key.
//! 4. **Decisions.** A group with newly firing alerts and no decision yet decides
//!    ([`decide`]): declare, join, or nothing, with its reasons recorded. Only what a
//!    decision reads and another changes is serialised: a lock per service groups join
//!    by and the integration's storm guard, all taken in one statement, and row locks on
//!    the declares groups wait for; there is no workspace-wide lock. A group that
//!    resolves has its row locked before its incident is read (see [`crate::links`]).
//! 5. **Writes.** Groups, alerts and the outbox rows ([`messages`]) are written with one
//!    statement each. The caller commits: alerts, groups and the messages they cause
//!    land together or not at all.
//!
//! Concurrent notifications that race on a brand-new alert or group fail with a unique
//! violation or a deadlock; [`crate::error::is_retryable`] tells callers to run the
//! transaction again, when it sees the winner's rows.

pub mod classify;
pub mod decide;
pub mod messages;
mod pipeline;
pub mod store;
pub mod view;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use incident_schema::{AlertGroupStatus, Integration, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{IngestError, IngestResult, is_retryable};
use crate::integration::rules::{self, DeclareRule};
use crate::source::{IncomingAlert, Labels, Notification, hex};
use classify::Occurrence;
use messages::GroupSummary;

pub use pipeline::ingest;

/// Group keys longer than this are stored as their SHA-256 (the open-group index must
/// hold them); the explanation keeps the key itself.
const MAX_STORED_KEY: usize = 512;
/// Attempts of an ingest transaction that lost a race.
const MAX_ATTEMPTS: u32 = 8;

/// What a group did about its firing alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "alert_group_decision")]
pub enum Decision {
    /// Nothing (yet): no rule declared it.
    #[sqlx(rename = "NONE")]
    #[serde(rename = "NONE")]
    Nothing,
    /// It declared an incident (`incident.declare`, its id as idempotency key).
    #[sqlx(rename = "DECLARE")]
    #[serde(rename = "DECLARE")]
    Declare,
    /// It joined an incident (`incident.link_alert_group`), or waits for another group's.
    #[sqlx(rename = "JOIN")]
    #[serde(rename = "JOIN")]
    Join,
}

impl Decision {
    /// The spelling in Postgres and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nothing => "NONE",
            Self::Declare => "DECLARE",
            Self::Join => "JOIN",
        }
    }
}

/// The group key of an alert, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// As stored (the key, or `sha256:<hex>` of a long one).
    pub stored: String,
    /// The key itself.
    pub source: String,
    /// How it was chosen, for explanations.
    pub by: String,
}

/// An integration's settings, as the pipeline uses them.
pub struct Settings {
    /// The declare rules, or why the stored ones do not parse.
    pub rules: Result<Vec<DeclareRule>, String>,
    /// Grouping labels; none: the source's grouping.
    pub grouping_labels: Option<Vec<String>>,
}

impl Settings {
    /// The settings of `integration`.
    pub fn of(integration: &Integration) -> Self {
        Self {
            rules: rules::from_stored(&integration.rules).map_err(|e| e.to_string()),
            grouping_labels: integration
                .grouping_key
                .as_deref()
                .map(|k| k.split(',').map(|l| l.trim().to_owned()).collect()),
        }
    }

    /// The group key of `alert`.
    pub fn key_of(&self, alert: &IncomingAlert, source_grouping: &str) -> GroupKey {
        let drill = alert.labels.get(incident_schema::drill::DRILL_LABEL);
        let (source, by) = match (&self.grouping_labels, &alert.source_group_key) {
            // A drill's alerts group by their run alone, never with real alerts.
            _ if drill.is_some() => (
                format!("drill:{}", drill.map_or("", String::as_str)),
                "the drill run (label incident_drill_run)".to_owned(),
            ),
            (Some(labels), _) => {
                let parts: Vec<String> = labels
                    .iter()
                    .map(|l| {
                        format!(
                            "{l}={:?}",
                            alert.labels.get(l).map(String::as_str).unwrap_or("")
                        )
                    })
                    .collect();
                (
                    format!("{{{}}}", parts.join(",")),
                    format!(
                        "labels {} (the integration's grouping key)",
                        labels.join(",")
                    ),
                )
            }
            (None, Some(key)) => (key.clone(), source_grouping.to_owned()),
            (None, None) => (
                alert.fingerprint.clone(),
                "the alert's dedup key (its source does not group)".to_owned(),
            ),
        };
        let stored = if source.len() > MAX_STORED_KEY {
            format!("sha256:{}", hex(&Sha256::digest(source.as_bytes())))
        } else {
            source.clone()
        };
        GroupKey { stored, source, by }
    }
}

/// A group during the transaction.
pub struct Group {
    id: Uuid,
    key: String,
    grouped_by: String,
    grouping: Value,
    is_new: bool,
    was_open: bool,
    touched: bool,
    resolving: bool,
    alert_count: i32,
    firing_count: i32,
    labels: Option<Labels>,
    title: String,
    incident_id: Option<Uuid>,
    decision: Decision,
    decided_now: bool,
    severity: Option<Severity>,
    service: Option<String>,
    join_group_id: Option<Uuid>,
    explanation: Value,
    /// Incoming alerts that started (or restarted) firing in this group.
    fresh_firing: Vec<usize>,
}

impl Group {
    fn stored(row: store::StoredGroup) -> Self {
        let explanation = row.explanation.0;
        let grouping = explanation.get("grouping").cloned().unwrap_or(Value::Null);
        let grouped_by = grouping
            .get("by")
            .and_then(Value::as_str)
            .unwrap_or("its key")
            .to_owned();
        let labels = match row.labels.0 {
            Value::Object(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            _ => Labels::new(),
        };
        Self {
            id: row.id,
            key: row.group_key,
            grouped_by,
            grouping,
            is_new: false,
            was_open: row.status == AlertGroupStatus::Open,
            touched: false,
            resolving: false,
            alert_count: row.alert_count,
            firing_count: row.firing_count,
            labels: Some(labels),
            title: row.title,
            incident_id: row.incident_id,
            decision: row.decision,
            decided_now: false,
            severity: row.severity,
            service: row.service,
            join_group_id: row.join_group_id,
            explanation,
            fresh_firing: Vec::new(),
        }
    }

    fn new(key: &GroupKey, first: &IncomingAlert) -> Self {
        let grouping = json!({ "by": key.by, "key": key.source });
        Self {
            id: Uuid::now_v7(),
            key: key.stored.clone(),
            grouped_by: format!("{} {}", key.by, key.source),
            explanation: json!({ "grouping": grouping }),
            grouping,
            is_new: true,
            was_open: true,
            touched: true,
            resolving: false,
            alert_count: 0,
            firing_count: 0,
            labels: None,
            title: messages::truncate(&first.title(), 200),
            incident_id: None,
            decision: Decision::Nothing,
            decided_now: false,
            severity: None,
            service: None,
            join_group_id: None,
            fresh_firing: Vec::new(),
        }
    }

    /// Keeps the labels every alert of the group shares.
    fn absorb(&mut self, labels: &Labels) {
        self.touched = true;
        match &mut self.labels {
            Some(shared) => shared.retain(|k, v| labels.get(k) == Some(v)),
            None => self.labels = Some(labels.clone()),
        }
    }

    /// Records a decision and why.
    pub(crate) fn explain_decision(&mut self, decision: Decision, reason: &str, details: Value) {
        self.decision = decision;
        self.decided_now = decision != Decision::Nothing;
        let mut explanation = json!({
            "grouping": self.grouping,
            "decision": decision,
            "reason": reason,
        });
        if let (Value::Object(target), Value::Object(extra)) = (&mut explanation, details) {
            target.extend(extra);
        }
        self.explanation = explanation;
    }

    fn status(&self) -> AlertGroupStatus {
        if self.was_open && !self.resolving {
            AlertGroupStatus::Open
        } else {
            AlertGroupStatus::Resolved
        }
    }

    fn summary(&self, integration_id: Uuid) -> GroupSummary {
        GroupSummary {
            id: self.id,
            integration_id,
            group_key: self.key.clone(),
            title: self.title.clone(),
            status: self.status(),
            labels: self.labels.clone().unwrap_or_default(),
            severity: self.severity,
            service: self.service.clone(),
            decision: self.decision,
            alert_count: self.alert_count,
            firing_count: self.firing_count,
            incident_id: self.incident_id,
        }
    }
}

/// An alert during the transaction.
struct Tracked {
    id: Uuid,
    is_new: bool,
    group: usize,
    occurrence: Occurrence,
    /// The incoming alert whose content to write; none: keep the stored content.
    content: Option<usize>,
    notifications: i32,
}

impl Tracked {
    /// A stored alert in group `group`, untouched so far.
    fn stored(id: Uuid, group: usize, occurrence: Occurrence) -> Self {
        Self {
            id,
            is_new: false,
            group,
            occurrence,
            content: None,
            notifications: 0,
        }
    }

    /// A first occurrence, the notification's alert `content`.
    fn new(group: usize, occurrence: Occurrence, content: usize) -> Self {
        Self {
            id: Uuid::now_v7(),
            is_new: true,
            group,
            occurrence,
            content: Some(content),
            notifications: 1,
        }
    }
}

/// How one notification changed things (and, for a dry run, what it would change).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IngestOutcome {
    /// Alerts in the notification.
    pub alerts: usize,
    /// Alerts seen for the first time.
    pub new_alerts: usize,
    /// Stored alerts the notification changed (repeated, resolved, re-fired).
    pub updated_alerts: usize,
    /// Notifications older than what was stored (out of order): counted only.
    pub stale_notifications: usize,
    /// The groups the notification touched.
    pub alert_groups: Vec<GroupOutcome>,
    /// The events and commands written to the outbox.
    pub messages: Vec<MessageOutcome>,
}

/// What happened to one group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupOutcome {
    /// Its id.
    pub id: Uuid,
    /// Its key.
    pub group_key: String,
    /// Its title.
    pub title: String,
    /// Open or resolved, after the notification.
    pub status: AlertGroupStatus,
    /// Opened by this notification.
    pub opened: bool,
    /// Resolved by this notification.
    pub resolved: bool,
    /// Alerts in it.
    pub alert_count: i32,
    /// Alerts firing in it.
    pub firing_count: i32,
    /// What it decided (now or before).
    pub decision: Decision,
    /// Whether it decided with this notification.
    pub decided: bool,
    /// The incident core confirmed, if any.
    pub incident_id: Option<Uuid>,
    /// The group whose incident it waits for, if any.
    pub join_alert_group_id: Option<Uuid>,
    /// Why it was grouped and why it decided what it did.
    #[schema(value_type = Object)]
    pub explanation: Value,
}

/// A message written to the outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageOutcome {
    /// `event` or `command`.
    pub kind: &'static str,
    /// The message type, e.g. `incident.declare`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The envelope's `data`.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The open groups by stored key, and the groups.
struct Groups {
    list: Vec<Group>,
    open_by_key: HashMap<String, usize>,
}

impl Groups {
    fn new(rows: Vec<store::StoredGroup>) -> Self {
        let list: Vec<Group> = rows.into_iter().map(Group::stored).collect();
        let open_by_key = list
            .iter()
            .enumerate()
            .filter(|(_, g)| g.was_open)
            .map(|(i, g)| (g.key.clone(), i))
            .collect();
        Self { list, open_by_key }
    }

    fn index_of(&self, id: Uuid) -> Option<usize> {
        self.list.iter().position(|g| g.id == id)
    }

    /// The open group of `key`, opened by `first` if there is none.
    fn open(&mut self, key: &GroupKey, first: &IncomingAlert) -> usize {
        if let Some(i) = self.open_by_key.get(&key.stored) {
            return *i;
        }
        self.list.push(Group::new(key, first));
        let i = self.list.len() - 1;
        self.open_by_key.insert(key.stored.clone(), i);
        i
    }
}

/// Ingests a notification in its own transaction and commits it, running it again when
/// it lost a race with a concurrent notification ([`is_retryable`]). Returns only once
/// committed: what it answers is durable.
pub async fn ingest_committed(
    pool: &PgPool,
    integration: &Integration,
    notification: &Notification,
) -> IngestResult<IngestOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let mut tx = pool.begin().await?;
            let outcome = ingest(&mut tx, integration, notification, None).await?;
            tx.commit().await?;
            Ok::<_, IngestError>(outcome)
        }
        .await;
        match result {
            Err(IngestError::Database(e)) if is_retryable(&e) && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "ingest lost a race with a concurrent notification; running it again");
                tokio::time::sleep(retry_pause(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Records that the source acknowledged the firing alert `fingerprint` (PagerDuty's
/// `acknowledge`): the alert keeps firing, no group changes, nothing is sent; the alert
/// shows when in its [`crate::source::ACKNOWLEDGED_ANNOTATION`]. An acknowledgement of an
/// alert that is unknown or resolved is counted as stale, as an out-of-order
/// notification is.
pub async fn acknowledge(
    pool: &PgPool,
    integration: &Integration,
    fingerprint: &str,
) -> IngestResult<IngestOutcome> {
    let mut conn = pool.acquire().await?;
    let found =
        store::acknowledge_alert(&mut conn, integration.id, fingerprint, Utc::now()).await?;
    Ok(IngestOutcome {
        alerts: 1,
        new_alerts: 0,
        updated_alerts: usize::from(found),
        stale_notifications: usize::from(!found),
        alert_groups: Vec::new(),
        messages: Vec::new(),
    })
}

/// What a notification would do, computed by the real pipeline in a transaction that
/// is always rolled back: nothing is stored and nothing is sent.
pub async fn dry_run(
    pool: &PgPool,
    integration: &Integration,
    notification: &Notification,
) -> IngestResult<IngestOutcome> {
    let mut tx = pool.begin().await?;
    let outcome = ingest(&mut tx, integration, notification, None).await;
    tx.rollback().await?;
    outcome
}

/// A short pause growing with the attempt, jittered so racing retries spread out.
fn retry_pause(attempt: u32) -> Duration {
    let jitter = u64::from(Utc::now().timestamp_subsec_micros() % 5);
    Duration::from_millis(u64::from(attempt) * 2 + jitter)
}

/// Counts a committed outcome in the service's metrics.
pub fn record_metrics(outcome: &IngestOutcome, front: &'static str) {
    use incident_runtime::metrics as metric;
    metrics::counter!(metric::INGESTION_ALERTS, "front" => front).increment(outcome.alerts as u64);
    metrics::counter!(metric::INGESTION_STALE, "front" => front)
        .increment(outcome.stale_notifications as u64);
    for g in &outcome.alert_groups {
        if g.opened {
            metrics::counter!(metric::INGESTION_GROUPS_OPENED).increment(1);
        }
        if g.resolved {
            metrics::counter!(metric::INGESTION_GROUPS_RESOLVED).increment(1);
        }
        if g.decided {
            metrics::counter!(metric::INGESTION_DECISIONS, "decision" => g.decision.as_str())
                .increment(1);
        }
    }
}
