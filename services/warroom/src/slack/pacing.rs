//! Pacing per Slack team: a token bucket per Web API method at its rate-limit tier's rate
//! (Slack limits each method per workspace; `chat.postMessage` per channel) in front of
//! the client, and the team's pause after a
//! 429. One [`TeamPacing`] per Slack team (per bot token), shared by every client of that
//! team in the process, so one team's limits never slow another's.
//!
//! Tiers as Slack documents them (docs.slack.dev/apis/web-api/rate-limits; the reference
//! note §1 and §3): Tier 1 1+/min, Tier 2 20+/min, Tier 3 50+/min, Tier 4 100+/min, and
//! `chat.postMessage` "special": about one message per second per channel, short bursts
//! allowed. A bucket holds a minute's worth (Slack counts per minute) and refills evenly.
//!
//! A call waits for its token in line only briefly ([`MAX_INLINE_WAIT`]); a longer wait,
//! or a team paused by a 429 (its `Retry-After`), surfaces as
//! [`SlackError::RateLimited`](super::SlackError::RateLimited) at once, without calling
//! Slack, so the war room's worker defers that team's job and takes another team's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a call waits for its bucket in line.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);

/// A Web API rate-limit tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// 1+ per minute.
    One,
    /// 20+ per minute.
    Two,
    /// 50+ per minute.
    Three,
    /// 100+ per minute.
    Four,
    /// `chat.postMessage`: about 1 per second per channel.
    PostMessage,
}

impl Tier {
    /// The tier of a method we call (reference §1; unknown ones as Tier 2, the cautious
    /// middle).
    pub fn of(method: &str) -> Self {
        match method {
            "chat.postMessage" => Self::PostMessage,
            "conversations.create"
            | "conversations.list"
            | "conversations.setTopic"
            | "conversations.archive"
            | "conversations.unarchive"
            | "pins.add"
            | "bookmarks.add"
            | "bookmarks.edit" => Self::Two,
            "conversations.info"
            | "conversations.invite"
            | "conversations.join"
            | "chat.update"
            | "users.lookupByEmail" => Self::Three,
            "chat.postEphemeral" | "users.info" | "views.open" | "views.update" | "auth.test"
            | "oauth.v2.access" => Self::Four,
            _ => Self::Two,
        }
    }

    /// Calls a minute (the bucket's size) and per second (its refill).
    fn per_minute(self) -> f64 {
        match self {
            Self::One => 1.0,
            Self::Two => 20.0,
            Self::Three => 50.0,
            Self::Four => 100.0,
            Self::PostMessage => 60.0,
        }
    }

    /// The burst a bucket allows.
    fn burst(self) -> f64 {
        match self {
            // "Short bursts" of one channel's messages, not a minute's worth at once.
            Self::PostMessage => 10.0,
            other => other.per_minute(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One Slack team's buckets and pause.
#[derive(Debug)]
pub struct TeamPacing {
    team: String,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
    paused_until: Mutex<Option<Instant>>,
}

impl TeamPacing {
    /// Fresh buckets for `team` (a team id, or `*` for the single configured token).
    pub fn new(team: &str) -> Self {
        Self {
            team: team.to_owned(),
            buckets: Mutex::new(HashMap::new()),
            paused_until: Mutex::new(None),
        }
    }

    /// The team.
    pub fn team(&self) -> &str {
        &self.team
    }

    /// Takes a token for `method` (`channel`: the channel a message goes to): how long to
    /// wait before calling, or `Err(wait)` when that is longer than [`MAX_INLINE_WAIT`]
    /// (nothing taken).
    pub fn reserve(&self, method: &str, channel: &str) -> Result<Duration, Duration> {
        let tier = Tier::of(method);
        let key = if tier == Tier::PostMessage {
            channel.to_owned()
        } else {
            String::new()
        };
        let rate = tier.per_minute() / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry((method.to_owned(), key)).or_insert(Bucket {
            tokens: tier.burst(),
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(tier.burst());
        bucket.at = now;
        // A negative balance is a reservation of a later slot: the wait until it refills.
        let wait = Duration::from_secs_f64(((1.0 - bucket.tokens) / rate).max(0.0));
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(Duration::ZERO)
        } else if wait <= MAX_INLINE_WAIT {
            bucket.tokens -= 1.0;
            Ok(wait)
        } else {
            Err(wait)
        }
    }

    /// Pauses the team for `wait` (a 429's `Retry-After`), never shortening a pause.
    pub fn pause(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// How long the team is still paused, if it is.
    pub fn paused_for(&self) -> Option<Duration> {
        let paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        paused
            .map(|p| p.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_two_bucket_allows_its_minute_then_asks_to_defer() {
        let pacing = TeamPacing::new("T1");
        for _ in 0..20 {
            assert_eq!(
                pacing.reserve("conversations.create", ""),
                Ok(Duration::ZERO)
            );
        }
        // The 21st waits for a refill of 3 s: longer than the in-line wait.
        let deferred = pacing
            .reserve("conversations.create", "")
            .expect_err("deferred");
        assert!(deferred > MAX_INLINE_WAIT, "{deferred:?}");
        // Another method of the same team (of the same tier, too), and another team, are
        // untouched.
        assert_eq!(pacing.reserve("chat.update", ""), Ok(Duration::ZERO));
        assert_eq!(pacing.reserve("pins.add", ""), Ok(Duration::ZERO));
        assert_eq!(
            TeamPacing::new("T2").reserve("conversations.create", ""),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn messages_are_paced_per_channel() {
        let pacing = TeamPacing::new("T1");
        for _ in 0..10 {
            assert_eq!(pacing.reserve("chat.postMessage", "C1"), Ok(Duration::ZERO));
        }
        let wait = pacing.reserve("chat.postMessage", "C1").expect("in line");
        assert!(wait > Duration::ZERO && wait <= MAX_INLINE_WAIT);
        assert_eq!(pacing.reserve("chat.postMessage", "C2"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_pause_is_never_shortened() {
        let pacing = TeamPacing::new("T1");
        assert_eq!(pacing.paused_for(), None);
        pacing.pause(Duration::from_secs(30));
        pacing.pause(Duration::from_secs(1));
        assert!(pacing.paused_for().expect("paused") > Duration::from_secs(20));
    }
}
