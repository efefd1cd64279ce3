//! When the watchdog works: the thin tokio adapters over the domain functions.
//!
//! - [`sweep_periodically`]: the SLA sweep on a `tokio::time::interval`
//!   (`INCIDENT_SLA_SWEEP_INTERVAL_SECS`), with `MissedTickBehavior::Delay` so a slow
//!   sweep pushes the next one back instead of triggering a burst. A failed sweep (the
//!   database went away) is logged and the next tick simply tries again: every sweep
//!   starts from what the database says is due, so nothing is lost in between.
//! - [`digest_on_schedule`]: the daily digest on a cron schedule
//!   (`INCIDENT_SLA_DIGEST_CRON`, 6 fields with seconds, UTC). Every replica runs it;
//!   the claim in [`crate::digest::emit_daily_digest`] lets one of them emit each
//!   occurrence. An occurrence missed while no replica ran (a deploy across 09:00) is
//!   caught up at start-up if it is less than [`CATCH_UP`] old.
//! - [`weekly_digest_on_schedule`]: the weekly digest ([`crate::weekly`]) the same way, on
//!   `INCIDENT_SLA_WEEKLY_DIGEST_CRON`.
//! - [`drills_periodically`]: the drill loop, every [`DRILLS_EVERY`]: scheduled runs
//!   started ([`crate::drill::scheduled::start_due`], once per occurrence across
//!   replicas), running runs' incidents learnt, runs whose incident resolved or whose
//!   deadline passed ended and scored ([`crate::drill::ending`]), and every due step of
//!   every running run played ([`crate::drill::runner::play_due`]). A failed round is logged and
//!   the next one starts over from the database; the window of schedule occurrences only
//!   moves on once a round started them.
//!
//! Deadlines are compared inside the database with its `now()`; the host clock only
//! decides when to wake up (and names the cron occurrence, which every replica computes
//! alike from the schedule).

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::digest::{self, DigestOutcome};
use crate::drill;
use crate::metrics;
use crate::sla::store;
use crate::sla::sweep::{self, SweepOptions};
use crate::weekly;

/// How old a missed digest occurrence may be and still be emitted at start-up.
pub const CATCH_UP: TimeDelta = TimeDelta::hours(1);

/// How often the per-workspace gauges ([`metrics::record_workspace_gauges`]) are
/// refreshed.
pub const GAUGES_EVERY: Duration = Duration::from_secs(60);

/// The gauge of incidents by SLA state is refreshed at most this often (it counts every
/// open incident, so it is kept off the sweep's hot path).
const STATES_EVERY: Duration = Duration::from_secs(60);

/// How often the drill loop runs: a step plays at most this late.
pub const DRILLS_EVERY: Duration = Duration::from_secs(1);

/// How old a missed occurrence of a drill schedule may be and still start at start-up.
pub const DRILL_CATCH_UP: TimeDelta = TimeDelta::minutes(5);

/// A digest schedule that could not be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not a cron expression.
    #[error(
        "configuration: {key}: `{expression}` is not a valid cron expression \
         (6 fields with seconds, e.g. `0 0 9 * * *`): {reason}"
    )]
    InvalidCron {
        /// The configuration key.
        key: &'static str,
        /// What was configured.
        expression: String,
        /// What the parser said.
        reason: String,
    },
}

/// A parsed calendar schedule (UTC).
#[derive(Debug, Clone)]
pub struct CalendarSchedule {
    schedule: cron::Schedule,
}

impl CalendarSchedule {
    /// Parses a 6-field cron expression with seconds (`sec min hour day month weekday`).
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        Self::parse_for("INCIDENT_SLA_DIGEST_CRON", expression)
    }

    /// Parses the expression configured under `key` (named by the error).
    pub fn parse_for(key: &'static str, expression: &str) -> Result<Self, ScheduleError> {
        let invalid = |reason: String| ScheduleError::InvalidCron {
            key,
            expression: expression.to_owned(),
            reason,
        };
        let fields = expression.split_whitespace().count();
        if fields != 6 {
            return Err(invalid(format!("it has {fields} fields")));
        }
        let schedule = cron::Schedule::from_str(expression).map_err(|e| invalid(e.to_string()))?;
        // A valid expression may still never fire (30 February); the job would never run.
        if schedule.upcoming(Utc).next().is_none() {
            return Err(invalid("it never fires".into()));
        }
        Ok(Self { schedule })
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t).next()
    }

    /// The latest occurrence in `(from, to]`, if any.
    pub fn latest_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&from).take_while(|t| *t <= to).last()
    }
}

