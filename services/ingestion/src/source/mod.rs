//! The payload formats alert sources send, parsed once at the edge into
//! [`IncomingAlert`]s: code past this module never looks at a source's JSON again (except
//! to keep it verbatim in `alerts.raw`).
//!
//! Parsing is in two steps, so clients learn what is wrong: bytes that are not JSON at all
//! are [`IngestError::Malformed`] (400); JSON of the wrong shape is
//! [`IngestError::Validation`] naming the field (422). Unknown fields are ignored: sources
//! add fields over time.
//!
//! NUL characters: PostgreSQL refuses `\0` in `text` and `\u0000` in `jsonb`, and a
//! source that got an error would resend the same notification forever. So every string of
//! a payload (object keys included) has its NULs replaced with U+FFFD before it is parsed
//! ([`sanitise`]), and each alert concerned says so in its [`SANITISED_ANNOTATION`]
//! annotation, naming the fields. Nothing is refused for a NUL.
//!
//! - [`alertmanager`]: Prometheus Alertmanager's webhook (version 4), batches included;
//! - [`grafana`]: Grafana Alerting's webhook contact point;
//! - [`generic`]: our documented shape, also what the AMQP front carries;
//! - [`pagerduty`]: PagerDuty's Events API v2 (`trigger`, `acknowledge`, `resolve`);
//! - [`grafana_oncall`]: Grafana OnCall's formatted webhook (`state` `alerting`, `ok`);
//! - [`opsgenie`]: Opsgenie's Alert API (create, close by alias).

pub mod alertmanager;
pub mod generic;
pub mod grafana;
pub mod grafana_oncall;
pub mod opsgenie;
pub mod pagerduty;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Utc};
use incident_schema::{AlertStatus, IntegrationKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::error::{IngestError, IngestResult};

/// Alerts one notification may carry.
pub const MAX_ALERTS: usize = 1_000;
/// Labels (and, separately, annotations) one alert may carry.
pub const MAX_LABELS: usize = 128;
/// Longest label or annotation name.
pub const MAX_NAME: usize = 256;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 4_096;
/// Longest annotation value.
pub const MAX_ANNOTATION_VALUE: usize = 20_000;
/// Longest fingerprint (dedup key).
pub const MAX_FINGERPRINT: usize = 255;
/// Longest source group key.
pub const MAX_GROUP_KEY: usize = 8_192;

/// The annotation that marks an alert whose strings had NUL characters replaced.
pub const SANITISED_ANNOTATION: &str = "incident_sanitised";
/// The annotation recording when the source acknowledged a firing alert (PagerDuty's
/// `acknowledge`); kept while the alert repeats, dropped when it resolves.
pub const ACKNOWLEDGED_ANNOTATION: &str = "incident_acknowledged_at";

/// Label (or annotation) names to values.
pub type Labels = BTreeMap<String, String>;

/// A link back to the source (a graph, a dashboard, a runbook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// The URL.
    pub href: String,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One alert as a source reported it, validated and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingAlert {
    /// The alert's identity at its source; unique per integration (1 to 255 characters).
    pub fingerprint: String,
    /// How the source grouped it (Alertmanager's and Grafana's `groupKey`, the generic
    /// `group_key`), if it did.
    pub source_group_key: Option<String>,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The source's labels.
    pub labels: Labels,
    /// The source's annotations (summary, description, runbook...).
    pub annotations: Labels,
    /// When it started; the time it was received when the source does not say.
    pub starts_at: DateTime<Utc>,
    /// When it ended (resolved alerts); none while firing.
    pub ends_at: Option<DateTime<Utc>>,
    /// The source's link to the alert's expression or rule.
    pub generator_url: Option<String>,
    /// Further links (dashboards, panels, runbooks).
    pub links: Vec<Link>,
    /// The alert as the source sent it.
    pub raw: Value,
    /// Whether the notification carries the alert's content (labels, annotations,
    /// links) and so refreshes what is stored. False for a notification that only names
    /// the alert, as PagerDuty's `resolve`: it changes the status and keeps the stored
    /// content (and the group's shared labels) as they are.
    pub refreshes: bool,
}

impl IncomingAlert {
    /// A title for people: the `summary` (or `title`) annotation, else the `alertname`
    /// label, else the fingerprint.
    pub fn title(&self) -> String {
        ["summary", "title"]
            .iter()
            .find_map(|k| self.annotations.get(*k))
            .or_else(|| self.labels.get("alertname"))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("Alert {}", self.fingerprint))
    }
}

