//! Credentials sealed at rest: what a service must keep to call someone else on a
//! workspace's behalf (an issue tracker's API token) is stored encrypted with the key
//! from `INCIDENT_SECRETS_KEY`, never in clear, and never leaves the process except in the
//! request it authenticates.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`): a random 24-byte nonce per seal
//! is safe without a counter. The sealed form is `version (1 byte) ‖ nonce ‖ ciphertext`.
//! Each seal binds *associated data* naming what it is for (say `tracker:<workspace id>`),
//! so a sealed value copied into another workspace's row does not open there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::SecretString;

/// The format byte of what [`SealingKey::seal`] writes.
const VERSION: u8 = 1;
/// XChaCha20's nonce length.
const NONCE: usize = 24;

/// The key that seals and opens stored credentials.
#[derive(Clone)]
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

/// A sealed value that does not open: another key, other associated data, or tampered.
#[derive(Debug, thiserror::Error)]
#[error("a stored credential does not open with the configured INCIDENT_SECRETS_KEY")]
pub struct Unsealable;

impl SealingKey {
    /// Parses the configured key: base64 (standard alphabet) of exactly 32 bytes.
    pub fn parse(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "must be base64 of 32 random bytes (`openssl rand -base64 32`)")?;
        if bytes.len() != 32 {
            return Err(format!(
                "must decode to 32 bytes, not {} (`openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| "must decode to 32 bytes".to_owned())?;
        Ok(Self { cipher })
    }

    /// Encrypts `secret` for the purpose named by `aad`.
    pub fn seal(&self, secret: &str, aad: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption in memory fails only for messages beyond 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 seals any credential"));
        let mut sealed = Vec::with_capacity(1 + NONCE + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what [`seal`](Self::seal) wrote for the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<SecretString, Unsealable> {
        let (version, rest) = sealed.split_first().ok_or(Unsealable)?;
        if *version != VERSION || rest.len() < NONCE {
            return Err(Unsealable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| Unsealable)?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_purpose_only() {
        let key = SealingKey::parse(KEY).expect("valid key");
        let sealed = key.seal("api-token-1", "tracker:a");
        assert!(!sealed.windows(11).any(|w| w == b"api-token-1"));
        assert_eq!(
            key.open(&sealed, "tracker:a")
                .expect("opens")
                .expose_secret(),
            "api-token-1"
        );
        assert!(key.open(&sealed, "tracker:b").is_err());
        let other =
            SealingKey::parse("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").expect("valid key");
        assert!(other.open(&sealed, "tracker:a").is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(key.open(&tampered, "tracker:a").is_err());
        assert_ne!(
            sealed,
            key.seal("api-token-1", "tracker:a"),
            "nonces differ"
        );
    }

    #[test]
    fn a_key_that_is_not_32_bytes_of_base64_is_refused() {
        assert!(SealingKey::parse("not base64!").is_err());
        assert!(SealingKey::parse("c2hvcnQ=").is_err());
    }
}
