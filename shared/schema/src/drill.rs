//! Drill scenarios: the file a team keeps in git and uploads, parsed and validated once
//! into a [`Scenario`] (issue 11). A scenario is a story (title, severity, description,
//! affected services), a script of timed steps (synthetic alerts that go through the real
//! ingestion path, hints and injected updates for the war room, a severity change, a
//! resolving alert) and the expectations the team's response is scored against.
//!
//! The format is TOML (`deploy/drills/*.toml` are examples):
//!
//! ```toml
//! title = "Payments database primary lost"
//! severity = "SEV2"
//! services = ["payments-db"]
//! timeout = "1h"
//!
//! [[steps]]
//! at = "0s"
//! alert = { labels = { alertname = "PgPrimaryDown", severity = "critical" } }
//!
//! [[steps]]
//! at = "5m"
//! hint = "The replica's lag is zero: promoting it is safe."
//!
//! [expect]
//! acknowledged_within = "5m"
//! resolved_within = "45m"
//! ```
//!
//! Invariants: a scenario that parses is playable: every step does exactly one thing, no
//! step comes after the timeout, every duration is positive and at most a day, labels and
//! texts are bounded. A refusal names the line and the field ([`ScenarioError`]), so a
//! team fixes its file as it would a failing build.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::Severity;

/// The reserved alert label naming the drill run a synthetic alert belongs to. Ingestion
/// groups such alerts by their run alone (never with real alerts), declares the group's
/// incident as a drill whatever the integration's rules say, and never joins it to
/// another incident.
pub const DRILL_LABEL: &str = "incident_drill_run";
/// The reserved alert label carrying the severity a drill's alerts declare with (the
/// scenario's).
pub const DRILL_SEVERITY_LABEL: &str = "incident_drill_severity";

/// Longest scenario file accepted.
pub const MAX_SOURCE: usize = 64 * 1024;
/// Most steps a script may have.
pub const MAX_STEPS: usize = 100;
/// Longest a drill may run (and so any step's time or expectation).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Longest text (title, hint, update, description).
const MAX_TEXT: usize = 4_000;
/// Most labels (or annotations) on one synthetic alert.
const MAX_LABELS: usize = 64;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The drill incident's title (`[DRILL]` is added where it is shown).
    pub title: String,
    /// The severity it is declared with.
    pub severity: Severity,
    /// What the drill incident says it is about.
    pub description: Option<String>,
    /// Affected services.
    pub services: Vec<String>,
    /// When an unfinished run ends as timed out.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// The script, in time order.
    pub steps: Vec<Step>,
    /// What the response is scored against.
    pub expect: Expectations,
}

/// One step of the script: when, and what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Time from the start of the run.
    #[serde(with = "seconds")]
    pub at: Duration,
    /// What happens.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// A synthetic alert (Alertmanager-shaped) sent through ingestion, firing.
    Alert {
        /// Its labels (`alertname` required).
        labels: BTreeMap<String, String>,
        /// Its annotations.
        annotations: BTreeMap<String, String>,
    },
    /// The alert with this `alertname` resolves.
    ResolveAlert {
        /// The `alertname` of an alert an earlier step fired.
        alertname: String,
    },
    /// A hint posted to the war room.
    Hint {
        /// The text.
        text: String,
    },
    /// An update injected into the war room as if from a stakeholder.
    Update {
        /// The text.
        text: String,
    },
    /// The incident's severity changes.
    Severity {
        /// The new severity.
        severity: Severity,
    },
}

/// The targets a run is scored against; each optional, at least one required.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Expectations {
    /// Acknowledged within this time of the declaration.
    #[serde(with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    pub acknowledged_within: Option<Duration>,
    /// An Incident Commander assigned within.
    #[serde(with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    pub commander_within: Option<Duration>,
    /// The first public update within.
    #[serde(with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    pub first_public_update_within: Option<Duration>,
    /// Mitigated (MONITORING) within.
    #[serde(with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    pub mitigated_within: Option<Duration>,
    /// Resolved within.
    #[serde(with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    pub resolved_within: Option<Duration>,
    /// A postmortem drafted before the run ends.
    pub postmortem_drafted: bool,
}

