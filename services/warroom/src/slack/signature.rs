//! Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(signing secret,
//! `v0:<timestamp>:<raw body>`)), compared in constant time, with timestamps more than
//! five minutes from now rejected.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The timestamp is not a number.
    #[error("the timestamp is not a number")]
    BadTimestamp,
    /// The timestamp is more than five minutes from now.
    #[error("the timestamp is {0} s from now")]
    Stale(i64),
    /// The signature is not `v0=<64 hex>` or does not match.
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (what Slack computes; the
/// fake's driver signs with it).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex(&mac(secret.as_bytes(), timestamp, body)
            .finalize()
            .into_bytes())
    )
}

/// Checks a request's `timestamp` and `signature` headers against its raw `body` at `now`
/// (unix seconds).
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now - ts;
    if skew.abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(unhex)
        .ok_or(SignatureError::Mismatch)?;
    mac(secret.as_bytes(), timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1_531_420_618;

    #[test]
    fn the_official_vector_signs_and_verifies() {
        assert_eq!(BODY.len(), 362);
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), EXPECTED);
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW),
            Ok(())
        );
    }

    #[test]
    fn the_slack_morphism_vector_signs() {
        assert_eq!(
            sign("fa2c05deeef5a4077494e89f54394de0", TS, b"test-body"),
            "v0=baa91ef62d346e56607bbdd278a8acd570b91226854f15a382f43d33be42f666"
        );
    }

    #[test]
    fn a_one_byte_change_to_the_body_is_refused() {
        let mut body = BODY.as_bytes().to_vec();
        body[10] ^= 1;
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), &body, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_older_than_five_minutes_is_refused() {
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), NOW + 301),
            Err(SignatureError::Stale(301))
        );
    }

    #[test]
    fn a_missing_header_and_a_v1_prefix_are_refused() {
        assert!(matches!(
            verify(SECRET, None, Some(EXPECTED), BODY.as_bytes(), NOW),
            Err(SignatureError::Missing(_))
        ));
        assert!(matches!(
            verify(SECRET, Some(TS), None, BODY.as_bytes(), NOW),
            Err(SignatureError::Missing(_))
        ));
        let v1 = EXPECTED.replacen("v0=", "v1=", 1);
        assert_eq!(
            verify(SECRET, Some(TS), Some(&v1), BODY.as_bytes(), NOW),
            Err(SignatureError::Mismatch)
        );
    }
}
