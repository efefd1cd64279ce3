//! The sender: posts due deliveries to their receivers, signed, and settles them.
//!
//! Like the outbox relay: woken by the deliveries' NOTIFY (`webhook_deliveries`, on
//! commit) on a dedicated LISTEN connection, with a poll as a backstop (and to pick up
//! retries as they fall due), it claims due deliveries with `FOR UPDATE SKIP LOCKED`, so
//! any number of senders share the work without sending a delivery twice at once, posts
//! them concurrently, and settles them in the claim's transaction. A crash before the
//! commit sends those deliveries again: at least once, and the `webhook-id` (the event's
//! id) lets the receiver de-duplicate.
//!
//! Order: only the oldest pending delivery of a (subscription, incident) is due, so the
//! events of an incident reach a receiver in the order they were published, each after
//! the one before was accepted (or failed for good). Deliveries without an incident are
//! independent.
//!
//! A 2xx answer delivers; anything else (another status, a timeout, a refused
//! connection; redirects are not followed) is retried with exponential backoff and
//! jitter until the delivery's retry window ([`Sender::max_age`], a day by default) is
//! over, when it is `failed`. A subscription whose deliveries fail for good
//! [`Sender::disable_after`] times in a row, with no success between, is disabled with
//! its reason, and `webhook.subscription_disabled` is written to core's outbox in the
//! same transaction so its admins are told.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use incident_bus::OutgoingMessage;
use incident_runtime::metrics::{
    WEBHOOK_ATTEMPT_DURATION, WEBHOOK_DELIVERIES, WEBHOOK_SUBSCRIPTIONS_DISABLED,
};
use incident_schema::contract::WebhookSubscriptionDisabled;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::signature::{self, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The NOTIFY channel deliveries are announced on (migration `0081_webhooks.sql`).
pub const CHANNEL: &str = "webhook_deliveries";
/// Bytes of a receiver's answer kept in the log.
pub const RESPONSE_KEPT: usize = 1024;
/// Settled deliveries (and their attempts) are kept this long in the log, then deleted.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone, sqlx::FromRow)]
struct Due {
    id: i64,
    subscription_id: Uuid,
    event_id: Uuid,
    payload: String,
    attempts: i32,
    retry_from: DateTime<Utc>,
    url: String,
    secret: String,
    previous_secret: Option<String>,
}

/// What one attempt came to.
struct Attempt {
    id: i64,
    subscription_id: Uuid,
    status_code: Option<i32>,
    response: Option<String>,
    error: Option<String>,
    duration: Duration,
    accepted: bool,
}

/// Posts due webhook deliveries. Run one per process; any number may run at once.
#[derive(Clone)]
pub struct Sender {
    pool: PgPool,
    client: reqwest::Client,
    batch_size: i64,
    concurrency: usize,
    poll_interval: Duration,
    min_retry: Duration,
    max_retry: Duration,
    max_age: Duration,
    disable_after: i32,
}

impl Sender {
    /// A sender with the defaults: 10 s per request, no redirects, batches of 200 posted
    /// 64 at a time, a poll every second, retries from 5 s doubling to an hour for a
    /// day, disabling after 5 deliveries in a row failed for good.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            client: client(Duration::from_secs(10)),
            batch_size: 200,
            concurrency: 64,
            poll_interval: Duration::from_secs(1),
            min_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
            disable_after: 5,
        }
    }

    /// How long one request may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = client(timeout);
        self
    }

    /// Deliveries claimed per transaction.
    pub fn batch_size(mut self, n: i64) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Requests in flight at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How often to look for due deliveries when no notification arrives.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The first retry's delay and the longest one.
    pub fn retry_delays(mut self, first: Duration, longest: Duration) -> Self {
        self.min_retry = first;
        self.max_retry = longest.max(first);
        self
    }

    /// How long a delivery is retried before it is `failed`.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Deliveries failed for good in a row that disable a subscription.
    pub fn disable_after(mut self, n: i32) -> Self {
        self.disable_after = n.max(1);
        self
    }

    /// Runs until `shutdown`; the batch in flight finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        let mut failures = 0u32;
        let mut pruned = Instant::now();
        loop {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                match prune(&self.pool, RETENTION).await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(deliveries = n, "pruned settled webhook deliveries")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning webhook deliveries failed"),
                }
            }
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match self.send_due().await {
                    Ok(n) => {
                        failures = 0;
                        if n < self.batch_size as usize {
                            break;
                        }
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let wait = Duration::from_millis(200 << failures.min(6));
                        tracing::warn!(error = %e, ?wait, "webhook sender batch failed; the deliveries stay pending");
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = shutdown.cancelled() => return,
                        }
                    }
                }
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                () = shutdown.cancelled() => return,
                notification = recv(&mut listener) => if let Err(e) = notification {
                    tracing::warn!(error = %e, "webhook listener failed; polling until it is back");
                    listener = None;
                },
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let attempt = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for webhook deliveries; polling");
                None
            }
        }
    }

    /// Claims up to one batch of due deliveries, posts them and settles them; returns
    /// how many were claimed.
    pub async fn send_due(&self) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let due = claim(&mut tx, self.batch_size).await?;
        if due.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let attempts: Vec<Attempt> = futures_util::stream::iter(due.clone())
            .map(|d| {
                let sender = self.clone();
                async move { sender.post(&d).await }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        self.settle(&mut tx, &due, &attempts).await?;
        tx.commit().await?;
        Ok(due.len())
    }

    async fn post(&self, due: &Due) -> Attempt {
        let id = due.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let secrets = std::iter::once(due.secret.as_str()).chain(due.previous_secret.as_deref());
        let signatures = signature::header(secrets, &id, timestamp, due.payload.as_bytes());
        let started = Instant::now();
        let sent = self
            .client
            .post(&due.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signatures)
            .body(due.payload.clone())
            .send()
            .await;
        let (status_code, response, error, accepted) = match sent {
            Ok(response) => {
                let status = response.status();
                let body = read_start(response).await;
                let error = (!status.is_success()).then(|| format!("answered {status}"));
                (
                    Some(i32::from(status.as_u16())),
                    Some(body),
                    error,
                    status.is_success(),
                )
            }
            Err(e) => (None, None, Some(describe(&e)), false),
        };
        Attempt {
            id: due.id,
            subscription_id: due.subscription_id,
            status_code,
            response,
            error,
            duration: started.elapsed(),
            accepted,
        }
    }

    /// Records the attempts, settles each delivery, counts the subscriptions' failures
    /// and disables those that reached the limit.
    async fn settle(
        &self,
        tx: &mut PgConnection,
        due: &[Due],
        attempts: &[Attempt],
    ) -> Result<(), sqlx::Error> {
        let now = Utc::now();
        let mut ids = Vec::with_capacity(attempts.len());
        let mut statuses = Vec::with_capacity(attempts.len());
        let mut codes = Vec::with_capacity(attempts.len());
        let mut errors = Vec::with_capacity(attempts.len());
        let mut responses = Vec::with_capacity(attempts.len());
        let mut durations = Vec::with_capacity(attempts.len());
        let mut next = Vec::with_capacity(attempts.len());
        // Per subscription: whether one was accepted, and how many failed for good.
        let mut tally: std::collections::BTreeMap<Uuid, (bool, i32)> = Default::default();
        for attempt in attempts {
            let Some(delivery) = due.iter().find(|d| d.id == attempt.id) else {
                continue;
            };
            let window_over = now
                >= delivery.retry_from
                    + chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
            let outcome = if attempt.accepted {
                "delivered"
            } else if window_over {
                "failed"
            } else {
                "retrying"
            };
            let entry = tally.entry(attempt.subscription_id).or_default();
            entry.0 |= attempt.accepted;
            entry.1 += i32::from(outcome == "failed");
            metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
            metrics::histogram!(WEBHOOK_ATTEMPT_DURATION, "outcome" => outcome)
                .record(attempt.duration.as_secs_f64());
            ids.push(attempt.id);
            statuses.push(if outcome == "retrying" {
                "pending"
            } else {
                outcome
            });
            codes.push(attempt.status_code);
            errors.push(attempt.error.clone());
            responses.push(attempt.response.clone());
            durations.push(i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX));
            let delay = retry_delay(
                self.min_retry,
                self.max_retry,
                attempt.id,
                delivery.attempts + 1,
            );
            next.push(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX));
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, status_code, response, error, duration_ms)
             SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::int[])",
        )
        .bind(&ids)
        .bind(&codes)
        .bind(&responses)
        .bind(&errors)
        .bind(&durations)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries d
             SET status = u.status::webhook_delivery_status, attempts = d.attempts + 1,
                 last_attempt_at = now(), last_status_code = u.code, last_error = u.error,
                 next_attempt_at = CASE WHEN u.status = 'pending' THEN u.next ELSE d.next_attempt_at END,
                 delivered_at = CASE WHEN u.status = 'delivered' THEN now() END
             FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
                  AS u(id, status, code, error, next)
             WHERE d.id = u.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&codes)
        .bind(&errors)
        .bind(&next)
        .execute(&mut *tx)
        .await?;
        let (subscriptions, (succeeded, failed)): (Vec<Uuid>, (Vec<bool>, Vec<i32>)) =
            tally.into_iter().unzip();
        // A success resets the count; deliveries failed for good add to it.
        sqlx::query(
            "UPDATE webhook_subscriptions s
             SET consecutive_failures = CASE WHEN u.succeeded THEN 0 ELSE s.consecutive_failures END + u.failed
             FROM unnest($1::uuid[], $2::bool[], $3::int[]) AS u(id, succeeded, failed)
             WHERE s.id = u.id AND (u.succeeded OR u.failed > 0)",
        )
        .bind(&subscriptions)
        .bind(&succeeded)
        .bind(&failed)
        .execute(&mut *tx)
        .await?;
        self.disable_failing(tx, &subscriptions).await
    }

    async fn disable_failing(
        &self,
        tx: &mut PgConnection,
        subscriptions: &[Uuid],
    ) -> Result<(), sqlx::Error> {
        let reason = format!(
            "disabled after {} deliveries in a row were not accepted within their retry window ({} s each)",
            self.disable_after,
            self.max_age.as_secs()
        );
        let disabled: Vec<(Uuid, Uuid, String, i32, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE webhook_subscriptions
             SET enabled = false, disabled_at = now(), disabled_reason = $3, updated_at = now()
             WHERE id = ANY ($1) AND enabled AND consecutive_failures >= $2
             RETURNING id, workspace_id, url, consecutive_failures, disabled_at",
        )
        .bind(subscriptions)
        .bind(self.disable_after)
        .bind(&reason)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(disabled.len());
        for (id, workspace_id, url, consecutive_failures, disabled_at) in disabled {
            tracing::warn!(subscription_id = %id, %url, consecutive_failures, "webhook subscription disabled for failing");
            metrics::counter!(WEBHOOK_SUBSCRIPTIONS_DISABLED).increment(1);
            let event = WebhookSubscriptionDisabled {
                subscription_id: id,
                url,
                reason: reason.clone(),
                consecutive_failures,
                disabled_at,
            };
            events.push(
                OutgoingMessage::of(workspace_id, &event)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
            );
        }
        incident_bus::outbox::enqueue(tx, crate::SERVICE, &events).await
    }
}

