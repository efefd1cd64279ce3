//! What the watchdog finds on one incident at one instant: a pure function of the
//! incident row, its workspace's policy for its severity, the update reminders already
//! recorded and the database's `now()`. No I/O, so every rule is unit-tested here.
//!
//! The rules:
//! - **Breach** of a target: its deadline has passed and the target was not met by it.
//!   The acknowledge target is met by the incident's first *response*: the earliest of
//!   `acknowledged_at`, `mitigated_at`, `resolved_at` and `closed_at` (a quick fix that
//!   goes straight to RESOLVED answered the page). The resolve target is met by the
//!   earliest of `resolved_at` and `closed_at`. A response after the deadline is a
//!   breach, even when it landed between two sweeps. Breaches need no policy: the
//!   deadlines are stamped on the incident by core.
//! - **Warning** for a target: the incident is open, the target is not met yet, its
//!   deadline is still ahead, and `warning_ratio` of the way from `detected_at` to the
//!   deadline has passed. Without a policy there is no ratio, hence no warning. A sweep
//!   that first sees an incident after its deadline reports the breach only.
//! - **Update due**: an open SEV1/SEV2 incident whose policy has an update cadence, and
//!   whose last public update (or, without one, its detection) is at least one cadence
//!   old. The reminder is *due at* `base + k × cadence`, where `k ≥ 1` is the number of
//!   whole cadences elapsed since that base. It is new when that due time is later than
//!   the due time of the last reminder recorded; its `slot` is then the last reminder's
//!   slot plus one (1 for the first). So a public update restarts the count from the
//!   update, slots never repeat (the `sla_events` unique key needs that), and a sweep
//!   that comes back after several missed cadences sends one reminder for the latest.
//!
//! Whether a finding is *new* is decided by the database, not here: the sweep inserts
//! each finding into `sla_events`, whose unique key drops the ones already recorded.

use chrono::{DateTime, TimeDelta, Utc};
use incident_schema::{Incident, Severity, SlaEventKind, SlaTarget, TimelineKind};

/// The policy terms the findings depend on (the deadlines themselves are on the
/// incident).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyTerms {
    /// The share of a target after which the watchdog warns, in (0, 1).
    pub warning_ratio: f32,
    /// Minutes between public updates; none: no cadence.
    pub update_cadence_minutes: Option<i32>,
}

/// The last update reminder recorded for an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastReminder {
    /// Its slot.
    pub slot: i32,
    /// The time it said the update was due.
    pub due_at: DateTime<Utc>,
}

/// Everything the rules look at for one incident.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The incident, as locked by the sweep.
    pub incident: Incident,
    /// The workspace's policy for the incident's severity, if there is one.
    pub policy: Option<PolicyTerms>,
    /// The last update reminder recorded, if any.
    pub last_reminder: Option<LastReminder>,
    /// The database's `now()` for this sweep transaction.
    pub now: DateTime<Utc>,
}

/// One thing the watchdog reports about an incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finding {
    /// `target`'s deadline passed unmet.
    Breach {
        /// Acknowledge or resolve.
        target: SlaTarget,
        /// The deadline that passed.
        deadline: DateTime<Utc>,
    },
    /// `target`'s deadline is near.
    Warning {
        /// Acknowledge or resolve.
        target: SlaTarget,
        /// The deadline ahead.
        deadline: DateTime<Utc>,
    },
    /// A public update is due.
    UpdateDue {
        /// The reminder's number for this incident (1, 2, ...); never reused.
        slot: i32,
        /// When the update was due.
        due_at: DateTime<Utc>,
        /// Whole cadences elapsed since the last public update (or detection).
        missed_updates: i64,
        /// The cadence, in minutes.
        cadence_minutes: i32,
    },
}

impl Finding {
    /// What the finding is about.
    pub fn target(&self) -> SlaTarget {
        match self {
            Finding::Breach { target, .. } | Finding::Warning { target, .. } => *target,
            Finding::UpdateDue { .. } => SlaTarget::Update,
        }
    }

    /// The kind of finding, as `sla_events` records it.
    pub fn kind(&self) -> SlaEventKind {
        match self {
            Finding::Breach { .. } => SlaEventKind::Breach,
            Finding::Warning { .. } => SlaEventKind::Warning,
            Finding::UpdateDue { .. } => SlaEventKind::UpdateDue,
        }
    }

    /// The slot in `sla_events`' unique key: 0 for one-off findings.
    pub fn slot(&self) -> i32 {
        match self {
            Finding::UpdateDue { slot, .. } => *slot,
            Finding::Breach { .. } | Finding::Warning { .. } => 0,
        }
    }

