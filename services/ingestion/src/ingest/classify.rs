//! What one notification does to one alert, given what is stored: the rule that makes
//! repeated, redelivered and out-of-order notifications converge on the right state.
//!
//! An alert (integration and fingerprint) lives through occurrences: it starts firing
//! (`starts_at`), may be notified again and again while it fires, ends (`ends_at`) and
//! may fire again later, which is a new occurrence with a later start. A notification
//! is judged against the stored occurrence by its times:
//!
//! | stored | incoming | verdict |
//! |---|---|---|
//! | none | firing | [`Verdict::NewFiring`] |
//! | none | resolved | [`Verdict::NewResolved`] (its firing notification is late or lost) |
//! | firing since S | firing, started ≥ S | [`Verdict::Repeat`] |
//! | firing since S | firing, started < S | [`Verdict::Stale`] (an older occurrence) |
//! | firing since S | resolved, ended ≥ S | [`Verdict::Resolve`] |
//! | firing since S | resolved, ended < S | [`Verdict::Stale`] (an older occurrence's end) |
//! | resolved at E | firing, started > E | [`Verdict::Refire`] |
//! | resolved at E | firing, started ≤ E | [`Verdict::Stale`] (late: resolved before firing) |
//! | resolved | resolved | [`Verdict::Stale`] (a repeat) |
//!
//! So a resolve that overtakes its firing notification wins, a redelivery changes
//! nothing but the notification count, and a firing notification never reopens an
//! occurrence that ended after it started.

use chrono::{DateTime, Utc};
use incident_schema::AlertStatus;

use crate::source::IncomingAlert;

/// An alert's stored occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// Firing or resolved.
    pub status: AlertStatus,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// When it ended (resolved only).
    pub ends_at: Option<DateTime<Utc>>,
}

/// What a notification does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new alert, firing.
    NewFiring,
    /// A new alert that arrives resolved.
    NewResolved,
    /// The same firing occurrence again: its content is refreshed.
    Repeat,
    /// The firing occurrence ended.
    Resolve,
    /// A new occurrence of an alert that had ended.
    Refire,
    /// Older than what is stored: counted, nothing else changes.
    Stale,
}

/// Judges `incoming` against the stored occurrence; `now` stands in for a resolved
/// alert's missing end.
pub fn classify(
    stored: Option<&Occurrence>,
    incoming: &IncomingAlert,
    now: DateTime<Utc>,
) -> Verdict {
    let ended = incoming.ends_at.unwrap_or(now);
    match (stored, incoming.status) {
        (None, AlertStatus::Firing) => Verdict::NewFiring,
        (None, AlertStatus::Resolved) => Verdict::NewResolved,
        (Some(s), AlertStatus::Firing) if s.status == AlertStatus::Firing => {
            if incoming.starts_at >= s.starts_at {
                Verdict::Repeat
            } else {
                Verdict::Stale
            }
        }
        (Some(s), AlertStatus::Resolved) if s.status == AlertStatus::Firing => {
            if ended >= s.starts_at {
                Verdict::Resolve
            } else {
                Verdict::Stale
            }
        }
        (Some(s), AlertStatus::Firing) => match s.ends_at {
            Some(end) if incoming.starts_at <= end => Verdict::Stale,
            _ => Verdict::Refire,
        },
        (Some(_), AlertStatus::Resolved) => Verdict::Stale,
    }
}

/// The occurrence after applying `verdict`.
pub fn apply(
    stored: Option<&Occurrence>,
    incoming: &IncomingAlert,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Occurrence {
    let ended = incoming.ends_at.unwrap_or(now);
    match (verdict, stored) {
        (Verdict::NewFiring | Verdict::Refire, _) | (Verdict::Repeat, None) => Occurrence {
            status: AlertStatus::Firing,
            starts_at: incoming.starts_at,
            ends_at: None,
        },
        (Verdict::NewResolved, _) | (Verdict::Resolve | Verdict::Stale, None) => Occurrence {
            status: AlertStatus::Resolved,
            starts_at: incoming.starts_at.min(ended),
            ends_at: Some(ended),
        },
        (Verdict::Repeat, Some(s)) => Occurrence {
            status: AlertStatus::Firing,
            starts_at: s.starts_at,
            ends_at: None,
        },
        (Verdict::Resolve, Some(s)) => Occurrence {
            status: AlertStatus::Resolved,
            starts_at: s.starts_at,
            ends_at: Some(ended.max(s.starts_at)),
        },
        (Verdict::Stale, Some(s)) => *s,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-11-27T10:{minute:02}:00Z")
            .parse()
            .expect("time")
    }

    fn alert(status: AlertStatus, starts: u32, ends: Option<u32>) -> IncomingAlert {
        IncomingAlert {
            fingerprint: "f".into(),
            source_group_key: None,
            status,
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: at(starts),
            ends_at: ends.map(at),
            generator_url: None,
            links: Vec::new(),
            raw: Value::Null,
            refreshes: true,
        }
    }

    fn run(notifications: &[IncomingAlert]) -> (Vec<Verdict>, Option<Occurrence>) {
        let now = at(59);
        let mut stored: Option<Occurrence> = None;
        let mut verdicts = Vec::new();
        for n in notifications {
            let v = classify(stored.as_ref(), n, now);
            stored = Some(apply(stored.as_ref(), n, v, now));
            verdicts.push(v);
        }
        (verdicts, stored)
    }

    #[test]
    fn firing_repeats_then_resolves() {
        let (v, end) = run(&[
            alert(AlertStatus::Firing, 0, None),
            alert(AlertStatus::Firing, 0, None),
            alert(AlertStatus::Resolved, 0, Some(5)),
        ]);
        assert_eq!(v, [Verdict::NewFiring, Verdict::Repeat, Verdict::Resolve]);
        assert_eq!(
            end.map(|o| (o.status, o.ends_at)),
            Some((AlertStatus::Resolved, Some(at(5))))
        );
    }

    #[test]
    fn a_resolve_that_overtakes_its_firing_notification_wins() {
        let (v, end) = run(&[
            alert(AlertStatus::Resolved, 0, Some(5)),
            alert(AlertStatus::Firing, 0, None),
        ]);
        assert_eq!(v, [Verdict::NewResolved, Verdict::Stale]);
        assert_eq!(end.map(|o| o.status), Some(AlertStatus::Resolved));
    }

    #[test]
    fn a_later_occurrence_refires_and_an_older_end_does_not_resolve_it() {
        let (v, end) = run(&[
            alert(AlertStatus::Firing, 0, None),
            alert(AlertStatus::Resolved, 0, Some(5)),
            alert(AlertStatus::Firing, 10, None),
            alert(AlertStatus::Resolved, 0, Some(5)),
            alert(AlertStatus::Firing, 0, None),
        ]);
        assert_eq!(
            v,
            [
                Verdict::NewFiring,
                Verdict::Resolve,
                Verdict::Refire,
                Verdict::Stale,
                Verdict::Stale
            ]
        );
        assert_eq!(
            end.map(|o| (o.status, o.starts_at)),
            Some((AlertStatus::Firing, at(10)))
        );
    }

    #[test]
    fn a_resolved_alert_without_an_end_ends_now() {
        let (_, end) = run(&[
            alert(AlertStatus::Firing, 0, None),
            alert(AlertStatus::Resolved, 0, None),
        ]);
        assert_eq!(end.and_then(|o| o.ends_at), Some(at(59)));
    }
}
