//! Opsgenie's Alert API shape, as Opsgenie documents it
//! (<https://docs.opsgenie.com/docs/alert-api>): create with `POST /v2/alerts`, close with
//! `POST /v2/alerts/{identifier}/close?identifierType=alias`.
//!
//! ```json
//! { "message": "An example alert message", "alias": "Life is too short for no alias",
//!   "description": "Every alert needs a description",
//!   "responders": [ { "id": "…", "type": "team" } ], "visibleTo": [ … ],
//!   "actions": ["Restart", "AnExampleAction"], "tags": ["OverwriteQuietHours", "Critical"],
//!   "details": { "key1": "value1", "key2": "value2" }, "entity": "An example entity",
//!   "priority": "P1" }
//! ```
//!
//! A create is a firing alert: the fingerprint is the `alias` (Opsgenie's de-duplication
//! key; one longer than 255 characters is replaced by `sha256:<hex>` of it, the same for
//! its close), or a fresh one when there is none (Opsgenie then opens a new alert each
//! time too). `priority` (default `P3`, as Opsgenie's) becomes the `priority` label and a
//! `severity` label the default rules match: `P1` → `critical` (SEV1), `P2` → `high`
//! (SEV2), `P3` → `warning`, `P4` → `low`, `P5` → `info` (no incident). `entity` and
//! `source` are labels, `tags` the `tags` label (comma-separated); `message` is the
//! `summary` annotation, `description`, `user` and `note` annotations, `details`
//! flattened into annotations. A close resolves the alert of the alias, keeping its
//! content. Only `message` is required; `responders`, `visibleTo`, `actions` and unknown
//! fields are kept in the raw payload only.

use chrono::{DateTime, Utc};
use incident_schema::AlertStatus;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    IncomingAlert, Labels, MAX_ANNOTATION_VALUE, MAX_FINGERPRINT, MAX_LABEL_VALUE, Notification,
    add_details, check_labels, hex, non_blank, typed,
};
use crate::error::{IngestError, IngestResult};

/// Longest message.
pub const MAX_MESSAGE: usize = 1_000;

/// An Opsgenie create-alert request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpsgenieAlert {
    /// The alert's text (required).
    #[serde(default)]
    #[schema(required = true)]
    pub message: Option<String>,
    /// The de-duplication key: creates with the same alias update one alert.
    #[serde(default)]
    pub alias: Option<String>,
    /// Details, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags, kept as the `tags` label.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form key-value details, flattened into annotations.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: Value,
    /// The entity the alert is about.
    #[serde(default)]
    pub entity: Option<String>,
    /// The alert's source.
    #[serde(default)]
    pub source: Option<String>,
    /// `P1` (highest) to `P5`; default `P3`.
    #[serde(default)]
    pub priority: Option<String>,
    /// Who created it.
    #[serde(default)]
    pub user: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}

/// An Opsgenie close-alert request (every field optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OpsgenieClose {
    /// Who closed it.
    #[serde(default)]
    pub user: Option<String>,
    /// Where the close came from.
    #[serde(default)]
    pub source: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}

/// The severity label of a priority (`P1` → `critical` …), or none for another value.
pub fn severity_of(priority: &str) -> Option<&'static str> {
    match priority {
        "P1" => Some("critical"),
        "P2" => Some("high"),
        "P3" => Some("warning"),
        "P4" => Some("low"),
        "P5" => Some("info"),
        _ => None,
    }
}

/// The fingerprint of an alias: itself, or `sha256:<hex>` of one too long to be one.
pub fn fingerprint_of_alias(alias: &str) -> String {
    if alias.len() <= MAX_FINGERPRINT {
        alias.to_owned()
    } else {
        format!("sha256:{}", hex(&Sha256::digest(alias.as_bytes())))
    }
}