/// The delay before attempt `attempt + 1`: `first` doubling with each attempt up to
/// `longest`, spread by ±25 % (a hash of the delivery and the attempt: deliveries that
/// failed together are not retried together).
fn retry_delay(first: Duration, longest: Duration, delivery: i64, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = first.saturating_mul(1u32 << exp).min(longest);
    let spread = (mix(delivery as u64 ^ ((attempt as u64) << 48)) % 501) as f64 / 1000.0;
    base.mul_f64(0.75 + spread)
}

/// Deletes delivered and failed deliveries (with their attempts) older than `age`;
/// pending ones are kept whatever their age. Returns how many were deleted.
pub async fn prune(pool: &PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM webhook_deliveries
         WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1)",
    )
    .bind(age.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The claim: due pending deliveries of enabled subscriptions that head their chain
/// (no older pending delivery about the same incident for the same subscription),
/// locked for this transaction, skipping those another sender holds.
async fn claim(tx: &mut PgConnection, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.subscription_id, d.event_id, d.payload, d.attempts, d.retry_from,
                s.url, s.secret,
                CASE WHEN s.previous_secret_expires_at > now() THEN s.previous_secret END AS previous_secret
         FROM webhook_deliveries d
         JOIN webhook_subscriptions s ON s.id = d.subscription_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND s.enabled
           AND (d.incident_id IS NULL OR NOT EXISTS (
                 SELECT 1 FROM webhook_deliveries e
                 WHERE e.subscription_id = d.subscription_id AND e.incident_id = d.incident_id
                   AND e.status = 'pending' AND e.id < d.id))
         ORDER BY d.next_attempt_at, d.id
         LIMIT $1
         FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(tx)
    .await
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        // A receiver answers; a redirect is not an answer (and could point anywhere).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("incident-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|e| {
            // Only a TLS back end that cannot start fails here; every request would fail too.
            tracing::error!(error = %e, "cannot build the webhook HTTP client; using the default one");
            reqwest::Client::new()
        })
}

