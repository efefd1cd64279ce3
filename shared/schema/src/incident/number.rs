//! The human-readable incident number, per workspace, shown as `INC-42`.
//!
//! Numbers start at 1 and are taken from the workspace's counter
//! ([`crate::workspace::next_incident_number`]), so they are gap-free per workspace.

use std::fmt;
use std::str::FromStr;

use crate::parse::ParseError;

/// An incident's number within its workspace. Displays as `INC-42`; stored and
/// serialised as the bare integer.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct IncidentNumber(pub i32);

impl IncidentNumber {
    /// The prefix of the displayed form.
    pub const PREFIX: &'static str = "INC-";

    /// The bare number.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{}{}", Self::PREFIX, self.0))
    }
}

impl FromStr for IncidentNumber {
    type Err = ParseError;

    /// Parses `INC-42` (prefix in any case) into 42. The number must be positive and
    /// written with digits only.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let reject = || ParseError::new("incident number", s, &["INC-<number>"]);
        let prefix_len = Self::PREFIX.len();
        let (prefix, digits) = match (s.get(..prefix_len), s.get(prefix_len..)) {
            (Some(prefix), Some(digits)) => (prefix, digits),
            _ => return Err(reject()),
        };
        if !prefix.eq_ignore_ascii_case(Self::PREFIX)
            || digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(reject());
        }
        match digits.parse::<i32>() {
            Ok(n) if n > 0 => Ok(IncidentNumber(n)),
            _ => Err(reject()),
        }
    }
}