/// A parsed notification: its alerts, and how its source groups them.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The alerts, in the order sent.
    pub alerts: Vec<IncomingAlert>,
    /// What `source_group_key` means for this source, for explanations
    /// (`"alertmanager groupKey"`).
    pub source_grouping: &'static str,
}

/// Parses a webhook body of the given format.
pub fn parse(
    kind: IntegrationKind,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> IngestResult<Notification> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
    parse_value(kind, &value, received_at)
}

/// Parses an already decoded payload of the given format.
pub fn parse_value(
    kind: IntegrationKind,
    value: &Value,
    received_at: DateTime<Utc>,
) -> IngestResult<Notification> {
    if !value.is_object() {
        return Err(IngestError::invalid("body", "must be a JSON object"));
    }
    if !has_nul(value) {
        return parse_clean(kind, value, received_at);
    }
    let mut clean = value.clone();
    let mut replaced = Vec::new();
    sanitise(&mut clean, &mut Vec::new(), &mut replaced);
    let mut notification = parse_clean(kind, &clean, received_at)?;
    mark_sanitised(&mut notification, &replaced);
    Ok(notification)
}

/// Parses a PagerDuty event (what it asks for, its key, its notification), its NULs
/// replaced as [`parse_value`] does.
pub fn parse_pagerduty(
    value: &Value,
    received_at: DateTime<Utc>,
) -> IngestResult<pagerduty::Event> {
    if !value.is_object() {
        return Err(IngestError::invalid("body", "must be a JSON object"));
    }
    if !has_nul(value) {
        return pagerduty::parse_event(value, received_at);
    }
    let mut clean = value.clone();
    let mut replaced = Vec::new();
    sanitise(&mut clean, &mut Vec::new(), &mut replaced);
    let mut event = pagerduty::parse_event(&clean, received_at)?;
    mark_sanitised(&mut event.notification, &replaced);
    Ok(event)
}

/// Parses an Opsgenie close of `alias` (from the path) with its optional `body`, NULs
/// replaced in both as [`parse_value`] does.
pub fn parse_opsgenie_close(
    alias: &str,
    body: &Value,
    received_at: DateTime<Utc>,
) -> IngestResult<Notification> {
    let alias = alias.replace('\0', "\u{FFFD}");
    let mut clean = body.clone();
    let mut replaced = Vec::new();
    sanitise(&mut clean, &mut Vec::new(), &mut replaced);
    let mut notification = opsgenie::parse_close(&alias, &clean, received_at)?;
    mark_sanitised(&mut notification, &replaced);
    Ok(notification)
}

fn parse_clean(
    kind: IntegrationKind,
    value: &Value,
    received_at: DateTime<Utc>,
) -> IngestResult<Notification> {
    match kind {
        IntegrationKind::Alertmanager => alertmanager::parse(value),
        IntegrationKind::Grafana => grafana::parse(value),
        IntegrationKind::Generic => generic::parse(value, received_at),
        IntegrationKind::Pagerduty => pagerduty::parse(value, received_at),
        IntegrationKind::GrafanaOncall => grafana_oncall::parse(value, received_at),
        IntegrationKind::Opsgenie => opsgenie::parse(value, received_at),
    }
}

/// Whether any string of `value` (or key) holds a NUL.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Where a NUL was replaced: the alert (`alerts[i]`) it was in, if any, and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The index in the body's `alerts`; none for a field outside them (it concerns
    /// every alert: common labels, a group key, a single generic alert).
    pub alert: Option<usize>,
    /// The field's path, `alerts[0].labels.service`.
    pub field: String,
}