    /// The deadline (or due time) the finding is about.
    pub fn deadline(&self) -> DateTime<Utc> {
        match self {
            Finding::Breach { deadline, .. } | Finding::Warning { deadline, .. } => *deadline,
            Finding::UpdateDue { due_at, .. } => *due_at,
        }
    }

    /// Whether recording it marks the incident `sla_breached`.
    pub fn is_breach(&self) -> bool {
        matches!(self, Finding::Breach { .. })
    }

    /// The kind of the timeline entry that records it.
    pub fn timeline_kind(&self) -> TimelineKind {
        match self {
            Finding::Breach { .. } => TimelineKind::SlaBreached,
            Finding::Warning { .. } => TimelineKind::SlaWarning,
            Finding::UpdateDue { .. } => TimelineKind::UpdateDue,
        }
    }

    /// What people read on the timeline.
    pub fn timeline_message(&self) -> String {
        let at = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        let verb = |target: &SlaTarget| match target {
            SlaTarget::Acknowledge => "acknowledge",
            SlaTarget::Resolve => "resolve",
            SlaTarget::Update => "update",
        };
        match self {
            Finding::Breach { target, deadline } => format!(
                "SLA breached: the {} deadline ({}) passed unmet",
                verb(target),
                at(deadline)
            ),
            Finding::Warning { target, deadline } => format!(
                "SLA warning: the {} deadline ({}) is near",
                verb(target),
                at(deadline)
            ),
            Finding::UpdateDue {
                due_at,
                cadence_minutes,
                ..
            } => format!(
                "A public update was due at {} (every {} minutes)",
                at(due_at),
                cadence_minutes
            ),
        }
    }
}

/// The earliest of the given times that is set.
fn earliest(times: &[Option<DateTime<Utc>>]) -> Option<DateTime<Utc>> {
    times.iter().flatten().min().copied()
}

/// When the incident was first responded to: this meets the acknowledge target.
pub fn responded_at(incident: &Incident) -> Option<DateTime<Utc>> {
    earliest(&[
        incident.acknowledged_at,
        incident.mitigated_at,
        incident.resolved_at,
        incident.closed_at,
    ])
}

/// When the incident was first finished (resolved or closed): this meets the resolve
/// target.
pub fn finished_at(incident: &Incident) -> Option<DateTime<Utc>> {
    earliest(&[incident.resolved_at, incident.closed_at])
}

/// The instant `ratio` of the way from `start` to `deadline` (microsecond precision).
pub fn warning_at(start: DateTime<Utc>, deadline: DateTime<Utc>, ratio: f32) -> DateTime<Utc> {
    let span = (deadline - start).num_microseconds().unwrap_or(i64::MAX);
    let lead = (span as f64 * f64::from(ratio)).round() as i64;
    start + TimeDelta::microseconds(lead)
}

/// Everything due on `watched` now, breaches first.
pub fn findings(watched: &Watched) -> Vec<Finding> {
    let incident = &watched.incident;
    let now = watched.now;
    let targets = [
        (
            SlaTarget::Acknowledge,
            incident.sla_deadline,
            responded_at(incident),
        ),
        (
            SlaTarget::Resolve,
            incident.sla_resolve_deadline,
            finished_at(incident),
        ),
    ];
    let mut found = Vec::new();
    for (target, deadline, met_at) in targets {
        let Some(deadline) = deadline else { continue };
        if now > deadline && met_at.is_none_or(|met| met > deadline) {
            found.push(Finding::Breach { target, deadline });
        }
    }
    if !incident.status.is_open() {
        return found;
    }
    let Some(policy) = watched.policy else {
        return found;
    };
    for (target, deadline, met_at) in targets {
        let Some(deadline) = deadline else { continue };
        if met_at.is_none()
            && now < deadline
            && now >= warning_at(incident.detected_at, deadline, policy.warning_ratio)
        {
            found.push(Finding::Warning { target, deadline });
        }
    }
    if let Some(reminder) = update_due(watched, policy) {
        found.push(reminder);
    }
    found
}