/// A scenario refused: where, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("line {line}: {field}: {message}")]
pub struct ScenarioError {
    /// 1-based line of the file (0 when the error is about the whole file).
    pub line: usize,
    /// The field at fault, as a path (`steps[2].at`), or `scenario`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

// The file as written, with the spans of what is checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    title: Spanned<String>,
    severity: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    #[serde(default)]
    services: Vec<Spanned<String>>,
    timeout: Spanned<String>,
    #[serde(default)]
    steps: Vec<Spanned<StepFile>>,
    expect: Spanned<ExpectFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    at: Spanned<String>,
    #[serde(default)]
    alert: Option<Spanned<AlertFile>>,
    #[serde(default)]
    resolve_alert: Option<Spanned<String>>,
    #[serde(default)]
    hint: Option<Spanned<String>>,
    #[serde(default)]
    update: Option<Spanned<String>>,
    #[serde(default)]
    severity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFile {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    acknowledged_within: Option<Spanned<String>>,
    #[serde(default)]
    commander_within: Option<Spanned<String>>,
    #[serde(default)]
    first_public_update_within: Option<Spanned<String>>,
    #[serde(default)]
    mitigated_within: Option<Spanned<String>>,
    #[serde(default)]
    resolved_within: Option<Spanned<String>>,
    #[serde(default)]
    postmortem_drafted: bool,
}

/// Line numbers of byte offsets in one source.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error<T>(
        &self,
        value: &Spanned<T>,
        field: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            line: self.of(value.span()),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses a duration as a drill file writes it: `90s`, `5m`, `1h30m`, `2h` (units `h`,
/// `m`, `s`, in that order, each at most once).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let usage = || format!("{text:?} is not a duration like 90s, 5m or 1h30m");
    if text.is_empty() {
        return Err(usage());
    }
    let mut total = 0u64;
    let mut number = String::new();
    let mut last_unit = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (rank, scale) = match c {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return Err(usage()),
        };
        if number.is_empty() || rank <= last_unit || number.len() > 6 {
            return Err(usage());
        }
        let n: u64 = number.parse().map_err(|_| usage())?;
        total += n * scale;
        number.clear();
        last_unit = rank;
    }
    if !number.is_empty() {
        return Err(usage());
    }
    Ok(Duration::from_secs(total))
}

fn text(lines: &Lines<'_>, value: &Spanned<String>, field: &str) -> Result<String, ScenarioError> {
    let t = value.get_ref().trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(lines.error(value, field, format!("must be 1 to {MAX_TEXT} characters")));
    }
    Ok(t.to_owned())
}

fn duration(
    lines: &Lines<'_>,
    value: &Spanned<String>,
    field: &str,
    zero_allowed: bool,
) -> Result<Duration, ScenarioError> {
    let d = parse_duration(value.get_ref()).map_err(|m| lines.error(value, field, m))?;
    if d > MAX_DURATION {
        return Err(lines.error(value, field, "must be at most 24h"));
    }
    if d.is_zero() && !zero_allowed {
        return Err(lines.error(value, field, "must be longer than 0s"));
    }
    Ok(d)
}

fn severity(
    lines: &Lines<'_>,
    value: &Spanned<String>,
    field: &str,
) -> Result<Severity, ScenarioError> {
    value
        .get_ref()
        .parse()
        .map_err(|_| lines.error(value, field, "must be SEV1, SEV2, SEV3 or SEV4"))
}

fn labels(
    lines: &Lines<'_>,
    at: &Spanned<AlertFile>,
    field: &str,
    map: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    if map.len() > MAX_LABELS {
        return Err(lines.error(at, field, format!("at most {MAX_LABELS}")));
    }
    for (name, value) in map {
        let valid_name = !name.is_empty()
            && name.len() <= 256
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid_name {
            return Err(lines.error(
                at,
                &format!("{field}.{name}"),
                "is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
            ));
        }
        if value.chars().count() > MAX_TEXT {
            return Err(lines.error(
                at,
                &format!("{field}.{name}"),
                format!("at most {MAX_TEXT} characters"),
            ));
        }
    }
    Ok(map.clone())
}