/// Replaces NUL with U+FFFD in every string and key of `value`, recording where.
pub fn sanitise(value: &mut Value, path: &mut Vec<String>, replaced: &mut Vec<Replaced>) {
    match value {
        Value::String(s) if s.contains('\0') => {
            *s = s.replace('\0', "\u{FFFD}");
            replaced.push(located(path));
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                sanitise(item, path, replaced);
                path.pop();
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                let key = if key.contains('\0') {
                    let clean = key.replace('\0', "\u{FFFD}");
                    path.push(clean.clone());
                    replaced.push(located(path));
                    path.pop();
                    clean
                } else {
                    key
                };
                path.push(key.clone());
                sanitise(&mut item, path, replaced);
                path.pop();
                map.insert(key, item);
            }
        }
        _ => {}
    }
}

fn located(path: &[String]) -> Replaced {
    let alert = match path {
        [first, index, ..] if first == "alerts" => index
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .and_then(|i| i.parse().ok()),
        _ => None,
    };
    let field = path.iter().fold(String::new(), |mut out, segment| {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
        out
    });
    Replaced { alert, field }
}

/// Annotates each alert a replacement concerns with the fields it was made in.
fn mark_sanitised(notification: &mut Notification, replaced: &[Replaced]) {
    for (i, alert) in notification.alerts.iter_mut().enumerate() {
        let mut fields: Vec<&str> = replaced
            .iter()
            .filter(|r| r.alert.is_none_or(|a| a == i))
            .map(|r| r.field.as_str())
            .collect();
        // A name and its value both replaced are one field.
        fields.dedup();
        if fields.is_empty() {
            continue;
        }
        let note = format!(
            "NUL characters replaced with U+FFFD in: {}",
            fields.join(", ")
        );
        let mut end = note.len().min(MAX_ANNOTATION_VALUE);
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        alert
            .annotations
            .insert(SANITISED_ANNOTATION.to_owned(), note[..end].to_owned());
    }
}

/// Deserializes `value` as `T`, naming the field at fault.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value) -> IngestResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        IngestError::invalid(field, e.inner().to_string())
    })
}

/// An alert's status as sources spell it (`firing`, `resolved`; any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    /// The condition holds.
    #[serde(alias = "FIRING", alias = "Firing")]
    Firing,
    /// The condition no longer holds.
    #[serde(alias = "RESOLVED", alias = "Resolved")]
    Resolved,
}

impl From<SourceStatus> for AlertStatus {
    fn from(s: SourceStatus) -> Self {
        match s {
            SourceStatus::Firing => AlertStatus::Firing,
            SourceStatus::Resolved => AlertStatus::Resolved,
        }
    }
}

/// Alertmanager's and Grafana's "no time": `0001-01-01T00:00:00Z` (Go's zero time).
pub(crate) fn real_time(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.year() > 1)
}

/// Checks the count and sizes of labels or annotations at `field`.
pub(crate) fn check_labels(field: &str, labels: &Labels, max_value: usize) -> IngestResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(IngestError::invalid(
            field,
            format!("at most {MAX_LABELS} entries"),
        ));
    }
    for (name, value) in labels {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(IngestError::invalid(
                format!("{field}.{name}"),
                format!("names must be 1 to {MAX_NAME} bytes"),
            ));
        }
        if value.len() > max_value {
            return Err(IngestError::invalid(
                format!("{field}.{name}"),
                format!("values must be at most {max_value} bytes"),
            ));
        }
    }
    Ok(())
}

/// Checks a fingerprint given by the source.
pub(crate) fn check_fingerprint(field: &str, fingerprint: &str) -> IngestResult<()> {
    if fingerprint.trim().is_empty() || fingerprint.len() > MAX_FINGERPRINT {
        return Err(IngestError::invalid(
            field,
            format!("must be 1 to {MAX_FINGERPRINT} bytes"),
        ));
    }
    Ok(())
}

/// Checks a source group key.
pub(crate) fn check_group_key(field: &str, key: &str) -> IngestResult<()> {
    if key.len() > MAX_GROUP_KEY {
        return Err(IngestError::invalid(
            field,
            format!("must be at most {MAX_GROUP_KEY} bytes"),
        ));
    }
    Ok(())
}

