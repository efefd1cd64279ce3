//! The incident lifecycle: its statuses and which moves between them are allowed.
//!
//! `INVESTIGATING → IDENTIFIED → MONITORING → RESOLVED → CLOSED`: moves go forward and may
//! skip statuses (a quick fix goes straight to RESOLVED); `RESOLVED → INVESTIGATING`
//! reopens; nothing leaves CLOSED; a status never "moves" to itself.

use crate::parse::domain_enum;

domain_enum! {
    /// Where an incident is in its lifecycle.
    pub enum IncidentStatus (kind = "incident status", postgres = "incident_status") {
        /// Detected or declared; the cause is not known yet.
        Investigating = "INVESTIGATING",
        /// The cause is known; its first arrival stamps `acknowledged_at`.
        Identified = "IDENTIFIED",
        /// A fix or mitigation is in place and being watched; stamps `mitigated_at`.
        Monitoring = "MONITORING",
        /// The impact is over; stamps `resolved_at`. May be reopened.
        Resolved = "RESOLVED",
        /// Done, postmortem included; stamps `closed_at`. Final.
        Closed = "CLOSED",
    }
}

impl IncidentStatus {
    /// The statuses an incident in this status may move to.
    pub const fn allowed_next(self) -> &'static [IncidentStatus] {
        use IncidentStatus::*;
        match self {
            Investigating => &[Identified, Monitoring, Resolved, Closed],
            Identified => &[Monitoring, Resolved, Closed],
            Monitoring => &[Resolved, Closed],
            // Forward to CLOSED, or back to INVESTIGATING as a reopen.
            Resolved => &[Closed, Investigating],
            Closed => &[],
        }
    }

    /// Whether an incident in this status may move to `next`.
    pub fn can_transition_to(self, next: IncidentStatus) -> bool {
        self.allowed_next().contains(&next)
    }

    /// Whether moving to `next` is a reopen (`RESOLVED → INVESTIGATING`).
    pub fn is_reopen(self, next: IncidentStatus) -> bool {
        self == IncidentStatus::Resolved && next == IncidentStatus::Investigating
    }

    /// Whether the incident is still being worked on (not RESOLVED or CLOSED); SLA
    /// deadlines and update cadences apply only then.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            IncidentStatus::Investigating | IncidentStatus::Identified | IncidentStatus::Monitoring
        )
    }

    /// The `incidents` column stamped on the first arrival at this status, if any. The
    /// schema checks that an incident in this status has it set.
    pub const fn stamped_column(self) -> Option<&'static str> {
        match self {
            IncidentStatus::Investigating => None,
            IncidentStatus::Identified => Some("acknowledged_at"),
            IncidentStatus::Monitoring => Some("mitigated_at"),
            IncidentStatus::Resolved => Some("resolved_at"),
            IncidentStatus::Closed => Some("closed_at"),
        }
    }
}
