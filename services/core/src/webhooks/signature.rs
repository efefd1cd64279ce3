//! Signing as the Standard Webhooks specification says (<https://www.standardwebhooks.com>):
//! a secret is `whsec_` followed by the base64 of a random key; a delivery carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds of the attempt) and
//! `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` over
//! `{id}.{timestamp}.{body}`, one per secret in use (two during a rotation).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Every secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";

/// The message id header: the bus event's id, the same on every retry.
pub const ID_HEADER: &str = "webhook-id";
/// The attempt's time header, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signatures header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A new secret: `whsec_` + base64 of 32 random bytes (244 random bits, from the OS's
/// generator through two v4 UUIDs, as API tokens are made).
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The HMAC key of a secret, `None` when it is not `whsec_<base64>`.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// `v1,<signature>` of `body` sent as message `id` at `timestamp` with `secret`; `None`
/// when the secret is malformed (the database's check makes that impossible).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` value: one signature per secret, space-separated.
pub fn header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .filter_map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_the_specifications_example() {
        // The example of the Standard Webhooks reference libraries' tests.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signature = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn a_generated_secret_has_the_prefix_and_a_32_byte_key() {
        let secret = generate_secret();
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_eq!(key_of(&secret).map(|k| k.len()), Some(32));
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn during_a_rotation_the_header_carries_both_signatures() {
        let (a, b) = (generate_secret(), generate_secret());
        let value = header([a.as_str(), b.as_str()], "id", 1, b"{}");
        let parts: Vec<&str> = value.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_eq!(header(["not-a-secret"], "id", 1, b"{}"), "");
    }
}
