//! The SQL of outbound webhooks: subscriptions, deliveries and their attempts. Every read
//! of a subscription takes the workspace id, so another workspace's rows are never found.

use chrono::{DateTime, Utc};
// The subscription's column list is a constant spliced into its statements, never input.
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

/// A `webhook_subscriptions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    /// Id.
    pub id: Uuid,
    /// Owning workspace.
    pub workspace_id: Uuid,
    /// Receiver URL.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Event names, or `*`.
    pub event_types: Vec<String>,
    /// Whether PRIVATE incidents' events are delivered.
    pub include_private: bool,
    /// The current secret.
    pub secret: String,
    /// The secret before the last rotation.
    pub previous_secret: Option<String>,
    /// Until when the previous secret still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// When it was disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why.
    pub disabled_reason: Option<String>,
    /// Deliveries in a row that failed for good.
    pub consecutive_failures: i32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

const SUBSCRIPTION: &str =
    "id, workspace_id, url, description, event_types, include_private, secret,
     previous_secret, previous_secret_expires_at, enabled, disabled_at, disabled_reason,
     consecutive_failures, created_at";

/// What a new subscription is made of (validated).
pub struct NewRow<'a> {
    /// Receiver URL.
    pub url: &'a str,
    /// Description.
    pub description: &'a str,
    /// Event names or `*`.
    pub event_types: &'a [String],
    /// Opt-in to PRIVATE incidents.
    pub include_private: bool,
    /// The secret.
    pub secret: &'a str,
}

/// Inserts a subscription.
pub async fn insert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    new: &NewRow<'_>,
) -> Result<SubscriptionRow, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO webhook_subscriptions (workspace_id, url, description, event_types, include_private, secret)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SUBSCRIPTION}"
    )))
    .bind(workspace_id)
    .bind(new.url)
    .bind(new.description)
    .bind(new.event_types)
    .bind(new.include_private)
    .bind(new.secret)
    .fetch_one(conn)
    .await
}

/// The workspace's subscriptions, oldest first.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SUBSCRIPTION} FROM webhook_subscriptions WHERE workspace_id = $1 ORDER BY created_at, id"
    )))
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// One subscription of the workspace, locked for the caller's transaction.
pub async fn get_for_update(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SUBSCRIPTION} FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One subscription of the workspace.
pub async fn get(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SUBSCRIPTION} FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2"
    )))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Writes every changeable column of `row` back.
pub async fn update(
    conn: &mut PgConnection,
    row: &SubscriptionRow,
) -> Result<SubscriptionRow, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE webhook_subscriptions SET url = $3, description = $4, event_types = $5,
                include_private = $6, secret = $7, previous_secret = $8,
                previous_secret_expires_at = $9, enabled = $10, disabled_at = $11,
                disabled_reason = $12, consecutive_failures = $13, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 RETURNING {SUBSCRIPTION}"
    )))
    .bind(row.workspace_id)
    .bind(row.id)
    .bind(&row.url)
    .bind(&row.description)
    .bind(&row.event_types)
    .bind(row.include_private)
    .bind(&row.secret)
    .bind(&row.previous_secret)
    .bind(row.previous_secret_expires_at)
    .bind(row.enabled)
    .bind(row.disabled_at)
    .bind(&row.disabled_reason)
    .bind(row.consecutive_failures)
    .fetch_one(conn)
    .await
}