/// Sweeps every `every` until `shutdown`; a sweep in progress finishes first.
pub async fn sweep_periodically(
    pool: PgPool,
    options: SweepOptions,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut states_taken: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "no database connection for the SLA sweep; trying at the next tick");
                continue;
            }
        };
        // Errors are logged by the sweep's span; the next tick starts over.
        let _ = sweep::sweep(&mut conn, &options).await;
        if states_taken.is_none_or(|t| t.elapsed() >= STATES_EVERY) {
            match store::count_by_sla_state(&mut conn).await {
                Ok(counts) => {
                    metrics::record_states(&counts);
                    states_taken = Some(Instant::now());
                }
                Err(e) => tracing::warn!(error = %e, "counting incidents by SLA state failed"),
            }
        }
    }
}

/// Refreshes the per-workspace gauges every `every` until `shutdown` (the first at once).
/// A failed refresh keeps the last values and is logged.
pub async fn gauges_periodically(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let refreshed = async {
            let mut conn = pool.acquire().await?;
            incident_schema::analytics::gauges::workspace_gauges(&mut conn).await
        };
        match refreshed.await {
            Ok(gauges) => metrics::record_workspace_gauges(&gauges),
            Err(e) => tracing::warn!(error = %e, "refreshing the workspace gauges failed"),
        }
    }
}

/// Runs the drill loop every `every` until `shutdown`; a round in progress finishes first.
pub async fn drills_periodically(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut from = Utc::now() - DRILL_CATCH_UP;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let to = Utc::now();
        match drill_round(&pool, from, to).await {
            Ok(()) => from = to,
            Err(e) => tracing::warn!(error = %e, "the drill round failed; trying at the next tick"),
        }
    }
}

/// One round of the drill loop: scheduled occurrences in `(from, to]` started, overdue
/// runs timed out, due steps played.
pub async fn drill_round(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), crate::drill::runner::RunnerError> {
    let mut conn = pool.acquire().await?;
    let started = drill::scheduled::start_due(&mut conn, from, to).await?;
    if started > 0 {
        tracing::info!(started, "scheduled drill runs started");
    }
    drill::ending::learn_due(&mut conn).await?;
    let ended = drill::ending::end_due(&mut conn).await?;
    if ended > 0 {
        tracing::info!(ended, "drill runs ended and scored");
    }
    let round = drill::runner::play_due(&mut conn).await?;
    if round != drill::runner::Round::default() {
        tracing::debug!(
            played = round.played,
            failed = round.failed,
            "drill steps settled"
        );
    }
    Ok(())
}

/// How often the analytics rollups are extended: each pass rolls up, per workspace, at
/// most [`ROLLUP_DAYS_PER_PASS`] of the past days not yet built (or forgotten by a late
/// change), so a three-year history is built within a few passes after an upgrade.
pub const ROLLUP_EVERY: Duration = Duration::from_secs(60);

/// Days one rollup pass builds per workspace.
pub const ROLLUP_DAYS_PER_PASS: i64 = 400;

/// Extends the analytics rollups every `every` until `shutdown`
/// ([`incident_schema::analytics::rollup::build_all`]); any number of replicas may run it
/// (a day is built under its advisory lock, and a built day is skipped).
pub async fn rollups_periodically(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let built = async {
            let mut conn = pool.acquire().await?;
            incident_schema::analytics::rollup::build_all(&mut conn, ROLLUP_DAYS_PER_PASS).await
        };
        tokio::select! {
            result = built => match result {
                Ok(built) if built.days > 0 || built.deferred > 0 => tracing::info!(
                    days = built.days, deferred = built.deferred, "analytics rollups extended"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "extending the analytics rollups failed"),
            },
            () = shutdown.cancelled() => return,
        }
    }
}

/// A calendar job: the daily or the weekly digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// [`digest::emit_daily_digest`].
    Daily,
    /// [`weekly::emit_weekly_digest`].
    Weekly,
}

