//! The generic alert shape: for any source that can send JSON, over the webhook
//! (`POST /webhooks/generic/{integration}`) or the AMQP front (`alerts.ingest`).
//!
//! A body is either one alert or `{"alerts": [ … ]}` (at most 1,000):
//!
//! ```json
//! { "title": "Checkout error rate above 5%",
//!   "status": "firing",
//!   "severity": "critical",
//!   "dedup_key": "checkout-5xx",
//!   "group_key": "checkout",
//!   "service": "checkout",
//!   "description": "5xx on /pay since 10:02",
//!   "labels": { "team": "payments" },
//!   "annotations": { "runbook_url": "https://runbooks/checkout" },
//!   "links": [ { "href": "https://grafana/d/checkout", "text": "dashboard" } ],
//!   "starts_at": "2026-11-27T10:02:00Z",
//!   "ends_at": null }
//! ```
//!
//! Only `title` is required. `status` defaults to `firing` (`resolved` ends the alert).
//! `dedup_key` identifies the alert: notifications with the same key update one alert
//! (without it, the alert is identified by its labels and title). `group_key` groups
//! alerts (default: the dedup key, so each alert is its own group). `severity` and
//! `service` become the labels of those names (what declare rules match on), `title` and
//! `description` the `summary` and `description` annotations, unless those labels or
//! annotations are given explicitly. `starts_at` defaults to the time of receipt.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    IncomingAlert, Labels, Link, MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, Notification, SourceStatus,
    check_count, check_fingerprint, check_group_key, check_labels, fingerprint_of, non_blank,
    typed,
};
use crate::error::{IngestError, IngestResult};

/// Longest generic title.
pub const MAX_TITLE: usize = 1_000;

/// A batch of generic alerts (a single alert object is accepted too).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct GenericPayload {
    /// The alerts, 1 to 1,000.
    pub alerts: Vec<GenericAlert>,
}

/// One generic alert.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct GenericAlert {
    /// What is wrong, for people (becomes the `summary` annotation).
    pub title: String,
    /// `firing` (default) or `resolved`.
    #[serde(default)]
    pub status: Option<SourceStatus>,
    /// Becomes the `severity` label, e.g. `critical`, `warning`.
    #[serde(default)]
    pub severity: Option<String>,
    /// Identifies the alert across notifications (its fingerprint).
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// Groups alerts; default: the dedup key.
    #[serde(default)]
    pub group_key: Option<String>,
    /// Becomes the `service` label: the affected service.
    #[serde(default)]
    pub service: Option<String>,
    /// Becomes the `description` annotation.
    #[serde(default)]
    pub description: Option<String>,
    /// Further labels.
    #[serde(default)]
    #[schema(inline)]
    pub labels: Labels,
    /// Further annotations.
    #[serde(default)]
    #[schema(inline)]
    pub annotations: Labels,
    /// Links (dashboards, runbooks).
    #[serde(default)]
    pub links: Vec<Link>,
    /// When it started; default: when received.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ended (resolved alerts); default: when received.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

/// Parses and validates a generic body (one alert or `{"alerts": [...]}`).
pub fn parse(value: &Value, received_at: DateTime<Utc>) -> IngestResult<Notification> {
    let (items, prefix): (Vec<(GenericAlert, &Value)>, &str) = match value.get("alerts") {
        Some(list) => {
            let payload: GenericPayload = typed(value)?;
            check_count("alerts", payload.alerts.len())?;
            let raws = list.as_array().map(Vec::as_slice).unwrap_or_default();
            (
                payload
                    .alerts
                    .into_iter()
                    .zip(raws.iter().chain(std::iter::repeat(&Value::Null)))
                    .collect(),
                "alerts",
            )
        }
        None => (vec![(typed(value)?, value)], ""),
    };
    let mut alerts = Vec::with_capacity(items.len());
    for (i, (alert, raw)) in items.into_iter().enumerate() {
        let field = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}[{i}].{name}")
            }
        };
        alerts.push(normalise(alert, raw, received_at, &field)?);
    }
    Ok(Notification {
        alerts,
        source_grouping: "generic group_key",
    })
}