fn step(lines: &Lines<'_>, i: usize, spanned: &Spanned<StepFile>) -> Result<Step, ScenarioError> {
    let field = format!("steps[{i}]");
    let s = spanned.get_ref();
    let at = duration(lines, &s.at, &format!("{field}.at"), true)?;
    let given = [
        s.alert.is_some(),
        s.resolve_alert.is_some(),
        s.hint.is_some(),
        s.update.is_some(),
        s.severity.is_some(),
    ]
    .into_iter()
    .filter(|g| *g)
    .count();
    if given != 1 {
        return Err(lines.error(
            &s.at,
            &field,
            "a step does exactly one of: alert, resolve_alert, hint, update, severity",
        ));
    }
    let action = if let Some(alert) = &s.alert {
        let labels_field = format!("{field}.alert.labels");
        let alert_labels = labels(lines, alert, &labels_field, &alert.get_ref().labels)?;
        if alert_labels
            .get("alertname")
            .is_none_or(|n| n.trim().is_empty())
        {
            return Err(lines.error(alert, &labels_field, "needs an alertname"));
        }
        let annotations = labels(
            lines,
            alert,
            &format!("{field}.alert.annotations"),
            &alert.get_ref().annotations,
        )?;
        Action::Alert {
            labels: alert_labels,
            annotations,
        }
    } else if let Some(name) = &s.resolve_alert {
        Action::ResolveAlert {
            alertname: text(lines, name, &format!("{field}.resolve_alert"))?,
        }
    } else if let Some(hint) = &s.hint {
        Action::Hint {
            text: text(lines, hint, &format!("{field}.hint"))?,
        }
    } else if let Some(update) = &s.update {
        Action::Update {
            text: text(lines, update, &format!("{field}.update"))?,
        }
    } else if let Some(sev) = &s.severity {
        Action::Severity {
            severity: severity(lines, sev, &format!("{field}.severity"))?,
        }
    } else {
        unreachable!("exactly one action was counted")
    };
    Ok(Step { at, action })
}

/// Parses and validates a scenario file.
pub fn parse(source: &str) -> Result<Scenario, ScenarioError> {
    if source.len() > MAX_SOURCE {
        return Err(ScenarioError {
            line: 0,
            field: "scenario".into(),
            message: format!("must be at most {MAX_SOURCE} bytes"),
        });
    }
    let lines = Lines(source);
    let file: File = toml::from_str(source).map_err(|e| ScenarioError {
        line: e.span().map_or(0, |s| lines.of(s)),
        field: "scenario".into(),
        message: e.message().trim().to_owned(),
    })?;
    let title = text(&lines, &file.title, "title")?;
    let severity = severity(&lines, &file.severity, "severity")?;
    let description = file
        .description
        .as_ref()
        .map(|d| text(&lines, d, "description"))
        .transpose()?;
    let mut services = Vec::new();
    for (i, service) in file.services.iter().enumerate() {
        let name = text(&lines, service, &format!("services[{i}]"))?;
        if name.chars().count() > 100 {
            return Err(lines.error(service, &format!("services[{i}]"), "at most 100 characters"));
        }
        if !services.contains(&name) {
            services.push(name);
        }
    }
    let timeout = duration(&lines, &file.timeout, "timeout", false)?;
    if file.steps.is_empty() {
        return Err(lines.error(&file.expect, "steps", "a script needs at least one step"));
    }
    if file.steps.len() > MAX_STEPS {
        return Err(lines.error(
            &file.steps[MAX_STEPS],
            "steps",
            format!("at most {MAX_STEPS}"),
        ));
    }
    let mut steps = Vec::with_capacity(file.steps.len());
    let mut fired = Vec::new();
    for (i, spanned) in file.steps.iter().enumerate() {
        let parsed = step(&lines, i, spanned)?;
        if parsed.at >= timeout {
            return Err(lines.error(
                &spanned.get_ref().at,
                &format!("steps[{i}].at"),
                "comes at or after the timeout: the run would end first",
            ));
        }
        match &parsed.action {
            Action::Alert { labels, .. } => fired.push(labels["alertname"].clone()),
            Action::ResolveAlert { alertname } if !fired.contains(alertname) => {
                let at = spanned
                    .get_ref()
                    .resolve_alert
                    .as_ref()
                    .unwrap_or(&spanned.get_ref().at);
                return Err(lines.error(
                    at,
                    &format!("steps[{i}].resolve_alert"),
                    format!("no earlier step fires an alert named {alertname:?}"),
                ));
            }
            _ => {}
        }
        steps.push(parsed);
    }
    // Stable: steps at the same time keep the file's order.
    steps.sort_by_key(|s| s.at);
    let e = file.expect.get_ref();
    let within = |value: &Option<Spanned<String>>, field: &str| {
        value
            .as_ref()
            .map(|v| duration(&lines, v, &format!("expect.{field}"), false))
            .transpose()
    };
    let expect = Expectations {
        acknowledged_within: within(&e.acknowledged_within, "acknowledged_within")?,
        commander_within: within(&e.commander_within, "commander_within")?,
        first_public_update_within: within(
            &e.first_public_update_within,
            "first_public_update_within",
        )?,
        mitigated_within: within(&e.mitigated_within, "mitigated_within")?,
        resolved_within: within(&e.resolved_within, "resolved_within")?,
        postmortem_drafted: e.postmortem_drafted,
    };
    if expect == Expectations::default() {
        return Err(lines.error(
            &file.expect,
            "expect",
            "a drill needs at least one expectation to score",
        ));
    }
    Ok(Scenario {
        title,
        severity,
        description,
        services,
        timeout,
        steps,
        expect,
    })
}

