//! The pipeline's queries on `alerts` and `alert_groups` (and the reads of `incidents`
//! its decisions need). Batches are written with one `UNNEST` statement per table, so a
//! notification costs a handful of round trips whatever its size.

use chrono::{DateTime, Utc};
use incident_schema::{AlertGroupStatus, AlertStatus, Severity};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::Decision;
use crate::source::Labels;

/// Takes the advisory locks of `keys` (sorted, once each) and returns the transaction's
/// timestamp.
pub async fn lock_keys(
    conn: &mut PgConnection,
    integration_id: Uuid,
    keys: &[String],
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT ingestion_lock_group_keys($1, $2)")
        .bind(integration_id)
        .bind(keys)
        .fetch_one(conn)
        .await
}

/// Takes the decision locks `keys` (see [`crate::ingest::decide`]: one per service a
/// group may join by, and the integration's storm guard), all in one statement and in
/// the order of their hashes, so two transactions needing overlapping sets queue instead
/// of deadlocking. Held until the transaction ends.
pub async fn lock_decisions(conn: &mut PgConnection, keys: &[String]) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    // The sorted subquery is not flattened (it has DISTINCT and ORDER BY), so the
    // aggregate takes the locks in its order.
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(h))
         FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS sorted",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// The incidents of the groups `ids`, as committed now, their rows locked (in id order)
/// until the transaction ends: a confirmation ([`crate::links`]) of one of them either
/// committed before and is read here, or waits for this transaction and sees what it
/// wrote.
pub async fn lock_incident_ids(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, incident_id FROM alert_groups WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Whether the group `id` still waits for core to confirm its declare, its row locked
/// (`FOR SHARE`) until the transaction ends, so a confirmation of it cannot commit in
/// between: it waits, and then sees the groups this transaction made wait for it. A
/// group deleted meanwhile is not pending.
pub async fn lock_pending(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let incident: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT incident_id FROM alert_groups WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(matches!(incident, Some(None)))
}

/// A group whose incident [`set_incident`] changed.
#[derive(Debug, sqlx::FromRow)]
pub struct LinkedGroup {
    /// Its id.
    pub id: Uuid,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Its title.
    pub title: String,
    /// Alerts in it.
    pub alert_count: i32,
}

/// Sets the incident of the groups `ids` of `workspace_id`; returns those it changed.
/// The rows are locked first, in id order (two confirmations naming the same groups
/// queue instead of deadlocking); one that already names `incident` is left alone, so a
/// repeated or concurrent confirmation changes nothing and causes nothing twice.
pub async fn set_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<LinkedGroup>, sqlx::Error> {
    sqlx::query_as(
        "WITH locked AS (
             SELECT id FROM alert_groups
             WHERE workspace_id = $1 AND id = ANY($2)
             ORDER BY id
             FOR UPDATE
         )
         UPDATE alert_groups AS g SET incident_id = $3
         FROM locked
         WHERE g.id = locked.id AND g.incident_id IS DISTINCT FROM $3
         RETURNING g.id, g.status, g.title, g.alert_count",
    )
    .bind(workspace_id)
    .bind(ids)
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// The groups waiting for the incident of one of `ids` (and not linked yet).
pub async fn waiting_for(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM alert_groups
         WHERE workspace_id = $1 AND join_group_id = ANY($2) AND incident_id IS NULL
         ORDER BY id",
    )
    .bind(workspace_id)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// A stored alert the notification mentions, locked.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredAlert {
    /// Its id.
    pub id: Uuid,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Start of its occurrence.
    pub starts_at: DateTime<Utc>,
    /// End of its occurrence.
    pub ends_at: Option<DateTime<Utc>>,
    /// Its group.
    pub alert_group_id: Uuid,
    /// Its group's key.
    pub group_key: String,
}

