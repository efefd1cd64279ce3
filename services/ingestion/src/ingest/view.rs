//! Alert groups as the API shows them: the row with its decision and explanation, and
//! its alerts. Every read is scoped by the reader's workspace, and a group linked to an
//! incident the reader may not read (a PRIVATE one they are not part of) is not found
//! and not listed: the same `incident_readable` rule as everywhere.

use chrono::{DateTime, Utc};
use incident_schema::access::Reader;
use incident_schema::{AlertGroupStatus, AlertStatus, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Decision;

/// Alerts a group's view lists, newest first.
pub const LISTED_ALERTS: i64 = 100;

/// An alert group.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AlertGroupView {
    /// Its id.
    pub id: Uuid,
    /// The integration its alerts came through.
    pub integration_id: Uuid,
    /// What its alerts share (one open group per integration and key).
    pub group_key: String,
    /// Title for people.
    pub title: String,
    /// Open while any alert fires.
    pub status: AlertGroupStatus,
    /// The labels every alert shares.
    #[schema(value_type = Object)]
    pub labels: Json<Value>,
    /// The severity its rule chose.
    pub severity: Option<Severity>,
    /// The affected service its rule named.
    pub service: Option<String>,
    /// Declared, joined, or nothing.
    pub decision: Decision,
    /// When it decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The incident it belongs to, as core confirmed.
    pub incident_id: Option<Uuid>,
    /// The group whose incident it waits for (a join before core confirmed the declare).
    pub join_group_id: Option<Uuid>,
    /// Alerts in it.
    pub alert_count: i32,
    /// Alerts firing in it.
    pub firing_count: i32,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Last notification about one of its alerts.
    pub last_alert_at: DateTime<Utc>,
    /// Why it was grouped (`grouping`: by what, which key) and why it declared, joined or
    /// did nothing (`decision`, `reason`, `rule`, `evaluated`, `join`, `throttle`).
    #[schema(value_type = Object)]
    pub explanation: Json<Value>,
}

/// An alert.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AlertView {
    /// Its id.
    pub id: Uuid,
    /// Its identity at the source.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Its labels.
    #[schema(value_type = Object)]
    pub labels: Json<Value>,
    /// Its annotations.
    #[schema(value_type = Object)]
    pub annotations: Json<Value>,
    /// Start of its current occurrence.
    pub starts_at: DateTime<Utc>,
    /// End of its current occurrence.
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to its source.
    pub generator_url: Option<String>,
    /// First notification.
    pub first_seen_at: DateTime<Utc>,
    /// Last notification.
    pub last_seen_at: DateTime<Utc>,
    /// Notifications received (repeats and redeliveries included).
    pub notification_count: i32,
}

/// A group with its alerts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertGroupDetail {
    /// The group.
    #[serde(flatten)]
    pub group: AlertGroupView,
    /// Its alerts, the 100 most recently seen.
    pub alerts: Vec<AlertView>,
}

/// Filters of the group listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilter {
    /// Only groups of this status.
    pub status: Option<AlertGroupStatus>,
    /// Only groups of this integration.
    pub integration_id: Option<Uuid>,
    /// Only groups linked to this incident.
    pub incident_id: Option<Uuid>,
    /// Groups opened before this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

const COLUMNS: &str =
    "id, integration_id, group_key, title, status, labels, severity, service, decision,
     decided_at, incident_id, join_group_id, alert_count, firing_count, opened_at, resolved_at,
     last_alert_at, explanation";

/// Groups whose incident (if any) the reader, `$R1` and `$R2`, may read.
const READABLE: &str = "(incident_id IS NULL OR EXISTS (
        SELECT 1 FROM incidents i
        WHERE i.workspace_id = alert_groups.workspace_id AND i.id = alert_groups.incident_id
          AND incident_readable(i, $R1, $R2)))";

/// The group `id` of the reader's workspace, with its alerts, unless it is linked to an
/// incident they may not read.
pub async fn get(
    conn: &mut PgConnection,
    reader: &Reader,
    id: Uuid,
) -> Result<Option<AlertGroupDetail>, sqlx::Error> {
    let workspace_id = reader.workspace_id;
    let readable = READABLE.replace("$R1", "$3").replace("$R2", "$4");
    let Some(group) = sqlx::query_as::<_, AlertGroupView>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alert_groups WHERE workspace_id = $1 AND id = $2 AND {readable}"
    )))
    .bind(workspace_id)
    .bind(id)
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let alerts = sqlx::query_as::<_, AlertView>(
        "SELECT id, fingerprint, status, labels, annotations, starts_at, ends_at, generator_url,
                first_seen_at, last_seen_at, notification_count
         FROM alerts WHERE workspace_id = $1 AND alert_group_id = $2
         ORDER BY last_seen_at DESC, id LIMIT $3",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(LISTED_ALERTS)
    .fetch_all(conn)
    .await?;
    Ok(Some(AlertGroupDetail { group, alerts }))
}

/// The reader's workspace's groups they may read, newest first.
pub async fn list(
    conn: &mut PgConnection,
    reader: &Reader,
    filter: &GroupFilter,
) -> Result<Vec<AlertGroupView>, sqlx::Error> {
    let readable = READABLE.replace("$R1", "$7").replace("$R2", "$8");
    sqlx::query_as::<_, AlertGroupView>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alert_groups
         WHERE workspace_id = $1 AND {readable}
           AND ($2::alert_group_status IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR integration_id = $3)
           AND ($4::uuid IS NULL OR incident_id = $4)
           AND ($5::uuid IS NULL OR id < $5)
         ORDER BY id DESC
         LIMIT $6"
    )))
    .bind(reader.workspace_id)
    .bind(filter.status)
    .bind(filter.integration_id)
    .bind(filter.incident_id)
    .bind(filter.before)
    .bind(filter.limit.unwrap_or(50).clamp(1, 200))
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_all(conn)
    .await
}