/// What a run is scored on: one per expectation a scenario may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// Acknowledged within the target of the declaration.
    Acknowledged,
    /// An Incident Commander assigned within.
    CommanderAssigned,
    /// The first public update within.
    FirstPublicUpdate,
    /// Mitigated (MONITORING) within.
    Mitigated,
    /// Resolved within.
    Resolved,
    /// A postmortem drafted before the run ended.
    PostmortemDrafted,
}

impl Expectation {
    /// How a report names it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Acknowledged => "Acknowledged",
            Self::CommanderAssigned => "Commander assigned",
            Self::FirstPublicUpdate => "First public update",
            Self::Mitigated => "Mitigated",
            Self::Resolved => "Resolved",
            Self::PostmortemDrafted => "Postmortem drafted",
        }
    }
}

/// Faster or slower than the same expectation in the run before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Took less time than the run before.
    Faster,
    /// Took more time.
    Slower,
    /// Took as long (to the second).
    Same,
}

/// One expectation of a run, scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationScore {
    /// Which.
    pub expectation: Expectation,
    /// The scenario's target, in seconds from the declaration (none for a postmortem).
    pub target_seconds: Option<u64>,
    /// The workspace's SLA target for the drill's severity, in seconds (acknowledged and
    /// resolved only).
    pub sla_target_seconds: Option<u64>,
    /// When it happened, in seconds from the declaration; none: it did not happen.
    pub measured_seconds: Option<u64>,
    /// Whether the scenario's target was met.
    pub met: bool,
    /// Whether the SLA target was met (when there is one).
    pub met_sla: Option<bool>,
    /// The same measure in the previous scored run of the scenario.
    pub previous_seconds: Option<u64>,
    /// Against the previous run, when both measured it.
    pub trend: Option<Trend>,
}

/// A run's score: every expectation of its scenario, met or missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// In the scenario's order: acknowledged, commander, first public update, mitigated,
    /// resolved, postmortem.
    pub expectations: Vec<ExpectationScore>,
    /// How many were met.
    pub met: u32,
    /// How many there are.
    pub total: u32,
    /// `met` of `total`, in percent, rounded down.
    pub percent: u32,
    /// The run compared against, if there was an earlier scored run of the scenario.
    pub previous_run_id: Option<uuid::Uuid>,
}

/// What a run measured, in seconds from the declaration of its incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    /// Acknowledged.
    pub acknowledged: Option<u64>,
    /// A commander assigned.
    pub commander_assigned: Option<u64>,
    /// The first public update.
    pub first_public_update: Option<u64>,
    /// Mitigated.
    pub mitigated: Option<u64>,
    /// Resolved.
    pub resolved: Option<u64>,
    /// A postmortem drafted.
    pub postmortem_drafted: Option<u64>,
}

/// The workspace's SLA targets for the drill's severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaTargets {
    /// To acknowledge.
    pub acknowledge: Option<Duration>,
    /// To resolve.
    pub resolve: Option<Duration>,
}

