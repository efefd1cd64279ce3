//! The impact assessment, computed from the facts, never guessed: the stages the incident
//! went through (detected → acknowledged → mitigated → resolved → closed) with the time
//! each took, whether the SLA targets of its severity were met, the watchdog's findings,
//! the affected services and the linked alert groups with their alert counts.
//!
//! The SLA arithmetic follows the watchdog (migration 0010): the acknowledge target is met
//! by the first of acknowledged, mitigated, resolved or closed; the resolve target by the
//! first of resolved or closed; the deadlines are the incident's own (moved by core when
//! the severity changed), the policy's targets only where the incident has none.

use chrono::{DateTime, Utc};
use incident_schema::{ServiceImpact, Severity, SlaEventKind, SlaTarget};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::{AlertGroupFact, DraftFacts};
use crate::text;

/// A stage of the incident's life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageName {
    /// Detected (alert start or declaration).
    Detected,
    /// First acknowledged.
    Acknowledged,
    /// First arrived at MONITORING.
    Mitigated,
    /// First arrived at RESOLVED.
    Resolved,
    /// Closed.
    Closed,
}

impl StageName {
    /// The stage as a heading word.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Detected => "Detected",
            Self::Acknowledged => "Acknowledged",
            Self::Mitigated => "Mitigated",
            Self::Resolved => "Resolved",
            Self::Closed => "Closed",
        }
    }
}

/// A stage the incident reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    /// Which stage.
    pub stage: StageName,
    /// When it was reached.
    pub at: DateTime<Utc>,
    /// Seconds since detection.
    pub since_detection_secs: i64,
    /// Seconds since the stage before it; none for detection.
    pub since_previous_secs: Option<i64>,
}

/// Whether an SLA target was met.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetStatus {
    /// Reached by its deadline.
    Met,
    /// Reached after its deadline, or not reached and the deadline passed.
    Breached,
    /// Not reached yet, deadline ahead.
    Pending,
    /// No deadline and no policy.
    NoTarget,
}

/// One SLA target and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TargetOutcome {
    /// The policy's target, in minutes from detection.
    pub target_minutes: Option<i32>,
    /// The deadline that applied.
    pub deadline: Option<DateTime<Utc>>,
    /// When the target was reached.
    pub reached_at: Option<DateTime<Utc>>,
    /// Seconds from detection to reaching it.
    pub took_secs: Option<i64>,
    /// Met or breached.
    pub status: TargetStatus,
}

/// The SLA targets of the incident's severity and the watchdog's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlaAssessment {
    /// The severity whose policy applied.
    pub severity: Severity,
    /// Acknowledging.
    pub acknowledge: TargetOutcome,
    /// Resolving.
    pub resolve: TargetOutcome,
    /// Warnings the watchdog raised.
    pub warnings: i64,
    /// Breaches the watchdog recorded.
    pub breaches_recorded: i64,
    /// Stakeholder updates that were due and missed.
    pub missed_updates: i64,
}

/// An affected service and how badly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceFact {
    /// The service.
    pub name: String,
    /// How it was affected.
    pub impact: ServiceImpact,
}

/// The computed impact assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Impact {
    /// The stages reached, in order.
    pub stages: Vec<Stage>,
    /// Seconds from detection to acknowledgement.
    pub time_to_acknowledge_secs: Option<i64>,
    /// Seconds from detection to mitigation.
    pub time_to_mitigate_secs: Option<i64>,
    /// Seconds from detection to resolution.
    pub time_to_resolve_secs: Option<i64>,
    /// The SLA.
    pub sla: SlaAssessment,
    /// Affected services, worst first.
    pub services: Vec<ServiceFact>,
    /// Linked alert groups.
    pub alert_groups: Vec<AlertGroupFact>,
    /// Alerts across those groups.
    pub alerts_total: i64,
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds()
}

fn earliest(times: &[Option<DateTime<Utc>>]) -> Option<DateTime<Utc>> {
    times.iter().flatten().min().copied()
}

