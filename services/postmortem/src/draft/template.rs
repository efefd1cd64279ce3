//! The template draft: every section written from the facts alone, deterministically
//! (the same facts always give the same text), so a draft is always available, with or
//! without an LLM. What the facts cannot tell (why it happened, where we got lucky) is
//! left as a prompt for the review, or taken from the incident's recorded root cause.

use incident_schema::TimelineKind;

use super::facts::DraftFacts;
use super::impact::{self, Impact, TargetStatus};
use crate::text;

/// The text sections of a postmortem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// Summary.
    pub summary: String,
    /// What happened.
    pub what_happened: String,
    /// Why it happened.
    pub why_it_happened: String,
    /// What went well.
    pub what_went_well: String,
    /// What went poorly.
    pub what_went_poorly: String,
    /// Where we got lucky.
    pub where_we_got_lucky: String,
    /// The impact assessment.
    pub impact_assessment: String,
}

/// What the review fills in where the facts say nothing.
pub const TO_DISCUSS: &str = "To be discussed in the review.";

/// The timeline kinds that tell the story (notes, role changes and reminders do not).
const MILESTONES: &[TimelineKind] = &[
    TimelineKind::Detected,
    TimelineKind::Acknowledged,
    TimelineKind::StatusChange,
    TimelineKind::SeverityChanged,
    TimelineKind::AlertLinked,
    TimelineKind::Mitigation,
    TimelineKind::Resolution,
    TimelineKind::SlaBreached,
    TimelineKind::Update,
];

/// Writes every section from the facts.
pub fn sections(facts: &DraftFacts, impact: &Impact) -> Sections {
    Sections {
        summary: summary(facts, impact),
        what_happened: what_happened(facts),
        why_it_happened: why_it_happened(facts),
        what_went_well: what_went_well(impact),
        what_went_poorly: what_went_poorly(facts, impact),
        where_we_got_lucky: TO_DISCUSS.to_owned(),
        impact_assessment: impact::render(impact),
    }
}

/// The summary paragraph.
pub fn summary(facts: &DraftFacts, impact: &Impact) -> String {
    let i = &facts.incident;
    let mut s = format!(
        "{} \"{}\" was a {} incident{}.",
        i.number,
        i.title,
        i.severity,
        if i.is_drill { " (a drill)" } else { "" }
    );
    match impact.time_to_resolve_secs {
        Some(ttr) => s.push_str(&format!(
            " It was detected at {} and resolved {} later.",
            text::time(i.detected_at),
            text::duration(ttr)
        )),
        None => s.push_str(&format!(
            " It was detected at {} and has not been resolved.",
            text::time(i.detected_at)
        )),
    }
    if !impact.services.is_empty() {
        let list = impact
            .services
            .iter()
            .map(|s| format!("{} ({})", s.name, impact::impact_words(s.impact)))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(" Affected: {list}."));
    }
    if let Some(words) = i.impact.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        s.push_str(&format!(" Impact: {}.", words.trim_end_matches('.')));
    }
    let verdict = |name: &str, status: TargetStatus| match status {
        TargetStatus::Met => Some(format!("the {name} target was met")),
        TargetStatus::Breached => Some(format!("the {name} target was breached")),
        TargetStatus::Pending | TargetStatus::NoTarget => None,
    };
    let verdicts: Vec<String> = [
        verdict("acknowledge", impact.sla.acknowledge.status),
        verdict("resolve", impact.sla.resolve.status),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !verdicts.is_empty() {
        let joined = verdicts.join(" and ");
        let mut chars = joined.chars();
        let capitalised = chars
            .next()
            .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default();
        s.push_str(&format!(" SLA: {capitalised}."));
    }
    s
}

/// The story: the description, then the milestones of the timeline.
pub fn what_happened(facts: &DraftFacts) -> String {
    let mut out = String::new();
    let description = facts.incident.description.trim();
    if !description.is_empty() {
        out.push_str(description);
        out.push_str("\n\n");
    }
    let milestones: Vec<_> = facts
        .timeline
        .iter()
        .filter(|t| MILESTONES.contains(&t.entry.kind))
        .filter(|t| t.entry.kind != TimelineKind::Update || t.entry.is_public)
        .collect();
    if milestones.is_empty() {
        out.push_str("The timeline records no milestones.");
    } else {
        out.push_str("Key moments (UTC):\n\n");
        for t in milestones {
            let message = t.entry.message.trim().replace('\n', " ");
            out.push_str(&format!(
                "- {} — {}\n",
                text::time(t.entry.occurred_at),
                message
            ));
        }
    }
    out.push_str(&format!(
        "\nThe full timeline below has {} entr{}.",
        facts.timeline.len(),
        if facts.timeline.len() == 1 {
            "y"
        } else {
            "ies"
        }
    ));
    out.trim().to_owned()
}

/// The root cause when the incident records one.
pub fn why_it_happened(facts: &DraftFacts) -> String {
    match facts
        .incident
        .root_cause
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(cause) => format!("Root cause recorded on the incident: {cause}"),
        None => "To be determined in the review.".to_owned(),
    }
}

fn bullets(lines: Vec<String>) -> String {
    if lines.is_empty() {
        TO_DISCUSS.to_owned()
    } else {
        lines
            .into_iter()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What the numbers say went well.
pub fn what_went_well(impact: &Impact) -> String {
    let mut lines = Vec::new();
    for (name, t) in [
        ("Acknowledged", &impact.sla.acknowledge),
        ("Resolved", &impact.sla.resolve),
    ] {
        if let (TargetStatus::Met, Some(took), Some(target)) =
            (t.status, t.took_secs, t.target_minutes)
        {
            lines.push(format!(
                "{name} within the SLA target ({} of {}).",
                text::duration(took),
                text::minutes(target)
            ));
        }
    }
    if let Some(ttm) = impact.time_to_mitigate_secs {
        lines.push(format!(
            "Mitigated {} after detection.",
            text::duration(ttm)
        ));
    }
    bullets(lines)
}

/// What the numbers and the timeline say went poorly.
pub fn what_went_poorly(facts: &DraftFacts, impact: &Impact) -> String {
    let mut lines = Vec::new();
    for (name, t) in [
        ("acknowledge", &impact.sla.acknowledge),
        ("resolve", &impact.sla.resolve),
    ] {
        if t.status == TargetStatus::Breached {
            let detail = match (t.took_secs, t.target_minutes) {
                (Some(took), Some(target)) => {
                    format!(
                        " ({} against {})",
                        text::duration(took),
                        text::minutes(target)
                    )
                }
                _ => String::new(),
            };
            lines.push(format!("The {name} target was breached{detail}."));
        }
    }
    if impact.sla.missed_updates > 0 {
        lines.push(format!(
            "{} stakeholder update(s) were overdue.",
            impact.sla.missed_updates
        ));
    }
    let count = |kind: TimelineKind| {
        facts
            .timeline
            .iter()
            .filter(|t| t.entry.kind == kind)
            .count()
    };
    let severity_changes = count(TimelineKind::SeverityChanged);
    if severity_changes > 0 {
        lines.push(format!("The severity changed {severity_changes} time(s)."));
    }
    let reopens = facts
        .timeline
        .iter()
        .filter(|t| t.entry.kind == TimelineKind::StatusChange)
        .filter(|t| t.entry.data.get("reopen").and_then(|r| r.as_bool()) == Some(true))
        .count();
    if reopens > 0 {
        lines.push(format!("The incident was reopened {reopens} time(s)."));
    }
    bullets(lines)
}