/// Scores `measured` against the scenario's `expect` and the `sla` targets, compared with
/// the `previous` scored run of the scenario (its id and score). Pure: the runner reads
/// the times, this decides.
pub fn score(
    expect: &Expectations,
    measured: &Measured,
    sla: SlaTargets,
    previous: Option<(uuid::Uuid, &Score)>,
) -> Score {
    let timed = [
        (
            Expectation::Acknowledged,
            expect.acknowledged_within,
            measured.acknowledged,
            sla.acknowledge,
        ),
        (
            Expectation::CommanderAssigned,
            expect.commander_within,
            measured.commander_assigned,
            None,
        ),
        (
            Expectation::FirstPublicUpdate,
            expect.first_public_update_within,
            measured.first_public_update,
            None,
        ),
        (
            Expectation::Mitigated,
            expect.mitigated_within,
            measured.mitigated,
            None,
        ),
        (
            Expectation::Resolved,
            expect.resolved_within,
            measured.resolved,
            sla.resolve,
        ),
    ];
    let mut expectations = Vec::new();
    let before = |e: Expectation| {
        previous.and_then(|(_, p)| {
            p.expectations
                .iter()
                .find(|x| x.expectation == e)
                .and_then(|x| x.measured_seconds)
        })
    };
    let mut push = |expectation, target: Option<u64>, sla: Option<u64>, at: Option<u64>, met| {
        let previous_seconds = before(expectation);
        let trend = match (at, previous_seconds) {
            (Some(now), Some(then)) => Some(match now.cmp(&then) {
                std::cmp::Ordering::Less => Trend::Faster,
                std::cmp::Ordering::Greater => Trend::Slower,
                std::cmp::Ordering::Equal => Trend::Same,
            }),
            _ => None,
        };
        expectations.push(ExpectationScore {
            expectation,
            target_seconds: target,
            sla_target_seconds: sla,
            measured_seconds: at,
            met,
            met_sla: sla.map(|s| at.is_some_and(|a| a <= s)),
            previous_seconds,
            trend,
        });
    };
    for (expectation, target, at, sla) in timed {
        let Some(target) = target else { continue };
        let target = target.as_secs();
        let met = at.is_some_and(|a| a <= target);
        push(expectation, Some(target), sla.map(|s| s.as_secs()), at, met);
    }
    if expect.postmortem_drafted {
        let at = measured.postmortem_drafted;
        push(Expectation::PostmortemDrafted, None, None, at, at.is_some());
    }
    let total = expectations.len() as u32;
    let met = expectations.iter().filter(|e| e.met).count() as u32;
    Score {
        expectations,
        met,
        total,
        percent: (met * 100).checked_div(total).unwrap_or(0),
        previous_run_id: previous.map(|(id, _)| id),
    }
}

mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

mod opt_seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
title = "Payments database primary lost"
severity = "SEV2"
services = ["payments-db", "payments-api", "payments-db"]
timeout = "1h"

[[steps]]
at = "0s"
alert = { labels = { alertname = "PgPrimaryDown", severity = "critical" }, annotations = { summary = "primary unreachable" } }

[[steps]]
at = "10m"
update = "Support: card payments failing in the EU."

[[steps]]
at = "5m"
hint = "The replica's lag is zero: promoting it is safe."

[[steps]]
at = "20m"
severity = "SEV1"

[[steps]]
at = "30m"
resolve_alert = "PgPrimaryDown"

