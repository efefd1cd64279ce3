//! The war room's work queue, paced per Slack team (issue 17).
//!
//! The consumer of `warroom.events` ([`Intake`]) does no Slack work: in the transaction
//! of its inbox row it writes one `warroom_jobs` row (the envelope, the Slack team the
//! workspace's work goes to, its lane: the incident, or `ws:<workspace>` for
//! workspace-wide posts) and the delivery is acknowledged. Nothing is lost: the job
//! commits with the inbox row or neither does.
//!
//! Workers ([`spawn_workers`]) claim lane heads: the oldest due job whose lane has no
//! earlier live job (so a channel's posts keep their order) and whose team is not paused
//! (`warroom_team_pacing`), `FOR UPDATE SKIP LOCKED` so any number of workers and
//! replicas share the queue. A worker runs the job with the war room's handler
//! ([`WarRoom`]) on that workspace's client inside a savepoint, so a failed job's
//! effects roll back while its own bookkeeping commits:
//!
//! - done: the row is deleted, in the transaction of the job's effects;
//! - its Slack team rate limited (a 429, or the team's buckets empty for longer than an
//!   in-line wait): that team is paused until its `Retry-After` and the job deferred to
//!   then, not counted as an attempt; other teams' jobs go on
//!   (`incident_warroom_slack_deferrals_total`, no team label);
//! - another transient failure: retried with exponential backoff, given up after
//!   [`MAX_ATTEMPTS`];
//! - the app uninstalled from the team, a permanent failure, or attempts exhausted: the
//!   row stays with its `dead_reason` (and no longer holds its lane), logged and counted.
//!
//! Given-up jobs stay readable for operators (`dead_reason`, `last_error`, the envelope)
//! for `INCIDENT_WARROOM_JOB_RETENTION_DAYS` after `dead_at`, then [`spawn_purge`]
//! deletes them in batches of [`PURGE_BATCH`] (`incident_warroom_jobs_purged_total`;
//! `incident_warroom_jobs_given_up` is the number still kept).
//!
//! One process runs up to [`WORKERS`] workers ([`workers_for_pool`]) and lets at most
//! [`PER_TEAM`] of them work for the same team at once, so a team whose buckets make its
//! calls wait cannot hold every worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError};
use incident_runtime::metrics::{
    WARROOM_JOBS_DEAD, WARROOM_JOBS_GIVEN_UP, WARROOM_JOBS_PURGED, WARROOM_SLACK_DEFERRALS,
};
use incident_schema::contract::{IncidentWarroomOpened, Message as _};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::lifecycle::WarRoom;
use crate::teams::{Outbound, Teams};

/// Workers per process at most (see [`workers_for_pool`]).
pub const WORKERS: usize = 4;
/// Workers of one process busy for the same team at most.
pub const PER_TEAM: usize = 1;
/// Transient failures (other than rate limits) after which a job is given up.
pub const MAX_ATTEMPTS: i32 = 12;
/// Given-up jobs deleted per statement by the purge (short transactions, no long lock).
pub const PURGE_BATCH: i64 = 500;
/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often an idle worker looks for due work (deferred jobs, other replicas' jobs).
const IDLE_POLL: Duration = Duration::from_millis(100);

/// The consumer of `warroom.events`: turns each event into a job.
#[derive(Clone)]
pub struct Intake {
    teams: Arc<Teams>,
    wake: Arc<Notify>,
}

impl Intake {
    /// A consumer over `teams`, waking local workers through `wake`.
    pub fn new(teams: Arc<Teams>, wake: Arc<Notify>) -> Self {
        Self { teams, wake }
    }
}

/// The lane of a message: its incident, else its workspace.
pub fn lane_of(message: &Envelope) -> String {
    message
        .data
        .pointer("/incident/id")
        .or_else(|| message.data.get("incident_id"))
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| format!("ws:{}", message.workspace_id), str::to_owned)
}