/// The first [`RESPONSE_KEPT`] bytes of an answer's body (as text), reading no further.
async fn read_start(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(RESPONSE_KEPT);
    String::from_utf8_lossy(&kept).replace('\0', "\u{FFFD}")
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

/// splitmix64: a cheap, well-spread hash for the jitter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The next notification; never resolves without a listener (the poll wakes us).
async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        // `None`: the connection was lost (it reconnects); notifications may have been
        // lost meanwhile, so waking up to look is right.
        Some(l) => l.try_recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_longest_delay() {
        let delay = |delivery, attempt| {
            retry_delay(
                Duration::from_secs(5),
                Duration::from_secs(3600),
                delivery,
                attempt,
            )
        };
        let first = delay(1, 1);
        assert!(
            first >= Duration::from_millis(3750) && first <= Duration::from_millis(6250),
            "{first:?}"
        );
        let fourth = delay(1, 4);
        assert!(
            fourth >= Duration::from_secs(30) && fourth <= Duration::from_secs(50),
            "{fourth:?}"
        );
        let late = delay(1, 40);
        assert!(
            late <= Duration::from_secs(4500) && late >= Duration::from_secs(2700),
            "{late:?}"
        );
        assert_ne!(delay(1, 2), delay(2, 2), "spread apart");
    }
}
