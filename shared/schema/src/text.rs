//! Validated text: each rule on a piece of user text lives here once, as a newtype parsed
//! at the edge (`IncidentTitle::parse`, `ServiceName::parse`); code past the edge holds the
//! type and never checks the string again.

use std::fmt;

/// Why a text was refused (the field is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TextError(String);

/// An incident's title: trimmed, 1 to [`IncidentTitle::MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct IncidentTitle(String);

impl IncidentTitle {
    /// The longest title, in characters.
    pub const MAX: usize = 200;

    /// The trimmed title, if it is 1 to [`Self::MAX`] characters.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        bounded(raw, Self::MAX).map(Self)
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an affected service: trimmed, 1 to [`ServiceName::MAX`] characters;
/// compared case-insensitively ([`ServiceName::key`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    /// The longest name, in characters.
    pub const MAX: usize = 100;

    /// The trimmed name, if it is 1 to [`Self::MAX`] characters.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        bounded(raw, Self::MAX).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What two names are compared by: the same service whatever its case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// `text` with `&`, `<` and `>` as the entities `&amp;`, `&lt;`, `&gt;`: what HTML (and so
/// Markdown) and Slack's mrkdwn both need for user text to be shown as written, never read
/// as markup or a control sequence.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

fn bounded(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(TextError(format!("must be 1 to {max} characters")));
    }
    Ok(trimmed.to_owned())
}

impl fmt::Display for IncidentTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(
            IncidentTitle::parse("  Checkout down ").map(|t| t.to_string()),
            Ok("Checkout down".to_owned())
        );
        assert!(IncidentTitle::parse("   ").is_err());
        assert!(
            IncidentTitle::parse(&"é".repeat(200)).is_ok(),
            "200 characters, 400 bytes"
        );
        let refused = IncidentTitle::parse(&"x".repeat(201)).expect_err("too long");
        assert_eq!(refused.to_string(), "must be 1 to 200 characters");
    }

    #[test]
    fn service_names_compare_whatever_their_case() {
        let a = ServiceName::parse(" Payments").expect("valid");
        let b = ServiceName::parse("payments ").expect("valid");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Payments");
        assert!(ServiceName::parse(&"s".repeat(101)).is_err());
    }
}