[expect]
acknowledged_within = "5m"
first_public_update_within = "15m"
resolved_within = "45m"
postmortem_drafted = true
"#;

    fn error(source: &str) -> ScenarioError {
        parse(source).expect_err("refused")
    }

    #[test]
    fn a_scenario_parses_into_its_story_a_timed_script_and_expectations() {
        let s = parse(GOOD).expect("valid");
        assert_eq!(s.title, "Payments database primary lost");
        assert_eq!(s.severity, Severity::Sev2);
        assert_eq!(s.services, ["payments-db", "payments-api"], "deduplicated");
        assert_eq!(s.timeout, Duration::from_secs(3600));
        let order: Vec<u64> = s.steps.iter().map(|s| s.at.as_secs()).collect();
        assert_eq!(order, [0, 300, 600, 1200, 1800], "in time order");
        assert!(
            matches!(&s.steps[1].action, Action::Hint { text } if text.starts_with("The replica"))
        );
        assert!(matches!(
            s.steps[3].action,
            Action::Severity {
                severity: Severity::Sev1
            }
        ));
        assert_eq!(s.expect.acknowledged_within, Some(Duration::from_secs(300)));
        assert_eq!(s.expect.commander_within, None);
        assert!(s.expect.postmortem_drafted);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2h5s"), Ok(Duration::from_secs(7205)));
        for bad in ["", "5", "m", "5x", "1m1h", "5m5m", "-5m", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_line_and_the_field() {
        let cases = [
            (
                GOOD.replace("severity = \"SEV2\"", "severity = \"SEV9\""),
                3,
                "severity",
            ),
            (
                GOOD.replace("at = \"10m\"", "at = \"ten minutes\""),
                12,
                "steps[1].at",
            ),
            (
                GOOD.replace("at = \"30m\"", "at = \"2h\""),
                24,
                "steps[4].at",
            ),
            (
                GOOD.replace(
                    "resolve_alert = \"PgPrimaryDown\"",
                    "resolve_alert = \"Other\"",
                ),
                25,
                "steps[4].resolve_alert",
            ),
            (
                GOOD.replace("alertname = \"PgPrimaryDown\", ", ""),
                9,
                "steps[0].alert.labels",
            ),
            (
                GOOD.replace("hint = \"The", "hint = \"The\"\nupdate = \"x"),
                16,
                "steps[2]",
            ),
            (
                GOOD.replace("resolved_within = \"45m\"", "resolved_within = \"0s\""),
                30,
                "expect.resolved_within",
            ),
            (
                GOOD.replace("timeout = \"1h\"", "timeout = \"25h\""),
                5,
                "timeout",
            ),
        ];
        for (source, line, field) in cases {
            let e = error(&source);
            assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
        }
    }

    #[test]
    fn toml_errors_and_unknown_fields_name_their_line() {
        let e = error(&GOOD.replace("title = \"Payments", "title = Payments"));
        assert_eq!((e.line, e.field.as_str()), (2, "scenario"), "{e}");
        let e = error(&GOOD.replace("[expect]", "[expect]\nacknowledge_within = \"5m\""));
        assert_eq!(e.line, 28, "{e}");
        assert!(e.message.contains("acknowledge_within"), "{e}");
        let e = error("title = \"x\"\nseverity = \"SEV1\"\ntimeout = \"1h\"\n[expect]\n");
        assert_eq!(e.field, "steps", "{e}");
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        for name in ["database-failover.toml", "checkout-latency.toml"] {
            let path = format!("{}/../../deploy/drills/{name}", env!("CARGO_MANIFEST_DIR"));
            let source = std::fs::read_to_string(&path).expect("example");
            parse(&source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    #[test]
    fn a_score_is_each_expectation_met_or_missed_against_its_target_and_the_sla() {
        let expect = parse(GOOD).expect("valid").expect;
        let measured = Measured {
            acknowledged: Some(120),
            first_public_update: None,
            resolved: Some(3000),
            postmortem_drafted: Some(3100),
            ..Measured::default()
        };
        let sla = SlaTargets {
            acknowledge: Some(Duration::from_secs(600)),
            resolve: Some(Duration::from_secs(3600)),
        };
        let first = score(&expect, &measured, sla, None);
        let got: Vec<(Expectation, bool, Option<bool>)> = first
            .expectations
            .iter()
            .map(|e| (e.expectation, e.met, e.met_sla))
            .collect();
        assert_eq!(
            got,
            [
                (Expectation::Acknowledged, true, Some(true)),
                (Expectation::FirstPublicUpdate, false, None),
                (Expectation::Resolved, false, Some(true)),
                (Expectation::PostmortemDrafted, true, None),
            ]
        );
        assert_eq!((first.met, first.total, first.percent), (2, 4, 50));
        assert_eq!(first.previous_run_id, None);
        let id = uuid::Uuid::now_v7();
        let faster = Measured {
            acknowledged: Some(60),
            resolved: Some(3000),
            ..measured
        };
        let second = score(&expect, &faster, sla, Some((id, &first)));
        assert_eq!(second.previous_run_id, Some(id));
        let trends: Vec<Option<Trend>> = second.expectations.iter().map(|e| e.trend).collect();
        assert_eq!(
            trends,
            [
                Some(Trend::Faster),
                None,
                Some(Trend::Same),
                Some(Trend::Same)
            ]
        );
        assert_eq!(second.expectations[0].previous_seconds, Some(120));
    }
}
