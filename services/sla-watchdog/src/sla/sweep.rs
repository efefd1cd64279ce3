//! One SLA sweep: every finding due now, each reported exactly once.
//!
//! A sweep runs batches, each in its own transaction:
//! 1. claim up to [`SweepOptions::batch_size`] incidents with something due
//!    ([`store::claim_due_incidents`], `FOR UPDATE SKIP LOCKED`: concurrent sweepers take
//!    disjoint batches);
//! 2. read them back with their policy and last update reminder, and work out what is
//!    due ([`finding::findings`]) against the transaction's `now()`;
//! 3. insert the findings' `sla_events` rows with `ON CONFLICT DO NOTHING`; only for the
//!    rows that created, set `sla_breached` (for a breach), append the timeline entry and
//!    queue the event in the outbox (one statement each per batch);
//! 4. commit: the finding, its flag, its timeline entry and its event exist together
//!    or not at all.
//!
//! The unique key is what makes this exactly once across replicas and restarts: a
//! sweeper that claimed an incident another one just finished (its snapshot predates the
//! other's commit) hits the key and writes nothing. A crash or a lost database connection
//! rolls the batch back; the next sweep finds the same things due and reports them then.
//!
//! Overdue action items follow in batches of their own ([`store::flag_overdue_action_items`]:
//! the `overdue_flagged_at` stamp is their gate). Incidents claimed once are not claimed
//! again by the same sweep, so a sweep always ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use incident_bus::outbox;
use incident_schema::{Incident, SlaEvent, SlaEventKind, SlaTarget};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::SERVICE;
use crate::metrics;
use crate::sla::event::{finding_event, overdue_event};
use crate::sla::finding::{self, Finding};
use crate::sla::store;

/// Why a sweep stopped early. Whatever its last batch did was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The database failed or went away.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event could not be serialised.
    #[error("cannot serialise an event: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// How a sweep works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepOptions {
    /// Incidents (or action items) claimed per transaction.
    pub batch_size: i64,
    /// How far back to look for a response or resolution that came after its deadline
    /// but before any sweep saw the deadline pass (a watchdog outage, or simply the
    /// moments between two sweeps). Findings older than this are history, not news.
    pub late_horizon: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            batch_size: 200,
            late_horizon: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What one sweep reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Incidents claimed and examined.
    pub incidents_examined: usize,
    /// Acknowledge targets missed.
    pub acknowledge_breaches: usize,
    /// Resolve targets missed.
    pub resolve_breaches: usize,
    /// Warnings of an acknowledge deadline ahead.
    pub acknowledge_warnings: usize,
    /// Warnings of a resolve deadline ahead.
    pub resolve_warnings: usize,
    /// Public update reminders.
    pub updates_due: usize,
    /// Action items reported overdue.
    pub overdue_action_items: usize,
}

impl SweepReport {
    /// Everything reported.
    pub fn flags(&self) -> usize {
        self.acknowledge_breaches
            + self.resolve_breaches
            + self.acknowledge_warnings
            + self.resolve_warnings
            + self.updates_due
            + self.overdue_action_items
    }

    fn merge(&mut self, other: &SweepReport) {
        self.incidents_examined += other.incidents_examined;
        self.acknowledge_breaches += other.acknowledge_breaches;
        self.resolve_breaches += other.resolve_breaches;
        self.acknowledge_warnings += other.acknowledge_warnings;
        self.resolve_warnings += other.resolve_warnings;
        self.updates_due += other.updates_due;
        self.overdue_action_items += other.overdue_action_items;
    }

    fn count(&mut self, finding: &Finding) {
        match (finding.kind(), finding.target()) {
            (SlaEventKind::Breach, SlaTarget::Acknowledge) => self.acknowledge_breaches += 1,
            (SlaEventKind::Breach, _) => self.resolve_breaches += 1,
            (SlaEventKind::Warning, SlaTarget::Acknowledge) => self.acknowledge_warnings += 1,
            (SlaEventKind::Warning, _) => self.resolve_warnings += 1,
            (SlaEventKind::UpdateDue, _) => self.updates_due += 1,
        }
    }
}

/// Runs one sweep on `conn` (not inside a transaction: each batch is one).
///
/// A failure (typically the database going away) is logged as a warning by this span:
/// the sweep is simply run again at the next tick.
#[tracing::instrument(skip_all, err(level = "warn"))]
pub async fn sweep(
    conn: &mut PgConnection,
    options: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let result = sweep_all(conn, options).await;
    metrics::record_sweep(started.elapsed(), result.as_ref().ok());
    if let Ok(report) = &result
        && report.flags() > 0
    {
        tracing::info!(?report, "SLA sweep reported findings");
    }
    result
}