/// The integration's alerts with these fingerprints, locked for update.
pub async fn lock_alerts(
    conn: &mut PgConnection,
    integration_id: Uuid,
    fingerprints: &[&str],
) -> Result<Vec<StoredAlert>, sqlx::Error> {
    sqlx::query_as::<_, StoredAlert>(
        "SELECT a.id, a.fingerprint, a.status, a.starts_at, a.ends_at, a.alert_group_id, g.group_key
         FROM alerts a JOIN alert_groups g ON g.id = a.alert_group_id
         WHERE a.integration_id = $1 AND a.fingerprint = ANY($2)
         FOR UPDATE OF a",
    )
    .bind(integration_id)
    .bind(fingerprints)
    .fetch_all(conn)
    .await
}

/// A stored group the notification touches.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredGroup {
    /// Its id.
    pub id: Uuid,
    /// Its key.
    pub group_key: String,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Its title.
    pub title: String,
    /// The labels its alerts share.
    pub labels: Json<serde_json::Value>,
    /// The incident core confirmed.
    pub incident_id: Option<Uuid>,
    /// Alerts in it.
    pub alert_count: i32,
    /// Alerts firing in it.
    pub firing_count: i32,
    /// What it decided.
    pub decision: Decision,
    /// The severity it chose.
    pub severity: Option<Severity>,
    /// The service it names.
    pub service: Option<String>,
    /// The group whose incident it waits for.
    pub join_group_id: Option<Uuid>,
    /// Why.
    pub explanation: Json<serde_json::Value>,
}

/// The open groups of `keys` and the groups `ids`.
pub async fn load_groups(
    conn: &mut PgConnection,
    integration_id: Uuid,
    keys: &[String],
    ids: &[Uuid],
) -> Result<Vec<StoredGroup>, sqlx::Error> {
    sqlx::query_as::<_, StoredGroup>(
        "SELECT id, group_key, status, title, labels, incident_id, alert_count, firing_count,
                decision, severity, service, join_group_id, explanation
         FROM alert_groups
         WHERE integration_id = $1 AND ((status = 'OPEN' AND group_key = ANY($2)) OR id = ANY($3))",
    )
    .bind(integration_id)
    .bind(keys)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// A group as written back.
pub struct GroupWrite<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its key.
    pub group_key: &'a str,
    /// Open or resolved.
    pub status: AlertGroupStatus,
    /// Its title.
    pub title: &'a str,
    /// Shared labels.
    pub labels: &'a Labels,
    /// Alerts in it.
    pub alert_count: i32,
    /// Alerts firing.
    pub firing_count: i32,
    /// What it decided.
    pub decision: Decision,
    /// Whether it decided in this transaction (stamps `decided_at`).
    pub decided_now: bool,
    /// The severity chosen.
    pub severity: Option<Severity>,
    /// The service named.
    pub service: Option<&'a str>,
    /// The group it waits for.
    pub join_group_id: Option<Uuid>,
    /// Why.
    pub explanation: &'a serde_json::Value,
}

struct GroupColumns<'a> {
    ids: Vec<Uuid>,
    keys: Vec<&'a str>,
    statuses: Vec<&'static str>,
    titles: Vec<&'a str>,
    labels: Vec<Json<&'a Labels>>,
    counts: Vec<i32>,
    firing: Vec<i32>,
    decisions: Vec<&'static str>,
    decided: Vec<bool>,
    severities: Vec<Option<&'static str>>,
    services: Vec<Option<&'a str>>,
    joins: Vec<Option<Uuid>>,
    explanations: Vec<Json<&'a serde_json::Value>>,
}

fn columns<'a>(groups: &[GroupWrite<'a>]) -> GroupColumns<'a> {
    GroupColumns {
        ids: groups.iter().map(|g| g.id).collect(),
        keys: groups.iter().map(|g| g.group_key).collect(),
        statuses: groups.iter().map(|g| g.status.as_str()).collect(),
        titles: groups.iter().map(|g| g.title).collect(),
        labels: groups.iter().map(|g| Json(g.labels)).collect(),
        counts: groups.iter().map(|g| g.alert_count).collect(),
        firing: groups.iter().map(|g| g.firing_count).collect(),
        decisions: groups.iter().map(|g| g.decision.as_str()).collect(),
        decided: groups.iter().map(|g| g.decided_now).collect(),
        severities: groups
            .iter()
            .map(|g| g.severity.map(Severity::as_str))
            .collect(),
        services: groups.iter().map(|g| g.service).collect(),
        joins: groups.iter().map(|g| g.join_group_id).collect(),
        explanations: groups.iter().map(|g| Json(g.explanation)).collect(),
    }
}

