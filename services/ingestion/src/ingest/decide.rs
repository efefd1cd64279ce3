//! What a group does once it has firing alerts: declare an incident, join one, or
//! nothing. Decided once per group, the first time it has firing alerts a rule declares
//! (a group that decided nothing decides again when new alerts fire in it).
//!
//! 1. **Rules.** Each firing alert gets the first rule it matches; among the rules that
//!    declare, the most severe wins (ties: the earlier alert). No declaring rule:
//!    nothing.
//! 2. **Join by service.** If the rule allows it and names a service, the group joins,
//!    in this order: a group of the same notification declaring for that service; the
//!    newest open incident that lists the service; a declare for that service core has
//!    not confirmed yet (then the group waits for that group's incident, see
//!    [`crate::links`]).
//! 3. **Storm guard.** If the integration declared `max_incidents_per_minute` incidents
//!    in the last minute, the group joins the latest incident the integration declared
//!    (or waits for it), or does nothing if there is none.
//! 4. Otherwise it **declares**, with its id as the command's idempotency key.
//!
//! **Drills.** A group of a drill's synthetic alerts (labelled `incident_drill_run`,
//! grouped by their run) skips all of that: it declares a drill incident at the severity
//! its `incident_drill_severity` label names (SEV3 when it names none), whatever the
//! integration's rules say, without joining another incident or counting for the storm
//! guard. A team's rules must not decide whether its drill runs, and a drill must never
//! land in a real incident.
//!
//! **What serialises.** Only what a decision reads and another one's outcome changes.
//! The rules are evaluated for every deciding group of the transaction first
//! ([`Decisions::plan`], no database); then one statement ([`Decisions::lock`]) takes,
//! in hash order, a transaction-scoped advisory lock per service a group may join by
//! (`ingestion-service:<workspace>:<service, lower case>`), so of two new groups of one
//! service the second sees the first's declare, and the integration's storm lock
//! (`ingestion-storm:<integration>`) when it has a storm guard, so the declares it
//! counts are exact. Groups of other services, or declaring without joining, decide side
//! by side. A declare a group will wait for is locked `FOR SHARE` and re-read before the
//! group waits for it ([`store::lock_pending`]): core's confirmation ([`crate::links`],
//! which takes no advisory lock) either committed before, and the group looks again
//! (finding the incident open), or waits for this transaction and then links the group.
//! Every decision records its reasons in the group's `explanation`.

use incident_schema::{IncidentNumber, Severity};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::messages::{Declare, Messages};
use super::{Decision, Group, store};
use crate::integration::rules::DeclareRule;
use crate::source::IncomingAlert;

/// The rule a drill's group declares by: no matcher, no joining.
static DRILL_RULE: std::sync::LazyLock<DeclareRule> = std::sync::LazyLock::new(|| DeclareRule {
    name: Some("drill".to_owned()),
    matchers: Vec::new(),
    declare: true,
    severity: None,
    service_label: None,
    impact: None,
    join_open_incident: false,
});

/// Alerts whose rule evaluation an explanation lists, at most.
const EXPLAINED_ALERTS: usize = 5;

/// What the decisions of one transaction share.
pub struct Decisions {
    workspace_id: Uuid,
    integration_id: Uuid,
    max_per_minute: Option<i32>,
    declared_before: Option<i64>,
    /// Groups that declared in this transaction, with their service (lower case).
    declared_now: Vec<(Uuid, Option<String>)>,
}

/// A group whose rules declare, evaluated and not decided yet: what it would declare,
/// and why.
pub struct Plan<'r, 'a> {
    rule: &'r DeclareRule,
    severity: Severity,
    chosen: &'a IncomingAlert,
    service: Option<String>,
    reason: String,
    details: Value,
    /// A drill's group: declares a drill incident, never joins, never throttled.
    drill: bool,
}

impl Plan<'_, '_> {
    /// The service the group may join by (lower case), if its rule joins.
    fn joins_by(&self) -> Option<String> {
        self.service
            .as_deref()
            .filter(|_| self.rule.join_open_incident)
            .map(str::to_lowercase)
    }
}

/// The outcome of the rule evaluation over a group's firing alerts.
struct Evaluation<'r> {
    /// The declaring rule and the alert that chose it.
    chosen: Option<(usize, &'r DeclareRule, usize)>,
    /// Why, in words.
    reason: String,
    /// Per alert: the rule it matched, or why the rules did not match.
    trace: Vec<Value>,
}

fn severity_rank(s: Severity) -> usize {
    Severity::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or(usize::MAX)
}

