//! How bad an incident is. SEV1 is the worst; the SLA targets and the war room follow it.

use crate::parse::domain_enum;

domain_enum! {
    /// An incident's severity, `SEV1` (most severe) to `SEV4`. Displays as `SEV1`.
    pub enum Severity (kind = "severity", postgres = "incident_severity") {
        /// Critical: a complete outage.
        Sev1 = "SEV1",
        /// High: major functionality broken.
        Sev2 = "SEV2",
        /// Medium: partial functionality broken.
        Sev3 = "SEV3",
        /// Low: a minor issue.
        Sev4 = "SEV4",
    }
}
