//! The watchdog's queries: claiming incidents with something due, recording findings,
//! flagging breaches, claiming overdue action items, and the counts behind the metrics.
//!
//! Invariants kept here:
//! - every comparison with the clock uses the database's `now()` (the transaction's
//!   start), never the host clock;
//! - a claim locks rows with `FOR UPDATE SKIP LOCKED`, so concurrent sweepers split the
//!   work instead of queueing behind each other;
//! - [`record_findings`] is the gate: its insert into `sla_events` either creates a row
//!   or hits the unique key `(incident_id, target, kind, slot)` and does nothing. Callers
//!   write the flag, the timeline entry and the event only for the rows it created, in
//!   the same transaction, so each finding is reported once however many sweepers race.
//! - writes are one statement per batch (`UNNEST` arrays), whatever the batch size.
//!
//! The candidate query repeats the partial index predicates of
//! `migrations/0010_sla_watchdog.sql` word for word, so each branch is an index range scan
//! over what is due (and, for late responses, over a bounded look-back), not a scan of
//! every incident.

use chrono::{DateTime, NaiveDate, Utc};
use incident_schema::{Incident, SlaEvent, TimelineKind};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::sla::finding::{Finding, LastReminder, PolicyTerms, Watched};

/// The ids of up to `limit` incidents that have something due, locked for this
/// transaction; incidents locked by someone else and those in `skip` are passed over.
///
/// Each branch of the union looks for one kind of finding not recorded yet. Its
/// `NOT EXISTS (... OFFSET 0)` stays a correlated probe of `sla_events`' unique key per
/// candidate (`OFFSET 0` keeps the planner from turning it into an anti-join, which on a
/// young database with no statistics it would do with a scan of `sla_events` per
/// candidate). Late responses are looked for only among those that came within
/// `late_horizon_secs` (see [`crate::sla::sweep::SweepOptions::late_horizon`]).
pub async fn claim_due_incidents(
    conn: &mut PgConnection,
    limit: i64,
    skip: &[Uuid],
    late_horizon_secs: f64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    // The union's cost estimate can cross `jit_above_cost` on a large table, and compiling
    // it costs far more than running it (seconds against milliseconds): no JIT for the
    // rest of this transaction.
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "SELECT i.id FROM incidents i
         WHERE i.id IN (
             -- acknowledge breach: nobody responded and the deadline passed
             SELECT c.id FROM incidents c
             WHERE c.acknowledged_at IS NULL AND c.mitigated_at IS NULL
               AND c.resolved_at IS NULL AND c.closed_at IS NULL
               AND c.sla_deadline IS NOT NULL
               AND c.sla_deadline < now()
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'ACKNOWLEDGE' AND e.kind = 'BREACH' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- acknowledge breach: a response after the deadline, maybe between sweeps
             SELECT c.id FROM incidents c
             WHERE LEAST(c.acknowledged_at, c.mitigated_at, c.resolved_at, c.closed_at) > c.sla_deadline
               AND LEAST(c.acknowledged_at, c.mitigated_at, c.resolved_at, c.closed_at)
                   > now() - make_interval(secs => $3)
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'ACKNOWLEDGE' AND e.kind = 'BREACH' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- resolve breach: not finished and the deadline passed
             SELECT c.id FROM incidents c
             WHERE c.resolved_at IS NULL AND c.closed_at IS NULL
               AND c.sla_resolve_deadline IS NOT NULL
               AND c.sla_resolve_deadline < now()
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'RESOLVE' AND e.kind = 'BREACH' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- resolve breach: finished after the deadline, maybe between sweeps
             SELECT c.id FROM incidents c
             WHERE LEAST(c.resolved_at, c.closed_at) > c.sla_resolve_deadline
               AND LEAST(c.resolved_at, c.closed_at) > now() - make_interval(secs => $3)
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'RESOLVE' AND e.kind = 'BREACH' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- acknowledge warning: unanswered, deadline ahead, the ratio passed
             SELECT c.id FROM incidents c
             JOIN sla_policies p ON p.workspace_id = c.workspace_id AND p.severity = c.severity
             WHERE c.acknowledged_at IS NULL AND c.mitigated_at IS NULL
               AND c.resolved_at IS NULL AND c.closed_at IS NULL
               AND c.sla_deadline IS NOT NULL
               AND c.sla_deadline > now()
               -- A bound that keeps this an index range, as for the resolve warning: no
               -- unanswered incident warns earlier before its deadline than (1 - the
               -- smallest ratio) of the longest span from detection to acknowledge
               -- deadline (an index probe), plus a second of slack for rounding.
               AND c.sla_deadline <= now() + make_interval(secs => 1 +
                       (SELECT 1 - min(q.warning_ratio)::float8 FROM sla_policies q)
                       * (SELECT extract(epoch FROM max(u.sla_deadline - u.detected_at))
                          FROM incidents u
                          WHERE u.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
                            AND u.acknowledged_at IS NULL AND u.mitigated_at IS NULL
                            AND u.resolved_at IS NULL AND u.closed_at IS NULL
                            AND u.sla_deadline IS NOT NULL))
               AND c.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
               AND c.detected_at + make_interval(secs =>
                       extract(epoch FROM c.sla_deadline - c.detected_at) * p.warning_ratio) <= now()
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'ACKNOWLEDGE' AND e.kind = 'WARNING' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- resolve warning: unfinished, deadline ahead, the ratio passed
             SELECT c.id FROM incidents c
             JOIN sla_policies p ON p.workspace_id = c.workspace_id AND p.severity = c.severity
             WHERE c.resolved_at IS NULL AND c.closed_at IS NULL
               AND c.sla_resolve_deadline IS NOT NULL
               AND c.sla_resolve_deadline > now()
               -- A bound that keeps this an index range: no open incident warns earlier
               -- before its deadline than (1 - the smallest ratio) of the longest span
               -- from detection to resolve deadline (an index probe), plus a second of
               -- slack for rounding.
               AND c.sla_resolve_deadline <= now() + make_interval(secs => 1 +
                       (SELECT 1 - min(q.warning_ratio)::float8 FROM sla_policies q)
                       * (SELECT extract(epoch FROM max(u.sla_resolve_deadline - u.detected_at))
                          FROM incidents u
                          WHERE u.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
                            AND u.resolved_at IS NULL AND u.closed_at IS NULL
                            AND u.sla_resolve_deadline IS NOT NULL))
               AND c.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
               AND c.detected_at + make_interval(secs =>
                       extract(epoch FROM c.sla_resolve_deadline - c.detected_at) * p.warning_ratio) <= now()
               AND NOT EXISTS (SELECT 1 FROM sla_events e WHERE e.incident_id = c.id
                   AND e.target = 'RESOLVE' AND e.kind = 'WARNING' AND e.slot = 0 OFFSET 0)
             UNION ALL
             -- update due: an open SEV1/SEV2 whose cadence passed since the last public
             -- update (or detection) and whose latest due time was not reminded yet
             SELECT c.id FROM incidents c
             JOIN sla_policies p ON p.workspace_id = c.workspace_id AND p.severity = c.severity
             LEFT JOIN LATERAL (
                 SELECT e.deadline FROM sla_events e
                 WHERE e.incident_id = c.id AND e.target = 'UPDATE' AND e.kind = 'UPDATE_DUE'
                 ORDER BY e.slot DESC LIMIT 1
             ) last ON true
             WHERE c.severity IN ('SEV1', 'SEV2')
               AND c.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING')
               -- an index range: not updated for at least the shortest cadence
               AND COALESCE(c.last_public_update_at, c.detected_at) <= now() - (
                       SELECT make_interval(mins => min(q.update_cadence_minutes))
                       FROM sla_policies q)
               AND p.update_cadence_minutes IS NOT NULL
               AND now() - COALESCE(c.last_public_update_at, c.detected_at)
                   >= make_interval(mins => p.update_cadence_minutes)
               AND (last.deadline IS NULL
                    OR date_bin(make_interval(mins => p.update_cadence_minutes), now(),
                                COALESCE(c.last_public_update_at, c.detected_at)) > last.deadline)
         )
         -- a hashed subplan: a long skip list costs one lookup per candidate
         AND i.id NOT IN (SELECT unnest($2::uuid[]))
         LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .bind(skip)
    .bind(late_horizon_secs)
    .fetch_all(conn)
    .await
}