/// Checks the number of alerts in a notification.
pub(crate) fn check_count(field: &str, n: usize) -> IngestResult<()> {
    if n == 0 {
        return Err(IngestError::invalid(
            field,
            "must contain at least one alert",
        ));
    }
    if n > MAX_ALERTS {
        return Err(IngestError::invalid(
            field,
            format!("at most {MAX_ALERTS} alerts per notification"),
        ));
    }
    Ok(())
}

/// A fingerprint for an alert whose source gave none: 16 hex characters of the SHA-256
/// of its sorted labels (and `extra`, e.g. a generic alert's title), so the same labels
/// always give the same alert.
pub fn fingerprint_of(labels: &Labels, extra: &str) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in labels {
        hasher.update(k.as_bytes());
        hasher.update([0xff]);
        hasher.update(v.as_bytes());
        hasher.update([0xfe]);
    }
    hasher.update(extra.as_bytes());
    hex(&hasher.finalize()[..8])
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A URL worth keeping: non-blank.
pub(crate) fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Lenient ISO 8601: RFC 3339 (`2026-11-27T10:00:00Z`, `+01:00`), or an offset without
/// its colon as PagerDuty's own examples write it (`2015-07-17T08:42:58.315+0000`).
pub(crate) fn iso_time(field: &str, text: &str) -> IngestResult<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            IngestError::invalid(
                field,
                "must be an ISO 8601 time with an offset, e.g. 2026-11-27T10:00:00Z",
            )
        })
}

/// The annotation that says how many details were left out of the annotations (they
/// stay in the alert's raw payload).
pub const OMITTED_ANNOTATION: &str = "incident_details_omitted";

/// Adds a source's free-form details (PagerDuty's `custom_details`, Opsgenie's
/// `details`) to `annotations`: nested objects flattened to dotted names, strings as
/// they are, other values as compact JSON, names and values cut to the limits. Details
/// never fail a payload: those beyond the annotation budget are left out (and counted
/// in [`OMITTED_ANNOTATION`]), and none replaces an annotation already set.
pub(crate) fn add_details(details: &Value, annotations: &mut Labels) {
    let mut flat = Vec::new();
    flatten_details(details, String::new(), &mut flat);
    // Room for the annotations the parsers set themselves, and the marks.
    let budget = MAX_LABELS.saturating_sub(annotations.len() + 4);
    let mut omitted = 0usize;
    for (name, value) in flat {
        let name = cut(&name, MAX_NAME);
        if name.is_empty() || annotations.contains_key(name) {
            continue;
        }
        if annotations.len() >= budget {
            omitted += 1;
            continue;
        }
        annotations.insert(
            name.to_owned(),
            cut(&value, MAX_ANNOTATION_VALUE).to_owned(),
        );
    }
    if omitted > 0 {
        annotations.insert(
            OMITTED_ANNOTATION.to_owned(),
            format!("{omitted} more details are kept only in the raw payload"),
        );
    }
}

fn flatten_details(value: &Value, name: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                let child = if name.is_empty() {
                    key.clone()
                } else {
                    format!("{name}.{key}")
                };
                flatten_details(item, child, out);
            }
        }
        Value::String(s) => out.push((or_details(name), s.clone())),
        other => out.push((or_details(name), other.to_string())),
    }
}

