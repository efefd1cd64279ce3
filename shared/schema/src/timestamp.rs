//! [`Timestamp`]: an instant a client gives us (`detected_at`, `expires_at`, ...), in
//! RFC 3339.
//!
//! The one place a malformed instant is refused: the error says what is expected, with an
//! example, instead of chrono's "input contains invalid characters", so every request
//! field of this type answers the same helpful validation problem (the body extractor
//! names the field). Any offset is accepted and the instant is kept in UTC.

use chrono::{DateTime, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// What a malformed timestamp is told (also in the OpenAPI document).
pub const EXPECTED: &str = "an RFC 3339 timestamp such as 2026-12-01T09:30:00Z";

/// An instant in RFC 3339 (`2026-12-01T09:30:00Z`, `2026-12-01T10:30:00+01:00`), as UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = DateTime, example = "2026-12-01T09:30:00Z")]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses RFC 3339; the error says what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text.trim())
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(|_| format!("expected {EXPECTED}, got {text:?}"))
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rfc3339;

        impl Visitor<'_> for Rfc3339 {
            type Value = Timestamp;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Rfc3339)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_is_read_as_the_same_instant_in_utc() {
        let z = Timestamp::parse("2026-12-01T09:30:00Z").expect("z");
        let plus = Timestamp::parse("2026-12-01T10:30:00+01:00").expect("offset");
        let fraction: Timestamp =
            serde_json::from_str("\"2026-12-01T09:30:00.000000Z\"").expect("fraction");
        assert_eq!(z, plus);
        assert_eq!(z, fraction);
        assert_eq!(
            serde_json::to_string(&z).expect("json"),
            "\"2026-12-01T09:30:00Z\""
        );
    }

    #[test]
    fn a_malformed_timestamp_is_told_what_is_expected() {
        for bad in [
            "\"yesterday\"",
            "\"2026-12-01 09:30\"",
            "\"2026-13-01T09:30:00Z\"",
            "42",
        ] {
            let error = serde_json::from_str::<Timestamp>(bad)
                .expect_err(bad)
                .to_string();
            assert!(
                error.contains("RFC 3339 timestamp such as 2026-12-01T09:30:00Z"),
                "{bad}: {error}"
            );
            assert!(!error.contains("invalid characters"), "{bad}: {error}");
        }
    }
}