#[derive(sqlx::FromRow)]
struct WatchedRow {
    #[sqlx(flatten)]
    incident: Incident,
    swept_at: DateTime<Utc>,
    warning_ratio: Option<f32>,
    update_cadence_minutes: Option<i32>,
    last_reminder_slot: Option<i32>,
    last_reminder_due_at: Option<DateTime<Utc>>,
}

/// The claimed incidents with what the rules need: their policy, their last update
/// reminder and the transaction's `now()`. Read in a fresh statement, after the claim,
/// so it sees every finding committed before the locks were taken.
pub async fn load_watched(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Watched>, sqlx::Error> {
    let rows: Vec<WatchedRow> = sqlx::query_as(
        "SELECT i.*, now() AS swept_at, p.warning_ratio, p.update_cadence_minutes,
                last.slot AS last_reminder_slot, last.deadline AS last_reminder_due_at
         FROM incidents i
         LEFT JOIN sla_policies p ON p.workspace_id = i.workspace_id AND p.severity = i.severity
         LEFT JOIN LATERAL (
             SELECT e.slot, e.deadline FROM sla_events e
             WHERE e.incident_id = i.id AND e.target = 'UPDATE' AND e.kind = 'UPDATE_DUE'
             ORDER BY e.slot DESC LIMIT 1
         ) last ON true
         WHERE i.id = ANY($1)
         ORDER BY i.id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Watched {
            policy: row.warning_ratio.map(|warning_ratio| PolicyTerms {
                warning_ratio,
                update_cadence_minutes: row.update_cadence_minutes,
            }),
            last_reminder: row
                .last_reminder_slot
                .zip(row.last_reminder_due_at)
                .map(|(slot, due_at)| LastReminder { slot, due_at }),
            now: row.swept_at,
            incident: row.incident,
        })
        .collect())
}