fn evaluate<'r>(rules: &'r [DeclareRule], alerts: &[&IncomingAlert]) -> Evaluation<'r> {
    let mut chosen: Option<(usize, &'r DeclareRule, usize)> = None;
    let mut quiet: Option<(usize, &'r DeclareRule, usize)> = None;
    let mut trace = Vec::new();
    for (a, alert) in alerts.iter().enumerate() {
        let found = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(&alert.labels));
        if a < EXPLAINED_ALERTS {
            let skipped: Vec<Value> = rules
                .iter()
                .enumerate()
                .take(found.map_or(rules.len(), |(i, _)| i))
                .map(|(i, r)| {
                    json!({
                        "rule": r.label(i),
                        "failed": r.first_failure(&alert.labels).map(|m| m.to_string()),
                    })
                })
                .collect();
            trace.push(json!({
                "fingerprint": alert.fingerprint,
                "matched": found.map(|(i, r)| r.label(i)),
                "skipped": skipped,
            }));
        }
        match found {
            Some((i, rule)) if rule.declare => {
                let better = match (chosen, rule.severity) {
                    (None, _) => true,
                    (Some((_, best, _)), Some(s)) => best
                        .severity
                        .is_none_or(|b| severity_rank(s) < severity_rank(b)),
                    (Some(_), None) => false,
                };
                if better {
                    chosen = Some((i, rule, a));
                }
            }
            Some((i, rule)) => {
                quiet.get_or_insert((i, rule, a));
            }
            None => {}
        }
    }
    let reason = match (chosen, quiet) {
        (Some((i, rule, a)), _) => format!(
            "rule {} matched alert {} ({}): declare {}",
            rule.label(i),
            alerts[a].fingerprint,
            matched_text(rule),
            rule.severity.map(|s| s.to_string()).unwrap_or_default()
        ),
        (None, Some((i, rule, a))) => format!(
            "rule {} matched alert {} ({}) and declares nothing",
            rule.label(i),
            alerts[a].fingerprint,
            matched_text(rule)
        ),
        (None, None) if rules.is_empty() => "the integration has no declare rules".to_owned(),
        (None, None) => "no declare rule matched the firing alerts".to_owned(),
    };
    Evaluation {
        chosen,
        reason,
        trace,
    }
}

/// The plan of a drill's group (see the module doc), if `alerts` are a drill's.
fn drill_plan<'a>(group: &mut Group, alerts: &[&'a IncomingAlert]) -> Option<Plan<'static, 'a>> {
    use incident_schema::drill::{DRILL_LABEL, DRILL_SEVERITY_LABEL};
    let chosen = *alerts.iter().find(|a| a.labels.contains_key(DRILL_LABEL))?;
    let run = chosen.labels.get(DRILL_LABEL).cloned().unwrap_or_default();
    let severity = chosen
        .labels
        .get(DRILL_SEVERITY_LABEL)
        .and_then(|s| s.parse::<Severity>().ok())
        .unwrap_or(Severity::Sev3);
    group.severity = Some(severity);
    group.service = None;
    Some(Plan {
        rule: &DRILL_RULE,
        severity,
        chosen,
        service: None,
        reason: format!(
            "alert {} is drill run {run}'s: declare a drill incident {severity}",
            chosen.fingerprint
        ),
        details: json!({ "drill_run": run, "alert": chosen.fingerprint, "severity": severity }),
        drill: true,
    })
}