/// Parses a create request into its notification (one firing alert).
pub fn parse(value: &Value, received_at: DateTime<Utc>) -> IngestResult<Notification> {
    let alert: OpsgenieAlert = typed(value)?;
    let message =
        non_blank(alert.message).ok_or_else(|| IngestError::invalid("message", "is required"))?;
    if message.chars().count() > MAX_MESSAGE {
        return Err(IngestError::invalid(
            "message",
            format!("must be 1 to {MAX_MESSAGE} characters"),
        ));
    }
    let priority = non_blank(alert.priority)
        .map(|p| p.to_ascii_uppercase())
        .unwrap_or_else(|| "P3".into());
    let severity = severity_of(&priority)
        .ok_or_else(|| IngestError::invalid("priority", "must be one of P1, P2, P3, P4, P5"))?;
    let mut labels = Labels::new();
    labels.insert("priority".into(), priority);
    labels.insert("severity".into(), severity.into());
    for (name, value) in [("entity", alert.entity), ("source", alert.source)] {
        if let Some(value) = non_blank(value) {
            labels.insert(name.into(), value);
        }
    }
    let tags: Vec<String> = alert
        .tags
        .into_iter()
        .filter_map(|t| non_blank(Some(t)))
        .collect();
    if !tags.is_empty() {
        labels.insert("tags".into(), tags.join(","));
    }
    check_labels("labels", &labels, MAX_LABEL_VALUE).map_err(|e| match e {
        IngestError::Validation { field, message } => IngestError::Validation {
            field: field.trim_start_matches("labels.").to_owned(),
            message,
        },
        other => other,
    })?;
    let mut annotations = Labels::new();
    annotations.insert("summary".into(), message);
    for (name, value) in [
        ("description", alert.description),
        ("user", alert.user),
        ("note", alert.note),
    ] {
        if let Some(value) = non_blank(value) {
            annotations.insert(name.into(), value);
        }
    }
    check_labels("annotations", &annotations, MAX_ANNOTATION_VALUE).map_err(|e| match e {
        IngestError::Validation { field, message } => IngestError::Validation {
            field: field.trim_start_matches("annotations.").to_owned(),
            message,
        },
        other => other,
    })?;
    add_details(&alert.details, &mut annotations);
    let fingerprint = match non_blank(alert.alias) {
        Some(alias) => fingerprint_of_alias(&alias),
        None => Uuid::now_v7().simple().to_string(),
    };
    Ok(Notification {
        alerts: vec![IncomingAlert {
            fingerprint,
            source_group_key: None,
            status: AlertStatus::Firing,
            labels,
            annotations,
            starts_at: received_at,
            ends_at: None,
            generator_url: None,
            links: Vec::new(),
            raw: value.clone(),
            refreshes: true,
        }],
        source_grouping: "opsgenie alias",
    })
}

/// Parses a close request for `alias` into its notification (the alert resolved, its
/// content kept).
pub fn parse_close(
    alias: &str,
    value: &Value,
    received_at: DateTime<Utc>,
) -> IngestResult<Notification> {
    let alias = alias.trim();
    if alias.is_empty() {
        return Err(IngestError::invalid("identifier", "is required"));
    }
    if !value.is_null() {
        let _: OpsgenieClose = typed(value)?;
    }
    Ok(Notification {
        alerts: vec![IncomingAlert {
            fingerprint: fingerprint_of_alias(alias),
            source_group_key: None,
            status: AlertStatus::Resolved,
            labels: Labels::new(),
            annotations: Labels::new(),
            starts_at: received_at,
            ends_at: Some(received_at),
            generator_url: None,
            links: Vec::new(),
            raw: json!({ "alias": alias, "close": value }),
            refreshes: false,
        }],
        source_grouping: "opsgenie alias",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_create_becomes_a_firing_alert_of_its_alias() {
        let body = json!({
            "message": "An example alert message",
            "alias": "Life is too short for no alias",
            "description": "Every alert needs a description",
            "responders": [{ "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team" }],
            "visibleTo": [{ "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team" }],
            "actions": ["Restart", "AnExampleAction"],
            "tags": ["OverwriteQuietHours", "Critical"],
            "details": { "key1": "value1", "key2": "value2" },
            "entity": "An example entity",
            "priority": "P1"
        });
        let n = parse(&body, Utc::now()).expect("parses");
        let alert = &n.alerts[0];
        assert_eq!(alert.fingerprint, "Life is too short for no alias");
        assert_eq!(alert.labels["severity"], "critical");
        assert_eq!(alert.labels["priority"], "P1");
        assert_eq!(alert.labels["tags"], "OverwriteQuietHours,Critical");
        assert_eq!(alert.annotations["key1"], "value1");
        assert_eq!(alert.title(), "An example alert message");
    }

    #[test]
    fn priorities_map_to_severities_and_long_aliases_to_a_hash() {
        assert_eq!(
            ["P1", "P2", "P3", "P4", "P5"].map(severity_of),
            [
                Some("critical"),
                Some("high"),
                Some("warning"),
                Some("low"),
                Some("info")
            ]
        );
        let long = "a".repeat(400);
        assert!(fingerprint_of_alias(&long).starts_with("sha256:"));
        let close = parse_close(&long, &Value::Null, Utc::now()).expect("parses");
        assert_eq!(close.alerts[0].fingerprint, fingerprint_of_alias(&long));
    }

    #[test]
    fn a_missing_message_or_a_bad_priority_is_named() {
        for (body, field) in [
            (json!({ "alias": "a" }), "message"),
            (json!({ "message": "m", "priority": "P9" }), "priority"),
            (json!({ "message": "m", "tags": "not a list" }), "tags"),
        ] {
            match parse(&body, Utc::now()) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
    }
}
