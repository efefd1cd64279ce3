//! The named roles of an incident response and the `incidents` columns that hold them.

use crate::parse::domain_enum;

domain_enum! {
    /// A role in an incident's response. Each is one nullable user column on `incidents`.
    pub enum Role (kind = "role") {
        /// The Incident Commander: runs the response.
        Commander = "commander",
        /// The Tech Lead: leads the technical investigation.
        TechLead = "tech_lead",
        /// The Comms Lead: keeps stakeholders and the status page informed.
        CommsLead = "comms_lead",
    }
}

impl Role {
    /// The `incidents` column holding this role's user id.
    pub const fn column(self) -> &'static str {
        match self {
            Role::Commander => "commander_id",
            Role::TechLead => "tech_lead_id",
            Role::CommsLead => "comms_lead_id",
        }
    }

    /// The role's name as people read it, e.g. "Incident Commander".
    pub const fn title(self) -> &'static str {
        match self {
            Role::Commander => "Incident Commander",
            Role::TechLead => "Tech Lead",
            Role::CommsLead => "Comms Lead",
        }
    }
}
