//! Plain values templates of every service render: a timestamp as pages show it and a
//! choice of a `<select>`. Built by the serving service from its domain types, so
//! snapshot tests can render any page from fixed data.

/// A timestamp as pages show it: the RFC 3339 value for `<time datetime>` (the script
/// shows it in the viewer's zone) and a UTC label for readers without JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339, UTC.
    pub iso: String,
    /// `2026-12-02 04:30 UTC`.
    pub label: String,
}

impl When {
    /// The display of `at`.
    pub fn of(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            label: at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// A choice of a `<select>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// What people read.
    pub label: String,
    /// Currently chosen.
    pub selected: bool,
}

impl Choice {
    /// One choice.
    pub fn new(value: &str, label: &str, selected: bool) -> Self {
        Self {
            value: value.to_owned(),
            label: label.to_owned(),
            selected,
        }
    }

    /// The choices of `values`, `chosen` selected.
    pub fn of(values: &[&str], chosen: &str) -> Vec<Self> {
        values
            .iter()
            .map(|v| Self::new(v, v, *v == chosen))
            .collect()
    }
}
