//! Prometheus Alertmanager's webhook payload, version 4, exactly as Alertmanager sends it
//! (<https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>):
//!
//! ```json
//! { "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
//!   "status": "firing", "receiver": "incident", "groupLabels": {…}, "commonLabels": {…},
//!   "commonAnnotations": {…}, "externalURL": "http://alertmanager:9093",
//!   "alerts": [ { "status": "firing", "labels": {…}, "annotations": {…},
//!                 "startsAt": "2026-11-27T10:00:00.123456789Z",
//!                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
//!                 "fingerprint": "c1a2b3d4e5f60718" } ] }
//! ```
//!
//! What real Alertmanager does and this parser expects: `endsAt` is Go's zero time while
//! firing, `startsAt` carries nanoseconds, `generatorURL` may be empty, `fingerprint` is
//! stable from firing to resolved, `groupKey` identifies the group (the default grouping
//! key), and one notification batches every alert of its group.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    IncomingAlert, Labels, Link, MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, Notification, SourceStatus,
    check_count, check_fingerprint, check_group_key, check_labels, fingerprint_of, non_blank,
    real_time, typed,
};
use crate::error::{IngestError, IngestResult};

/// An Alertmanager webhook notification (version 4).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    /// The payload version; `"4"`.
    pub version: String,
    /// Identifies the notification's group; the default grouping key.
    #[serde(default)]
    pub group_key: Option<String>,
    /// Alerts left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: Option<u64>,
    /// `firing` while any alert of the group fires.
    #[serde(default)]
    pub status: Option<SourceStatus>,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: Option<String>,
    /// The labels the group is formed by.
    #[serde(default)]
    #[schema(inline)]
    pub group_labels: Labels,
    /// The labels every alert shares.
    #[serde(default)]
    #[schema(inline)]
    pub common_labels: Labels,
    /// The annotations every alert shares.
    #[serde(default)]
    #[schema(inline)]
    pub common_annotations: Labels,
    /// Alertmanager's own URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    /// The group's alerts.
    pub alerts: Vec<AlertmanagerAlert>,
}

/// One alert of an Alertmanager notification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    pub status: SourceStatus,
    /// Identifying labels.
    #[schema(inline)]
    pub labels: Labels,
    /// Descriptive annotations.
    #[serde(default)]
    #[schema(inline)]
    pub annotations: Labels,
    /// When the alert started (RFC 3339, nanoseconds allowed).
    pub starts_at: DateTime<Utc>,
    /// When it ended; `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to the alerting expression; may be empty.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Stable identity of the alert from firing to resolved.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Parses and validates a notification.
pub fn parse(value: &Value) -> IngestResult<Notification> {
    let payload: AlertmanagerPayload = typed(value)?;
    if payload.version != "4" {
        return Err(IngestError::invalid(
            "version",
            format!(
                "only version \"4\" of the Alertmanager webhook is supported, not {:?}",
                payload.version
            ),
        ));
    }
    check_count("alerts", payload.alerts.len())?;
    let group_key = non_blank(payload.group_key);
    if let Some(key) = &group_key {
        check_group_key("groupKey", key)?;
    }
    let raw_alerts = value.get("alerts").and_then(Value::as_array);
    let mut alerts = Vec::with_capacity(payload.alerts.len());
    for (i, alert) in payload.alerts.into_iter().enumerate() {
        let field = |name: &str| format!("alerts[{i}].{name}");
        check_labels(&field("labels"), &alert.labels, MAX_LABEL_VALUE)?;
        check_labels(
            &field("annotations"),
            &alert.annotations,
            MAX_ANNOTATION_VALUE,
        )?;
        let fingerprint = match non_blank(alert.fingerprint) {
            Some(f) => {
                check_fingerprint(&field("fingerprint"), &f)?;
                f
            }
            None => fingerprint_of(&alert.labels, ""),
        };
        let generator_url = non_blank(alert.generator_url);
        let links = generator_url
            .iter()
            .map(|href| Link {
                href: href.clone(),
                text: Some("source".into()),
            })
            .collect();
        alerts.push(IncomingAlert {
            fingerprint,
            source_group_key: group_key.clone(),
            status: alert.status.into(),
            labels: alert.labels,
            annotations: alert.annotations,
            starts_at: alert.starts_at,
            ends_at: real_time(alert.ends_at),
            generator_url,
            links,
            raw: raw_alerts
                .and_then(|a| a.get(i))
                .cloned()
                .unwrap_or(Value::Null),
            refreshes: true,
        });
    }
    Ok(Notification {
        alerts,
        source_grouping: "alertmanager groupKey",
    })
}

#[cfg(test)]
mod tests {
    use incident_schema::AlertStatus;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_real_alertmanager_batch_parses_with_go_zero_times_and_empty_generator_urls() {
        let body = json!({
            "receiver": "incident", "status": "firing", "version": "4",
            "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
            "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": "a"},
                 "annotations": {"summary": "5xx above 5%"}, "startsAt": "2026-11-27T10:00:00.123456789Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0123456789abcdef"},
                {"status": "resolved", "labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": "b"},
                 "annotations": {}, "startsAt": "2026-11-27T09:00:00Z",
                 "endsAt": "2026-11-27T09:30:00.5Z", "generatorURL": "http://prom/graph", "fingerprint": "fedcba9876543210"}
            ]
        });
        let n = parse(&body).expect("parses");
        assert_eq!(n.alerts.len(), 2);
        let first = &n.alerts[0];
        assert_eq!(first.status, AlertStatus::Firing);
        assert_eq!(first.ends_at, None);
        assert_eq!(first.generator_url, None);
        assert_eq!(first.title(), "5xx above 5%");
        assert_eq!(
            first.source_group_key.as_deref(),
            Some("{}:{alertname=\"HighErrorRate\"}")
        );
        assert_eq!(first.raw["fingerprint"], "0123456789abcdef");
        assert_eq!(first.starts_at.timestamp_subsec_nanos(), 123_456_789);
        let second = &n.alerts[1];
        assert_eq!(second.status, AlertStatus::Resolved);
        assert!(second.ends_at.is_some());
        assert_eq!(second.links.len(), 1);
    }

    #[test]
    fn another_version_or_an_empty_batch_is_refused_naming_the_field() {
        for (body, field) in [
            (json!({"version": "3", "alerts": []}), "version"),
            (json!({"version": "4", "alerts": []}), "alerts"),
            (json!({"version": "4"}), "body"),
            (
                json!({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}),
                "alerts[0]",
            ),
            (
                json!({"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}, "startsAt": "2026-01-01T00:00:00Z"}]}),
                "alerts[0].labels.a",
            ),
        ] {
            match parse(&body) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
    }
}
