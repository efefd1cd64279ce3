//! The daily digest: one `workspace.daily_digest` event per workspace and occurrence of
//! the digest schedule, for the war room to post: open incidents by severity, SLA
//! breaches of the last 24 hours, and overdue action items. Drills are left out of all
//! three, as they are out of every SLA statistic, and so are PRIVATE incidents: the digest
//! is posted where everyone reads it, and a private incident does not exist for them.
//!
//! Exactly once per occurrence, however many replicas run the schedule: the transaction
//! that builds the digest first claims the occurrence in `job_runs` with
//! `INSERT ... ON CONFLICT DO NOTHING`. A replica racing for the same occurrence waits on
//! the first one's uncommitted key and then inserts nothing; if the first one fails, its
//! claim rolls back with its events and a retry (by either) can take it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use incident_bus::{OutgoingMessage, outbox};
use incident_schema::contract::{
    Breaches, OpenIncidents, OverdueActionItem, OverdueActionItems, WorkspaceDailyDigest,
};
use incident_schema::{Severity, SlaTarget};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::SERVICE;

/// The job's name in `job_runs`.
pub const JOB: &str = "sla.daily_digest";

/// At most this many overdue action items are listed per digest (all are counted).
pub const LISTED_ITEMS: usize = 50;

/// Claims older than this are deleted when a digest is emitted.
const CLAIM_RETENTION_DAYS: i32 = 90;

/// Why a digest was not emitted. Nothing of it was committed, its claim included.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The database failed or went away.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event could not be serialised.
    #[error("cannot serialise the digest: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// What an attempt at one occurrence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOutcome {
    /// This replica claimed the occurrence and queued one event per workspace.
    Emitted {
        /// Digests queued.
        workspaces: usize,
    },
    /// Another replica (or an earlier attempt) already emitted it.
    AlreadyClaimed,
}

/// `data` of `workspace.daily_digest`.
pub type DailyDigestData = WorkspaceDailyDigest;

/// Emits the digest of the occurrence `scheduled_for`, unless some replica already did.
#[tracing::instrument(skip_all, fields(scheduled_for = %scheduled_for, replica = %replica), err(level = "warn"))]
pub async fn emit_daily_digest(
    conn: &mut PgConnection,
    scheduled_for: DateTime<Utc>,
    replica: &str,
) -> Result<DigestOutcome, DigestError> {
    let mut tx = conn.begin().await?;
    if !claim(&mut tx, JOB, scheduled_for, replica).await? {
        return Ok(DigestOutcome::AlreadyClaimed);
    }
    let digests = build_digests(&mut tx, scheduled_for).await?;
    let messages = digests
        .into_iter()
        .map(|(workspace_id, data)| {
            Ok(OutgoingMessage::of(workspace_id, &data)?.occurred_at(data.generated_at))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    outbox::enqueue(&mut tx, SERVICE, &messages).await?;
    tx.commit().await?;
    Ok(DigestOutcome::Emitted {
        workspaces: messages.len(),
    })
}

/// The digest of every workspace, as of the database's `now()`.
pub async fn build_digests(
    conn: &mut PgConnection,
    scheduled_for: DateTime<Utc>,
) -> Result<BTreeMap<Uuid, DailyDigestData>, sqlx::Error> {
    let generated_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await?;
    let workspaces: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let open: Vec<(Uuid, Severity, i64)> = sqlx::query_as(
        "SELECT workspace_id, severity, count(*) FROM incidents
         WHERE status IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING') AND NOT is_drill
           AND visibility = 'PUBLIC'
         GROUP BY workspace_id, severity",
    )
    .fetch_all(&mut *conn)
    .await?;
    let breaches: Vec<(Uuid, SlaTarget, i64)> = sqlx::query_as(
        "SELECT workspace_id, target, count(*) FROM sla_events
         WHERE kind = 'BREACH' AND NOT is_drill AND detected_at > now() - interval '24 hours'
           AND EXISTS (SELECT 1 FROM incidents i
                       WHERE i.id = sla_events.incident_id AND i.visibility = 'PUBLIC')
         GROUP BY workspace_id, target",
    )
    .fetch_all(&mut *conn)
    .await?;
    #[derive(sqlx::FromRow)]
    struct OverdueRow {
        workspace_id: Uuid,
        #[sqlx(flatten)]
        item: OverdueActionItem,
    }
    let overdue: Vec<OverdueRow> = sqlx::query_as(
        "SELECT a.workspace_id, a.id AS action_item_id, p.incident_id, a.description,
                a.assignee_id, a.due_date
         FROM action_items a
         JOIN postmortems p ON p.id = a.postmortem_id
         JOIN incidents i ON i.id = p.incident_id
         WHERE a.status IN ('OPEN', 'IN_PROGRESS') AND a.due_date IS NOT NULL
           AND a.due_date < (now() AT TIME ZONE 'UTC')::date
           AND NOT i.is_drill AND i.visibility = 'PUBLIC'
         ORDER BY a.workspace_id, a.due_date, a.id",
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut digests: HashMap<Uuid, DailyDigestData> = workspaces
        .into_iter()
        .map(|workspace_id| {
            (
                workspace_id,
                DailyDigestData {
                    scheduled_for,
                    generated_at,
                    open_incidents: OpenIncidents::empty(),
                    breaches_last_24h: Breaches::default(),
                    overdue_action_items: OverdueActionItems::default(),
                },
            )
        })
        .collect();
    for (workspace_id, severity, n) in open {
        if let Some(digest) = digests.get_mut(&workspace_id) {
            digest.open_incidents.total += n;
            *digest
                .open_incidents
                .by_severity
                .entry(severity.as_str().to_owned())
                .or_default() += n;
        }
    }
    for (workspace_id, target, n) in breaches {
        if let Some(digest) = digests.get_mut(&workspace_id) {
            let b = &mut digest.breaches_last_24h;
            b.total += n;
            match target {
                SlaTarget::Acknowledge => b.acknowledge += n,
                SlaTarget::Resolve => b.resolve += n,
                SlaTarget::Update => {}
            }
        }
    }
    for row in overdue {
        if let Some(digest) = digests.get_mut(&row.workspace_id) {
            let items = &mut digest.overdue_action_items;
            items.total += 1;
            if items.items.len() < LISTED_ITEMS {
                items.items.push(row.item);
            }
        }
    }
    Ok(digests.into_iter().collect())
}

/// Claims the occurrence `scheduled_for` of `job` in `job_runs`, in the caller's
/// transaction: true for the one transaction that inserts it; a racing replica waits on
/// the first one's uncommitted key and then gets false. Claims of `job` older than the
/// retention are deleted on the way.
pub(crate) async fn claim(
    tx: &mut PgConnection,
    job: &str,
    scheduled_for: DateTime<Utc>,
    replica: &str,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO job_runs (job, scheduled_for, claimed_by) VALUES ($1, $2, $3)
         ON CONFLICT (job, scheduled_for) DO NOTHING",
    )
    .bind(job)
    .bind(scheduled_for)
    .bind(replica)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        sqlx::query(
            "DELETE FROM job_runs
             WHERE job = $1 AND scheduled_for < now() - make_interval(days => $2)",
        )
        .bind(job)
        .bind(CLAIM_RETENTION_DAYS)
        .execute(&mut *tx)
        .await?;
    }
    Ok(claimed)
}
