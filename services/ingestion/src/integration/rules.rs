//! Declare rules: per integration, an ordered list deciding, from an alert's labels,
//! whether its group declares an incident and at which severity.
//!
//! ```json
//! [ { "name": "pages", "matchers": [ { "label": "severity", "equals": "critical" } ],
//!     "severity": "SEV1", "service_label": "service" },
//!   { "name": "quiet", "matchers": [ { "label": "severity", "one_of": ["info", "none"] } ],
//!     "declare": false },
//!   { "name": "everything else", "severity": "SEV3" } ]
//! ```
//!
//! For an alert, the first rule whose matchers all hold is its rule (no matchers: every
//! alert). A matcher tests one label: `equals`, `not_equals` (an absent label is not
//! equal), `one_of` or `present` (true: the label is set and not empty; false: it is
//! not); values compare ignoring ASCII case. A rule with `declare: false` records the
//! group without an incident. The affected service is the value of the rule's
//! `service_label` (default `service`).
//!
//! An integration created without rules gets [`default_rules`] (critical → SEV1,
//! error/high/major → SEV2, nothing else declares); an explicit empty list declares
//! nothing.

use incident_schema::{ServiceImpact, Severity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{IngestError, IngestResult};
use crate::source::Labels;

/// Rules per integration, at most.
pub const MAX_RULES: usize = 50;
/// Matchers per rule, at most.
pub const MAX_MATCHERS: usize = 20;

/// One declare rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRule {
    /// Shown in explanations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// All must hold; none: every alert matches.
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// Whether a matching group declares (or joins) an incident; `false` records it only.
    #[serde(default = "yes")]
    pub declare: bool,
    /// The incident's severity; required when `declare` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The label naming the affected service (default `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_label: Option<String>,
    /// How the service is affected (default `DEGRADED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ServiceImpact>,
    /// Join an open incident that already covers the same service instead of declaring
    /// a new one (default true).
    #[serde(default = "yes")]
    pub join_open_incident: bool,
}

fn yes() -> bool {
    true
}

/// A test of one label. Exactly one of `equals`, `not_equals`, `one_of`, `present`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The label tested.
    pub label: String,
    /// The label has this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The label is absent or has another value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<String>,
    /// The label has one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// The label is set (true) or absent (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

impl Matcher {
    fn check(&self, field: &str) -> IngestResult<()> {
        if self.label.trim().is_empty() || self.label.len() > 256 {
            return Err(IngestError::invalid(
                format!("{field}.label"),
                "must be 1 to 256 characters",
            ));
        }
        let tests = [
            self.equals.is_some(),
            self.not_equals.is_some(),
            self.one_of.is_some(),
            self.present.is_some(),
        ];
        if tests.iter().filter(|t| **t).count() != 1 {
            return Err(IngestError::invalid(
                field,
                "needs exactly one of equals, not_equals, one_of, present",
            ));
        }
        if let Some(values) = &self.one_of
            && (values.is_empty() || values.len() > 50)
        {
            return Err(IngestError::invalid(
                format!("{field}.one_of"),
                "must list 1 to 50 values",
            ));
        }
        Ok(())
    }

    /// Whether `labels` satisfy the matcher.
    pub fn holds(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.label).map(String::as_str);
        let same = |expected: &str| value.is_some_and(|v| v.eq_ignore_ascii_case(expected));
        if let Some(expected) = &self.equals {
            same(expected)
        } else if let Some(expected) = &self.not_equals {
            !same(expected)
        } else if let Some(values) = &self.one_of {
            values.iter().any(|v| same(v))
        } else if let Some(present) = self.present {
            value.is_some_and(|v| !v.trim().is_empty()) == present
        } else {
            false
        }
    }
}

impl std::fmt::Display for Matcher {
    /// `severity=critical`, `env!=staging`, `severity in [error, high]`, `service present`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = &self.label;
        if let Some(v) = &self.equals {
            write!(f, "{label}={v}")
        } else if let Some(v) = &self.not_equals {
            write!(f, "{label}!={v}")
        } else if let Some(vs) = &self.one_of {
            write!(f, "{label} in [{}]", vs.join(", "))
        } else if self.present == Some(false) {
            write!(f, "{label} absent")
        } else {
            write!(f, "{label} present")
        }
    }
}