async fn enqueue(
    intake: &Intake,
    tx: &mut PgConnection,
    message: &Envelope,
) -> Result<(), HandlerError> {
    // Our own event: nothing to do in Slack.
    if message.message_type == <IncidentWarroomOpened>::TYPE {
        return Ok(());
    }
    let (team, dead) = match intake
        .teams
        .outbound(&mut *tx, message.workspace_id)
        .await?
    {
        Outbound::Nothing => return Ok(()),
        Outbound::Slack { team, .. } => (team, None),
        Outbound::Uninstalled { team, reason } => {
            let why = uninstalled(&team, &reason);
            (team, Some(why))
        }
    };
    let envelope = serde_json::to_value(message)
        .map_err(|e| HandlerError::permanent(format!("encoding the job: {e}")))?;
    let inserted = sqlx::query(
        "INSERT INTO warroom_jobs (message_id, workspace_id, team, lane, envelope, dead_reason, dead_at,
                                   trace_headers)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::text IS NULL THEN NULL ELSE now() END, $7)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message.id)
    .bind(message.workspace_id)
    .bind(&team)
    .bind(lane_of(message))
    .bind(envelope)
    .bind(&dead)
    // The consumer's span: the job's Slack calls continue its trace.
    .bind(sqlx::types::Json(incident_bus::trace_context::current()))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1
        && let Some(reason) = &dead
    {
        tracing::warn!(workspace_id = %message.workspace_id, kind = %message.message_type, %reason, "not posting to Slack");
        metrics::counter!(WARROOM_JOBS_DEAD, "reason" => "uninstalled").increment(1);
    }
    intake.wake.notify_waiters();
    Ok(())
}

fn uninstalled(team: &str, reason: &str) -> String {
    format!(
        "the Slack app is no longer installed in team {team} ({reason}); nothing more is posted there"
    )
}

impl Handler for Intake {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(enqueue(self, tx, message))
    }
}

/// Gives up the live jobs of `workspaces` at once (the app was uninstalled from their
/// team); a job being run right now finishes, and later ones are refused by the worker.
pub async fn give_up_workspaces(
    pool: &PgPool,
    workspaces: &[Uuid],
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let given_up = sqlx::query(
        "UPDATE warroom_jobs SET dead_reason = $2, dead_at = now()
         WHERE id IN (SELECT id FROM warroom_jobs
                      WHERE workspace_id = ANY($1) AND dead_reason IS NULL
                      FOR UPDATE SKIP LOCKED)",
    )
    .bind(workspaces)
    .bind(reason)
    .execute(pool)
    .await?
    .rows_affected();
    if given_up > 0 {
        metrics::counter!(WARROOM_JOBS_DEAD, "reason" => "uninstalled").increment(given_up);
    }
    Ok(given_up)
}

/// A claimed job.
#[derive(Debug, sqlx::FromRow)]
struct Job {
    id: i64,
    workspace_id: Uuid,
    team: String,
    envelope: serde_json::Value,
    attempts: i32,
    /// The trace context of the consumer that wrote it.
    trace_headers: sqlx::types::Json<std::collections::BTreeMap<String, String>>,
}

/// The workers' shared state.
struct Workers {
    pool: PgPool,
    /// `INCIDENT_PUBLIC_URL`: links to the incident's page.
    public_url: Option<String>,
    teams: Arc<Teams>,
    wake: Arc<Notify>,
    busy: Mutex<HashMap<String, usize>>,
}

/// Marks a team busy while a worker runs one of its jobs.
struct Busy<'a> {
    workers: &'a Workers,
    team: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut busy = self.workers.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(&self.team) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&self.team);
            }
        }
    }
}

impl Workers {
    fn saturated(&self) -> Vec<String> {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, n)| **n >= PER_TEAM)
            .map(|(team, _)| team.clone())
            .collect()
    }

    fn enter(&self, team: &str) -> Busy<'_> {
        *self
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(team.to_owned())
            .or_default() += 1;
        Busy {
            workers: self,
            team: team.to_owned(),
        }
    }
}

/// How many workers a pool of `max_connections` can carry: a running job holds two
/// connections (its transaction, and the pool writes that record each Slack step at
/// once), so one worker per ten connections, at least one and at most [`WORKERS`]. One
/// worker already keeps teams apart: a rate-limited team's job is deferred at once, not
/// waited out, and the next claim skips that team.
pub fn workers_for_pool(max_connections: u32) -> usize {
    usize::try_from(max_connections / 10)
        .unwrap_or(1)
        .clamp(1, WORKERS)
}