async fn sweep_all(
    conn: &mut PgConnection,
    options: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let mut examined: Vec<Uuid> = Vec::new();
    loop {
        let mut tx = conn.begin().await?;
        let batch = sweep_incident_batch(&mut tx, options, &examined).await?;
        tx.commit().await?;
        // Counted once committed: a rolled-back batch reported nothing.
        metrics::record_flags(&batch.report);
        report.merge(&batch.report);
        let done = (batch.claimed.len() as i64) < options.batch_size;
        examined.extend(batch.claimed);
        if done {
            break;
        }
    }
    loop {
        let mut tx = conn.begin().await?;
        let flagged = sweep_overdue_batch(&mut tx, options.batch_size).await?;
        tx.commit().await?;
        let batch = SweepReport {
            overdue_action_items: flagged,
            ..SweepReport::default()
        };
        metrics::record_flags(&batch);
        report.merge(&batch);
        if (flagged as i64) < options.batch_size {
            break;
        }
    }
    Ok(report)
}

/// What one batch of incidents did (valid once its transaction commits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The incidents it claimed and examined.
    pub claimed: Vec<Uuid>,
    /// What it reported.
    pub report: SweepReport,
}

/// One batch of incidents, in the caller's transaction: claims up to a batch of
/// incidents with something due (passing over `skip`) and reports what is new.
#[tracing::instrument(skip_all, err(level = "debug"), fields(skipped = skip.len()))]
pub async fn sweep_incident_batch(
    tx: &mut PgConnection,
    options: &SweepOptions,
    skip: &[Uuid],
) -> Result<Batch, SweepError> {
    let claimed = store::claim_due_incidents(
        tx,
        options.batch_size,
        skip,
        options.late_horizon.as_secs_f64(),
    )
    .await?;
    let mut report = SweepReport {
        incidents_examined: claimed.len(),
        ..SweepReport::default()
    };
    if claimed.is_empty() {
        return Ok(Batch { claimed, report });
    }
    let watched = store::load_watched(tx, &claimed).await?;
    let found: Vec<(usize, Finding)> = watched
        .iter()
        .enumerate()
        .flat_map(|(i, w)| finding::findings(w).into_iter().map(move |f| (i, f)))
        .collect();
    let candidates: Vec<_> = found
        .iter()
        .map(|(i, finding)| store::NewFinding {
            incident: &watched[*i].incident,
            finding,
        })
        .collect();
    // The gate: only findings whose row this insert created are reported.
    let recorded: HashMap<_, _> = store::record_findings(tx, &candidates)
        .await?
        .into_iter()
        .map(|row| ((row.incident_id, row.target, row.kind, row.slot), row))
        .collect();
    let new: Vec<(&Incident, &Finding, &SlaEvent)> = found
        .iter()
        .filter_map(|(i, finding)| {
            let incident = &watched[*i].incident;
            let key = (
                incident.id,
                finding.target(),
                finding.kind(),
                finding.slot(),
            );
            recorded.get(&key).map(|row| (incident, finding, row))
        })
        .collect();

    let mut to_flag: Vec<Uuid> = new
        .iter()
        .filter(|(incident, finding, _)| finding.is_breach() && !incident.sla_breached)
        .map(|(incident, _, _)| incident.id)
        .collect();
    to_flag.sort_unstable();
    to_flag.dedup();
    let flagged: HashMap<Uuid, Incident> = store::mark_breached(tx, &to_flag)
        .await?
        .into_iter()
        .map(|incident| (incident.id, incident))
        .collect();

    let mut entries = Vec::with_capacity(new.len());
    let mut messages = Vec::with_capacity(new.len());
    for (incident, finding, row) in new {
        // Every event carries the incident as it stands once this batch commits.
        let incident = flagged.get(&incident.id).unwrap_or(incident);
        entries.push(store::SystemEntry {
            workspace_id: incident.workspace_id,
            incident_id: incident.id,
            kind: finding.timeline_kind(),
            message: finding.timeline_message(),
            data: serde_json::json!({
                "target": finding.target(),
                "kind": finding.kind(),
                "slot": finding.slot(),
                "deadline": finding.deadline(),
                "sla_event_id": row.id,
            }),
            occurred_at: row.detected_at,
        });
        messages.push(finding_event(incident, finding, row)?);
        report.count(finding);
    }
    store::insert_system_entries(tx, &entries).await?;
    outbox::enqueue(tx, SERVICE, &messages).await?;
    Ok(Batch { claimed, report })
}

/// One batch of overdue action items, in the caller's transaction: stamps and reports up
/// to `limit` of them; returns how many.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn sweep_overdue_batch(tx: &mut PgConnection, limit: i64) -> Result<usize, SweepError> {
    let items = store::flag_overdue_action_items(tx, limit).await?;
    let messages = items
        .iter()
        .map(overdue_event)
        .collect::<Result<Vec<_>, _>>()?;
    outbox::enqueue(tx, SERVICE, &messages).await?;
    Ok(items.len())
}
