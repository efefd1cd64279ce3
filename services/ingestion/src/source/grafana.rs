//! Grafana Alerting's webhook contact point (unified alerting, Grafana 8 and later;
//! <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>):
//!
//! ```json
//! { "receiver": "incident", "status": "firing", "orgId": 1, "version": "1",
//!   "groupKey": "{}:{alertname=\"High memory\"}", "truncatedAlerts": 0,
//!   "title": "[FIRING:1] High memory", "state": "alerting", "message": "…",
//!   "groupLabels": {…}, "commonLabels": {…}, "commonAnnotations": {…},
//!   "externalURL": "https://grafana.example/",
//!   "alerts": [ { "status": "firing", "labels": {…}, "annotations": {…},
//!                 "startsAt": "2026-11-27T10:00:00+01:00", "endsAt": "0001-01-01T00:00:00Z",
//!                 "generatorURL": "…", "fingerprint": "c6eadffa33fcdf37",
//!                 "silenceURL": "…", "dashboardURL": "…", "panelURL": "…",
//!                 "values": {"B": 44.2}, "valueString": "…" } ] }
//! ```
//!
//! The shape is Alertmanager's with Grafana's additions; its links (dashboard, panel,
//! silence) are kept for the incident's description. The legacy (pre-8) Grafana alert
//! webhook is not supported.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    IncomingAlert, Labels, Link, MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, Notification, SourceStatus,
    check_count, check_fingerprint, check_group_key, check_labels, fingerprint_of, non_blank,
    real_time, typed,
};
use crate::error::IngestResult;

/// A Grafana Alerting webhook notification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaPayload {
    /// The payload version (`"1"`).
    #[serde(default)]
    pub version: Option<String>,
    /// Identifies the notification's group; the default grouping key.
    #[serde(default)]
    pub group_key: Option<String>,
    /// `firing` while any alert fires.
    #[serde(default)]
    pub status: Option<SourceStatus>,
    /// The contact point's name.
    #[serde(default)]
    pub receiver: Option<String>,
    /// Grafana's rendered title.
    #[serde(default)]
    pub title: Option<String>,
    /// The labels the group is formed by.
    #[serde(default)]
    #[schema(inline)]
    pub group_labels: Labels,
    /// The labels every alert shares.
    #[serde(default)]
    #[schema(inline)]
    pub common_labels: Labels,
    /// Grafana's own URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    /// The group's alerts.
    pub alerts: Vec<GrafanaAlert>,
}

/// One alert of a Grafana notification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaAlert {
    /// `firing` or `resolved`.
    pub status: SourceStatus,
    /// Identifying labels.
    #[schema(inline)]
    pub labels: Labels,
    /// Descriptive annotations.
    #[serde(default)]
    #[schema(inline)]
    pub annotations: Labels,
    /// When the alert started.
    pub starts_at: DateTime<Utc>,
    /// When it ended; `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to the alert rule.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Stable identity of the alert.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Link to silence the alert.
    #[serde(default, rename = "silenceURL")]
    pub silence_url: Option<String>,
    /// Link to the rule's dashboard.
    #[serde(default, rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    /// Link to the rule's panel.
    #[serde(default, rename = "panelURL")]
    pub panel_url: Option<String>,
}

/// Parses and validates a notification.
pub fn parse(value: &Value) -> IngestResult<Notification> {
    let payload: GrafanaPayload = typed(value)?;
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
        let links = [
            (generator_url.clone(), "rule"),
            (non_blank(alert.dashboard_url), "dashboard"),
            (non_blank(alert.panel_url), "panel"),
            (non_blank(alert.silence_url), "silence"),
        ]
        .into_iter()
        .filter_map(|(href, text)| {
            href.map(|href| Link {
                href,
                text: Some(text.into()),
            })
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
        source_grouping: "grafana groupKey",
    })
}

#[cfg(test)]
mod tests {
    use incident_schema::AlertStatus;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_grafana_notification_parses_with_its_links_and_numeric_values() {
        let body = json!({
            "receiver": "incident", "status": "firing", "orgId": 1, "version": "1",
            "groupKey": "{}:{alertname=\"High memory\"}", "truncatedAlerts": 0,
            "title": "[FIRING:1] High memory", "state": "alerting", "message": "m",
            "groupLabels": {}, "commonLabels": {"team": "blue"}, "commonAnnotations": {},
            "externalURL": "https://grafana.example/",
            "alerts": [{
                "status": "firing", "labels": {"alertname": "High memory", "team": "blue"},
                "annotations": {"summary": "memory above 90%"},
                "startsAt": "2026-11-27T10:00:00.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example/alerting/x/edit", "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://grafana.example/silence", "dashboardURL": "", "panelURL": "",
                "values": {"B": 44.2, "C": 1}, "valueString": "[ var='B' value=44.2 ]"
            }]
        });
        let n = parse(&body).expect("parses");
        let alert = &n.alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.fingerprint, "c6eadffa33fcdf37");
        assert_eq!(alert.ends_at, None);
        assert_eq!(alert.title(), "memory above 90%");
        assert_eq!(
            alert
                .links
                .iter()
                .map(|l| l.text.as_deref().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["rule", "silence"]
        );
        assert_eq!(alert.raw["values"]["B"], 44.2);
    }
}