/// Starts `count` workers until `shutdown` (a job in hand is finished).
pub fn spawn_workers(
    count: usize,
    pool: PgPool,
    public_url: Option<String>,
    teams: Arc<Teams>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let workers = Arc::new(Workers {
        pool,
        public_url,
        teams,
        wake,
        busy: Mutex::new(HashMap::new()),
    });
    (0..count.max(1))
        .map(|_| {
            let workers = workers.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { work(&workers, &shutdown).await })
        })
        .collect()
}

async fn work(workers: &Workers, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        let idle = match run_one(workers).await {
            Ok(ran) => !ran,
            Err(e) => {
                tracing::warn!(error = %e, "war room worker: database error; trying again shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                false
            }
        };
        if idle {
            tokio::select! {
                () = workers.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// Claims and runs one job; false when none was due.
async fn run_one(workers: &Workers) -> Result<bool, sqlx::Error> {
    let mut tx = workers.pool.begin().await?;
    let job: Option<Job> = sqlx::query_as(
        "SELECT j.id, j.workspace_id, j.team, j.envelope, j.attempts, j.trace_headers FROM warroom_jobs j
         WHERE j.dead_reason IS NULL AND j.not_before <= now()
           AND NOT (j.team = ANY ($1))
           AND NOT EXISTS (SELECT 1 FROM warroom_jobs e
                           WHERE e.lane = j.lane AND e.id < j.id AND e.dead_reason IS NULL)
           AND NOT EXISTS (SELECT 1 FROM warroom_team_pacing p
                           WHERE p.team = j.team AND p.not_before > now())
         ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
    )
    .bind(workers.saturated())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(job) = job else {
        tx.commit().await?;
        return Ok(false);
    };
    let _busy = workers.enter(&job.team);
    let envelope: Envelope = match serde_json::from_value(job.envelope.clone()) {
        Ok(envelope) => envelope,
        Err(e) => {
            give_up(
                &mut tx,
                &job,
                "undecodable",
                &format!("not an envelope: {e}"),
            )
            .await?;
            tx.commit().await?;
            return Ok(true);
        }
    };
    let slack = match workers.teams.outbound(&mut *tx, job.workspace_id).await? {
        Outbound::Slack { slack, .. } => slack,
        Outbound::Uninstalled { team, reason } => {
            give_up(&mut tx, &job, "uninstalled", &uninstalled(&team, &reason)).await?;
            tx.commit().await?;
            return Ok(true);
        }
        Outbound::Nothing => {
            // The single token was taken away: nothing to do, as without Slack.
            finish(&mut tx, job.id).await?;
            tx.commit().await?;
            return Ok(true);
        }
    };
    let war_room = WarRoom::new(workers.pool.clone(), Some(slack.clone()))
        .with_public_url(workers.public_url.clone());
    let outcome = {
        let mut savepoint = tx.begin().await?;
        let span = tracing::info_span!("warroom job", job = job.id, kind = %envelope.message_type);
        incident_bus::trace_context::set_parent_from(
            &span,
            Some(&incident_bus::trace_context::to_field_table(
                &job.trace_headers.0,
            )),
        );
        let outcome = war_room
            .handle(&mut savepoint, &envelope)
            .instrument(span)
            .await;
        if outcome.is_ok() {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
        outcome
    };
    match outcome {
        Ok(()) => finish(&mut tx, job.id).await?,
        Err(e) => {
            let paused = slack.client.pacing().and_then(|p| p.paused_for());
            match paused {
                Some(wait) if e.is_transient() => defer(&mut tx, &job, wait, &e).await?,
                _ if e.is_transient() && job.attempts + 1 < MAX_ATTEMPTS => {
                    retry(&mut tx, &job, &e).await?
                }
                _ if e.is_transient() => {
                    give_up(
                        &mut tx,
                        &job,
                        "attempts",
                        &format!("{MAX_ATTEMPTS} attempts: {e}"),
                    )
                    .await?
                }
                _ => give_up(&mut tx, &job, "permanent", &e.to_string()).await?,
            }
        }
    }
    tx.commit().await?;
    Ok(true)
}

async fn finish(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM warroom_jobs WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The team is rate limited: pause it (for every worker and replica) and defer the job.
async fn defer(
    conn: &mut PgConnection,
    job: &Job,
    wait: Duration,
    e: &HandlerError,
) -> Result<(), sqlx::Error> {
    let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX).max(1);
    sqlx::query(
        "INSERT INTO warroom_team_pacing (team, not_before)
         VALUES ($1, now() + make_interval(secs => $2::float8 / 1000))
         ON CONFLICT (team) DO UPDATE
         SET not_before = GREATEST(warroom_team_pacing.not_before, EXCLUDED.not_before),
             updated_at = now()",
    )
    .bind(&job.team)
    .bind(ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE warroom_jobs SET not_before = now() + make_interval(secs => $2::float8 / 1000),
             last_error = $3
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(ms)
    .bind(e.to_string())
    .execute(&mut *conn)
    .await?;
    metrics::counter!(WARROOM_SLACK_DEFERRALS).increment(1);
    tracing::info!(
        job = job.id,
        ?wait,
        "Slack team rate limited; its job deferred, other teams go on"
    );
    Ok(())
}

async fn retry(conn: &mut PgConnection, job: &Job, e: &HandlerError) -> Result<(), sqlx::Error> {
    // 250 ms, doubling, at most a minute.
    let ms = (250_i64 << job.attempts.clamp(0, 8)).min(60_000);
    sqlx::query(
        "UPDATE warroom_jobs SET attempts = attempts + 1, last_error = $3,
             not_before = now() + make_interval(secs => $2::float8 / 1000)
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(ms)
    .bind(e.to_string())
    .execute(conn)
    .await?;
    tracing::warn!(job = job.id, attempts = job.attempts + 1, error = %e, "war room job failed; retrying");
    Ok(())
}

async fn give_up(
    conn: &mut PgConnection,
    job: &Job,
    kind: &'static str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE warroom_jobs SET dead_reason = $2, dead_at = now() WHERE id = $1")
        .bind(job.id)
        .bind(reason)
        .execute(conn)
        .await?;
    metrics::counter!(WARROOM_JOBS_DEAD, "reason" => kind).increment(1);
    tracing::error!(job = job.id, workspace_id = %job.workspace_id, reason, "war room job given up; kept with its reason");
    Ok(())
}

/// Deletes the jobs given up more than `retention` ago, [`PURGE_BATCH`] at a time, and
/// sets the gauge of those kept; returns how many were deleted. Live jobs are never
/// touched.
pub async fn purge_given_up(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut purged = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM warroom_jobs WHERE id IN (
                 SELECT id FROM warroom_jobs
                 WHERE dead_reason IS NOT NULL
                   AND dead_at < now() - make_interval(secs => $1::float8 / 1000)
                 ORDER BY dead_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(ms)
        .bind(PURGE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        purged += deleted;
        if deleted < u64::try_from(PURGE_BATCH).unwrap_or(u64::MAX) {
            break;
        }
    }
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM warroom_jobs WHERE dead_reason IS NOT NULL")
            .fetch_one(pool)
            .await?;
    metrics::gauge!(WARROOM_JOBS_GIVEN_UP).set(kept as f64);
    if purged > 0 {
        metrics::counter!(WARROOM_JOBS_PURGED).increment(purged);
        tracing::info!(
            purged,
            kept,
            ?retention,
            "purged war-room jobs given up before their retention"
        );
    }
    Ok(purged)
}

/// Runs [`purge_given_up`] at start and every `every` until `shutdown` (every replica
/// may: the batches skip each other's locked rows).
pub fn spawn_purge(
    pool: PgPool,
    retention: Duration,
    every: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = purge_given_up(&pool, retention).await {
                tracing::warn!(error = %e, "purging given-up war-room jobs failed; trying again later");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    })
}
