//! Grafana OnCall's formatted webhook, as OnCall documents it (its "Formatted webhook"
//! integration, <https://grafana.com/docs/oncall/latest/integrations/webhook/>), the shape
//! OnCall's outgoing webhooks forward too:
//!
//! ```json
//! { "alert_uid": "08d6891a-835c-e661-39fa-96b6a9e26552",
//!   "title": "The whole system is down",
//!   "image_url": "https://upload.wikimedia.org/wikipedia/commons/e/ee/Grumpy_Cat_by_Gage_Skidmore.jpg",
//!   "state": "alerting",
//!   "link_to_upstream_details": "https://en.wikipedia.org/wiki/Downtime",
//!   "message": "Smth happened. Oh no!" }
//! ```
//!
//! Before this kind existed such bodies were accepted by the generic webhook (they have a
//! `title`), which knows no `state`: `"state": "ok"` was one more firing notification and
//! never resolved anything. Here `alert_uid` is the alert's fingerprint (without it, the
//! title's), `state` `alerting` fires and `ok` resolves (as OnCall's own default resolve
//! condition, `payload.state == "ok"`), `title` is the `summary` annotation and the
//! `alertname` label, `message` the `description`, the two URLs links. Only `title` is
//! required. The shape has no severity, so under the default rules nothing declares
//! unless the body adds a `severity` (`critical`, `error`…, which becomes the label) or
//! the integration's rules match `alertname`. Nor has it a time: an alert starts (and a
//! resolve ends) when received, so a resolve that overtakes its `alerting` notification
//! is followed by a new firing occurrence, not ignored as Alertmanager's late firing
//! notification is.

use chrono::{DateTime, Utc};
use incident_schema::AlertStatus;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    IncomingAlert, Labels, Link, MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, Notification,
    check_fingerprint, check_labels, fingerprint_of, non_blank, typed,
};
use crate::error::{IngestError, IngestResult};

/// Longest title.
pub const MAX_TITLE: usize = 1_000;

/// A Grafana OnCall formatted webhook body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct GrafanaOnCallPayload {
    /// Identifies the alert across notifications.
    #[serde(default)]
    pub alert_uid: Option<String>,
    /// What is wrong, for people (required).
    #[serde(default)]
    #[schema(required = true)]
    pub title: Option<String>,
    /// `alerting` (default) or `ok`, which resolves the alert.
    #[serde(default)]
    pub state: Option<String>,
    /// Details, for people.
    #[serde(default)]
    pub message: Option<String>,
    /// An image of the alert.
    #[serde(default)]
    pub image_url: Option<String>,
    /// A link to the alert at its source.
    #[serde(default)]
    pub link_to_upstream_details: Option<String>,
    /// Not OnCall's: a severity a template may add, which becomes the `severity` label.
    #[serde(default)]
    pub severity: Option<String>,
}

/// Parses and validates a formatted webhook body.
pub fn parse(value: &Value, received_at: DateTime<Utc>) -> IngestResult<Notification> {
    let payload: GrafanaOnCallPayload = typed(value)?;
    let title =
        non_blank(payload.title).ok_or_else(|| IngestError::invalid("title", "is required"))?;
    if title.chars().count() > MAX_TITLE {
        return Err(IngestError::invalid(
            "title",
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    let status = match non_blank(payload.state)
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("alerting") => AlertStatus::Firing,
        Some("ok") => AlertStatus::Resolved,
        Some(_) => {
            return Err(IngestError::invalid(
                "state",
                "must be alerting or ok (which resolves the alert)",
            ));
        }
    };
    let mut labels = Labels::new();
    labels.insert("alertname".into(), title.clone());
    if let Some(severity) = non_blank(payload.severity) {
        labels.insert("severity".into(), severity);
    }
    let mut annotations = Labels::new();
    annotations.insert("summary".into(), title.clone());
    if let Some(message) = non_blank(payload.message) {
        annotations.insert("description".into(), message);
    }
    check_labels("labels", &labels, MAX_LABEL_VALUE).map_err(|_| {
        IngestError::invalid("title", format!("must be at most {MAX_LABEL_VALUE} bytes"))
    })?;
    check_labels("annotations", &annotations, MAX_ANNOTATION_VALUE)
        .map_err(|_| IngestError::invalid("message", "is too long"))?;
    let fingerprint = match non_blank(payload.alert_uid) {
        Some(uid) => {
            check_fingerprint("alert_uid", &uid)?;
            uid
        }
        None => fingerprint_of(&Labels::new(), &title),
    };
    let upstream = non_blank(payload.link_to_upstream_details);
    let links = [
        (upstream.clone(), "upstream"),
        (non_blank(payload.image_url), "image"),
    ]
    .into_iter()
    .filter_map(|(href, text)| {
        href.filter(|h| h.len() <= MAX_LABEL_VALUE)
            .map(|href| Link {
                href,
                text: Some(text.into()),
            })
    })
    .collect();
    Ok(Notification {
        alerts: vec![IncomingAlert {
            fingerprint,
            source_group_key: None,
            status,
            labels,
            annotations,
            starts_at: received_at,
            ends_at: (status == AlertStatus::Resolved).then_some(received_at),
            generator_url: upstream,
            links,
            raw: value.clone(),
            refreshes: true,
        }],
        source_grouping: "grafana oncall alert_uid",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_body_fires_and_ok_resolves_the_same_alert() {
        let now = Utc::now();
        let body = json!({
            "alert_uid": "08d6891a-835c-e661-39fa-96b6a9e26552",
            "title": "The whole system is down",
            "image_url": "https://upload.wikimedia.org/wikipedia/commons/e/ee/Grumpy_Cat_by_Gage_Skidmore.jpg",
            "state": "alerting",
            "link_to_upstream_details": "https://en.wikipedia.org/wiki/Downtime",
            "message": "Smth happened. Oh no!"
        });
        let firing = parse(&body, now).expect("parses");
        let alert = &firing.alerts[0];
        assert_eq!(alert.fingerprint, "08d6891a-835c-e661-39fa-96b6a9e26552");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.title(), "The whole system is down");
        assert_eq!(alert.annotations["description"], "Smth happened. Oh no!");
        assert_eq!(alert.links.len(), 2);
        let mut ok = body.clone();
        ok["state"] = json!("ok");
        let resolved = parse(&ok, now).expect("parses");
        assert_eq!(resolved.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(resolved.alerts[0].fingerprint, alert.fingerprint);
        assert_eq!(resolved.alerts[0].ends_at, Some(now));
    }

    #[test]
    fn a_missing_title_or_an_unknown_state_is_named() {
        for (body, field) in [
            (json!({ "alert_uid": "u", "state": "ok" }), "title"),
            (json!({ "title": "t", "state": "burning" }), "state"),
            (
                json!({ "title": "t", "alert_uid": "u".repeat(300) }),
                "alert_uid",
            ),
        ] {
            match parse(&body, Utc::now()) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
    }
}
