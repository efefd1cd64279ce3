//! PagerDuty's Events API v2, as PagerDuty documents it
//! (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>): one event per
//! request, `POST`ed to `/v2/enqueue`.
//!
//! ```json
//! { "routing_key": "e93facc04764012d7bfb002500d5d1a6", "event_action": "trigger",
//!   "dedup_key": "srv01/mysql",
//!   "payload": { "summary": "DISK at 99% on machine prod-datapipe03.example.com",
//!                "timestamp": "2015-07-17T08:42:58.315+0000", "severity": "critical",
//!                "source": "prod-datapipe03.example.com", "component": "mysql",
//!                "group": "prod-datapipe", "class": "disk",
//!                "custom_details": { "free space": "1%", "ping time": "1500ms" } },
//!   "images": [ { "src": "…", "href": "…", "alt": "…" } ],
//!   "links": [ { "href": "…", "text": "…" } ],
//!   "client": "Sample Monitoring Service", "client_url": "https://monitoring.service.com" }
//! ```
//!
//! How an event becomes an alert:
//! - `trigger` (needs `payload.summary`, `payload.source`, `payload.severity`): a firing
//!   alert whose fingerprint is the `dedup_key` (one is generated, 32 hex characters,
//!   when the event has none, and answered), labels `severity` (lower-cased: `critical`,
//!   `error`, `warning`, `info`, what the default rules match), `source`, `component`,
//!   `group`, `class`; annotation `summary`; `custom_details` flattened into annotations;
//!   `links`, `images` and `client_url` as links. It starts at `payload.timestamp`, else
//!   when received. Triggers with the same key update one alert.
//! - `resolve` (needs `dedup_key`): resolves the alert, keeping its content (the event
//!   names the alert only). Like Alertmanager's, a resolve that overtakes its trigger
//!   records the alert resolved, and the late trigger, which started earlier, changes
//!   nothing; a trigger without a `timestamp` starts when received, so one arriving after
//!   the resolve is a new occurrence (which is what PagerDuty itself does).
//! - `acknowledge` (needs `dedup_key`): no alert changes state; the firing alert records
//!   when its source acknowledged it ([`super::ACKNOWLEDGED_ANNOTATION`]), see
//!   [`crate::ingest::acknowledge`].
//!
//! Each event is its own group (its `dedup_key`) unless the integration groups by labels
//! (`grouping_key: "group"`, say). The `routing_key` is the integration's secret: it is
//! never stored (it is removed from the raw event). Unknown fields are ignored; a
//! missing required field is refused naming it (`payload.summary`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    IncomingAlert, Labels, Link, MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, Notification, add_details,
    check_fingerprint, check_labels, iso_time, non_blank, typed,
};
use crate::error::{IngestError, IngestResult};
use incident_schema::AlertStatus;

/// What an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PagerDutyAction {
    /// Open (or update) the alert of the `dedup_key`.
    Trigger,
    /// The alert is being worked on at the source.
    Acknowledge,
    /// The alert's condition no longer holds.
    Resolve,
}

/// A PagerDuty Events API v2 event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PagerDutyEvent {
    /// The integration's secret (PagerDuty's integration key, 32 characters there; ours
    /// are longer). Optional when the secret is sent as a bearer token or `?token=`.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// `trigger`, `acknowledge` or `resolve`.
    #[serde(default)]
    #[schema(required = true)]
    pub event_action: Option<PagerDutyAction>,
    /// Identifies the alert (at most 255 characters); required to acknowledge or
    /// resolve, generated for a trigger without one.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// What is wrong; required to trigger.
    #[serde(default)]
    pub payload: Option<PagerDutyPayload>,
    /// Images to show with the alert (kept as links).
    #[serde(default)]
    pub images: Vec<PagerDutyImage>,
    /// Links to show with the alert.
    #[serde(default)]
    pub links: Vec<PagerDutyLink>,
    /// The monitoring client's name.
    #[serde(default)]
    pub client: Option<String>,
    /// The monitoring client's URL for the alert.
    #[serde(default)]
    pub client_url: Option<String>,
}