/// Inserts new groups.
pub async fn insert_groups(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    integration_id: Uuid,
    groups: &[GroupWrite<'_>],
) -> Result<(), sqlx::Error> {
    if groups.is_empty() {
        return Ok(());
    }
    let c = columns(groups);
    sqlx::query(
        "INSERT INTO alert_groups (id, workspace_id, integration_id, group_key, status, title, labels,
                                   alert_count, firing_count, resolved_at, decision, decided_at,
                                   severity, service, join_group_id, explanation)
         SELECT u.id, $1, $2, u.group_key, u.status::alert_group_status, u.title, u.labels,
                u.alert_count, u.firing_count,
                CASE WHEN u.status = 'RESOLVED' THEN now() END,
                u.decision::alert_group_decision, CASE WHEN u.decided THEN now() END,
                u.severity::incident_severity, u.service, u.join_group_id, u.explanation
         FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::int[], $9::int[],
                     $10::text[], $11::bool[], $12::text[], $13::text[], $14::uuid[], $15::jsonb[])
              AS u(id, group_key, status, title, labels, alert_count, firing_count,
                   decision, decided, severity, service, join_group_id, explanation)",
    )
    .bind(workspace_id)
    .bind(integration_id)
    .bind(&c.ids)
    .bind(&c.keys)
    .bind(&c.statuses)
    .bind(&c.titles)
    .bind(&c.labels)
    .bind(&c.counts)
    .bind(&c.firing)
    .bind(&c.decisions)
    .bind(&c.decided)
    .bind(&c.severities)
    .bind(&c.services)
    .bind(&c.joins)
    .bind(&c.explanations)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back groups that existed before this transaction.
pub async fn update_groups(
    conn: &mut PgConnection,
    groups: &[GroupWrite<'_>],
) -> Result<(), sqlx::Error> {
    if groups.is_empty() {
        return Ok(());
    }
    let c = columns(groups);
    sqlx::query(
        "UPDATE alert_groups AS g SET
             status = u.status::alert_group_status,
             resolved_at = CASE WHEN u.status = 'RESOLVED' THEN COALESCE(g.resolved_at, now()) END,
             title = u.title,
             labels = u.labels,
             alert_count = u.alert_count,
             firing_count = u.firing_count,
             last_alert_at = now(),
             decision = u.decision::alert_group_decision,
             decided_at = CASE WHEN u.decided THEN now() ELSE g.decided_at END,
             severity = u.severity::incident_severity,
             service = u.service,
             join_group_id = u.join_group_id,
             explanation = u.explanation
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::int[],
                     $7::text[], $8::bool[], $9::text[], $10::text[], $11::uuid[], $12::jsonb[])
              AS u(id, status, title, labels, alert_count, firing_count,
                   decision, decided, severity, service, join_group_id, explanation)
         WHERE g.id = u.id",
    )
    .bind(&c.ids)
    .bind(&c.statuses)
    .bind(&c.titles)
    .bind(&c.labels)
    .bind(&c.counts)
    .bind(&c.firing)
    .bind(&c.decisions)
    .bind(&c.decided)
    .bind(&c.severities)
    .bind(&c.services)
    .bind(&c.joins)
    .bind(&c.explanations)
    .execute(conn)
    .await?;
    Ok(())
}

