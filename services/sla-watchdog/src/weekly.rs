//! The weekly digest: one `workspace.weekly_digest` event per workspace and occurrence of
//! the weekly schedule (`INCIDENT_SLA_WEEKLY_DIGEST_CRON`), for the war room to announce:
//! the last complete ISO week before the occurrence, in the workspace's time zone, against
//! the week before it. The figures are the analytics summary of each week
//! (`incident_schema::analytics`): drills left out, PRIVATE incidents counted and never
//! named.
//!
//! Exactly once per occurrence, as the daily digest ([`crate::digest`]): the transaction
//! that builds it first claims `(sla.weekly_digest, occurrence)` in `job_runs`; a racing
//! replica waits on that key and then inserts nothing; a failed attempt rolls its claim
//! back with its events.

use chrono::{DateTime, Utc};
use incident_bus::{OutgoingMessage, outbox};
use incident_schema::access::Reader;
use incident_schema::analytics::{Filter, Request, query};
use incident_schema::contract::{WeekFigures, WorkspaceWeeklyDigest};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::SERVICE;
use crate::digest::{DigestError, DigestOutcome, claim};

/// The job's name in `job_runs`.
pub const JOB: &str = "sla.weekly_digest";

/// Emits the weekly digest of the occurrence `scheduled_for`, unless some replica already
/// did.
#[tracing::instrument(skip_all, fields(scheduled_for = %scheduled_for, replica = %replica), err(level = "warn"))]
pub async fn emit_weekly_digest(
    conn: &mut PgConnection,
    scheduled_for: DateTime<Utc>,
    replica: &str,
) -> Result<DigestOutcome, DigestError> {
    let mut tx = conn.begin().await?;
    if !claim(&mut tx, JOB, scheduled_for, replica).await? {
        return Ok(DigestOutcome::AlreadyClaimed);
    }
    let workspaces: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    let mut messages = Vec::with_capacity(workspaces.len());
    for workspace_id in workspaces {
        let data = build_weekly_digest(&mut tx, workspace_id, scheduled_for).await?;
        messages.push(OutgoingMessage::of(workspace_id, &data)?.occurred_at(data.generated_at));
    }
    outbox::enqueue(&mut tx, SERVICE, &messages).await?;
    tx.commit().await?;
    Ok(DigestOutcome::Emitted {
        workspaces: messages.len(),
    })
}

/// The digest of `workspace_id` for the occurrence `scheduled_for`: the last ISO week that
/// ended by then (in the workspace's zone) and the one before.
pub async fn build_weekly_digest(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    scheduled_for: DateTime<Utc>,
) -> Result<WorkspaceWeeklyDigest, sqlx::Error> {
    let (generated_at, time_zone, previous_start, week_start, week_end): (
        DateTime<Utc>,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "SELECT now(), w.time_zone,
                (date_trunc('week', $2 AT TIME ZONE w.time_zone) - interval '2 weeks') AT TIME ZONE w.time_zone,
                (date_trunc('week', $2 AT TIME ZONE w.time_zone) - interval '1 week') AT TIME ZONE w.time_zone,
                date_trunc('week', $2 AT TIME ZONE w.time_zone) AT TIME ZONE w.time_zone
         FROM workspaces w WHERE w.id = $1",
    )
    .bind(workspace_id)
    .bind(scheduled_for)
    .fetch_one(&mut *conn)
    .await?;
    let reader = Reader::system(workspace_id);
    let week = figures(&mut *conn, &reader, week_start, week_end).await?;
    let previous = figures(&mut *conn, &reader, previous_start, week_start).await?;
    Ok(WorkspaceWeeklyDigest {
        scheduled_for,
        generated_at,
        time_zone,
        week,
        previous,
    })
}

async fn figures(
    conn: &mut PgConnection,
    reader: &Reader,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<WeekFigures, sqlx::Error> {
    let request = Request {
        from,
        to,
        filter: Filter::default(),
    };
    let label: String = sqlx::query_scalar(
        "SELECT to_char($1 AT TIME ZONE w.time_zone, 'IYYY-\"W\"IW') FROM workspaces w WHERE w.id = $2",
    )
    .bind(from)
    .bind(reader.workspace_id)
    .fetch_one(&mut *conn)
    .await?;
    let s = query::summary(conn, reader, &request).await?;
    Ok(WeekFigures {
        label,
        starts_at: from,
        ends_at: to,
        incidents: s.measures.incidents,
        by_severity: s.by_severity,
        mtta_median_seconds: s.measures.mtta.median_seconds,
        mttr_median_seconds: s.measures.mttr.median_seconds,
        acknowledge_met_share: s.measures.sla.acknowledge.share,
        resolve_met_share: s.measures.sla.resolve.share,
        sla_breaches: s.measures.sla.breaches,
        postmortems_published: s.follow_through.postmortems_published,
    })
}
