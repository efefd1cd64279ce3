//! Resolved bearer tokens kept in process for a short time, so a burst of requests with
//! one token looks it up in the database once per [`TokenCache::ttl`], not once per
//! request.
//!
//! Invariants:
//! - keyed by the token's SHA-256 (what `api_tokens.token_hash` stores), never by the
//!   token itself;
//! - only tokens the database found active are kept; an unknown, revoked or expired
//!   token is looked up again on every request (nothing negative is cached, so a flood of
//!   bad tokens cannot fill the cache, and a new token works at once);
//! - an entry lives at most the TTL (1 s by default) and never past the token's own
//!   `expires_at`: a token revoked by another process or replica is refused within the
//!   TTL; one revoked through this process's own state is evicted at once
//!   ([`TokenCache::evict`]);
//! - at most [`MAX_ENTRIES`] entries: when full, expired entries go first, and if none
//!   has expired the cache starts over (a miss costs one indexed lookup, as before).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::auth::Auth;

/// How long a resolved token is trusted without asking the database again, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// Tokens kept at most (one process rarely sees more distinct tokens in a second).
pub const MAX_ENTRIES: usize = 10_000;

/// The SHA-256 of a token.
pub type TokenHash = [u8; 32];

/// A cache of resolved tokens; clones share it. [`TokenCache::disabled`] keeps nothing.
#[derive(Clone, Debug)]
pub struct TokenCache {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    ttl: Duration,
    entries: Mutex<HashMap<TokenHash, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    auth: Auth,
    until: Instant,
}

impl Default for TokenCache {
    /// A cache with [`DEFAULT_TTL`].
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl TokenCache {
    /// A cache keeping each resolved token for `ttl` (a zero `ttl` keeps nothing).
    pub fn new(ttl: Duration) -> Self {
        if ttl.is_zero() {
            return Self::disabled();
        }
        Self {
            inner: Some(Arc::new(Inner {
                ttl,
                entries: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// A cache that keeps nothing: every request asks the database.
    pub const fn disabled() -> Self {
        Self { inner: None }
    }

    /// How long an entry is kept (zero when disabled).
    pub fn ttl(&self) -> Duration {
        self.inner.as_ref().map_or(Duration::ZERO, |i| i.ttl)
    }

    /// The caller a still-fresh entry for `hash` resolved to, if any.
    pub fn get(&self, hash: &TokenHash) -> Option<Auth> {
        let inner = self.inner.as_ref()?;
        let now = Instant::now();
        let mut entries = inner.lock();
        match entries.get(hash) {
            Some(entry) if entry.until > now => Some(entry.auth),
            Some(_) => {
                entries.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Keeps `auth`, resolved from the active token `hash` that expires at `expires_at`
    /// (if ever), for the TTL or until it expires, whichever comes first.
    pub fn put(&self, hash: TokenHash, auth: Auth, expires_at: Option<DateTime<Utc>>) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        let mut keep = inner.ttl;
        if let Some(expires_at) = expires_at {
            match (expires_at - Utc::now()).to_std() {
                Ok(left) => keep = keep.min(left),
                // Expired while it was being looked up: nothing to keep.
                Err(_) => return,
            }
        }
        let now = Instant::now();
        let mut entries = inner.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&hash) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Entry {
                auth,
                until: now + keep,
            },
        );
    }

    /// Forgets the token `hash` (it was just revoked), so this process refuses it at once.
    pub fn evict(&self, hash: &[u8]) {
        let (Some(inner), Ok(hash)) = (self.inner.as_ref(), TokenHash::try_from(hash)) else {
            return;
        };
        inner.lock().remove(&hash);
    }

    /// Entries held, fresh or not yet swept.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.lock().len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Entry>> {
        // An entry is written whole under the lock, so a panic elsewhere leaves it sound.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use incident_schema::AccessRole;
    use uuid::Uuid;

    use super::*;

    fn auth() -> Auth {
        Auth {
            workspace_id: Uuid::now_v7(),
            user_id: None,
            role: AccessRole::Viewer,
            token_id: Uuid::now_v7(),
            instance_admin: false,
        }
    }

    #[test]
    fn an_entry_is_kept_for_the_ttl_and_evicted_on_demand() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let a = auth();
        assert!(cache.get(&[1; 32]).is_none());
        cache.put([1; 32], a, None);
        assert_eq!(cache.get(&[1; 32]).map(|x| x.token_id), Some(a.token_id));
        assert!(cache.get(&[2; 32]).is_none(), "another hash finds nothing");
        cache.evict(&[1; 32]);
        assert!(cache.get(&[1; 32]).is_none());
        cache.evict(&[1; 3]);
        assert!(cache.is_empty());
    }

    #[test]
    fn an_entry_never_outlives_the_ttl_or_the_token() {
        let cache = TokenCache::new(Duration::from_millis(1));
        cache.put([1; 32], auth(), None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&[1; 32]).is_none(), "past the TTL");
        assert!(cache.is_empty(), "a stale entry is dropped when read");

        let cache = TokenCache::new(Duration::from_secs(60));
        cache.put([3; 32], auth(), Some(Utc::now() - TimeDelta::seconds(1)));
        assert!(cache.is_empty(), "an expired token is not kept");
        cache.put(
            [4; 32],
            auth(),
            Some(Utc::now() + TimeDelta::milliseconds(1)),
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&[4; 32]).is_none(), "past the token's expiry");
    }

    #[test]
    fn a_disabled_or_zero_ttl_cache_keeps_nothing() {
        for cache in [TokenCache::disabled(), TokenCache::new(Duration::ZERO)] {
            cache.put([1; 32], auth(), None);
            assert!(cache.get(&[1; 32]).is_none());
            assert_eq!(cache.ttl(), Duration::ZERO);
        }
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = TokenCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.put(hash, auth(), None);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.put([0xff; 32], auth(), None);
        assert!(cache.len() <= MAX_ENTRIES);
        assert!(cache.get(&[0xff; 32]).is_some(), "the newest entry is kept");
    }
}