/// The update reminder due now, if any (see the module docs for the slot rule).
fn update_due(watched: &Watched, policy: PolicyTerms) -> Option<Finding> {
    let incident = &watched.incident;
    if !matches!(incident.severity, Severity::Sev1 | Severity::Sev2) {
        return None;
    }
    let cadence_minutes = policy.update_cadence_minutes.filter(|m| *m > 0)?;
    let cadence = TimeDelta::minutes(i64::from(cadence_minutes)).num_microseconds()?;
    let base = incident
        .last_public_update_at
        .unwrap_or(incident.detected_at);
    let elapsed = (watched.now - base).num_microseconds()?;
    let missed_updates = elapsed.div_euclid(cadence);
    if missed_updates < 1 {
        return None;
    }
    let due_at = base + TimeDelta::microseconds(missed_updates.checked_mul(cadence)?);
    let slot = match watched.last_reminder {
        Some(last) if due_at <= last.due_at => return None,
        Some(last) => last.slot.checked_add(1)?,
        None => 1,
    };
    Some(Finding::UpdateDue {
        slot,
        due_at,
        missed_updates,
        cadence_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use incident_schema::{IncidentNumber, IncidentStatus, Visibility};
    use uuid::Uuid;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid") + TimeDelta::minutes(minutes)
    }

    fn incident(severity: Severity) -> Incident {
        Incident {
            id: Uuid::nil(),
            workspace_id: Uuid::nil(),
            number: IncidentNumber(1),
            title: "Checkout is down".into(),
            description: String::new(),
            severity,
            status: IncidentStatus::Investigating,
            impact: None,
            detected_at: t(0),
            acknowledged_at: None,
            mitigated_at: None,
            resolved_at: None,
            closed_at: None,
            sla_breached: false,
            sla_deadline: Some(t(15)),
            sla_resolve_deadline: Some(t(240)),
            commander_id: None,
            tech_lead_id: None,
            comms_lead_id: None,
            slack_channel_id: None,
            slack_channel_url: None,
            root_cause: None,
            version: 1,
            is_drill: false,
            visibility: Visibility::Public,
            declared_by: None,
            idempotency_key: None,
            last_public_update_at: None,
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn policy() -> Option<PolicyTerms> {
        Some(PolicyTerms {
            warning_ratio: 0.8,
            update_cadence_minutes: Some(30),
        })
    }

    fn at(incident: Incident, now: i64) -> Watched {
        Watched {
            incident,
            policy: policy(),
            last_reminder: None,
            now: t(now),
        }
    }

    #[test]
    fn nothing_is_due_right_after_detection() {
        assert_eq!(findings(&at(incident(Severity::Sev1), 1)), vec![]);
    }

    #[test]
    fn an_unanswered_incident_past_its_deadline_breaches_the_acknowledge_target() {
        let found = findings(&at(incident(Severity::Sev3), 16));
        assert_eq!(
            found,
            vec![Finding::Breach {
                target: SlaTarget::Acknowledge,
                deadline: t(15)
            }]
        );
    }

    #[test]
    fn the_deadline_instant_itself_is_not_yet_a_breach() {
        assert_eq!(findings(&at(incident(Severity::Sev3), 15)), vec![]);
    }

    #[test]
    fn a_late_acknowledgement_is_a_breach_and_a_timely_one_is_not() {
        let mut late = incident(Severity::Sev3);
        late.acknowledged_at = Some(t(20));
        late.status = IncidentStatus::Identified;
        assert_eq!(findings(&at(late, 21))[0].kind(), SlaEventKind::Breach);

        let mut in_time = incident(Severity::Sev3);
        in_time.acknowledged_at = Some(t(15));
        in_time.status = IncidentStatus::Identified;
        assert_eq!(findings(&at(in_time, 21)), vec![]);
    }

    #[test]
    fn resolving_before_the_acknowledge_deadline_meets_it() {
        let mut quick_fix = incident(Severity::Sev3);
        quick_fix.resolved_at = Some(t(5));
        quick_fix.status = IncidentStatus::Resolved;
        assert_eq!(findings(&at(quick_fix, 300)), vec![]);
    }

    #[test]
    fn a_late_resolution_breaches_the_resolve_target_even_when_already_breached() {
        let mut incident = incident(Severity::Sev3);
        incident.sla_breached = true;
        incident.acknowledged_at = Some(t(20));
        incident.resolved_at = Some(t(250));
        incident.status = IncidentStatus::Resolved;
        let found = findings(&at(incident, 251));
        assert_eq!(
            found,
            vec![
                Finding::Breach {
                    target: SlaTarget::Acknowledge,
                    deadline: t(15)
                },
                Finding::Breach {
                    target: SlaTarget::Resolve,
                    deadline: t(240)
                },
            ]
        );
    }

    #[test]
    fn warnings_start_at_the_ratio_of_each_target() {
        // 80% of 15 minutes is 12 (a hair more: 0.8 is not exact as an f32).
        let mut watched = at(incident(Severity::Sev3), 12);
        watched.now += TimeDelta::milliseconds(1);
        let found = findings(&watched);
        assert_eq!(
            found,
            vec![Finding::Warning {
                target: SlaTarget::Acknowledge,
                deadline: t(15)
            }]
        );
        assert_eq!(findings(&at(incident(Severity::Sev3), 11)), vec![]);

        // 80% of 240 minutes is 192: the resolve warning, once acknowledged.
        let mut acknowledged = incident(Severity::Sev3);
        acknowledged.acknowledged_at = Some(t(3));
        assert_eq!(findings(&at(acknowledged.clone(), 191)), vec![]);
        assert_eq!(
            findings(&at(acknowledged, 193)),
            vec![Finding::Warning {
                target: SlaTarget::Resolve,
                deadline: t(240)
            }]
        );
    }

    #[test]
    fn finished_incidents_and_incidents_without_a_policy_get_no_warning() {
        let mut resolved = incident(Severity::Sev3);
        resolved.acknowledged_at = Some(t(3));
        resolved.resolved_at = Some(t(100));
        resolved.status = IncidentStatus::Resolved;
        assert_eq!(findings(&at(resolved, 200)), vec![]);

        let mut no_policy = at(incident(Severity::Sev1), 13);
        no_policy.policy = None;
        assert_eq!(findings(&no_policy), vec![]);
    }

    #[test]
    fn a_reopened_incident_resolved_in_time_meets_its_resolve_target() {
        let mut reopened = incident(Severity::Sev3);
        reopened.acknowledged_at = Some(t(3));
        reopened.resolved_at = Some(t(100));
        reopened.status = IncidentStatus::Investigating;
        assert_eq!(findings(&at(reopened, 300)), vec![]);
    }

    #[test]
    fn an_update_is_due_once_per_cadence_since_detection() {
        let mut sev1 = incident(Severity::Sev1);
        sev1.acknowledged_at = Some(t(1));
        let found = findings(&at(sev1.clone(), 31));
        assert_eq!(
            found,
            vec![Finding::UpdateDue {
                slot: 1,
                due_at: t(30),
                missed_updates: 1,
                cadence_minutes: 30
            }]
        );

        // Already reminded for the 30-minute mark: nothing new until the next one.
        let mut watched = at(sev1, 59);
        watched.last_reminder = Some(LastReminder {
            slot: 1,
            due_at: t(30),
        });
        assert_eq!(findings(&watched), vec![]);
        watched.now = t(61);
        assert_eq!(
            findings(&watched),
            vec![Finding::UpdateDue {
                slot: 2,
                due_at: t(60),
                missed_updates: 2,
                cadence_minutes: 30
            }]
        );
    }

    #[test]
    fn a_public_update_restarts_the_cadence_and_the_slots_keep_counting() {
        let mut sev1 = incident(Severity::Sev1);
        sev1.acknowledged_at = Some(t(1));
        sev1.last_public_update_at = Some(t(45));
        let mut watched = at(sev1, 61);
        watched.last_reminder = Some(LastReminder {
            slot: 1,
            due_at: t(30),
        });
        assert_eq!(findings(&watched), vec![], "the update at 45 was in time");
        watched.now = t(76);
        assert_eq!(
            findings(&watched),
            vec![Finding::UpdateDue {
                slot: 2,
                due_at: t(75),
                missed_updates: 1,
                cadence_minutes: 30
            }]
        );
    }

    #[test]
    fn a_sweep_after_several_missed_cadences_sends_one_reminder_for_the_latest() {
        let mut sev2 = incident(Severity::Sev2);
        sev2.acknowledged_at = Some(t(1));
        sev2.sla_resolve_deadline = Some(t(1000));
        let found = findings(&at(sev2, 100));
        assert_eq!(
            found,
            vec![Finding::UpdateDue {
                slot: 1,
                due_at: t(90),
                missed_updates: 3,
                cadence_minutes: 30
            }]
        );
    }

    #[test]
    fn lower_severities_and_finished_incidents_get_no_update_reminder() {
        let mut sev3 = incident(Severity::Sev3);
        sev3.acknowledged_at = Some(t(1));
        assert_eq!(findings(&at(sev3, 31)), vec![]);

        let mut resolved = incident(Severity::Sev1);
        resolved.acknowledged_at = Some(t(1));
        resolved.resolved_at = Some(t(20));
        resolved.status = IncidentStatus::Resolved;
        assert_eq!(findings(&at(resolved, 31)), vec![]);
    }

    #[test]
    fn the_warning_instant_is_the_ratio_of_the_span() {
        assert_eq!(warning_at(t(0), t(100), 0.75), t(75));
        assert_eq!(warning_at(t(0), t(0), 0.8), t(0));
        let close = warning_at(t(0), t(100), 0.8) - t(80);
        assert!(close.abs() < TimeDelta::milliseconds(1), "{close}");
    }
}