/// A finding about an incident, ready to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct NewFinding<'a> {
    /// The incident it is about.
    pub incident: &'a Incident,
    /// What was found.
    pub finding: &'a Finding,
}

/// Records the findings that are not recorded yet, in one statement, and returns the
/// rows it inserted; the others hit the unique key `(incident_id, target, kind, slot)`
/// and are left out. Callers hold the incidents' row locks, so no other transaction
/// inserts findings about them meanwhile.
pub async fn record_findings(
    conn: &mut PgConnection,
    findings: &[NewFinding<'_>],
) -> Result<Vec<SlaEvent>, sqlx::Error> {
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    let n = findings.len();
    let (mut incident_ids, mut workspace_ids, mut targets, mut kinds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut slots, mut deadlines, mut drills) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for f in findings {
        incident_ids.push(f.incident.id);
        workspace_ids.push(f.incident.workspace_id);
        targets.push(f.finding.target().as_str());
        kinds.push(f.finding.kind().as_str());
        slots.push(f.finding.slot());
        deadlines.push(f.finding.deadline());
        drills.push(f.incident.is_drill);
    }
    sqlx::query_as::<_, SlaEvent>(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, slot, deadline, is_drill)
         SELECT u.incident_id, u.workspace_id, u.target::sla_target, u.kind::sla_event_kind,
                u.slot, u.deadline, u.is_drill
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[],
                     $6::timestamptz[], $7::bool[])
              AS u(incident_id, workspace_id, target, kind, slot, deadline, is_drill)
         ON CONFLICT (incident_id, target, kind, slot) DO NOTHING
         RETURNING *",
    )
    .bind(&incident_ids)
    .bind(&workspace_ids)
    .bind(&targets)
    .bind(&kinds)
    .bind(&slots)
    .bind(&deadlines)
    .bind(&drills)
    .fetch_all(conn)
    .await
}

