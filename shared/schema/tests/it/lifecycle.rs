//! The lifecycle rule: forward with skipping, RESOLVED → INVESTIGATING as a reopen,
//! nothing out of CLOSED, never to the same status.

use incident_schema::IncidentStatus::{self, *};

#[test]
fn the_whole_transition_table_is_as_written() {
    // Rows: from; columns: to, in the order INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED, CLOSED.
    let table: [(IncidentStatus, [bool; 5]); 5] = [
        (Investigating, [false, true, true, true, true]),
        (Identified, [false, false, true, true, true]),
        (Monitoring, [false, false, false, true, true]),
        (Resolved, [true, false, false, false, true]),
        (Closed, [false, false, false, false, false]),
    ];
    for (from, row) in table {
        for (&to, &allowed) in IncidentStatus::ALL.iter().zip(row.iter()) {
            assert_eq!(from.can_transition_to(to), allowed, "{from} -> {to}");
            assert_eq!(from.allowed_next().contains(&to), allowed, "{from} -> {to}");
        }
    }
}

#[test]
fn incidents_move_forward_one_step_at_a_time() {
    assert!(Investigating.can_transition_to(Identified));
    assert!(Identified.can_transition_to(Monitoring));
    assert!(Monitoring.can_transition_to(Resolved));
    assert!(Resolved.can_transition_to(Closed));
}

#[test]
fn a_quick_fix_may_skip_straight_to_resolved() {
    assert!(Investigating.can_transition_to(Resolved));
    assert!(Identified.can_transition_to(Resolved));
}

#[test]
fn incidents_never_move_backwards_except_by_reopening() {
    assert!(!Identified.can_transition_to(Investigating));
    assert!(!Monitoring.can_transition_to(Identified));
    assert!(!Monitoring.can_transition_to(Investigating));
    assert!(!Resolved.can_transition_to(Monitoring));
    assert!(!Resolved.can_transition_to(Identified));
}

#[test]
fn a_resolved_incident_can_be_reopened_as_investigating() {
    assert!(Resolved.can_transition_to(Investigating));
    assert!(Resolved.is_reopen(Investigating));
    assert!(!Monitoring.is_reopen(Investigating));
}

#[test]
fn closed_incidents_cannot_move() {
    assert!(Closed.allowed_next().is_empty());
    for &to in IncidentStatus::ALL {
        assert!(!Closed.can_transition_to(to), "CLOSED -> {to}");
    }
}

#[test]
fn no_status_moves_to_itself() {
    for &status in IncidentStatus::ALL {
        assert!(!status.can_transition_to(status), "{status} -> {status}");
    }
}

#[test]
fn only_investigating_identified_and_monitoring_are_open() {
    let open: Vec<_> = IncidentStatus::ALL.iter().filter(|s| s.is_open()).collect();
    assert_eq!(open, [&Investigating, &Identified, &Monitoring]);
}

#[test]
fn every_status_but_investigating_stamps_its_own_column() {
    let stamped: Vec<_> = IncidentStatus::ALL
        .iter()
        .map(|s| s.stamped_column())
        .collect();
    assert_eq!(
        stamped,
        [
            None,
            Some("acknowledged_at"),
            Some("mitigated_at"),
            Some("resolved_at"),
            Some("closed_at")
        ]
    );
}