/// Deletes a subscription (its deliveries and attempts with it); whether it existed.
pub async fn delete(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes the subscription's pending deliveries due now, with a fresh retry window (on
/// re-enabling: what waited while it was disabled is sent at once, in order).
pub async fn resume_pending(
    conn: &mut PgConnection,
    subscription_id: Uuid,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = now(), retry_from = now()
         WHERE subscription_id = $1 AND status = 'pending'",
    )
    .bind(subscription_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One event for every enabled subscription of `workspace_id` that takes it: one
/// delivery each, none twice for the same event. Returns how many were written.
#[expect(clippy::too_many_arguments, reason = "one column each")]
pub async fn fan_out(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    event_id: Uuid,
    event_type: &str,
    incident_id: Option<Uuid>,
    private: bool,
    payload: &str,
    only: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, event_type, incident_id, payload)
         SELECT s.id, $2, $3, $4, $6 FROM webhook_subscriptions s
         WHERE s.workspace_id = $1 AND s.enabled
           AND ($3 = ANY (s.event_types) OR '*' = ANY (s.event_types) OR s.id = $7)
           -- `only`: a test ping, for that subscription whatever its types
           AND (NOT $5 OR s.include_private)
           AND ($7::uuid IS NULL OR s.id = $7)
         ORDER BY s.id
         ON CONFLICT (subscription_id, event_id) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(event_id)
    .bind(event_type)
    .bind(incident_id)
    .bind(private)
    .bind(payload)
    .bind(only)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The visibility of an incident of the workspace, as stored (for events that carry no
/// snapshot of it).
pub async fn incident_is_private(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let visibility: Option<String> = sqlx::query_scalar(
        "SELECT visibility::text FROM incidents WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_optional(conn)
    .await?;
    // An incident we cannot find is treated as private: nothing about it leaks.
    Ok(visibility.as_deref() != Some("PUBLIC"))
}

/// Whether incident `incident_id` of `workspace_id` is a drill (one not found is not).
pub async fn incident_is_drill(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let is_drill: Option<bool> =
        sqlx::query_scalar("SELECT is_drill FROM incidents WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(incident_id)
            .fetch_optional(conn)
            .await?;
    Ok(is_drill.unwrap_or(false))
}

/// A `webhook_deliveries` row as the log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Id (orders deliveries).
    pub id: i64,
    /// The event's id: the `webhook-id`.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The incident it is about.
    pub incident_id: Option<Uuid>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// Last attempt's time.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Last HTTP status.
    pub last_status_code: Option<i32>,
    /// Last error.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When the receiver took it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A `webhook_attempts` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    /// The delivery.
    pub delivery_id: i64,
    /// When.
    pub attempted_at: DateTime<Utc>,
    /// HTTP status, if an answer came.
    pub status_code: Option<i32>,
    /// The answer's first KiB.
    pub response: Option<String>,
    /// What failed, when no answer or a non-2xx one came.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
}

/// The subscription's deliveries, newest first, before `before` when given.
pub async fn deliveries(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, event_type, incident_id, status::text AS status, attempts,
                next_attempt_at, last_attempt_at, last_status_code, last_error, created_at, delivered_at
         FROM webhook_deliveries
         WHERE subscription_id = $1 AND ($3::bigint IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $2",
    )
    .bind(subscription_id)
    .bind(limit)
    .bind(before)
    .fetch_all(conn)
    .await
}

/// The last `per_delivery` attempts of each of `delivery_ids`, newest first.
pub async fn recent_attempts(
    conn: &mut PgConnection,
    delivery_ids: &[i64],
    per_delivery: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.delivery_id, a.attempted_at, a.status_code, a.response, a.error, a.duration_ms
         FROM unnest($1::bigint[]) AS d(id)
         CROSS JOIN LATERAL (
             SELECT * FROM webhook_attempts WHERE delivery_id = d.id ORDER BY id DESC LIMIT $2
         ) a
         ORDER BY a.delivery_id DESC, a.id DESC",
    )
    .bind(delivery_ids)
    .bind(per_delivery)
    .fetch_all(conn)
    .await
}

/// Makes a failed delivery of the subscription pending again, due now, with a fresh
/// retry window; `None` when there is no such delivery, `Some(false)` when it is not failed.
pub async fn retry(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    delivery_id: i64,
) -> Result<Option<bool>, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status::text FROM webhook_deliveries WHERE subscription_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(subscription_id)
    .bind(delivery_id)
    .fetch_optional(&mut *conn)
    .await?;
    match status.as_deref() {
        None => Ok(None),
        Some("failed") => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), retry_from = now()
                 WHERE id = $1",
            )
            .bind(delivery_id)
            .execute(conn)
            .await?;
            Ok(Some(true))
        }
        Some(_) => Ok(Some(false)),
    }
}