/// The `payload` of a trigger.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PagerDutyPayload {
    /// A summary, for people (required).
    #[serde(default)]
    #[schema(required = true)]
    pub summary: Option<String>,
    /// The affected system, preferably a hostname (required).
    #[serde(default)]
    #[schema(required = true)]
    pub source: Option<String>,
    /// `critical`, `error`, `warning` or `info` (required).
    #[serde(default)]
    #[schema(required = true)]
    pub severity: Option<String>,
    /// When the source detected it (ISO 8601).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The affected component of the source.
    #[serde(default)]
    pub component: Option<String>,
    /// A logical grouping of components.
    #[serde(default)]
    pub group: Option<String>,
    /// The class or type of the event.
    #[serde(default)]
    pub class: Option<String>,
    /// Free-form details (any JSON), flattened into annotations.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_details: Value,
}

/// An image of an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PagerDutyImage {
    /// The image's URL.
    #[serde(default)]
    pub src: Option<String>,
    /// Where clicking it leads.
    #[serde(default)]
    pub href: Option<String>,
    /// Its text.
    #[serde(default)]
    pub alt: Option<String>,
}

/// A link of an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PagerDutyLink {
    /// The URL.
    #[serde(default)]
    pub href: Option<String>,
    /// Its text.
    #[serde(default)]
    pub text: Option<String>,
}

/// The severities PagerDuty accepts.
pub const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// A parsed event.
#[derive(Debug, Clone)]
pub struct Event {
    /// What it asks for.
    pub action: PagerDutyAction,
    /// Its alert's key (generated for a trigger without one).
    pub dedup_key: String,
    /// The `routing_key` it carried, if any.
    pub routing_key: Option<String>,
    /// The notification to ingest: the alert of a trigger or a resolve; none for an
    /// acknowledgement.
    pub notification: Notification,
}

/// The `routing_key` of a body, if it is an object carrying one (read before the event
/// is parsed: it authenticates the request).
pub fn routing_key(value: &Value) -> Option<String> {
    non_blank(value.get("routing_key")?.as_str().map(str::to_owned))
}

/// Parses an event into its notification (an acknowledgement has no alert).
pub fn parse(value: &Value, received_at: DateTime<Utc>) -> IngestResult<Notification> {
    parse_event(value, received_at).map(|e| e.notification)
}

/// Parses and validates an event.
pub fn parse_event(value: &Value, received_at: DateTime<Utc>) -> IngestResult<Event> {
    let mut event: PagerDutyEvent = typed(value)?;
    let routing_key = non_blank(event.routing_key.take());
    let action = event.event_action.ok_or_else(|| {
        IngestError::invalid(
            "event_action",
            "is required: trigger, acknowledge or resolve",
        )
    })?;
    let given_key = non_blank(event.dedup_key.take());
    if let Some(key) = &given_key {
        check_fingerprint("dedup_key", key)?;
    }
    let dedup_key = match (action, given_key) {
        (_, Some(key)) => key,
        (PagerDutyAction::Trigger, None) => Uuid::now_v7().simple().to_string(),
        (_, None) => {
            return Err(IngestError::invalid(
                "dedup_key",
                "is required to acknowledge or resolve an alert",
            ));
        }
    };
    let raw = without_routing_key(value);
    let alerts = match action {
        PagerDutyAction::Trigger => vec![trigger(event, &dedup_key, raw, received_at)?],
        PagerDutyAction::Resolve => vec![IncomingAlert {
            fingerprint: dedup_key.clone(),
            source_group_key: None,
            status: AlertStatus::Resolved,
            labels: Labels::new(),
            annotations: Labels::new(),
            starts_at: received_at,
            ends_at: Some(received_at),
            generator_url: None,
            links: Vec::new(),
            raw,
            refreshes: false,
        }],
        PagerDutyAction::Acknowledge => Vec::new(),
    };
    Ok(Event {
        action,
        dedup_key,
        routing_key,
        notification: Notification {
            alerts,
            source_grouping: "pagerduty dedup_key",
        },
    })
}