impl DeclareRule {
    /// The label naming the affected service.
    pub fn service_label(&self) -> &str {
        self.service_label.as_deref().unwrap_or("service")
    }

    /// The affected service's impact.
    pub fn impact(&self) -> ServiceImpact {
        self.impact.unwrap_or(ServiceImpact::Degraded)
    }

    /// The rule's name for explanations: its `name`, else `#<index>`.
    pub fn label(&self, index: usize) -> String {
        match &self.name {
            Some(name) => format!("\"{name}\" (#{index})"),
            None => format!("#{index}"),
        }
    }

    /// Whether every matcher holds for `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.holds(labels))
    }

    /// The first matcher that does not hold, if any.
    pub fn first_failure<'a>(&'a self, labels: &Labels) -> Option<&'a Matcher> {
        self.matchers.iter().find(|m| !m.holds(labels))
    }

    fn check(&self, field: &str) -> IngestResult<()> {
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.chars().count() > 100)
        {
            return Err(IngestError::invalid(
                format!("{field}.name"),
                "must be 1 to 100 characters",
            ));
        }
        if self.matchers.len() > MAX_MATCHERS {
            return Err(IngestError::invalid(
                format!("{field}.matchers"),
                format!("at most {MAX_MATCHERS} matchers"),
            ));
        }
        for (i, m) in self.matchers.iter().enumerate() {
            m.check(&format!("{field}.matchers[{i}]"))?;
        }
        if self.declare && self.severity.is_none() {
            return Err(IngestError::invalid(
                format!("{field}.severity"),
                "a rule that declares needs a severity (SEV1 to SEV4)",
            ));
        }
        if let Some(label) = &self.service_label
            && (label.trim().is_empty() || label.len() > 256)
        {
            return Err(IngestError::invalid(
                format!("{field}.service_label"),
                "must be 1 to 256 characters",
            ));
        }
        Ok(())
    }
}

