//! [`IncidentRef`]: an incident as a user names it (`INC-42`, `42`) or its id, checked
//! before any request so a typo is a usage error, not a 404.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// An incident named on the command line. The API resolves every form itself
/// (`/api/v1/incidents/{id}` takes the id, `INC-42` or `42`), so the CLI only checks the
/// shape and never lists incidents to find one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentRef {
    /// Its per-workspace number.
    Number(u32),
    /// Its id.
    Id(Uuid),
}

impl IncidentRef {
    /// The `{id}` path segment of the incident routes.
    pub fn path_segment(&self) -> String {
        match self {
            Self::Number(n) => format!("INC-{n}"),
            Self::Id(id) => id.to_string(),
        }
    }
}

impl fmt::Display for IncidentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path_segment())
    }
}

impl FromStr for IncidentRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(id) = s.parse::<Uuid>() {
            return Ok(Self::Id(id));
        }
        let digits = s
            .strip_prefix("INC-")
            .or_else(|| s.strip_prefix("inc-"))
            .unwrap_or(s);
        match digits.parse::<u32>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Self::Number(n)),
            _ => Err("expected INC-<number>, a number, or an incident id".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IncidentRef;

    #[test]
    fn references_numbers_and_ids_name_an_incident_and_anything_else_is_refused() {
        assert_eq!("INC-42".parse(), Ok(IncidentRef::Number(42)));
        assert_eq!("inc-7".parse(), Ok(IncidentRef::Number(7)));
        assert_eq!("42".parse(), Ok(IncidentRef::Number(42)));
        let id = "0190a0c4-6f6e-7c4e-9b8f-3a1d2e4f5a6b";
        assert_eq!(
            id.parse::<IncidentRef>().map(|r| r.path_segment()),
            Ok(id.to_owned())
        );
        for bad in ["", "INC-", "INC-0", "+4", "INC-4x", "checkout"] {
            assert!(bad.parse::<IncidentRef>().is_err(), "{bad}");
        }
    }
}