/// The raw event as stored: without its secret.
fn without_routing_key(value: &Value) -> Value {
    let mut raw = value.clone();
    if let Some(map) = raw.as_object_mut() {
        map.remove("routing_key");
    }
    raw
}

fn trigger(
    event: PagerDutyEvent,
    dedup_key: &str,
    raw: Value,
    received_at: DateTime<Utc>,
) -> IngestResult<IncomingAlert> {
    let payload = event
        .payload
        .ok_or_else(|| IngestError::invalid("payload", "is required to trigger an alert"))?;
    let required = |value: Option<String>, name: &str| {
        non_blank(value).ok_or_else(|| {
            IngestError::invalid(format!("payload.{name}"), "is required to trigger an alert")
        })
    };
    let summary = required(payload.summary, "summary")?;
    let source = required(payload.source, "source")?;
    let severity = required(payload.severity, "severity")?.to_ascii_lowercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        return Err(IngestError::invalid(
            "payload.severity",
            "must be critical, error, warning or info",
        ));
    }
    let starts_at = match non_blank(payload.timestamp) {
        Some(t) => iso_time("payload.timestamp", &t)?,
        None => received_at,
    };
    let mut labels = Labels::new();
    labels.insert("severity".into(), severity);
    labels.insert("source".into(), source);
    for (name, value) in [
        ("component", payload.component),
        ("group", payload.group),
        ("class", payload.class),
    ] {
        if let Some(value) = non_blank(value) {
            labels.insert(name.into(), value);
        }
    }
    check_labels("payload", &labels, MAX_LABEL_VALUE)?;
    let mut annotations = Labels::new();
    annotations.insert("summary".into(), summary);
    check_labels("payload", &annotations, MAX_ANNOTATION_VALUE)?;
    add_details(&payload.custom_details, &mut annotations);

    let client_url = non_blank(event.client_url);
    let mut links: Vec<Link> = client_url
        .iter()
        .map(|href| Link {
            href: href.clone(),
            text: Some(non_blank(event.client.clone()).unwrap_or_else(|| "client".into())),
        })
        .collect();
    links.extend(event.links.into_iter().filter_map(|l| {
        non_blank(l.href).map(|href| Link {
            href,
            text: non_blank(l.text),
        })
    }));
    links.extend(event.images.into_iter().filter_map(|i| {
        non_blank(i.href.or(i.src)).map(|href| Link {
            href,
            text: Some(non_blank(i.alt).unwrap_or_else(|| "image".into())),
        })
    }));
    // Links are free text from the source: keep those a label could hold.
    links.retain(|l| l.href.len() <= MAX_LABEL_VALUE);
    Ok(IncomingAlert {
        fingerprint: dedup_key.to_owned(),
        source_group_key: None,
        status: AlertStatus::Firing,
        labels,
        annotations,
        starts_at,
        ends_at: None,
        generator_url: client_url,
        links,
        raw,
        refreshes: true,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn documented_trigger() -> Value {
        json!({
            "payload": {
                "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                "timestamp": "2015-07-17T08:42:58.315+0000",
                "severity": "critical",
                "source": "prod-datapipe03.example.com",
                "component": "mysql",
                "group": "prod-datapipe",
                "class": "disk",
                "custom_details": { "free space": "1%", "ping time": "1500ms", "load avg": 0.75 }
            },
            "routing_key": "e93facc04764012d7bfb002500d5d1a6",
            "dedup_key": "srv01/mysql",
            "event_action": "trigger",
            "client": "Sample Monitoring Service",
            "client_url": "https://monitoring.service.com",
            "links": [{ "href": "http://pagerduty.example.com", "text": "An example link." }],
            "images": [{ "src": "https://chart.example/c.png", "href": "https://google.com", "alt": "An example link with an image" }]
        })
    }

    #[test]
    fn a_documented_trigger_becomes_a_firing_alert_with_labels_rules_match() {
        let now = Utc::now();
        let event = parse_event(&documented_trigger(), now).expect("parses");
        assert_eq!(event.action, PagerDutyAction::Trigger);
        assert_eq!(event.dedup_key, "srv01/mysql");
        assert_eq!(
            event.routing_key.as_deref(),
            Some("e93facc04764012d7bfb002500d5d1a6")
        );
        let alert = &event.notification.alerts[0];
        assert_eq!(alert.fingerprint, "srv01/mysql");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.labels["severity"], "critical");
        assert_eq!(alert.labels["source"], "prod-datapipe03.example.com");
        assert_eq!(alert.labels["group"], "prod-datapipe");
        assert_eq!(
            alert.title(),
            "DISK at 99% on machine prod-datapipe03.example.com"
        );
        assert_eq!(alert.annotations["free space"], "1%");
        assert_eq!(alert.annotations["load avg"], "0.75");
        assert_eq!(
            alert.starts_at,
            "2015-07-17T08:42:58.315Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
        assert_eq!(
            alert
                .links
                .iter()
                .map(|l| l.href.as_str())
                .collect::<Vec<_>>(),
            [
                "https://monitoring.service.com",
                "http://pagerduty.example.com",
                "https://google.com"
            ]
        );
        assert!(
            alert.raw.get("routing_key").is_none(),
            "the secret is not kept"
        );
        assert_eq!(alert.raw["dedup_key"], "srv01/mysql");
    }

    #[test]
    fn a_trigger_without_a_dedup_key_gets_one_and_a_resolve_names_the_alert_only() {
        let mut body = documented_trigger();
        body.as_object_mut().map(|m| m.remove("dedup_key"));
        let event = parse_event(&body, Utc::now()).expect("parses");
        assert_eq!(event.dedup_key.len(), 32);
        assert_eq!(event.notification.alerts[0].fingerprint, event.dedup_key);

        let now = Utc::now();
        let resolve = parse_event(
            &json!({ "routing_key": "k", "dedup_key": "srv01/mysql", "event_action": "resolve" }),
            now,
        )
        .expect("parses");
        let alert = &resolve.notification.alerts[0];
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.ends_at, Some(now));
        assert!(!alert.refreshes);

        let ack = parse_event(
            &json!({ "dedup_key": "srv01/mysql", "event_action": "acknowledge" }),
            now,
        )
        .expect("parses");
        assert_eq!(ack.action, PagerDutyAction::Acknowledge);
        assert!(ack.notification.alerts.is_empty());
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let without = |path: &[&str]| {
            let mut body = documented_trigger();
            let mut target = &mut body;
            for p in &path[..path.len() - 1] {
                target = &mut target[*p];
            }
            target
                .as_object_mut()
                .map(|m| m.remove(path[path.len() - 1]));
            body
        };
        for (body, field) in [
            (without(&["payload", "summary"]), "payload.summary"),
            (without(&["payload", "source"]), "payload.source"),
            (without(&["payload", "severity"]), "payload.severity"),
            (without(&["payload"]), "payload"),
            (without(&["event_action"]), "event_action"),
            (
                json!({ "event_action": "resolve", "routing_key": "k" }),
                "dedup_key",
            ),
            (
                json!({ "event_action": "snooze", "dedup_key": "k" }),
                "event_action",
            ),
            (
                {
                    let mut b = documented_trigger();
                    b["payload"]["severity"] = json!("sev1");
                    b
                },
                "payload.severity",
            ),
            (
                {
                    let mut b = documented_trigger();
                    b["payload"]["timestamp"] = json!("last tuesday");
                    b
                },
                "payload.timestamp",
            ),
        ] {
            match parse_event(&body, Utc::now()) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
    }
}
