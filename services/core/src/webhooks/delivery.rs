//! The delivery log as the API shows it (newest first, each delivery with its last
//! attempts and the receiver's answers), a retry by hand of a failed delivery, and the
//! test ping (`webhook.test`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::fanout::body;
use super::store::{self, AttemptRow, DeliveryRow};
use super::subscription;
use crate::error::{DomainError, DomainResult};

/// The type of the test ping.
pub const TEST_EVENT: &str = "webhook.test";
/// Attempts shown per delivery.
pub const ATTEMPTS_SHOWN: i64 = 5;

/// Which deliveries of the log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// How many (1 to 200, default 50).
    pub limit: Option<i64>,
    /// Only deliveries older than this delivery id (the next page).
    pub before: Option<i64>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// The first KiB of its answer.
    pub response: Option<String>,
    /// Why it did not count as delivered.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: i32,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        Self {
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            response: a.response,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// A delivery of the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Id (deliveries are ordered by it).
    pub id: i64,
    /// The event's id, sent as `webhook-id` on every attempt.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The incident it is about.
    pub incident_id: Option<Uuid>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's time.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last attempts, newest first.
    pub recent_attempts: Vec<AttemptView>,
}

impl DeliveryView {
    fn new(d: DeliveryRow, recent_attempts: Vec<AttemptView>) -> Self {
        Self {
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            incident_id: d.incident_id,
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            recent_attempts,
        }
    }
}

/// The subscription's deliveries, newest first.
pub async fn log(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    subscription_id: Uuid,
    query: &LogQuery,
) -> DomainResult<Vec<DeliveryView>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be 1 to 200"));
    }
    subscription::get(conn, workspace_id, subscription_id).await?;
    let deliveries = store::deliveries(conn, subscription_id, limit, query.before).await?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let mut attempts = store::recent_attempts(conn, &ids, ATTEMPTS_SHOWN).await?;
    Ok(deliveries
        .into_iter()
        .map(|d| {
            let mine = attempts
                .extract_if(.., |a| a.delivery_id == d.id)
                .map(AttemptView::from)
                .collect();
            DeliveryView::new(d, mine)
        })
        .collect())
}

/// Sends a failed delivery again (a fresh retry window); 409 when it is not failed.
pub async fn retry(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    subscription_id: Uuid,
    delivery_id: i64,
) -> DomainResult<()> {
    subscription::get(conn, workspace_id, subscription_id).await?;
    match store::retry(conn, subscription_id, delivery_id).await? {
        None => Err(DomainError::NotFound("delivery")),
        Some(false) => Err(DomainError::Conflict(
            "only a failed delivery can be retried; a pending one is retried by itself".into(),
        )),
        Some(true) => Ok(()),
    }
}

/// What a test ping was written as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestPing {
    /// Its `webhook-id`.
    pub event_id: Uuid,
}

/// Writes a `webhook.test` delivery for the subscription (sent like any other).
pub async fn ping(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    subscription_id: Uuid,
) -> DomainResult<TestPing> {
    let subscription = subscription::get(conn, workspace_id, subscription_id).await?;
    if !subscription.enabled {
        return Err(DomainError::Conflict(
            "the webhook is disabled; enable it to send a test".into(),
        ));
    }
    let event_id = Uuid::now_v7();
    let data = serde_json::json!({ "subscription_id": subscription_id });
    let payload = body(TEST_EVENT, Utc::now(), workspace_id, None, &data);
    store::fan_out(
        conn,
        workspace_id,
        event_id,
        TEST_EVENT,
        None,
        false,
        &payload,
        Some(subscription_id),
    )
    .await?;
    Ok(TestPing { event_id })
}