/// Checks a rule list given through the API.
pub fn validate(rules: &[DeclareRule]) -> IngestResult<()> {
    if rules.len() > MAX_RULES {
        return Err(IngestError::invalid(
            "rules",
            format!("at most {MAX_RULES} rules"),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        rule.check(&format!("rules[{i}]"))?;
    }
    Ok(())
}

/// The first rule matching `labels`, with its index.
pub fn first_match<'a>(
    rules: &'a [DeclareRule],
    labels: &Labels,
) -> Option<(usize, &'a DeclareRule)> {
    rules.iter().enumerate().find(|(_, r)| r.matches(labels))
}

/// The rules an integration gets when created without any ("quiet defaults"): `severity`
/// `critical` → SEV1, `error`/`high`/`major` → SEV2; anything else — `warning`, `info`,
/// an unknown value or no `severity` label at all — opens or joins its alert group
/// without declaring an incident.
///
/// Why quiet: a warning (or an alert nobody labelled) used to declare a SEV3, which paged
/// nobody but filled the incident list; such groups are still recorded, explained and
/// visible under `/api/v1/alert-groups`. The rules are copied into an integration when
/// it is created, so integrations created before keep the rules they were created with.
pub fn default_rules() -> Vec<DeclareRule> {
    let rule = |name: &str, values: &[&str], severity: Option<Severity>| DeclareRule {
        name: Some(name.into()),
        matchers: if values.is_empty() {
            Vec::new()
        } else {
            vec![Matcher {
                label: "severity".into(),
                equals: None,
                not_equals: None,
                one_of: Some(values.iter().map(|v| (*v).to_owned()).collect()),
                present: None,
            }]
        },
        declare: severity.is_some(),
        severity,
        service_label: None,
        impact: None,
        join_open_incident: true,
    };
    vec![
        rule("critical", &["critical"], Some(Severity::Sev1)),
        rule("error", &["error", "high", "major"], Some(Severity::Sev2)),
        rule("anything else", &[], None),
    ]
}

/// Parses the stored rules of an integration.
pub fn from_stored(value: &serde_json::Value) -> Result<Vec<DeclareRule>, serde_json::Error> {
    serde_json::from_value(value.clone())
}

/// The label list of a grouping key setting (`"alertname, service"`), validated and
/// normalised to `alertname,service`.
pub fn parse_grouping_key(value: &str) -> IngestResult<String> {
    let labels: Vec<&str> = value.split(',').map(str::trim).collect();
    if labels.is_empty()
        || labels.len() > 10
        || labels.iter().any(|l| l.is_empty() || l.len() > 256)
    {
        return Err(IngestError::invalid(
            "grouping_key",
            "must list 1 to 10 label names separated by commas, e.g. \"alertname,service\"",
        ));
    }
    Ok(labels.join(","))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_default_rules_map_severity_labels_to_severities() {
        let rules = default_rules();
        validate(&rules).expect("the defaults are valid");
        let pick = |l: &[(&str, &str)]| {
            first_match(&rules, &labels(l)).map(|(_, r)| (r.declare, r.severity))
        };
        assert_eq!(
            pick(&[("severity", "critical")]),
            Some((true, Some(Severity::Sev1)))
        );
        assert_eq!(
            pick(&[("severity", "CRITICAL")]),
            Some((true, Some(Severity::Sev1)))
        );
        for high in ["error", "high", "major"] {
            assert_eq!(
                pick(&[("severity", high)]),
                Some((true, Some(Severity::Sev2))),
                "{high}"
            );
        }
        for quiet in ["warning", "info", "low", "page-someone", ""] {
            assert_eq!(pick(&[("severity", quiet)]), Some((false, None)), "{quiet}");
        }
        assert_eq!(pick(&[]), Some((false, None)), "no severity label");
    }

    #[test]
    fn matchers_test_presence_inequality_and_membership() {
        let m = |v: serde_json::Value| serde_json::from_value::<Matcher>(v).expect("matcher");
        let l = labels(&[("env", "prod"), ("service", "")]);
        assert!(m(json!({"label": "env", "equals": "prod"})).holds(&l));
        assert!(m(json!({"label": "env", "not_equals": "staging"})).holds(&l));
        assert!(m(json!({"label": "team", "not_equals": "x"})).holds(&l));
        assert!(m(json!({"label": "env", "one_of": ["dev", "prod"]})).holds(&l));
        assert!(!m(json!({"label": "service", "present": true})).holds(&l));
        assert!(m(json!({"label": "team", "present": false})).holds(&l));
        assert_eq!(
            m(json!({"label": "env", "one_of": ["a", "b"]})).to_string(),
            "env in [a, b]"
        );
    }

    #[test]
    fn invalid_rules_name_the_field() {
        for (rules, field) in [
            (
                json!([{"severity": "SEV1", "matchers": [{"label": "a"}]}]),
                "rules[0].matchers[0]",
            ),
            (
                json!([{"severity": "SEV1", "matchers": [{"label": "a", "equals": "x", "present": true}]}]),
                "rules[0].matchers[0]",
            ),
            (json!([{"name": "x", "declare": true}]), "rules[0].severity"),
            (
                json!([{"declare": false}, {"severity": "SEV2", "matchers": [{"label": "", "equals": "x"}]}]),
                "rules[1].matchers[0].label",
            ),
        ] {
            let parsed: Vec<DeclareRule> = serde_json::from_value(rules.clone()).expect("parses");
            match validate(&parsed) {
                Err(IngestError::Validation { field: f, .. }) => assert_eq!(f, field, "{rules}"),
                other => panic!("{rules}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_grouping_key_is_a_list_of_labels() {
        assert_eq!(
            parse_grouping_key(" alertname , service").expect("valid"),
            "alertname,service"
        );
        assert!(parse_grouping_key("a,,b").is_err());
    }
}