/// Sets `sla_breached` on those of `ids` that are not breached yet and returns them as
/// they stand after the change (their `version` moved on, by the incidents trigger).
pub async fn mark_breached(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Incident>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as::<_, Incident>(
        "UPDATE incidents SET sla_breached = true
         WHERE id = ANY($1) AND NOT sla_breached
         RETURNING *",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// A timeline entry the watchdog writes (no author, not public).
#[derive(Debug, Clone)]
pub struct SystemEntry {
    /// The incident's workspace.
    pub workspace_id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// What it records.
    pub kind: TimelineKind,
    /// What people read.
    pub message: String,
    /// Structured details.
    pub data: serde_json::Value,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// Appends the watchdog's timeline entries in one statement, in the given order.
pub async fn insert_system_entries(
    conn: &mut PgConnection,
    entries: &[SystemEntry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let workspace_ids: Vec<Uuid> = entries.iter().map(|e| e.workspace_id).collect();
    let incident_ids: Vec<Uuid> = entries.iter().map(|e| e.incident_id).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let messages: Vec<&str> = entries.iter().map(|e| e.message.as_str()).collect();
    let data: Vec<&serde_json::Value> = entries.iter().map(|e| &e.data).collect();
    let occurred: Vec<DateTime<Utc>> = entries.iter().map(|e| e.occurred_at).collect();
    sqlx::query(
        "INSERT INTO incident_timeline
             (workspace_id, incident_id, author_id, kind, message, is_public, data, occurred_at)
         SELECT u.workspace_id, u.incident_id, NULL, u.kind::timeline_kind, u.message, false,
                u.data, u.occurred_at
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[],
                     $6::timestamptz[]) WITH ORDINALITY
              AS u(workspace_id, incident_id, kind, message, data, occurred_at, n)
         ORDER BY u.n",
    )
    .bind(&workspace_ids)
    .bind(&incident_ids)
    .bind(&kinds)
    .bind(&messages)
    .bind(&data)
    .bind(&occurred)
    .execute(conn)
    .await?;
    Ok(())
}

/// An action item just reported overdue, with what its event carries.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq)]
pub struct OverdueActionItem {
    /// The action item.
    pub id: Uuid,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The postmortem it came from.
    pub postmortem_id: Uuid,
    /// The postmortem's incident.
    pub incident_id: Uuid,
    /// What to do.
    pub description: String,
    /// Who does it.
    pub assignee_id: Option<Uuid>,
    /// When it was due.
    pub due_date: NaiveDate,
    /// Whether the incident is a drill.
    pub is_drill: bool,
    /// When it was reported (the database's `now()`).
    pub overdue_flagged_at: DateTime<Utc>,
}

/// Stamps `overdue_flagged_at` on up to `limit` open action items whose due date
/// (a UTC date) has passed and that were not reported yet, and returns them.
///
/// The stamp is the gate: the claim skips locked rows, and a row another sweeper stamped
/// meanwhile fails the re-checked `overdue_flagged_at IS NULL`, so each item is returned
/// by one transaction only.
pub async fn flag_overdue_action_items(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<OverdueActionItem>, sqlx::Error> {
    sqlx::query_as::<_, OverdueActionItem>(
        "WITH due AS (
             SELECT a.id FROM action_items a
             WHERE a.status IN ('OPEN', 'IN_PROGRESS') AND a.due_date IS NOT NULL
               AND a.overdue_flagged_at IS NULL
               AND a.due_date < (now() AT TIME ZONE 'UTC')::date
             ORDER BY a.due_date
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE action_items a SET overdue_flagged_at = now()
         FROM due, postmortems p, incidents i
         WHERE a.id = due.id AND p.id = a.postmortem_id AND i.id = p.incident_id
         RETURNING a.id, a.workspace_id, a.postmortem_id, p.incident_id, a.description,
                   a.assignee_id, a.due_date, i.is_drill, a.overdue_flagged_at",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Open incidents (drills left out) by SLA state.
#[derive(sqlx::FromRow, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaStateCounts {
    /// A deadline passed unmet.
    pub breached: i64,
    /// Not breached, but warned about a deadline.
    pub at_risk: i64,
    /// Neither.
    pub on_track: i64,
}

/// Counts open incidents, drills left out, by SLA state.
pub async fn count_by_sla_state(conn: &mut PgConnection) -> Result<SlaStateCounts, sqlx::Error> {
    sqlx::query_as::<_, SlaStateCounts>(
        "SELECT count(*) FILTER (WHERE s.breached) AS breached,
                count(*) FILTER (WHERE NOT s.breached AND s.warned) AS at_risk,
                count(*) FILTER (WHERE NOT s.breached AND NOT s.warned) AS on_track
         FROM (
             SELECT i.sla_breached AS breached,
                    EXISTS (SELECT 1 FROM sla_events e
                            WHERE e.incident_id = i.id AND e.kind = 'WARNING') AS warned
             FROM incidents i
             WHERE i.status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING') AND NOT i.is_drill
         ) s",
    )
    .fetch_one(conn)
    .await
}