/// A top-level detail that is not an object is named `details`.
fn or_details(name: String) -> String {
    if name.is_empty() {
        "details".to_owned()
    } else {
        name
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_labels_give_the_same_fingerprint_whatever_their_order() {
        let a: Labels = [("b", "2"), ("a", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let b: Labels = [("a", "1"), ("b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(fingerprint_of(&a, "t"), fingerprint_of(&b, "t"));
        assert_ne!(fingerprint_of(&a, "t"), fingerprint_of(&a, "u"));
        assert_eq!(fingerprint_of(&a, "t").len(), 16);
    }

    #[test]
    fn nul_characters_are_replaced_in_strings_and_keys_and_located_by_alert() {
        let mut value = serde_json::json!({
            "groupKey": "g\0",
            "alerts": [{ "labels": { "a\0": "b" } }, { "labels": { "x": "y\0z" } }],
        });
        let mut replaced = Vec::new();
        sanitise(&mut value, &mut Vec::new(), &mut replaced);
        assert_eq!(value["groupKey"], "g\u{FFFD}");
        assert_eq!(value["alerts"][0]["labels"]["a\u{FFFD}"], "b");
        assert_eq!(value["alerts"][1]["labels"]["x"], "y\u{FFFD}z");
        assert!(!has_nul(&value));
        let mut located: Vec<(Option<usize>, &str)> = replaced
            .iter()
            .map(|r| (r.alert, r.field.as_str()))
            .collect();
        located.sort_by_key(|(_, field)| *field);
        assert_eq!(
            located,
            [
                (Some(0), "alerts[0].labels.a\u{FFFD}"),
                (Some(1), "alerts[1].labels.x"),
                (None, "groupKey"),
            ]
        );
    }

    #[test]
    fn iso_times_with_or_without_the_offset_colon_parse() {
        let expected: DateTime<Utc> = "2015-07-17T08:42:58.315Z".parse().expect("time");
        for text in [
            "2015-07-17T08:42:58.315+0000",
            "2015-07-17T08:42:58.315Z",
            "2015-07-17T10:42:58.315+02:00",
        ] {
            assert_eq!(iso_time("t", text).expect(text), expected, "{text}");
        }
        assert!(iso_time("t", "yesterday").is_err());
        assert!(iso_time("t", "2015-07-17T08:42:58").is_err(), "no offset");
    }

    #[test]
    fn details_flatten_into_annotations_without_replacing_any_or_failing() {
        let mut annotations: Labels = [("summary".to_owned(), "s".to_owned())].into();
        add_details(
            &serde_json::json!({
                "free space": "1%", "load avg": 0.75, "summary": "not this one",
                "disk": { "mount": "/", "sizes": [1, 2] }, "none": null
            }),
            &mut annotations,
        );
        assert_eq!(annotations["summary"], "s");
        assert_eq!(annotations["free space"], "1%");
        assert_eq!(annotations["load avg"], "0.75");
        assert_eq!(annotations["disk.mount"], "/");
        assert_eq!(annotations["disk.sizes"], "[1,2]");
        assert!(!annotations.contains_key("none"));

        let mut plain = Labels::new();
        add_details(&serde_json::json!("a text"), &mut plain);
        assert_eq!(plain["details"], "a text");

        let many: serde_json::Map<String, Value> = (0..500)
            .map(|i| (format!("k{i:03}"), Value::from("x".repeat(30_000))))
            .collect();
        let mut capped = Labels::new();
        add_details(&Value::Object(many), &mut capped);
        check_labels("annotations", &capped, MAX_ANNOTATION_VALUE).expect("within limits");
        assert!(
            capped[OMITTED_ANNOTATION].starts_with("376 more"),
            "{}",
            capped[OMITTED_ANNOTATION]
        );
    }

    #[test]
    fn go_zero_time_means_no_time() {
        let zero: DateTime<Utc> = "0001-01-01T00:00:00Z".parse().expect("time");
        let real: DateTime<Utc> = "2026-11-27T10:00:00.123456789Z".parse().expect("time");
        assert_eq!(real_time(Some(zero)), None);
        assert_eq!(real_time(Some(real)), Some(real));
    }

    #[test]
    fn bytes_that_are_not_json_are_malformed_and_json_of_the_wrong_shape_names_the_field() {
        let now = Utc::now();
        assert!(matches!(
            parse(IntegrationKind::Alertmanager, b"{not json", now),
            Err(IngestError::Malformed(_))
        ));
        match parse(
            IntegrationKind::Alertmanager,
            br#"{"version":"4","alerts":[{"status":"burning"}]}"#,
            now,
        ) {
            Err(IngestError::Validation { field, .. }) => assert_eq!(field, "alerts[0].status"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        match parse(IntegrationKind::Generic, b"[1,2]", now) {
            Err(IngestError::Validation { field, .. }) => assert_eq!(field, "body"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
