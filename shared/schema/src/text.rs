//! Validated text: each rule on a piece of user text lives here once, as a newtype parsed
//! at the edge (`IncidentTitle`, `ServiceName`, `IdempotencyKey`); code past the edge holds
//! the type and never checks the string again.
//!
//! Each is `TryFrom<String>` and deserializes through it (`#[serde(try_from = "String")]`),
//! so a request body that parses holds valid text; the JSON extractor names the field of a
//! refusal (`title: must be 1 to 200 characters`). They serialize as the plain string.

use std::fmt;

/// Why a text was refused (the field is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TextError(String);

/// An incident's title: trimmed, 1 to [`IncidentTitle::MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
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

/// The key that makes retrying a declare safe (the `Idempotency-Key` header, a
/// command's `idempotency_key`): 1 to [`IdempotencyKey::MAX`] printable ASCII characters
/// (space to `~`), kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key, in characters.
    pub const MAX: usize = 255;

    /// The key, if it is 1 to [`Self::MAX`] printable ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        if raw.is_empty() || raw.len() > Self::MAX {
            return Err(TextError(format!("must be 1 to {} characters", Self::MAX)));
        }
        if !raw.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(TextError("must be printable ASCII".to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key of a command about `id` (an alert group's id, say): always valid.
    pub fn of_id(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
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

/// `TryFrom<String>`, `From<T> for String` and `Display` for a text newtype with `parse`.
macro_rules! text_conversions {
    ($($ty:ident),+) => {$(
        impl TryFrom<String> for $ty {
            type Error = TextError;

            fn try_from(raw: String) -> Result<Self, TextError> {
                Self::parse(&raw)
            }
        }

        impl From<$ty> for String {
            fn from(text: $ty) -> String {
                text.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}

text_conversions!(IncidentTitle, ServiceName, IdempotencyKey);

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

    #[test]
    fn idempotency_keys_are_one_to_255_printable_ascii_characters_kept_as_sent() {
        assert_eq!(
            IdempotencyKey::parse(" slack:1.2 ").map(|k| k.to_string()),
            Ok(" slack:1.2 ".to_owned())
        );
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        let long = IdempotencyKey::parse(&"k".repeat(256)).expect_err("too long");
        assert_eq!(long.to_string(), "must be 1 to 255 characters");
        assert!(IdempotencyKey::parse("").is_err());
        for bad in ["tab\there", "é", "nul\0"] {
            let refused = IdempotencyKey::parse(bad).expect_err(bad);
            assert_eq!(refused.to_string(), "must be printable ASCII");
        }
    }

    #[test]
    fn text_deserializes_through_its_rules_and_serializes_as_the_string() {
        let title: IncidentTitle = serde_json::from_str(r#"" Checkout down ""#).expect("valid");
        assert_eq!(
            serde_json::to_string(&title).expect("json"),
            r#""Checkout down""#
        );
        let refused = serde_json::from_str::<ServiceName>(r#""   ""#).expect_err("blank");
        assert!(
            refused.to_string().contains("must be 1 to 100 characters"),
            "{refused}"
        );
        let key: IdempotencyKey = serde_json::from_str(r#""group-7""#).expect("valid");
        assert_eq!(key.as_str(), "group-7");
    }
}