/// An alert as written: its occurrence always, its content when the notification
/// refreshed it.
pub struct AlertWrite<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its group.
    pub alert_group_id: Uuid,
    /// Its fingerprint.
    pub fingerprint: &'a str,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Start of its occurrence.
    pub starts_at: DateTime<Utc>,
    /// End of its occurrence.
    pub ends_at: Option<DateTime<Utc>>,
    /// Labels, annotations, link and raw form; none: keep the stored ones (a stale notification).
    pub content: Option<AlertContent<'a>>,
    /// Notifications about it in this transaction.
    pub notifications: i32,
}

/// What a notification says about an alert beyond its occurrence.
#[derive(Clone, Copy)]
pub struct AlertContent<'a> {
    /// Labels.
    pub labels: &'a Labels,
    /// Annotations.
    pub annotations: &'a Labels,
    /// Link to the source.
    pub generator_url: Option<&'a str>,
    /// As sent.
    pub raw: &'a serde_json::Value,
}

/// Bytes of parameters one statement carries, at most (roughly): see [`chunks`].
const STATEMENT_BUDGET: usize = 12 * 1024;

/// Splits `alerts` into runs whose parameters stay under [`STATEMENT_BUDGET`].
///
/// Why: sqlx 0.9.0 leaves Nagle's algorithm on (its TCP_NODELAY was dropped, see
/// transact-rs/sqlx#4335, fixed after 0.9.0). A statement whose Bind message is larger
/// than the socket's initial send buffer (16 KiB on Linux) is sent in two writes, the
/// second held back until Postgres acknowledges the first, which it delays by 40 ms.
/// Measured here: 15 kB of parameters take 0.15 ms, 17 kB take 44 ms. A notification of
/// 50 Alertmanager alerts is 30 kB or more, so it is written in a few smaller statements.
///
/// The workspace now patches sqlx-core to set TCP_NODELAY (`shared/vendor/README.md`;
/// `cargo bench -p incident-runtime --bench nodelay`: 20 KB in 0.26 ms), so this split
/// no longer avoids a stall; it stays until the ingestion bench says whether one
/// statement per notification is faster.
fn chunks<'s, 'a>(alerts: &'s [AlertWrite<'a>]) -> Vec<&'s [AlertWrite<'a>]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, alert) in alerts.iter().enumerate() {
        let bytes = alert.encoded_size();
        if i > start && size + bytes > STATEMENT_BUDGET {
            out.push(&alerts[start..i]);
            (start, size) = (i, 0);
        }
        size += bytes;
    }
    if start < alerts.len() {
        out.push(&alerts[start..]);
    }
    out
}

impl AlertWrite<'_> {
    /// Roughly the bytes this alert adds to a statement's parameters.
    fn encoded_size(&self) -> usize {
        let content = self.content.map_or(0, |c| {
            labels_size(c.labels)
                + labels_size(c.annotations)
                + json_size(c.raw)
                + c.generator_url.map_or(0, str::len)
        });
        96 + self.fingerprint.len() + content
    }
}

fn labels_size(labels: &Labels) -> usize {
    2 + labels
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum::<usize>()
}

/// Roughly the length of `value` as JSON text.
fn json_size(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| json_size(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + json_size(v))
                .sum::<usize>()
        }
    }
}

/// Inserts new alerts (each has content), in statements of bounded size.
pub async fn insert_alerts(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    integration_id: Uuid,
    alerts: &[AlertWrite<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in chunks(alerts) {
        insert_alert_rows(conn, workspace_id, integration_id, chunk).await?;
    }
    Ok(())
}

async fn insert_alert_rows(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    integration_id: Uuid,
    alerts: &[AlertWrite<'_>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alerts (id, workspace_id, integration_id, alert_group_id, fingerprint, status,
                             labels, annotations, starts_at, ends_at, generator_url, raw, notification_count)
         SELECT u.id, $1, $2, u.group_id, u.fingerprint, u.status::alert_status, u.labels,
                u.annotations, u.starts_at, u.ends_at, u.generator_url, u.raw, u.notifications
         FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
                     $9::timestamptz[], $10::timestamptz[], $11::text[], $12::jsonb[], $13::int[])
              AS u(id, group_id, fingerprint, status, labels, annotations, starts_at, ends_at,
                   generator_url, raw, notifications)",
    )
    .bind(workspace_id)
    .bind(integration_id)
    .bind(alerts.iter().map(|a| a.id).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.alert_group_id).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.fingerprint).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.status.as_str()).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.content.map(|c| Json(c.labels))).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.content.map(|c| Json(c.annotations))).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.starts_at).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.ends_at).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.content.and_then(|c| c.generator_url)).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.content.map(|c| Json(c.raw))).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.notifications).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back alerts that existed before this transaction, in statements of bounded
