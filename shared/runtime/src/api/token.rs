//! API token material: `inc_` followed by 48 random hex characters (192 bits from the
//! OS's generator, through UUID v4), shown once and stored only as its SHA-256 hash,
//! looked up by that hash (argon2 would be too slow per request and adds nothing for
//! random tokens).

use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are recognisable.
pub const PREFIX: &str = "inc_";
/// Characters of the token kept in clear for listings (`inc_` + 8).
pub const SHOWN: usize = 12;

/// A freshly generated token.
pub struct Generated {
    /// The token itself: returned to the caller once, never stored.
    pub secret: String,
    /// Its first characters, stored to recognise it in listings.
    pub prefix: String,
    /// SHA-256 of the token, stored.
    pub hash: Vec<u8>,
}

/// Generates a new token.
pub fn generate() -> Generated {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    // A v4 UUID has 122 random bits; drop the version/variant nibbles' region by taking
    // the first 24 hex characters of each (96 bits each, all random but for 1 nibble).
    let secret = format!("{PREFIX}{}{}", &a[..24], &b[..24]);
    from_secret(&secret)
}

/// The stored form of a given secret (used for the bootstrap token and on every request).
pub fn from_secret(secret: &str) -> Generated {
    Generated {
        prefix: secret.chars().take(SHOWN).collect(),
        hash: hash(secret),
        secret: secret.to_owned(),
    }
}

/// SHA-256 of a token.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_hash_to_32_bytes() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(PREFIX));
        assert_eq!(a.secret.len(), PREFIX.len() + 48);
        assert_eq!(a.hash.len(), 32);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.prefix, a.secret[..SHOWN]);
    }
}