fn outcome(
    detected: DateTime<Utc>,
    target_minutes: Option<i32>,
    deadline: Option<DateTime<Utc>>,
    reached_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> TargetOutcome {
    let deadline = deadline
        .or_else(|| target_minutes.map(|m| detected + chrono::TimeDelta::minutes(i64::from(m))));
    let status = match (deadline, reached_at) {
        (None, _) => TargetStatus::NoTarget,
        (Some(d), Some(r)) if r <= d => TargetStatus::Met,
        (Some(_), Some(_)) => TargetStatus::Breached,
        (Some(d), None) if as_of > d => TargetStatus::Breached,
        (Some(_), None) => TargetStatus::Pending,
    };
    TargetOutcome {
        target_minutes,
        deadline,
        reached_at,
        took_secs: reached_at.map(|r| secs(detected, r)),
        status,
    }
}

/// Computes the impact assessment from the facts.
pub fn assess(facts: &DraftFacts) -> Impact {
    let i = &facts.incident;
    let detected = i.detected_at;
    let mut stages = vec![Stage {
        stage: StageName::Detected,
        at: detected,
        since_detection_secs: 0,
        since_previous_secs: None,
    }];
    for (stage, at) in [
        (StageName::Acknowledged, i.acknowledged_at),
        (StageName::Mitigated, i.mitigated_at),
        (StageName::Resolved, i.resolved_at),
        (StageName::Closed, i.closed_at),
    ] {
        if let Some(at) = at {
            let previous = stages.last().map_or(detected, |s| s.at);
            stages.push(Stage {
                stage,
                at,
                since_detection_secs: secs(detected, at),
                since_previous_secs: Some(secs(previous, at)),
            });
        }
    }
    let count = |target: Option<SlaTarget>, kind: SlaEventKind| {
        facts
            .sla_events
            .iter()
            .filter(|e| e.kind == kind && target.is_none_or(|t| e.target == t))
            .count() as i64
    };
    let policy = facts.policy.as_ref();
    let sla = SlaAssessment {
        severity: i.severity,
        acknowledge: outcome(
            detected,
            policy.map(|p| p.ack_target_minutes),
            i.sla_deadline,
            earliest(&[
                i.acknowledged_at,
                i.mitigated_at,
                i.resolved_at,
                i.closed_at,
            ]),
            facts.as_of,
        ),
        resolve: outcome(
            detected,
            policy.map(|p| p.resolve_target_minutes),
            i.sla_resolve_deadline,
            earliest(&[i.resolved_at, i.closed_at]),
            facts.as_of,
        ),
        warnings: count(None, SlaEventKind::Warning),
        breaches_recorded: count(None, SlaEventKind::Breach),
        missed_updates: count(Some(SlaTarget::Update), SlaEventKind::UpdateDue),
    };
    Impact {
        stages,
        time_to_acknowledge_secs: i.acknowledged_at.map(|a| secs(detected, a)),
        time_to_mitigate_secs: i.mitigated_at.map(|m| secs(detected, m)),
        time_to_resolve_secs: i.resolved_at.map(|r| secs(detected, r)),
        sla,
        services: facts
            .services
            .iter()
            .map(|s| ServiceFact {
                name: s.service_name.clone(),
                impact: s.impact,
            })
            .collect(),
        alerts_total: facts.alert_groups.iter().map(|g| g.alerts).sum(),
        alert_groups: facts.alert_groups.clone(),
    }
}

/// How an impact reads in prose: `total outage`.
pub fn impact_words(impact: ServiceImpact) -> &'static str {
    match impact {
        ServiceImpact::TotalOutage => "total outage",
        ServiceImpact::PartialOutage => "partial outage",
        ServiceImpact::Degraded => "degraded",
    }
}

fn target_line(name: &str, t: &TargetOutcome) -> String {
    let target = t.target_minutes.map_or_else(
        || "no target".to_owned(),
        |m| format!("target {}", text::minutes(m)),
    );
    let took = t.took_secs.map_or_else(
        || "not reached".to_owned(),
        |s| format!("took {}", text::duration(s)),
    );
    let status = match t.status {
        TargetStatus::Met => "**met**",
        TargetStatus::Breached => "**breached**",
        TargetStatus::Pending => "pending",
        TargetStatus::NoTarget => "no deadline",
    };
    format!("- {name}: {target}, {took}: {status}")
}

/// The impact assessment section as Markdown (what a person then edits).
pub fn render(impact: &Impact) -> String {
    let mut out = String::from(
        "**Duration**\n\n| Stage | At | Since detection | Since previous stage |\n|---|---|---|---|\n",
    );
    for s in &impact.stages {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            s.stage.label(),
            text::time(s.at),
            if s.stage == StageName::Detected {
                "—".to_owned()
            } else {
                text::duration(s.since_detection_secs)
            },
            s.since_previous_secs
                .map_or_else(|| "—".to_owned(), text::duration),
        ));
    }
    let sla = &impact.sla;
    out.push_str(&format!("\n**SLA ({} policy)**\n\n", sla.severity));
    out.push_str(&target_line("Acknowledge", &sla.acknowledge));
    out.push('\n');
    out.push_str(&target_line("Resolve", &sla.resolve));
    out.push('\n');
    out.push_str(&format!(
        "- Watchdog findings: {} warning(s), {} breach(es), {} missed update(s)\n",
        sla.warnings, sla.breaches_recorded, sla.missed_updates
    ));
    out.push_str("\n**Affected services**\n\n");
    if impact.services.is_empty() {
        out.push_str("- None recorded\n");
    }
    for s in &impact.services {
        out.push_str(&format!("- {}: {}\n", s.name, impact_words(s.impact)));
    }
    out.push_str("\n**Alerts**\n\n");
    if impact.alert_groups.is_empty() {
        out.push_str("- No alert groups linked\n");
    } else {
        for g in &impact.alert_groups {
            out.push_str(&format!(
                "- {} ({}): {} alert(s)\n",
                g.title,
                g.status.as_str().to_ascii_lowercase(),
                g.alerts
            ));
        }
        out.push_str(&format!(
            "\n{} alert(s) in {} group(s).\n",
            impact.alerts_total,
            impact.alert_groups.len()
        ));
    }
    out.trim_end().to_owned()
}