/// size. A repeat of a firing alert keeps its source's acknowledgement
/// ([`crate::source::ACKNOWLEDGED_ANNOTATION`]) through the refresh of its annotations.
pub async fn update_alerts(
    conn: &mut PgConnection,
    alerts: &[AlertWrite<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in chunks(alerts) {
        update_alert_rows(conn, chunk).await?;
    }
    Ok(())
}

async fn update_alert_rows(
    conn: &mut PgConnection,
    alerts: &[AlertWrite<'_>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alerts AS a SET
             alert_group_id = u.group_id,
             status = u.status::alert_status,
             starts_at = u.starts_at,
             ends_at = u.ends_at,
             labels = COALESCE(u.labels, a.labels),
             annotations = COALESCE(
                 u.annotations || CASE
                     WHEN a.status = 'FIRING' AND u.status = 'FIRING'
                          AND a.annotations ? 'incident_acknowledged_at'
                     THEN jsonb_build_object('incident_acknowledged_at', a.annotations -> 'incident_acknowledged_at')
                     ELSE '{}'::jsonb END,
                 a.annotations),
             generator_url = CASE WHEN u.refreshed THEN u.generator_url ELSE a.generator_url END,
             raw = COALESCE(u.raw, a.raw),
             last_seen_at = now(),
             notification_count = a.notification_count + u.notifications
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                     $6::jsonb[], $7::jsonb[], $8::bool[], $9::text[], $10::jsonb[], $11::int[])
              AS u(id, group_id, status, starts_at, ends_at, labels, annotations, refreshed,
                   generator_url, raw, notifications)
         WHERE a.id = u.id",
    )
    .bind(alerts.iter().map(|a| a.id).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.alert_group_id).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.status.as_str()).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.starts_at).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.ends_at).collect::<Vec<_>>())
    .bind(
        alerts
            .iter()
            .map(|a| a.content.map(|c| Json(c.labels)))
            .collect::<Vec<_>>(),
    )
    .bind(
        alerts
            .iter()
            .map(|a| a.content.map(|c| Json(c.annotations)))
            .collect::<Vec<_>>(),
    )
    .bind(
        alerts
            .iter()
            .map(|a| a.content.is_some())
            .collect::<Vec<_>>(),
    )
    .bind(
        alerts
            .iter()
            .map(|a| a.content.and_then(|c| c.generator_url))
            .collect::<Vec<_>>(),
    )
    .bind(
        alerts
            .iter()
            .map(|a| a.content.map(|c| Json(c.raw)))
            .collect::<Vec<_>>(),
    )
    .bind(alerts.iter().map(|a| a.notifications).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest open (not drill) incident of the workspace that lists `service` among its
/// affected services: its id and number.
pub async fn open_incident_for_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    service: &str,
) -> Result<Option<(Uuid, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.number
         FROM incidents i
         JOIN affected_services s ON s.workspace_id = i.workspace_id AND s.incident_id = i.id
         WHERE i.workspace_id = $1
           AND i.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
           AND NOT i.is_drill
           AND lower(s.service_name) = lower($2)
         ORDER BY i.created_at DESC
         LIMIT 1",
    )
    .bind(workspace_id)
    .bind(service)
    .fetch_optional(conn)
    .await
}

/// How long a declare may stay unconfirmed by core and still be joined.
pub const PENDING_WINDOW_SECS: f64 = 600.0;