fn normalise(
    alert: GenericAlert,
    raw: &Value,
    received_at: DateTime<Utc>,
    field: &dyn Fn(&str) -> String,
) -> IngestResult<IncomingAlert> {
    let title = alert.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(IngestError::invalid(
            field("title"),
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    let mut labels = alert.labels;
    let mut annotations = alert.annotations;
    if let Some(severity) = non_blank(alert.severity) {
        labels.entry("severity".into()).or_insert(severity);
    }
    if let Some(service) = non_blank(alert.service) {
        labels.entry("service".into()).or_insert(service);
    }
    annotations.entry("summary".into()).or_insert(title.clone());
    if let Some(description) = non_blank(alert.description) {
        annotations
            .entry("description".into())
            .or_insert(description);
    }
    check_labels(&field("labels"), &labels, MAX_LABEL_VALUE)?;
    check_labels(&field("annotations"), &annotations, MAX_ANNOTATION_VALUE)?;
    let fingerprint = match non_blank(alert.dedup_key) {
        Some(key) => {
            check_fingerprint(&field("dedup_key"), &key)?;
            key
        }
        None => fingerprint_of(&labels, &title),
    };
    let group_key = non_blank(alert.group_key);
    if let Some(key) = &group_key {
        check_group_key(&field("group_key"), key)?;
    }
    for (j, link) in alert.links.iter().enumerate() {
        if link.href.trim().is_empty() || link.href.len() > MAX_LABEL_VALUE {
            return Err(IngestError::invalid(
                field(&format!("links[{j}].href")),
                format!("must be 1 to {MAX_LABEL_VALUE} bytes"),
            ));
        }
    }
    let status = alert.status.unwrap_or(SourceStatus::Firing);
    let ends_at = match status {
        SourceStatus::Firing => None,
        SourceStatus::Resolved => Some(alert.ends_at.unwrap_or(received_at)),
    };
    Ok(IncomingAlert {
        fingerprint,
        source_group_key: group_key,
        status: status.into(),
        labels,
        annotations,
        starts_at: alert.starts_at.unwrap_or(received_at),
        ends_at,
        generator_url: alert.links.first().map(|l| l.href.clone()),
        links: alert.links,
        raw: raw.clone(),
        refreshes: true,
    })
}

#[cfg(test)]
mod tests {
    use incident_schema::AlertStatus;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_single_alert_becomes_labels_and_annotations_rules_can_match() {
        let now = Utc::now();
        let n = parse(
            &json!({"title": "Checkout down", "severity": "critical", "service": "checkout", "dedup_key": "k1"}),
            now,
        )
        .expect("parses");
        let alert = &n.alerts[0];
        assert_eq!(alert.fingerprint, "k1");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.labels["severity"], "critical");
        assert_eq!(alert.labels["service"], "checkout");
        assert_eq!(alert.annotations["summary"], "Checkout down");
        assert_eq!(alert.starts_at, now);
        assert_eq!(alert.source_group_key, None);
    }

    #[test]
    fn a_resolved_alert_without_a_time_ends_when_received() {
        let now = Utc::now();
        let n = parse(
            &json!({"alerts": [{"title": "x", "status": "RESOLVED", "dedup_key": "k"}]}),
            now,
        )
        .expect("parses");
        assert_eq!(n.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(n.alerts[0].ends_at, Some(now));
    }

    #[test]
    fn a_missing_title_or_a_bad_status_names_the_field() {
        for (body, field) in [
            (json!({"severity": "critical"}), "body"),
            (json!({"title": " "}), "title"),
            (
                json!({"alerts": [{"title": "a"}, {"title": "b", "status": "on fire"}]}),
                "alerts[1].status",
            ),
            (
                json!({"alerts": [{"title": "a", "dedup_key": "k".repeat(300)}]}),
                "alerts[0].dedup_key",
            ),
        ] {
            match parse(&body, Utc::now()) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
    }
}