impl Job {
    async fn emit(
        self,
        conn: &mut sqlx::PgConnection,
        occurrence: DateTime<Utc>,
        replica: &str,
    ) -> Result<DigestOutcome, digest::DigestError> {
        match self {
            Self::Daily => digest::emit_daily_digest(conn, occurrence, replica).await,
            Self::Weekly => weekly::emit_weekly_digest(conn, occurrence, replica).await,
        }
    }
}

/// Emits the daily digest at every occurrence of `schedule` until `shutdown`.
pub async fn digest_on_schedule(
    pool: PgPool,
    schedule: CalendarSchedule,
    replica: String,
    shutdown: CancellationToken,
) {
    job_on_schedule(Job::Daily, pool, schedule, replica, shutdown).await
}

/// Emits the weekly digest at every occurrence of `schedule` until `shutdown`.
pub async fn weekly_digest_on_schedule(
    pool: PgPool,
    schedule: CalendarSchedule,
    replica: String,
    shutdown: CancellationToken,
) {
    job_on_schedule(Job::Weekly, pool, schedule, replica, shutdown).await
}

/// Runs `job` at every occurrence of `schedule` until `shutdown`.
async fn job_on_schedule(
    job: Job,
    pool: PgPool,
    schedule: CalendarSchedule,
    replica: String,
    shutdown: CancellationToken,
) {
    let now = Utc::now();
    let mut next = schedule
        .latest_between(now - CATCH_UP, now)
        .or_else(|| schedule.next_after(now));
    while let Some(occurrence) = next {
        let wait = (occurrence - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        let following = schedule.next_after(occurrence);
        emit_with_retries(job, &pool, occurrence, following, &replica, &shutdown).await;
        next = following;
    }
    tracing::warn!(?job, "the digest schedule has no further occurrence");
}

/// Tries one occurrence until it is emitted (here or elsewhere), the next occurrence is
/// due, or shutdown.
async fn emit_with_retries(
    job: Job,
    pool: &PgPool,
    occurrence: DateTime<Utc>,
    following: Option<DateTime<Utc>>,
    replica: &str,
    shutdown: &CancellationToken,
) {
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            let mut conn = pool.acquire().await?;
            job.emit(&mut conn, occurrence, replica).await
        };
        match attempt.await {
            Ok(DigestOutcome::Emitted { workspaces }) => {
                tracing::info!(?job, %occurrence, workspaces, "digest emitted");
                return;
            }
            Ok(DigestOutcome::AlreadyClaimed) => {
                tracing::debug!(?job, %occurrence, "digest already emitted by another replica");
                return;
            }
            Err(e) => {
                if following.is_some_and(|f| f <= Utc::now()) {
                    tracing::error!(?job, %occurrence, error = %e, "digest not emitted; its next occurrence is due");
                    return;
                }
                tracing::warn!(?job, %occurrence, error = %e, ?delay, "digest failed; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_default_digest_schedule_fires_daily_at_nine_utc() {
        let daily = CalendarSchedule::parse("0 0 9 * * *").expect("valid");
        assert_eq!(
            daily.next_after(at("2026-11-27T08:59:59Z")),
            Some(at("2026-11-27T09:00:00Z"))
        );
        assert_eq!(
            daily.next_after(at("2026-11-27T09:00:00Z")),
            Some(at("2026-11-28T09:00:00Z")),
            "strictly after"
        );
    }

    #[test]
    fn the_latest_occurrence_in_a_window_is_the_one_to_catch_up() {
        let daily = CalendarSchedule::parse("0 0 9 * * *").expect("valid");
        let now = at("2026-11-27T09:20:00Z");
        assert_eq!(
            daily.latest_between(now - CATCH_UP, now),
            Some(at("2026-11-27T09:00:00Z"))
        );
        let later = at("2026-11-27T10:20:00Z");
        assert_eq!(daily.latest_between(later - CATCH_UP, later), None);
    }

    #[test]
    fn a_bad_schedule_is_refused_with_a_message_naming_its_key() {
        for bad in ["0 0 9 * *", "0 0 25 * * *", "every day", "0 0 0 31 2 *"] {
            let error = CalendarSchedule::parse(bad)
                .expect_err("refused")
                .to_string();
            assert!(error.contains("INCIDENT_SLA_DIGEST_CRON"), "{error}");
            assert!(error.contains(bad), "{error}");
        }
    }
}