/// The newest group of the workspace that declared an incident for `service` which core
/// has not confirmed yet (within [`PENDING_WINDOW_SECS`]).
pub async fn pending_declare_for_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    service: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM alert_groups
         WHERE workspace_id = $1 AND decision = 'DECLARE' AND incident_id IS NULL
           AND lower(service) = lower($2)
           AND decided_at > now() - make_interval(secs => $3)
         ORDER BY decided_at DESC
         LIMIT 1",
    )
    .bind(workspace_id)
    .bind(service)
    .bind(PENDING_WINDOW_SECS)
    .fetch_optional(conn)
    .await
}

/// Incidents the integration declared in the last minute.
pub async fn declared_last_minute(
    conn: &mut PgConnection,
    integration_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM alert_groups
         WHERE integration_id = $1 AND decision = 'DECLARE' AND decided_at > now() - interval '1 minute'",
    )
    .bind(integration_id)
    .fetch_one(conn)
    .await
}

/// The integration's latest group that declared an incident still open (or not yet
/// confirmed): its id and incident.
pub async fn latest_declared(
    conn: &mut PgConnection,
    integration_id: Uuid,
) -> Result<Option<(Uuid, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.incident_id
         FROM alert_groups g
         LEFT JOIN incidents i ON i.workspace_id = g.workspace_id AND i.id = g.incident_id
         WHERE g.integration_id = $1 AND g.decision = 'DECLARE'
           AND ((g.incident_id IS NULL AND g.decided_at > now() - make_interval(secs => $2))
                OR i.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING'))
         ORDER BY g.decided_at DESC
         LIMIT 1",
    )
    .bind(integration_id)
    .bind(PENDING_WINDOW_SECS)
    .fetch_optional(conn)
    .await
}

/// Records that the source acknowledged the firing alert `fingerprint` at `at` (its
/// [`crate::source::ACKNOWLEDGED_ANNOTATION`]); counts the notification. Returns whether
/// a firing alert was found: an acknowledgement of an unknown or resolved alert changes
/// nothing, as at the source. One statement: a concurrent resolve holds the row's lock
/// and, once it commits, the alert no longer matches.
pub async fn acknowledge_alert(
    conn: &mut PgConnection,
    integration_id: Uuid,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE alerts SET
             annotations = annotations || jsonb_build_object($3::text, $4::text),
             last_seen_at = now(),
             notification_count = notification_count + 1
         WHERE integration_id = $1 AND fingerprint = $2 AND status = 'FIRING'",
    )
    .bind(integration_id)
    .bind(fingerprint)
    .bind(crate::source::ACKNOWLEDGED_ANNOTATION)
    .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_writes_are_split_into_statements_under_the_budget() {
        let labels: Labels = (0..20)
            .map(|i| (format!("label{i}"), "v".repeat(40)))
            .collect();
        let raw =
            serde_json::json!({ "labels": labels, "annotations": { "summary": "s".repeat(200) } });
        let now = Utc::now();
        let writes: Vec<AlertWrite<'_>> = (0..50)
            .map(|_| AlertWrite {
                id: Uuid::now_v7(),
                alert_group_id: Uuid::nil(),
                fingerprint: "0123456789abcdef",
                status: AlertStatus::Firing,
                starts_at: now,
                ends_at: None,
                content: Some(AlertContent {
                    labels: &labels,
                    annotations: &labels,
                    generator_url: None,
                    raw: &raw,
                }),
                notifications: 1,
            })
            .collect();
        let split = chunks(&writes);
        assert!(split.len() > 1, "50 such alerts do not fit one statement");
        assert_eq!(split.iter().map(|c| c.len()).sum::<usize>(), 50);
        for chunk in &split {
            let size: usize = chunk.iter().map(AlertWrite::encoded_size).sum();
            assert!(size <= STATEMENT_BUDGET, "{size}");
        }
        let encoded = serde_json::to_string(&raw).map(|s| s.len()).unwrap_or(0);
        assert!(
            json_size(&raw) >= encoded,
            "the estimate does not undercount"
        );
        assert!(chunks(&[]).is_empty());
    }
}