fn matched_text(rule: &DeclareRule) -> String {
    if rule.matchers.is_empty() {
        "every alert".to_owned()
    } else {
        rule.matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where a joining group goes.
enum Target {
    /// An incident core knows: link now.
    Incident(Uuid, String),
    /// A group whose declare core has not confirmed: wait for its incident.
    Group(Uuid, String),
}

impl Decisions {
    /// Decisions for one integration's transaction.
    pub fn new(workspace_id: Uuid, integration_id: Uuid, max_per_minute: Option<i32>) -> Self {
        Self {
            workspace_id,
            integration_id,
            max_per_minute,
            declared_before: None,
            declared_now: Vec::new(),
        }
    }

    /// Evaluates the rules over `group`'s newly firing `alerts`. When no rule declares it,
    /// records that on the group (it decides nothing) and returns none; otherwise the
    /// group's severity and service are set and the plan is returned, to be decided
    /// ([`Self::decide`]) once its locks are held ([`Self::lock`]).
    pub fn plan<'r, 'a>(
        &self,
        rules: Result<&'r [DeclareRule], &str>,
        group: &mut Group,
        alerts: &[&'a IncomingAlert],
    ) -> Option<Plan<'r, 'a>> {
        if let Some(plan) = drill_plan(group, alerts) {
            return Some(plan);
        }
        let rules = match rules {
            Ok(rules) => rules,
            Err(problem) => {
                group.explain_decision(
                    Decision::Nothing,
                    &format!("the integration's declare rules are invalid: {problem}"),
                    json!({}),
                );
                return None;
            }
        };
        let evaluation = evaluate(rules, alerts);
        let Some((index, rule, alert)) = evaluation.chosen else {
            group.explain_decision(
                Decision::Nothing,
                &evaluation.reason,
                json!({ "evaluated": evaluation.trace }),
            );
            return None;
        };
        let Some(severity) = rule.severity else {
            // `validate` refuses declaring rules without a severity; stored rules may predate it.
            group.explain_decision(
                Decision::Nothing,
                &format!("rule {} declares but names no severity", rule.label(index)),
                json!({ "evaluated": evaluation.trace }),
            );
            return None;
        };
        let chosen = alerts[alert];
        let service = chosen
            .labels
            .get(rule.service_label())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        group.severity = Some(severity);
        group.service = service.clone();
        let details = json!({
            "rule": { "index": index, "name": rule.name, "matched": matched_text(rule) },
            "alert": chosen.fingerprint,
            "severity": severity,
            "service": service,
            "evaluated": evaluation.trace,
        });
        Some(Plan {
            rule,
            severity,
            chosen,
            service,
            reason: evaluation.reason,
            details,
            drill: false,
        })
    }

    /// The advisory locks `plans` need (see the module doc), taken in one statement:
    /// one per service a plan may join by, and the storm guard's if the integration has
    /// one. Nothing to lock for plans that neither join by service nor are guarded.
    pub async fn lock(
        &self,
        conn: &mut PgConnection,
        plans: &[Plan<'_, '_>],
    ) -> Result<(), sqlx::Error> {
        let mut keys: Vec<String> = plans
            .iter()
            .filter_map(Plan::joins_by)
            .map(|service| format!("ingestion-service:{}:{service}", self.workspace_id))
            .collect();
        if !plans.is_empty() && self.max_per_minute.is_some() {
            keys.push(format!("ingestion-storm:{}", self.integration_id));
        }
        store::lock_decisions(conn, &keys).await
    }

    /// Decides what `group` does about its newly firing `alerts` as `plan` says, records
    /// it on the group and writes the command it needs to `messages`. The plan's locks
    /// must be held ([`Self::lock`]).
    pub async fn decide(
        &mut self,
        conn: &mut PgConnection,
        group: &mut Group,
        plan: Plan<'_, '_>,
        alerts: &[&IncomingAlert],
        messages: &mut Messages<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sqlx::Error> {
        let Plan {
            rule,
            severity,
            chosen,
            service,
            reason,
            details,
            drill,
        } = plan;

        if rule.join_open_incident
            && let Some(service) = &service
            && let Some(target) = self.same_service(conn, service).await?
        {
            self.join(group, target, &reason, details, messages);
            return Ok(());
        }

        if let Some(max) = self.max_per_minute.filter(|_| !drill) {
            let before = match self.declared_before {
                Some(n) => n,
                None => {
                    let n = store::declared_last_minute(conn, self.integration_id).await?;
                    self.declared_before = Some(n);
                    n
                }
            };
            let declared = before + self.declared_now.len() as i64;
            if declared >= i64::from(max) {
                let throttle = format!(
                    "storm guard: the integration declared {declared} incident(s) in the last minute (max {max})"
                );
                let mut details = details;
                details["throttle"] =
                    json!({ "max_per_minute": max, "declared_last_minute": declared });
                match self.latest(conn).await? {
                    Some(target) => self.join(
                        group,
                        target,
                        &format!("{reason}; {throttle}"),
                        details,
                        messages,
                    ),
                    None => group.explain_decision(
                        Decision::Nothing,
                        &format!("{reason}; {throttle} and none of its incidents is open to join"),
                        details,
                    ),
                }
                return Ok(());
            }
        }

        messages.declare(&Declare {
            group_id: group.id,
            title: &group.title,
            severity,
            service: service.as_deref().map(|s| (s, rule.impact())),
            chosen,
            alerts,
            reason: &format!("{reason}; grouped by {}", group.grouped_by),
            now,
            is_drill: drill,
        });
        self.declared_now
            .push((group.id, service.as_ref().map(|s| s.to_lowercase())));
        group.explain_decision(Decision::Declare, &reason, details);
        Ok(())
    }

    async fn same_service(
        &self,
        conn: &mut PgConnection,
        service: &str,
    ) -> Result<Option<Target>, sqlx::Error> {
        let lower = service.to_lowercase();
        if let Some((id, _)) = self
            .declared_now
            .iter()
            .rev()
            .find(|(_, s)| s.as_deref() == Some(lower.as_str()))
        {
            return Ok(Some(Target::Group(
                *id,
                format!(
                    "group {id} of the same notification declares an incident for service {service}"
                ),
            )));
        }
        // Each turn that finds the pending declare confirmed meanwhile looks again: the
        // confirmed group is never pending again, so this ends.
        loop {
            if let Some((id, number)) =
                store::open_incident_for_service(conn, self.workspace_id, service).await?
            {
                return Ok(Some(Target::Incident(
                    id,
                    format!(
                        "open incident {} already covers service {service}",
                        IncidentNumber(number)
                    ),
                )));
            }
            let Some(id) =
                store::pending_declare_for_service(conn, self.workspace_id, service).await?
            else {
                return Ok(None);
            };
            if store::lock_pending(conn, id).await? {
                return Ok(Some(Target::Group(
                    id,
                    format!(
                        "group {id} declared an incident for service {service}; waiting for core to confirm it"
                    ),
                )));
            }
        }
    }

    async fn latest(&self, conn: &mut PgConnection) -> Result<Option<Target>, sqlx::Error> {
        if let Some((id, _)) = self.declared_now.last() {
            return Ok(Some(Target::Group(
                *id,
                format!("joins the incident group {id} of the same notification declares"),
            )));
        }
        // As in `same_service`: a declare confirmed between the read and its lock is
        // read again, with its incident.
        loop {
            match store::latest_declared(conn, self.integration_id).await? {
                Some((_, Some(incident))) => {
                    return Ok(Some(Target::Incident(
                        incident,
                        format!("joins incident {incident}, the latest this integration declared"),
                    )));
                }
                Some((group, None)) => {
                    if store::lock_pending(conn, group).await? {
                        return Ok(Some(Target::Group(
                            group,
                            format!(
                                "joins the incident of group {group}, the latest this integration declared (not confirmed by core yet)"
                            ),
                        )));
                    }
                }
                None => return Ok(None),
            }
        }
    }

    fn join(
        &self,
        group: &mut Group,
        target: Target,
        reason: &str,
        mut details: Value,
        messages: &mut Messages<'_>,
    ) {
        match target {
            Target::Incident(incident, why) => {
                messages.link(incident, group.id);
                details["join"] = json!({ "incident_id": incident, "why": why });
                group.join_group_id = None;
                group.explain_decision(Decision::Join, &format!("{reason}; {why}"), details);
            }
            Target::Group(other, why) => {
                details["join"] = json!({ "alert_group_id": other, "why": why });
                group.join_group_id = Some(other);
                group.explain_decision(Decision::Join, &format!("{reason}; {why}"), details);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use incident_schema::AlertStatus;
    use serde_json::Value;

    use super::*;
    use crate::integration::rules::default_rules;

    fn alert(fingerprint: &str, severity: &str) -> IncomingAlert {
        IncomingAlert {
            fingerprint: fingerprint.into(),
            source_group_key: None,
            status: AlertStatus::Firing,
            labels: BTreeMap::from([("severity".to_owned(), severity.to_owned())]),
            annotations: BTreeMap::new(),
            starts_at: chrono::Utc::now(),
            ends_at: None,
            generator_url: None,
            links: Vec::new(),
            raw: Value::Null,
            refreshes: true,
        }
    }

    #[test]
    fn the_most_severe_declaring_rule_among_the_firing_alerts_wins() {
        let rules = default_rules();
        let (w, c, i) = (
            alert("w", "warning"),
            alert("c", "critical"),
            alert("i", "info"),
        );
        let e = evaluate(&rules, &[&w, &i, &c]);
        let (index, rule, a) = e.chosen.expect("a rule declares");
        assert_eq!((index, rule.severity, a), (0, Some(Severity::Sev1), 2));
        assert!(e.reason.contains("declare SEV1"), "{}", e.reason);
        assert_eq!(e.trace.len(), 3);
    }

    #[test]
    fn a_quiet_rule_declares_nothing_and_says_so() {
        let rules = default_rules();
        let i = alert("i", "info");
        let e = evaluate(&rules, &[&i]);
        assert!(e.chosen.is_none());
        assert!(e.reason.contains("declares nothing"), "{}", e.reason);
        assert!(evaluate(&[], &[&i]).reason.contains("no declare rules"));
    }
}
