//! Rollups of whole past days (migration 0095): what they hold, how they are built, and
//! how a request merges them with what it reads live.
//!
//! A **cell** holds one local day's incidents of one severity, drill or not: counts, and
//! every duration's values sorted, so a median over any set of days is computed from the
//! merged values and stays exact. A day is built once it ended more than
//! [`BUILD_AFTER_DAYS`] days ago and every deadline of its incidents has passed; a
//! trigger forgets a day whenever one of its incidents, findings, services or declaring
//! groups changes (the locking that keeps the two in order is described in the
//! migration). The SLA watchdog calls [`build`]; every reader merges through
//! [`Acc`].
//!
//! A request is answered from the cells of the whole local days of its range that are
//! built, and live from the rest ([`segments`]), with the same per-incident values
//! ([`ROWS`]) either way: the builder aggregates the rows the live path reads.
//!
//! Whole built weeks also keep their figures (migration 0117, read by weekly series) and
//! their values with counts per [`bucket`] (migration 0125, [`week_values`]): a summary
//! over many weeks reads the counts, then only the buckets its percentiles fall in
//! ([`week_slices`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::{ActionItemMeasures, FollowThrough, Measures, SlaMeasures, Stats};
use crate::{IncidentStatus, Severity};

/// A day is rolled up once it ended more than this many days ago (in the workspace's
/// time zone); triggers on rows of the last week return without locking, so the margin
/// must stay above 7 (see `analytics_forget`).
pub const BUILD_AFTER_DAYS: i32 = 8;

/// The per-incident values every measure is computed from, for the incidents of
/// `$1` (workspace) detected in `[$2, $3)`, of the severities `$4` (`text[]`, NULL: all), with their local day in
/// the time zone `$5`; drills and real incidents both.
///
/// The final resolution is that of a RESOLVED or CLOSED incident only (a reopened one
/// has none); an SLA target is met or missed once decided (a response, or the deadline
/// passed), NULL before.
pub(crate) const ROWS: &str = "WITH r AS MATERIALIZED (
        SELECT i.id, i.number, i.severity, i.status, i.is_drill,
               (i.detected_at AT TIME ZONE $5)::date AS day,
               date_part('epoch', i.acknowledged_at - i.detected_at) AS ack,
               date_part('epoch', i.mitigated_at - i.detected_at) AS mit,
               date_part('epoch', f.final - i.detected_at) AS res,
               date_part('epoch', i.closed_at - i.detected_at) AS clo,
               CASE WHEN i.sla_deadline IS NULL THEN NULL
                    WHEN LEAST(i.acknowledged_at, i.mitigated_at, i.resolved_at, i.closed_at) <= i.sla_deadline THEN true
                    WHEN LEAST(i.acknowledged_at, i.mitigated_at, i.resolved_at, i.closed_at) IS NOT NULL
                         OR i.sla_deadline < now() THEN false END AS ack_met,
               CASE WHEN i.sla_resolve_deadline IS NULL THEN NULL
                    WHEN f.final <= i.sla_resolve_deadline THEN true
                    WHEN f.final IS NOT NULL OR i.sla_resolve_deadline < now() THEN false END AS res_met
        FROM incidents i
        CROSS JOIN LATERAL (SELECT CASE WHEN i.status IN ('RESOLVED', 'CLOSED')
            THEN COALESCE(i.last_resolved_at, i.resolved_at, i.closed_at) END AS final) f
        WHERE i.workspace_id = $1 AND i.detected_at >= $2 AND i.detected_at < $3
          AND ($4::text[] IS NULL OR i.severity::text = ANY($4::text[]))
     ), e AS (
        SELECT e.incident_id,
               count(*) FILTER (WHERE e.kind = 'BREACH') AS breaches,
               count(*) FILTER (WHERE e.kind = 'BREACH' AND e.target = 'ACKNOWLEDGE') AS ack_breaches,
               count(*) FILTER (WHERE e.kind = 'BREACH' AND e.target = 'RESOLVE') AS res_breaches,
               count(*) FILTER (WHERE e.kind = 'WARNING') AS warnings,
               count(*) FILTER (WHERE e.kind = 'UPDATE_DUE') AS updates_due
        FROM r JOIN sla_events e ON e.incident_id = r.id AND e.is_drill = r.is_drill
        WHERE e.workspace_id = $1
        GROUP BY e.incident_id
     ), b AS (
        SELECT r.*,
               COALESCE(e.breaches, 0) AS breaches, COALESCE(e.ack_breaches, 0) AS ack_breaches,
               COALESCE(e.res_breaches, 0) AS res_breaches, COALESCE(e.warnings, 0) AS warnings,
               COALESCE(e.updates_due, 0) AS updates_due,
               EXISTS (SELECT 1 FROM alert_groups g
                       WHERE g.incident_id = r.id AND g.decision = 'DECLARE') AS from_alert
        FROM r LEFT JOIN e ON e.incident_id = r.id
     )";

/// The follow-through of the incidents of `$1` (workspace) detected in `[$2, $3)`, of
/// the severities `$4` (`text[]`, NULL: all), by severity and drill (`f`): postmortems
/// drafted and published, final resolution → publish (seconds, sorted), action items by
/// status, created → done (seconds, sorted) and the due dates of the open ones (sorted).
/// The builder stores it in the day's cells, the live path reads it for the rest.
pub(crate) const FOLLOW: &str = "WITH pm AS MATERIALIZED (
        SELECT i.severity, i.is_drill, pm.id, pm.status,
               CASE WHEN pm.status = 'PUBLISHED' THEN date_part('epoch', pm.published_at - f.final) END AS to_publish
        FROM incidents i
        CROSS JOIN LATERAL (SELECT CASE WHEN i.status IN ('RESOLVED', 'CLOSED')
            THEN COALESCE(i.last_resolved_at, i.resolved_at, i.closed_at) END AS final) f
        JOIN postmortems pm ON pm.incident_id = i.id
        WHERE i.workspace_id = $1 AND i.detected_at >= $2 AND i.detected_at < $3
          AND ($4::text[] IS NULL OR i.severity::text = ANY($4::text[]))
          AND pm.workspace_id = $1 AND pm.incident_detected_at >= $2 AND pm.incident_detected_at < $3
     ), p AS (
        SELECT pm.severity, pm.is_drill, count(*) AS pm_drafted,
               count(*) FILTER (WHERE pm.status = 'PUBLISHED') AS pm_published,
               COALESCE(array_agg(pm.to_publish ORDER BY pm.to_publish)
                        FILTER (WHERE pm.to_publish IS NOT NULL), '{}') AS to_publish
        FROM pm GROUP BY pm.severity, pm.is_drill
     ), a AS (
        SELECT pm.severity, pm.is_drill, count(*) AS items,
               count(*) FILTER (WHERE a.status IN ('OPEN', 'IN_PROGRESS')) AS items_open,
               count(*) FILTER (WHERE a.status = 'DONE') AS items_done,
               count(*) FILTER (WHERE a.status = 'WONT_DO') AS items_wont_do,
               COALESCE(array_agg(d.to_done ORDER BY d.to_done)
                        FILTER (WHERE a.status = 'DONE' AND d.to_done IS NOT NULL), '{}') AS to_done,
               COALESCE(array_agg(a.due_date ORDER BY a.due_date)
                        FILTER (WHERE a.status IN ('OPEN', 'IN_PROGRESS') AND a.due_date IS NOT NULL),
                        '{}') AS open_due
        FROM pm JOIN action_items a ON a.postmortem_id = pm.id
        CROSS JOIN LATERAL (SELECT date_part('epoch', a.completed_at - a.created_at) AS to_done) d
        WHERE a.workspace_id = $1 AND a.incident_detected_at >= $2 AND a.incident_detected_at < $3
        GROUP BY pm.severity, pm.is_drill
     ), f AS (
        SELECT severity, is_drill,
               COALESCE(p.pm_drafted, 0) AS pm_drafted, COALESCE(p.pm_published, 0) AS pm_published,
               COALESCE(p.to_publish, '{}') AS to_publish,
               COALESCE(a.items, 0) AS items, COALESCE(a.items_open, 0) AS items_open,
               COALESCE(a.items_done, 0) AS items_done, COALESCE(a.items_wont_do, 0) AS items_wont_do,
               COALESCE(a.to_done, '{}') AS to_done, COALESCE(a.open_due, '{}') AS open_due
        FROM p FULL JOIN a USING (severity, is_drill)
     )";

/// Follow-through values of a cell, of a week's values, or of a live segment's severity
/// and drill ([`FOLLOW`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Follow {
    pub(crate) pm_drafted: i64,
    pub(crate) pm_published: i64,
    pub(crate) to_publish: Durations,
    pub(crate) items: i64,
    pub(crate) items_open: i64,
    pub(crate) items_done: i64,
    pub(crate) items_wont_do: i64,
    pub(crate) to_done: Durations,
    pub(crate) open_due: Vec<NaiveDate>,
    /// Open items overdue counted where they are kept (weeks' values), beside `open_due`.
    pub(crate) overdue: i64,
}

impl Follow {
    fn of(row: &sqlx::postgres::PgRow) -> sqlx::Result<Follow> {
        Ok(Follow {
            pm_drafted: row.try_get("pm_drafted")?,
            pm_published: row.try_get("pm_published")?,
            to_publish: Durations::of(row.try_get("to_publish")?),
            items: row.try_get("items")?,
            items_open: row.try_get("items_open")?,
            items_done: row.try_get("items_done")?,
            items_wont_do: row.try_get("items_wont_do")?,
            to_done: Durations::of(row.try_get("to_done")?),
            open_due: row.try_get("open_due")?,
            overdue: 0,
        })
    }

    /// Adds another's counts and values.
    pub(crate) fn add(&mut self, other: &Follow) {
        self.pm_drafted += other.pm_drafted;
        self.pm_published += other.pm_published;
        self.to_publish.add(&other.to_publish);
        self.items += other.items;
        self.items_open += other.items_open;
        self.items_done += other.items_done;
        self.items_wont_do += other.items_wont_do;
        self.to_done.add(&other.to_done);
        self.open_due.extend_from_slice(&other.open_due);
        self.overdue += other.overdue;
    }

    /// The buckets whose values the medians need from weeks' values.
    pub(crate) fn needs(&self, out: &mut Vec<Need>) {
        self.to_publish.needs(&[0.5], out);
        self.to_done.needs(&[0.5], out);
    }

    /// The follow-through, open items due before `today` overdue, the values of weeks
    /// read from `got`.
    pub(crate) fn measures(self, today: NaiveDate, got: &Slices) -> sqlx::Result<FollowThrough> {
        let total = self.items;
        let done = self.items_done;
        let wont_do = self.items_wont_do;
        Ok(FollowThrough {
            postmortems_drafted: self.pm_drafted,
            postmortems_published: self.pm_published,
            median_seconds_resolve_to_publish: self.to_publish.stats(got)?.median_seconds,
            action_items: ActionItemMeasures {
                total,
                open: self.items_open,
                overdue: self.overdue + self.open_due.iter().filter(|d| **d < today).count() as i64,
                done,
                wont_do,
                completion_rate: super::query::ratio(done, total - wont_do),
                median_seconds_to_done: self.to_done.stats(got)?.median_seconds,
            },
        })
    }
}

/// The follow-through of `segments`, by severity and drill, of `severities`.
pub(crate) async fn follow_live(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    segments: &[(DateTime<Utc>, DateTime<Utc>)],
    severities: Option<&[String]>,
) -> sqlx::Result<Vec<(bool, Follow)>> {
    let sql = format!("{FOLLOW} SELECT f.* FROM f");
    let mut out = Vec::new();
    // One statement per segment, as `rows`.
    for &(starts_at, ends_at) in segments {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(workspace_id)
            .bind(starts_at)
            .bind(ends_at)
            .bind(severities)
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            out.push((row.try_get("is_drill")?, Follow::of(row)?));
        }
    }
    Ok(out)
}

/// The bucket of a duration in a week's values (migration 0125): 0 below one second
/// (and for negative values), then 16 buckets per power of two, cut by the float's
/// exponent and its first four mantissa bits, so the cut is the same on every machine
/// and never decided by a rounding. Monotonic: a sorted array's values of one bucket are
/// consecutive.
pub(crate) fn bucket(seconds: f64) -> i32 {
    if seconds >= 1.0 {
        // 1.0 is 0x3FF0_0000_0000_0000: exponent 1023, mantissa 0.
        ((seconds.to_bits() >> 48) as i32) - (1023 << 4) + 1
    } else {
        0
    }
}

/// A summary reads weeks' values once its range holds this many whole built weeks; below,
/// their day cells.
pub(crate) const SUMMARY_MIN_WEEKS: usize = 4;

/// Which of a week's values arrays a slice is read from (`analytics_week_values`).
pub(crate) const VALUE_COLUMNS: [&str; 6] = ["ack", "mit", "res", "clo", "to_publish", "to_done"];

/// One duration's values kept in a week's row (migration 0125), read by bucket.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    /// The week row (index in the request's [`WeekValues`]).
    row: usize,
    /// The column ([`VALUE_COLUMNS`]).
    column: u8,
    /// Values per bucket from bucket `from` on.
    from: i32,
    hist: Vec<i32>,
    count: i64,
    sum: f64,
    max: Option<f64>,
}

/// The page (`analytics_week_pages`) holding a bucket's values: 8 buckets a page.
fn page_of(bucket: i32) -> i32 {
    bucket.div_euclid(8)
}

/// Sorted `values` cut in pages: (page, its values).
fn pages(values: &[f64]) -> Vec<(i32, &[f64])> {
    let mut out: Vec<(i32, &[f64])> = Vec::new();
    let mut start = 0;
    for i in 1..=values.len() {
        if i == values.len() || page_of(bucket(values[i])) != page_of(bucket(values[start])) {
            out.push((page_of(bucket(values[start])), &values[start..i]));
            start = i;
        }
    }
    out
}

impl Remote {
    /// The page of the bucket's values and their 1-based positions `lo..=hi` in it, if
    /// any.
    fn slice(&self, bucket: i32) -> Option<(i32, i32, i32)> {
        let at = usize::try_from(bucket - self.from).ok()?;
        let n = *self.hist.get(at)?;
        if n == 0 {
            return None;
        }
        let page = page_of(bucket);
        let first = usize::try_from(page * 8 - self.from).unwrap_or(0);
        let before: i32 = self.hist[first.min(at)..at].iter().sum();
        Some((page, before + 1, before + n))
    }
}

/// A slice of a week's values the measures need: row, column, bucket, its page and the
/// positions in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Need {
    pub(crate) row: usize,
    pub(crate) column: u8,
    pub(crate) bucket: i32,
    pub(crate) page: i32,
    pub(crate) lo: i32,
    pub(crate) hi: i32,
}

/// The slices read: (row, column, bucket) → the bucket's values, sorted.
pub(crate) type Slices = HashMap<(usize, u8, i32), Vec<f64>>;

/// The values of one duration, merged from rows and cells (held here) and from weeks'
/// values (held in their rows, [`Remote`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Durations {
    values: Vec<f64>,
    sum: f64,
    remote: Vec<Remote>,
}

impl Durations {
    fn of(values: Vec<f64>) -> Durations {
        let sum = values.iter().sum::<f64>();
        Durations {
            values,
            sum,
            remote: Vec::new(),
        }
    }

    fn push(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            self.values.push(v);
            self.sum += v;
        }
    }

    fn extend(&mut self, values: &[f64]) {
        self.values.extend_from_slice(values);
        self.sum += values.iter().sum::<f64>();
    }

    fn add(&mut self, other: &Durations) {
        self.values.extend_from_slice(&other.values);
        self.sum += other.sum;
        self.remote.extend(other.remote.iter().cloned());
    }

    fn count(&self) -> usize {
        self.values.len() + self.remote.iter().map(|r| r.count as usize).sum::<usize>()
    }

    /// Values per bucket over every part.
    fn buckets(&self) -> BTreeMap<i32, i64> {
        let mut out: BTreeMap<i32, i64> = BTreeMap::new();
        for v in &self.values {
            *out.entry(bucket(*v)).or_default() += 1;
        }
        for r in &self.remote {
            for (i, n) in r.hist.iter().enumerate() {
                if *n > 0 {
                    *out.entry(r.from + i as i32).or_default() += i64::from(*n);
                }
            }
        }
        out
    }

    /// The slices of weeks' values holding the ranks the percentiles `ps` interpolate
    /// between.
    fn needs(&self, ps: &[f64], out: &mut Vec<Need>) {
        let n = self.count();
        if self.remote.is_empty() || n == 0 {
            return;
        }
        let buckets = self.buckets();
        for &p in ps {
            for rank in ranks(p, n) {
                let (b, _) = locate(&buckets, rank);
                for r in &self.remote {
                    if let Some((page, lo, hi)) = r.slice(b) {
                        out.push(Need {
                            row: r.row,
                            column: r.column,
                            bucket: b,
                            page,
                            lo,
                            hi,
                        });
                    }
                }
            }
        }
    }

    /// The value at 0-based `rank` of every part sorted, from the bucket holding it.
    fn at(&self, buckets: &BTreeMap<i32, i64>, rank: usize, got: &Slices) -> sqlx::Result<f64> {
        let (b, within) = locate(buckets, rank);
        let mut values: Vec<f64> = self
            .values
            .iter()
            .copied()
            .filter(|v| bucket(*v) == b)
            .collect();
        for r in &self.remote {
            if let Some((_, lo, hi)) = r.slice(b) {
                let slice = got
                    .get(&(r.row, r.column, b))
                    .filter(|s| s.len() == (hi - lo + 1) as usize)
                    .ok_or_else(|| {
                        sqlx::Error::Protocol("a week's values changed while read".into())
                    })?;
                values.extend_from_slice(slice);
            }
        }
        values.sort_unstable_by(f64::total_cmp);
        values.get(within).copied().ok_or_else(|| {
            sqlx::Error::Protocol("a week's values do not match its bucket counts".into())
        })
    }

    /// Count, mean, median, p90 and max, as Postgres' `avg`, `percentile_cont` and
    /// `max` give them; the values of weeks from the slices `got` ([`Durations::needs`]).
    pub(crate) fn stats(mut self, got: &Slices) -> sqlx::Result<Stats> {
        let n = self.count();
        if n == 0 {
            return Ok(Stats::default());
        }
        let sum = self.sum + self.remote.iter().map(|r| r.sum).sum::<f64>();
        if self.remote.is_empty() {
            self.values.sort_unstable_by(f64::total_cmp);
            return Ok(Stats {
                count: n as i64,
                mean_seconds: Some(sum / n as f64),
                median_seconds: Some(percentile_cont(&self.values, 0.5)),
                p90_seconds: Some(percentile_cont(&self.values, 0.9)),
                max_seconds: self.values.last().copied(),
            });
        }
        let buckets = self.buckets();
        let percentile = |p: f64| -> sqlx::Result<f64> {
            let position = p * (n - 1) as f64;
            let lo = position.floor();
            let a = self.at(&buckets, lo as usize, got)?;
            let b = self.at(&buckets, position.ceil() as usize, got)?;
            Ok(a + (b - a) * (position - lo))
        };
        let max = self
            .values
            .iter()
            .copied()
            .chain(self.remote.iter().filter_map(|r| r.max))
            .max_by(f64::total_cmp);
        Ok(Stats {
            count: n as i64,
            mean_seconds: Some(sum / n as f64),
            median_seconds: Some(percentile(0.5)?),
            p90_seconds: Some(percentile(0.9)?),
            max_seconds: max,
        })
    }
}

/// The 0-based ranks `percentile_cont(p)` over `n` values interpolates between.
fn ranks(p: f64, n: usize) -> [usize; 2] {
    let position = p * (n - 1) as f64;
    [position.floor() as usize, position.ceil() as usize]
}

/// The bucket holding 0-based `rank` and the rank within it.
fn locate(buckets: &BTreeMap<i32, i64>, rank: usize) -> (i32, usize) {
    let mut before = 0usize;
    for (b, n) in buckets {
        let n = *n as usize;
        if rank < before + n {
            return (*b, rank - before);
        }
        before += n;
    }
    (i32::MAX, 0)
}

/// Postgres' `percentile_cont` over sorted, non-empty values: linear interpolation
/// between the rows at `floor` and `ceil` of `p × (n − 1)`.
pub fn percentile_cont(sorted: &[f64], p: f64) -> f64 {
    let position = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor(), position.ceil());
    let (a, b) = (sorted[lo as usize], sorted[hi as usize]);
    a + (b - a) * (position - lo)
}

/// One of the slowest to resolve: seconds, number, id, severity.
pub(crate) type Slow = (f64, i32, Uuid, Severity);

/// The measures of a set of incidents, accumulated from live rows and cells.
#[derive(Debug, Default, Clone)]
pub(crate) struct Acc {
    incidents: i64,
    ack: Durations,
    mit: Durations,
    res: Durations,
    clo: Durations,
    ack_met: i64,
    ack_missed: i64,
    res_met: i64,
    res_missed: i64,
    /// By severity (index in `Severity::ALL`): without / with an update found due.
    no_update_due: [i64; 4],
    update_due: [i64; 4],
    breaches: i64,
    ack_breaches: i64,
    res_breaches: i64,
    warnings: i64,
    updates_due: i64,
    /// By status (index in `IncidentStatus::ALL`).
    pub(crate) by_status: [i64; 5],
    /// By severity (index in `Severity::ALL`).
    pub(crate) by_severity: [i64; 4],
    /// Declared by an alert group.
    pub(crate) from_alert: i64,
    /// The five slowest so far.
    pub(crate) slowest: Vec<Slow>,
}

fn severity_index(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn status_index(s: IncidentStatus) -> usize {
    IncidentStatus::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or(0)
}

/// Keeps the five slowest: seconds descending, then number ascending.
fn keep_slowest(slowest: &mut Vec<Slow>) {
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    slowest.truncate(5);
}

impl Acc {
    /// Adds one incident's values.
    pub(crate) fn add_row(&mut self, row: &IncidentRow) {
        self.incidents += 1;
        self.ack.push(row.ack);
        self.mit.push(row.mit);
        self.res.push(row.res);
        self.clo.push(row.clo);
        match row.ack_met {
            Some(true) => self.ack_met += 1,
            Some(false) => self.ack_missed += 1,
            None => {}
        }
        match row.res_met {
            Some(true) => self.res_met += 1,
            Some(false) => self.res_missed += 1,
            None => {}
        }
        let s = severity_index(row.severity);
        if row.updates_due == 0 {
            self.no_update_due[s] += 1;
        } else {
            self.update_due[s] += 1;
        }
        self.breaches += row.breaches;
        self.ack_breaches += row.ack_breaches;
        self.res_breaches += row.res_breaches;
        self.warnings += row.warnings;
        self.updates_due += row.updates_due;
        self.by_status[status_index(row.status)] += 1;
        self.by_severity[s] += 1;
        if row.from_alert {
            self.from_alert += 1;
        }
        if let Some(seconds) = row.res {
            self.slowest
                .push((seconds, row.number, row.id, row.severity));
            if self.slowest.len() > 64 {
                keep_slowest(&mut self.slowest);
            }
        }
    }

    /// Adds a cell.
    pub(crate) fn add_cell(&mut self, cell: &Cell) {
        self.incidents += cell.incidents;
        self.ack.extend(&cell.ack);
        self.mit.extend(&cell.mit);
        self.res.extend(&cell.res);
        self.clo.extend(&cell.clo);
        self.ack_met += cell.ack_met;
        self.ack_missed += cell.ack_missed;
        self.res_met += cell.res_met;
        self.res_missed += cell.res_missed;
        let s = severity_index(cell.severity);
        self.no_update_due[s] += cell.no_update_due;
        self.update_due[s] += cell.update_due;
        self.breaches += cell.breaches;
        self.ack_breaches += cell.ack_breaches;
        self.res_breaches += cell.res_breaches;
        self.warnings += cell.warnings;
        self.updates_due += cell.updates_due;
        for (total, n) in self.by_status.iter_mut().zip(&cell.by_status) {
            *total += n;
        }
        self.by_severity[s] += cell.incidents;
        self.from_alert += cell.from_alert;
        self.slowest.extend(cell.slowest.iter().copied());
        if self.slowest.len() > 64 {
            keep_slowest(&mut self.slowest);
        }
    }

    /// The five slowest, slowest first.
    pub(crate) fn slowest(&mut self) -> Vec<Slow> {
        keep_slowest(&mut self.slowest);
        self.slowest.clone()
    }

    /// Adds a week's values (row `row` of the request's [`WeekValues`]): its counts
    /// here, its durations to be read by bucket ([`Acc::needs`]).
    pub(crate) fn add_week(&mut self, row: usize, week: &WeekValues) {
        self.incidents += week.incidents;
        for (d, remote) in [&mut self.ack, &mut self.mit, &mut self.res, &mut self.clo]
            .into_iter()
            .zip(&week.remote)
        {
            d.remote.push(Remote {
                row,
                ..remote.clone()
            });
        }
        self.ack_met += week.ack_met;
        self.ack_missed += week.ack_missed;
        self.res_met += week.res_met;
        self.res_missed += week.res_missed;
        let s = severity_index(week.severity);
        self.no_update_due[s] += week.no_update_due;
        self.update_due[s] += week.update_due;
        self.breaches += week.breaches;
        self.ack_breaches += week.ack_breaches;
        self.res_breaches += week.res_breaches;
        self.warnings += week.warnings;
        self.updates_due += week.updates_due;
        for (total, n) in self.by_status.iter_mut().zip(&week.by_status) {
            *total += n;
        }
        self.by_severity[s] += week.incidents;
        self.from_alert += week.from_alert;
        self.slowest.extend(week.slowest.iter().copied());
        if self.slowest.len() > 64 {
            keep_slowest(&mut self.slowest);
        }
    }

    /// The slices of weeks' values the medians and p90s need.
    pub(crate) fn needs(&self, out: &mut Vec<Need>) {
        for d in [&self.ack, &self.mit, &self.res, &self.clo] {
            d.needs(&[0.5, 0.9], out);
        }
    }

    /// The measures; the update cadence share counts SEV1 and SEV2 incidents of the
    /// severities whose policy has a cadence (`cadenced`).
    pub(crate) fn measures(self, cadenced: &[Severity]) -> Measures {
        self.figures().measures(cadenced)
    }

    /// [`Acc::measures`] with weeks' values, their slices read into `got`.
    pub(crate) fn measures_with(
        self,
        cadenced: &[Severity],
        got: &Slices,
    ) -> sqlx::Result<Measures> {
        Ok(self.figures_with(got)?.measures(cadenced))
    }

    /// The final figures (durations reduced to their statistics) of rows and cells.
    pub(crate) fn figures(self) -> Figures {
        // Without weeks' values nothing is read: no error is possible.
        self.figures_with(&Slices::new()).unwrap_or_default()
    }

    fn figures_with(self, got: &Slices) -> sqlx::Result<Figures> {
        Ok(Figures {
            incidents: self.incidents,
            mtta: self.ack.stats(got)?,
            mttm: self.mit.stats(got)?,
            mttr: self.res.stats(got)?,
            time_to_close: self.clo.stats(got)?,
            ack_met: self.ack_met,
            ack_missed: self.ack_missed,
            res_met: self.res_met,
            res_missed: self.res_missed,
            no_update_due: self.no_update_due,
            update_due: self.update_due,
            breaches: self.breaches,
            ack_breaches: self.ack_breaches,
            res_breaches: self.res_breaches,
            warnings: self.warnings,
            updates_due: self.updates_due,
        })
    }
}

/// What a set of incidents' measures are made of once the durations are reduced: the
/// figures of a whole built week (migration 0117), stored as two arrays (binary, so
/// every `f64` comes back exactly).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Figures {
    incidents: i64,
    mtta: Stats,
    mttm: Stats,
    mttr: Stats,
    time_to_close: Stats,
    ack_met: i64,
    ack_missed: i64,
    res_met: i64,
    res_missed: i64,
    no_update_due: [i64; 4],
    update_due: [i64; 4],
    breaches: i64,
    ack_breaches: i64,
    res_breaches: i64,
    warnings: i64,
    updates_due: i64,
}

impl Figures {
    /// The counts and the statistics, as stored.
    fn to_columns(&self) -> (Vec<i64>, Vec<Option<f64>>) {
        let durations = [&self.mtta, &self.mttm, &self.mttr, &self.time_to_close];
        let mut counts = vec![self.incidents];
        counts.extend(durations.iter().map(|d| d.count));
        counts.extend([self.ack_met, self.ack_missed, self.res_met, self.res_missed]);
        counts.extend(self.no_update_due);
        counts.extend(self.update_due);
        counts.extend([
            self.breaches,
            self.ack_breaches,
            self.res_breaches,
            self.warnings,
            self.updates_due,
        ]);
        let stats = durations
            .iter()
            .flat_map(|d| {
                [
                    d.mean_seconds,
                    d.median_seconds,
                    d.p90_seconds,
                    d.max_seconds,
                ]
            })
            .collect();
        (counts, stats)
    }

    /// Back from [`Figures::to_columns`]; `None` when the arrays are not of that shape.
    fn from_columns(counts: &[i64], stats: &[Option<f64>]) -> Option<Figures> {
        if counts.len() != 22 || stats.len() != 16 {
            return None;
        }
        let duration = |i: usize| Stats {
            count: counts[1 + i],
            mean_seconds: stats[4 * i],
            median_seconds: stats[4 * i + 1],
            p90_seconds: stats[4 * i + 2],
            max_seconds: stats[4 * i + 3],
        };
        let four = |at: usize| [counts[at], counts[at + 1], counts[at + 2], counts[at + 3]];
        Some(Figures {
            incidents: counts[0],
            mtta: duration(0),
            mttm: duration(1),
            mttr: duration(2),
            time_to_close: duration(3),
            ack_met: counts[5],
            ack_missed: counts[6],
            res_met: counts[7],
            res_missed: counts[8],
            no_update_due: four(9),
            update_due: four(13),
            breaches: counts[17],
            ack_breaches: counts[18],
            res_breaches: counts[19],
            warnings: counts[20],
            updates_due: counts[21],
        })
    }

    /// The measures, as [`Acc::measures`].
    pub(crate) fn measures(self, cadenced: &[Severity]) -> Measures {
        let (mut upd_met, mut upd_missed) = (0, 0);
        for s in [Severity::Sev1, Severity::Sev2] {
            if cadenced.contains(&s) {
                upd_met += self.no_update_due[severity_index(s)];
                upd_missed += self.update_due[severity_index(s)];
            }
        }
        Measures {
            incidents: self.incidents,
            mtta: self.mtta,
            mttm: self.mttm,
            mttr: self.mttr,
            time_to_close: self.time_to_close,
            sla: SlaMeasures {
                acknowledge: super::query::share(self.ack_met, self.ack_missed),
                resolve: super::query::share(self.res_met, self.res_missed),
                update: super::query::share(upd_met, upd_missed),
                breaches: self.breaches,
                acknowledge_breaches: self.ack_breaches,
                resolve_breaches: self.res_breaches,
                warnings: self.warnings,
                updates_due: self.updates_due,
            },
        }
    }
}

/// One incident's values ([`ROWS`]).
#[derive(Debug, Clone)]
pub(crate) struct IncidentRow {
    pub(crate) id: Uuid,
    pub(crate) number: i32,
    pub(crate) severity: Severity,
    pub(crate) status: IncidentStatus,
    pub(crate) is_drill: bool,
    /// Its local day of detection.
    pub(crate) day: NaiveDate,
    pub(crate) ack: Option<f64>,
    pub(crate) mit: Option<f64>,
    pub(crate) res: Option<f64>,
    pub(crate) clo: Option<f64>,
    pub(crate) ack_met: Option<bool>,
    pub(crate) res_met: Option<bool>,
    pub(crate) breaches: i64,
    pub(crate) ack_breaches: i64,
    pub(crate) res_breaches: i64,
    pub(crate) warnings: i64,
    pub(crate) updates_due: i64,
    pub(crate) from_alert: bool,
}

/// One cell (`analytics_cells`), with its services.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) day: NaiveDate,
    pub(crate) severity: Severity,
    pub(crate) is_drill: bool,
    pub(crate) incidents: i64,
    pub(crate) by_status: Vec<i64>,
    pub(crate) from_alert: i64,
    pub(crate) ack: Vec<f64>,
    pub(crate) mit: Vec<f64>,
    pub(crate) res: Vec<f64>,
    pub(crate) clo: Vec<f64>,
    pub(crate) ack_met: i64,
    pub(crate) ack_missed: i64,
    pub(crate) res_met: i64,
    pub(crate) res_missed: i64,
    pub(crate) no_update_due: i64,
    pub(crate) update_due: i64,
    pub(crate) breaches: i64,
    pub(crate) ack_breaches: i64,
    pub(crate) res_breaches: i64,
    pub(crate) warnings: i64,
    pub(crate) updates_due: i64,
    pub(crate) slowest: Vec<Slow>,
    /// Incidents by service: lower-case key → (spelling, incidents).
    pub(crate) services: Vec<(String, String, i64)>,
    /// Their follow-through.
    pub(crate) follow: Follow,
}

fn parse<T: std::str::FromStr>(text: &str) -> sqlx::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The per-incident values of the incidents detected in `segments`.
pub(crate) async fn rows(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    segments: &[(DateTime<Utc>, DateTime<Utc>)],
    severities: Option<&[String]>,
    time_zone: &str,
) -> sqlx::Result<Vec<IncidentRow>> {
    // One statement per segment (a range the planner sees: an array of them is
    // estimated at 100 rows and planned as a scan of the whole table).
    let mut out = Vec::new();
    for &(starts_at, ends_at) in segments {
        out.extend(
            rows_of(
                &mut *conn,
                workspace_id,
                starts_at,
                ends_at,
                severities,
                time_zone,
            )
            .await?,
        );
    }
    Ok(out)
}

async fn rows_of(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    severities: Option<&[String]>,
    time_zone: &str,
) -> sqlx::Result<Vec<IncidentRow>> {
    let sql = format!(
        "{ROWS}
         SELECT b.id, b.number, b.severity::text AS severity, b.status::text AS status,
                b.is_drill, b.day, b.ack, b.mit, b.res, b.clo, b.ack_met, b.res_met,
                b.breaches, b.ack_breaches, b.res_breaches, b.warnings, b.updates_due,
                b.from_alert
         FROM b"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(severities)
        .bind(time_zone)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(IncidentRow {
                id: row.try_get("id")?,
                number: row.try_get("number")?,
                severity: parse(row.try_get::<&str, _>("severity")?)?,
                status: parse(row.try_get::<&str, _>("status")?)?,
                is_drill: row.try_get("is_drill")?,
                day: row.try_get("day")?,
                ack: row.try_get("ack")?,
                mit: row.try_get("mit")?,
                res: row.try_get("res")?,
                clo: row.try_get("clo")?,
                ack_met: row.try_get("ack_met")?,
                res_met: row.try_get("res_met")?,
                breaches: row.try_get("breaches")?,
                ack_breaches: row.try_get("ack_breaches")?,
                res_breaches: row.try_get("res_breaches")?,
                warnings: row.try_get("warnings")?,
                updates_due: row.try_get("updates_due")?,
                from_alert: row.try_get("from_alert")?,
            })
        })
        .collect()
}

/// What a range is made of: the cells of its built whole days, and the segments to read
/// live (in order, disjoint, together with the built days the whole range).
#[derive(Debug, Default)]
pub(crate) struct Cover {
    pub(crate) cells: Vec<Cell>,
    pub(crate) live: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The built days.
    pub(crate) days: Vec<NaiveDate>,
}

/// The built whole local days of `[from, to)` (cut in `time_zone`) with their cells of
/// `severities` (NULL: all), in one statement (one snapshot: a day and its cells agree),
/// and the segments left to read live.
pub(crate) async fn cover(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    severities: Option<&[String]>,
    time_zone: &str,
    skip_weeks: &[NaiveDate],
) -> sqlx::Result<Cover> {
    let rows = sqlx::query(
        "SELECT a.day, (a.day::timestamp AT TIME ZONE $4) AS starts_at,
                ((a.day + 1)::timestamp AT TIME ZONE $4) AS ends_at,
                c.severity::text AS severity, c.is_drill, c.incidents, c.by_status, c.from_alert,
                c.ack, c.mit, c.res, c.clo, c.ack_met, c.ack_missed, c.res_met, c.res_missed,
                c.no_update_due, c.update_due, c.breaches, c.ack_breaches, c.res_breaches,
                c.warnings, c.updates_due, c.slow_ids, c.slow_numbers, c.slow_seconds,
                c.pm_drafted, c.pm_published, c.to_publish, c.items, c.items_open,
                c.items_done, c.items_wont_do, c.to_done, c.open_due,
                s.keys, s.names, s.counts
         FROM analytics_days a
         LEFT JOIN analytics_cells c ON c.workspace_id = a.workspace_id AND c.day = a.day
              AND ($5::text[] IS NULL OR c.severity::text = ANY($5::text[]))
              AND date_trunc('week', a.day)::date <> ALL($6::date[])
         LEFT JOIN LATERAL (
             SELECT array_agg(sc.service_key) AS keys, array_agg(sc.service_name) AS names,
                    array_agg(sc.incidents) AS counts
             FROM analytics_service_cells sc
             WHERE sc.workspace_id = c.workspace_id AND sc.day = c.day
               AND sc.severity = c.severity AND sc.is_drill = c.is_drill
         ) s ON true
         WHERE a.workspace_id = $1 AND a.time_zone = $4
           AND a.day >= ($2 AT TIME ZONE $4)::date AND a.day <= ($3 AT TIME ZONE $4)::date
           AND (a.day::timestamp AT TIME ZONE $4) >= $2
           AND ((a.day + 1)::timestamp AT TIME ZONE $4) <= $3
         ORDER BY a.day",
    )
    .bind(workspace_id)
    .bind(from)
    .bind(to)
    .bind(time_zone)
    .bind(severities)
    .bind(skip_weeks)
    .fetch_all(conn)
    .await?;

    let mut cover = Cover::default();
    let mut cursor = from;
    for row in &rows {
        let day: NaiveDate = row.try_get("day")?;
        if cover.days.last() != Some(&day) {
            let starts_at: DateTime<Utc> = row.try_get("starts_at")?;
            let ends_at: DateTime<Utc> = row.try_get("ends_at")?;
            if cursor < starts_at {
                cover.live.push((cursor, starts_at));
            }
            cursor = ends_at;
            cover.days.push(day);
        }
        let Some(severity) = row.try_get::<Option<&str>, _>("severity")? else {
            continue; // a built day without incidents (of these severities)
        };
        let ids: Vec<Uuid> = row.try_get("slow_ids")?;
        let numbers: Vec<i32> = row.try_get("slow_numbers")?;
        let seconds: Vec<f64> = row.try_get("slow_seconds")?;
        let severity: Severity = parse(severity)?;
        let keys: Option<Vec<String>> = row.try_get("keys")?;
        let names: Option<Vec<String>> = row.try_get("names")?;
        let counts: Option<Vec<i64>> = row.try_get("counts")?;
        let services = match (keys, names, counts) {
            (Some(k), Some(n), Some(c)) => k
                .into_iter()
                .zip(n)
                .zip(c)
                .map(|((k, n), c)| (k, n, c))
                .collect(),
            _ => Vec::new(),
        };
        cover.cells.push(Cell {
            day,
            severity,
            is_drill: row.try_get("is_drill")?,
            incidents: row.try_get("incidents")?,
            by_status: row.try_get("by_status")?,
            from_alert: row.try_get("from_alert")?,
            ack: row.try_get("ack")?,
            mit: row.try_get("mit")?,
            res: row.try_get("res")?,
            clo: row.try_get("clo")?,
            ack_met: row.try_get("ack_met")?,
            ack_missed: row.try_get("ack_missed")?,
            res_met: row.try_get("res_met")?,
            res_missed: row.try_get("res_missed")?,
            no_update_due: row.try_get("no_update_due")?,
            update_due: row.try_get("update_due")?,
            breaches: row.try_get("breaches")?,
            ack_breaches: row.try_get("ack_breaches")?,
            res_breaches: row.try_get("res_breaches")?,
            warnings: row.try_get("warnings")?,
            updates_due: row.try_get("updates_due")?,
            slowest: seconds
                .into_iter()
                .zip(numbers)
                .zip(ids)
                .map(|((s, n), id)| (s, n, id, severity))
                .collect(),
            services,
            follow: Follow::of(row)?,
        });
    }
    if cursor < to {
        cover.live.push((cursor, to));
    }
    Ok(cover)
}

/// Incidents by service (lower-case key → spelling that sorts first bytewise, count) in
/// `segments`, drills or not, of `severities`.
pub(crate) async fn live_services(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    segments: &[(DateTime<Utc>, DateTime<Utc>)],
    severities: Option<&[String]>,
    drill: bool,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    let mut out = Vec::new();
    for &(starts_at, ends_at) in segments {
        let counts: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT lower(s.service_name), min(s.service_name COLLATE \"C\"), count(DISTINCT i.id)
             FROM incidents i
             JOIN affected_services s ON s.incident_id = i.id AND s.workspace_id = $1
                  AND s.incident_detected_at >= $2 AND s.incident_detected_at < $3
             WHERE i.workspace_id = $1 AND i.detected_at >= $2 AND i.detected_at < $3
               AND i.is_drill = $5 AND ($4::text[] IS NULL OR i.severity::text = ANY($4::text[]))
             GROUP BY 1",
        )
        .bind(workspace_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(severities)
        .bind(drill)
        .fetch_all(&mut *conn)
        .await?;
        out.extend(counts);
    }
    Ok(out)
}

/// Merges service counts: by key, counts added, the spelling that sorts first kept.
pub(crate) fn merge_services(
    into: &mut BTreeMap<String, (String, i64)>,
    counts: impl IntoIterator<Item = (String, String, i64)>,
) {
    for (key, name, n) in counts {
        let entry = into.entry(key).or_insert_with(|| (name.clone(), 0));
        if name.as_bytes() < entry.0.as_bytes() {
            entry.0 = name;
        }
        entry.1 += n;
    }
}

/// The severities whose policy in the workspace has an update cadence.
pub(crate) async fn cadenced(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> sqlx::Result<Vec<Severity>> {
    let spelled: Vec<String> = sqlx::query_scalar(
        "SELECT severity::text FROM sla_policies
         WHERE workspace_id = $1 AND update_cadence_minutes IS NOT NULL",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await?;
    spelled.iter().map(|s| parse(s)).collect()
}

/// What one [`build`] pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Days rolled up.
    pub days: u64,
    /// Days left for later: an incident's deadline has not passed yet.
    pub deferred: u64,
    /// Whole weeks whose figures were built (every day of them built).
    pub weeks: u64,
}

/// Rolls up, for one workspace, at most `limit` of the local days that ended more than
/// [`BUILD_AFTER_DAYS`] ago and are not built (in the workspace's current time zone),
/// newest first, one transaction per day. Safe beside other builders and every writer
/// (the day's advisory lock, migration 0095).
pub async fn build(conn: &mut PgConnection, workspace_id: Uuid, limit: i64) -> sqlx::Result<Built> {
    let time_zone = super::query::time_zone(&mut *conn, workspace_id).await?;
    let days: Vec<(NaiveDate, bool)> = sqlx::query_as(
        "WITH bounds AS (
            SELECT (min(i.detected_at) AT TIME ZONE $2)::date AS first,
                   (now() AT TIME ZONE $2)::date - 1 - $3::int AS last
            FROM incidents i WHERE i.workspace_id = $1
         )
         SELECT d::date, EXISTS (
                    SELECT 1 FROM incidents i
                    WHERE i.workspace_id = $1
                      AND i.detected_at >= (d::date::timestamp AT TIME ZONE $2)
                      AND i.detected_at < ((d::date + 1)::timestamp AT TIME ZONE $2))
         FROM bounds, generate_series(bounds.first, bounds.last, interval '1 day') AS d
         WHERE NOT EXISTS (SELECT 1 FROM analytics_days a
                           WHERE a.workspace_id = $1 AND a.day = d::date AND a.time_zone = $2)
         ORDER BY d DESC
         LIMIT $4",
    )
    .bind(workspace_id)
    .bind(&time_zone)
    .bind(BUILD_AFTER_DAYS)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut built = Built::default();
    let (busy, empty): (Vec<_>, Vec<_>) = days.into_iter().partition(|(_, busy)| *busy);
    // Days without incidents are marked built in batches (each day's lock held, so an
    // incident inserted meanwhile either is seen or forgets the mark after).
    for batch in empty.chunks(EMPTY_BATCH) {
        let batch: Vec<NaiveDate> = batch.iter().map(|(d, _)| *d).collect();
        built.days += build_empty(&mut *conn, workspace_id, &batch, &time_zone).await?;
    }
    for (day, _) in busy {
        if build_day(&mut *conn, workspace_id, day, &time_zone).await? {
            built.days += 1;
        } else {
            built.deferred += 1;
        }
    }
    built.weeks = build_weeks(&mut *conn, workspace_id, limit / 7 + 1).await?;
    Ok(built)
}

/// How many empty days one transaction marks (each holds an advisory lock until commit,
/// and the server's lock table is finite: 64 per connection by default).
const EMPTY_BATCH: usize = 32;

/// Marks days without incidents built; how many were still empty once locked.
async fn build_empty(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    days: &[NaiveDate],
    time_zone: &str,
) -> sqlx::Result<u64> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(analytics_day_lock_key($1, d))
         FROM unnest($2::date[]) AS d ORDER BY d",
    )
    .bind(workspace_id)
    .bind(days)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM analytics_days WHERE workspace_id = $1 AND day = ANY($2::date[])")
        .bind(workspace_id)
        .bind(days)
        .execute(&mut *tx)
        .await?;
    let marked = sqlx::query(
        "INSERT INTO analytics_days (workspace_id, day, time_zone)
         SELECT $1, d, $3 FROM unnest($2::date[]) AS d
         WHERE NOT EXISTS (
             SELECT 1 FROM incidents i
             WHERE i.workspace_id = $1
               AND i.detected_at >= (d::timestamp AT TIME ZONE $3)
               AND i.detected_at < ((d + 1)::timestamp AT TIME ZONE $3))",
    )
    .bind(workspace_id)
    .bind(days)
    .bind(time_zone)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(marked)
}

/// Rolls up one day; `false` when it has to wait (a deadline not passed yet).
async fn build_day(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    day: NaiveDate,
    time_zone: &str,
) -> sqlx::Result<bool> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // As the live statements (query::tuned): a prepared generic plan knows nothing of
    // the day's size, and JIT costs more than the work.
    sqlx::query(
        "SELECT set_config('jit', 'off', true),
                set_config('plan_cache_mode', 'force_custom_plan', true)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_advisory_xact_lock(analytics_day_lock_key($1, $2))")
        .bind(workspace_id)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    // Every statement from here sees every writer of the day that committed before the
    // lock was granted; later ones wait for this transaction and then forget the day.
    let (starts_at, ends_at, ready): (DateTime<Utc>, DateTime<Utc>, bool) = sqlx::query_as(
        "SELECT ($2::timestamp AT TIME ZONE $3), (($2 + 1)::timestamp AT TIME ZONE $3),
                ($2 < (now() AT TIME ZONE $3)::date - $4::int)
                AND NOT EXISTS (
                    SELECT 1 FROM incidents i
                    WHERE i.workspace_id = $1
                      AND i.detected_at >= ($2::timestamp AT TIME ZONE $3)
                      AND i.detected_at < (($2 + 1)::timestamp AT TIME ZONE $3)
                      AND (i.sla_deadline >= now() OR i.sla_resolve_deadline >= now()))",
    )
    .bind(workspace_id)
    .bind(day)
    .bind(time_zone)
    .bind(BUILD_AFTER_DAYS)
    .fetch_one(&mut *tx)
    .await?;
    if !ready {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("DELETE FROM analytics_days WHERE workspace_id = $1 AND day = $2")
        .bind(workspace_id)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO analytics_days (workspace_id, day, time_zone) VALUES ($1, $2, $3)")
        .bind(workspace_id)
        .bind(day)
        .bind(time_zone)
        .execute(&mut *tx)
        .await?;
    let cells = format!(
        "{ROWS}
         INSERT INTO analytics_cells (
             workspace_id, day, severity, is_drill, incidents, by_status, from_alert,
             ack, mit, res, clo, ack_met, ack_missed, res_met, res_missed,
             no_update_due, update_due, breaches, ack_breaches, res_breaches, warnings,
             updates_due, slow_ids, slow_numbers, slow_seconds)
         SELECT $1, $6, b.severity, b.is_drill, count(*),
                ARRAY[count(*) FILTER (WHERE b.status = 'INVESTIGATING'),
                      count(*) FILTER (WHERE b.status = 'IDENTIFIED'),
                      count(*) FILTER (WHERE b.status = 'MONITORING'),
                      count(*) FILTER (WHERE b.status = 'RESOLVED'),
                      count(*) FILTER (WHERE b.status = 'CLOSED')],
                count(*) FILTER (WHERE b.from_alert),
                COALESCE(array_agg(b.ack ORDER BY b.ack) FILTER (WHERE b.ack IS NOT NULL), '{{}}'),
                COALESCE(array_agg(b.mit ORDER BY b.mit) FILTER (WHERE b.mit IS NOT NULL), '{{}}'),
                COALESCE(array_agg(b.res ORDER BY b.res) FILTER (WHERE b.res IS NOT NULL), '{{}}'),
                COALESCE(array_agg(b.clo ORDER BY b.clo) FILTER (WHERE b.clo IS NOT NULL), '{{}}'),
                count(*) FILTER (WHERE b.ack_met), count(*) FILTER (WHERE NOT b.ack_met),
                count(*) FILTER (WHERE b.res_met), count(*) FILTER (WHERE NOT b.res_met),
                count(*) FILTER (WHERE b.updates_due = 0), count(*) FILTER (WHERE b.updates_due > 0),
                sum(b.breaches)::int8, sum(b.ack_breaches)::int8, sum(b.res_breaches)::int8,
                sum(b.warnings)::int8, sum(b.updates_due)::int8,
                COALESCE((array_agg(b.id ORDER BY b.res DESC, b.number) FILTER (WHERE b.res IS NOT NULL))[1:5], '{{}}'),
                COALESCE((array_agg(b.number ORDER BY b.res DESC, b.number) FILTER (WHERE b.res IS NOT NULL))[1:5], '{{}}'),
                COALESCE((array_agg(b.res ORDER BY b.res DESC, b.number) FILTER (WHERE b.res IS NOT NULL))[1:5], '{{}}')
         FROM b GROUP BY b.severity, b.is_drill"
    );
    sqlx::query(sqlx::AssertSqlSafe(cells))
        .bind(workspace_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(None::<Vec<String>>)
        .bind(time_zone)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    let follow = format!(
        "{FOLLOW}
         UPDATE analytics_cells c
         SET pm_drafted = f.pm_drafted, pm_published = f.pm_published, to_publish = f.to_publish,
             items = f.items, items_open = f.items_open, items_done = f.items_done,
             items_wont_do = f.items_wont_do, to_done = f.to_done, open_due = f.open_due
         FROM f
         WHERE c.workspace_id = $1 AND c.day = $5 AND c.severity = f.severity
           AND c.is_drill = f.is_drill"
    );
    sqlx::query(sqlx::AssertSqlSafe(follow))
        .bind(workspace_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(None::<Vec<String>>)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO analytics_service_cells
             (workspace_id, day, severity, is_drill, service_key, service_name, incidents)
         SELECT $1, $4, i.severity, i.is_drill, lower(s.service_name),
                min(s.service_name COLLATE \"C\"), count(DISTINCT i.id)
         FROM incidents i
         JOIN affected_services s ON s.incident_id = i.id AND s.workspace_id = $1
              AND s.incident_detected_at >= $2 AND s.incident_detected_at < $3
         WHERE i.workspace_id = $1 AND i.detected_at >= $2 AND i.detected_at < $3
         GROUP BY i.severity, i.is_drill, lower(s.service_name)",
    )
    .bind(workspace_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(day)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Rolls up every workspace's due days, at most `limit` per workspace per pass.
pub async fn build_all(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Built> {
    let workspaces: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let mut total = Built::default();
    for workspace_id in workspaces {
        let built = build(&mut *conn, workspace_id, limit).await?;
        total.days += built.days;
        total.deferred += built.deferred;
        total.weeks += built.weeks;
    }
    Ok(total)
}

/// The figures of the whole built weeks inside `[from, to)` (cut in `time_zone`), for
/// the drills or the real incidents: week (local Monday) → severity (`SEV1`..`SEV4`, or
/// `ALL`) → figures; a built week without incidents maps to nothing.
pub(crate) async fn week_figures(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: &str,
    drill: bool,
) -> sqlx::Result<BTreeMap<NaiveDate, HashMap<String, Figures>>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        NaiveDate,
        Option<String>,
        Option<Vec<i64>>,
        Option<Vec<Option<f64>>>,
    )> = sqlx::query_as(
        "SELECT w.week, c.severity, c.counts, c.stats
             FROM analytics_weeks w
             LEFT JOIN analytics_week_cells c ON c.workspace_id = w.workspace_id
                  AND c.week = w.week AND c.is_drill = $5
             WHERE w.workspace_id = $1 AND w.time_zone = $4
               AND w.week >= ($2 AT TIME ZONE $4)::date AND w.week <= ($3 AT TIME ZONE $4)::date
               AND (w.week::timestamp AT TIME ZONE $4) >= $2
               AND ((w.week + 7)::timestamp AT TIME ZONE $4) <= $3",
    )
    .bind(workspace_id)
    .bind(from)
    .bind(to)
    .bind(time_zone)
    .bind(drill)
    .fetch_all(conn)
    .await?;
    let mut out: BTreeMap<NaiveDate, HashMap<String, Figures>> = BTreeMap::new();
    for (week, severity, counts, stats) in rows {
        let cells = out.entry(week).or_default();
        if let (Some(severity), Some(counts), Some(stats)) = (severity, counts, stats) {
            let figures = Figures::from_columns(&counts, &stats).ok_or_else(|| {
                sqlx::Error::Decode(format!("week cell of {week}: arrays of another shape").into())
            })?;
            cells.insert(severity, figures);
        }
    }
    Ok(out)
}

/// Builds, for one workspace, the figures of at most `limit` weeks whose seven days are
/// built and the week is not; returns how many were built.
pub async fn build_weeks(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    limit: i64,
) -> sqlx::Result<u64> {
    let time_zone = super::query::time_zone(&mut *conn, workspace_id).await?;
    let weeks: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT d.week FROM (
             SELECT date_trunc('week', a.day)::date AS week
             FROM analytics_days a
             WHERE a.workspace_id = $1 AND a.time_zone = $2
             GROUP BY 1
             HAVING count(*) = 7
         ) d
         WHERE NOT EXISTS (
             SELECT 1 FROM analytics_weeks w
             WHERE w.workspace_id = $1 AND w.week = d.week AND w.time_zone = $2
               AND w.with_values)
         ORDER BY 1 DESC
         LIMIT $3",
    )
    .bind(workspace_id)
    .bind(&time_zone)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut built = 0;
    for week in weeks {
        if build_week(&mut *conn, workspace_id, week, &time_zone).await? {
            built += 1;
        }
    }
    Ok(built)
}

/// Builds one week; `false` when a day is being written or is no longer built.
async fn build_week(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    week: NaiveDate,
    time_zone: &str,
) -> sqlx::Result<bool> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let locked: bool = sqlx::query_scalar(
        "SELECT bool_and(pg_try_advisory_xact_lock(analytics_day_lock_key($1, d::date)))
         FROM generate_series($2::date, $2::date + 6, interval '1 day') AS d",
    )
    .bind(workspace_id)
    .bind(week)
    .fetch_one(&mut *tx)
    .await?;
    // Every statement from here sees every writer of the week's days that committed
    // before the locks were taken.
    let (days, starts_at, ends_at): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM analytics_days
                 WHERE workspace_id = $1 AND time_zone = $3 AND day >= $2 AND day < $2 + 7),
                ($2::timestamp AT TIME ZONE $3), (($2 + 7)::timestamp AT TIME ZONE $3)",
    )
    .bind(workspace_id)
    .bind(week)
    .bind(time_zone)
    .fetch_one(&mut *tx)
    .await?;
    if !locked || days != 7 {
        tx.rollback().await?;
        return Ok(false);
    }
    let cover = cover(
        &mut tx,
        workspace_id,
        starts_at,
        ends_at,
        None,
        time_zone,
        &[],
    )
    .await?;
    if !cover.live.is_empty() {
        tx.rollback().await?;
        return Ok(false);
    }
    let mut cells: BTreeMap<(String, bool), Acc> = BTreeMap::new();
    for cell in &cover.cells {
        for key in [cell.severity.as_str().to_owned(), "ALL".to_owned()] {
            cells
                .entry((key, cell.is_drill))
                .or_default()
                .add_cell(cell);
        }
    }
    // A week an older builder made without its values is made again.
    sqlx::query("DELETE FROM analytics_weeks WHERE workspace_id = $1 AND week = $2")
        .bind(workspace_id)
        .bind(week)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO analytics_weeks (workspace_id, week, time_zone, with_values)
         VALUES ($1, $2, $3, true)",
    )
    .bind(workspace_id)
    .bind(week)
    .bind(time_zone)
    .execute(&mut *tx)
    .await?;
    let mut by_cell: BTreeMap<(usize, bool), Vec<&Cell>> = BTreeMap::new();
    for cell in &cover.cells {
        by_cell
            .entry((severity_index(cell.severity), cell.is_drill))
            .or_default()
            .push(cell);
    }
    for ((severity, is_drill), cells) in by_cell {
        let severity = Severity::ALL[severity];
        insert_week_values(&mut tx, workspace_id, week, severity, is_drill, &cells).await?;
    }
    for ((severity, is_drill), acc) in cells {
        let (counts, stats) = acc.figures().to_columns();
        sqlx::query(
            "INSERT INTO analytics_week_cells (workspace_id, week, severity, is_drill, counts, stats)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(workspace_id)
        .bind(week)
        .bind(severity)
        .bind(is_drill)
        .bind(counts)
        .bind(stats)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The first bucket of sorted `values` and their count per bucket from it on.
fn histogram(values: &[f64]) -> (i32, Vec<i32>) {
    let from = values.first().map_or(0, |x| bucket(*x));
    let to = values.last().map_or(-1, |x| bucket(*x));
    let mut hist = vec![0i32; usize::try_from(to - from + 1).unwrap_or(0)];
    for x in values {
        hist[(bucket(*x) - from) as usize] += 1;
    }
    (from, hist)
}

/// Stores a week's values (migration 0125) of one severity and drill, from its cells.
async fn insert_week_values(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    week: NaiveDate,
    severity: Severity,
    is_drill: bool,
    cells: &[&Cell],
) -> sqlx::Result<()> {
    let sum = |f: fn(&Cell) -> i64| cells.iter().map(|c| f(c)).sum::<i64>();
    let mut by_status = [0i64; 5];
    let mut services = BTreeMap::new();
    let mut slowest = Vec::new();
    let mut open_due = Vec::new();
    let mut values: [Vec<f64>; 6] = Default::default();
    for c in cells {
        for (total, n) in by_status.iter_mut().zip(&c.by_status) {
            *total += n;
        }
        merge_services(&mut services, c.services.iter().cloned());
        slowest.extend(c.slowest.iter().copied());
        open_due.extend_from_slice(&c.follow.open_due);
        for (all, part) in values.iter_mut().zip([
            &c.ack,
            &c.mit,
            &c.res,
            &c.clo,
            &c.follow.to_publish.values,
            &c.follow.to_done.values,
        ]) {
            all.extend_from_slice(part);
        }
    }
    keep_slowest(&mut slowest);
    open_due.sort_unstable();
    let mut hist_from = Vec::new();
    let mut sums = Vec::new();
    let mut maxes = Vec::new();
    let mut hists = Vec::new();
    for v in &mut values {
        v.sort_unstable_by(f64::total_cmp);
        let (from, hist) = histogram(v);
        hist_from.push(from);
        sums.push(v.iter().sum::<f64>());
        maxes.push(v.last().copied());
        hists.push(hist);
    }
    let (keys, names, counts): (Vec<String>, Vec<String>, Vec<i64>) = services
        .into_iter()
        .map(|(key, (name, n))| (key, name, n))
        .collect();
    let [
        ack_hist,
        mit_hist,
        res_hist,
        clo_hist,
        to_publish_hist,
        to_done_hist,
    ]: [Vec<i32>; 6] = hists.try_into().unwrap_or_default();
    sqlx::query(
        "INSERT INTO analytics_week_values (
             workspace_id, week, severity, is_drill, incidents, by_status, from_alert,
             ack_met, ack_missed, res_met, res_missed, no_update_due, update_due, breaches,
             ack_breaches, res_breaches, warnings, updates_due, slow_ids, slow_numbers,
             slow_seconds, pm_drafted, pm_published, items, items_open, items_done,
             items_wont_do, open_due, service_keys, service_names, service_counts,
             hist_from, sums, maxes,
             ack_hist, mit_hist, res_hist, clo_hist, to_publish_hist, to_done_hist)
         VALUES ($1, $2, $3::incident_severity, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                 $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,
                 $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40)",
    )
    .bind(workspace_id)
    .bind(week)
    .bind(severity.as_str())
    .bind(is_drill)
    .bind(sum(|c| c.incidents))
    .bind(by_status.to_vec())
    .bind(sum(|c| c.from_alert))
    .bind(sum(|c| c.ack_met))
    .bind(sum(|c| c.ack_missed))
    .bind(sum(|c| c.res_met))
    .bind(sum(|c| c.res_missed))
    .bind(sum(|c| c.no_update_due))
    .bind(sum(|c| c.update_due))
    .bind(sum(|c| c.breaches))
    .bind(sum(|c| c.ack_breaches))
    .bind(sum(|c| c.res_breaches))
    .bind(sum(|c| c.warnings))
    .bind(sum(|c| c.updates_due))
    .bind(slowest.iter().map(|s| s.2).collect::<Vec<Uuid>>())
    .bind(slowest.iter().map(|s| s.1).collect::<Vec<i32>>())
    .bind(slowest.iter().map(|s| s.0).collect::<Vec<f64>>())
    .bind(sum(|c| c.follow.pm_drafted))
    .bind(sum(|c| c.follow.pm_published))
    .bind(sum(|c| c.follow.items))
    .bind(sum(|c| c.follow.items_open))
    .bind(sum(|c| c.follow.items_done))
    .bind(sum(|c| c.follow.items_wont_do))
    .bind(open_due)
    .bind(keys)
    .bind(names)
    .bind(counts)
    .bind(hist_from)
    .bind(sums)
    .bind(maxes)
    .bind(ack_hist)
    .bind(mit_hist)
    .bind(res_hist)
    .bind(clo_hist)
    .bind(to_publish_hist)
    .bind(to_done_hist)
    .execute(&mut *conn)
    .await?;
    // The pages, in one statement: every value in one array, each page a slice of it.
    let (mut cols, mut page_numbers, mut starts, mut lens, mut all) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (col, v) in values.iter().enumerate() {
        for (page, slice) in pages(v) {
            cols.push(col as i16);
            page_numbers.push(page);
            starts.push(all.len() as i32 + 1);
            lens.push(slice.len() as i32);
            all.extend_from_slice(slice);
        }
    }
    sqlx::query(
        "INSERT INTO analytics_week_pages (workspace_id, week, severity, is_drill, col, page, vals)
         SELECT $1, $2, $3::incident_severity, $4, p.col, p.page,
                ($9::float8[])[p.start:p.start + p.len - 1]
         FROM unnest($5::int2[], $6::int4[], $7::int4[], $8::int4[]) AS p (col, page, start, len)",
    )
    .bind(workspace_id)
    .bind(week)
    .bind(severity.as_str())
    .bind(is_drill)
    .bind(cols)
    .bind(page_numbers)
    .bind(starts)
    .bind(lens)
    .bind(all)
    .execute(conn)
    .await?;
    Ok(())
}

/// A whole built week's values of one severity and drill (migration 0125), without the
/// values themselves: those are read by bucket ([`week_slices`]).
#[derive(Debug, Clone)]
pub(crate) struct WeekValues {
    pub(crate) week: NaiveDate,
    pub(crate) severity: Severity,
    pub(crate) is_drill: bool,
    pub(crate) incidents: i64,
    by_status: Vec<i64>,
    from_alert: i64,
    ack_met: i64,
    ack_missed: i64,
    res_met: i64,
    res_missed: i64,
    no_update_due: i64,
    update_due: i64,
    breaches: i64,
    ack_breaches: i64,
    res_breaches: i64,
    warnings: i64,
    updates_due: i64,
    slowest: Vec<Slow>,
    /// Incidents by service: lower-case key → (spelling, incidents).
    pub(crate) services: Vec<(String, String, i64)>,
    /// The durations of [`VALUE_COLUMNS`], in that order (row 0 until added).
    remote: Vec<Remote>,
    pm_drafted: i64,
    pm_published: i64,
    items: i64,
    items_open: i64,
    items_done: i64,
    items_wont_do: i64,
    /// Open items due before today (counted where they are kept).
    overdue: i64,
}

impl Follow {
    /// Adds a week's follow-through (row `row` of the request's [`WeekValues`]).
    pub(crate) fn add_week(&mut self, row: usize, week: &WeekValues) {
        self.pm_drafted += week.pm_drafted;
        self.pm_published += week.pm_published;
        self.items += week.items;
        self.items_open += week.items_open;
        self.items_done += week.items_done;
        self.items_wont_do += week.items_wont_do;
        self.overdue += week.overdue;
        for (d, remote) in [&mut self.to_publish, &mut self.to_done]
            .into_iter()
            .zip(&week.remote[4..])
        {
            d.remote.push(Remote {
                row,
                ..remote.clone()
            });
        }
    }
}

/// The whole weeks inside `[from, to)` (cut in `time_zone`) built with their values, and
/// those values, of `severities` (NULL: all), drills and real incidents both; open
/// action items counted overdue against today in `time_zone`.
pub(crate) async fn week_values(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: &str,
    severities: Option<&[String]>,
) -> sqlx::Result<(Vec<NaiveDate>, Vec<WeekValues>)> {
    let rows = sqlx::query(
        "SELECT w.week, v.severity::text AS severity, v.is_drill, v.incidents, v.by_status,
                v.from_alert, v.ack_met, v.ack_missed, v.res_met, v.res_missed,
                v.no_update_due, v.update_due, v.breaches, v.ack_breaches, v.res_breaches,
                v.warnings, v.updates_due, v.slow_ids, v.slow_numbers, v.slow_seconds,
                v.pm_drafted, v.pm_published, v.items, v.items_open, v.items_done,
                v.items_wont_do,
                (SELECT count(*) FROM unnest(v.open_due) AS d
                 WHERE d < (now() AT TIME ZONE $4)::date) AS overdue,
                v.service_keys, v.service_names, v.service_counts, v.hist_from, v.sums,
                v.maxes, v.ack_hist, v.mit_hist, v.res_hist, v.clo_hist, v.to_publish_hist,
                v.to_done_hist
         FROM analytics_weeks w
         LEFT JOIN analytics_week_values v ON v.workspace_id = w.workspace_id AND v.week = w.week
              AND ($5::text[] IS NULL OR v.severity::text = ANY($5::text[]))
         WHERE w.workspace_id = $1 AND w.time_zone = $4 AND w.with_values
           AND w.week >= ($2 AT TIME ZONE $4)::date AND w.week <= ($3 AT TIME ZONE $4)::date
           AND (w.week::timestamp AT TIME ZONE $4) >= $2
           AND ((w.week + 7)::timestamp AT TIME ZONE $4) <= $3
         ORDER BY w.week, v.severity, v.is_drill",
    )
    .bind(workspace_id)
    .bind(from)
    .bind(to)
    .bind(time_zone)
    .bind(severities)
    .fetch_all(conn)
    .await?;
    let mut weeks = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let week: NaiveDate = row.try_get("week")?;
        if weeks.last() != Some(&week) {
            weeks.push(week);
        }
        let Some(severity) = row.try_get::<Option<&str>, _>("severity")? else {
            continue; // a week without incidents (of these severities)
        };
        let severity: Severity = parse(severity)?;
        let ids: Vec<Uuid> = row.try_get("slow_ids")?;
        let numbers: Vec<i32> = row.try_get("slow_numbers")?;
        let seconds: Vec<f64> = row.try_get("slow_seconds")?;
        let keys: Vec<String> = row.try_get("service_keys")?;
        let names: Vec<String> = row.try_get("service_names")?;
        let counts: Vec<i64> = row.try_get("service_counts")?;
        let hist_from: Vec<i32> = row.try_get("hist_from")?;
        let sums: Vec<f64> = row.try_get("sums")?;
        let maxes: Vec<Option<f64>> = row.try_get("maxes")?;
        if hist_from.len() != 6 || sums.len() != 6 || maxes.len() != 6 {
            return Err(sqlx::Error::Decode(
                "a week's values: arrays of another shape".into(),
            ));
        }
        let mut remote = Vec::with_capacity(6);
        for (i, column) in VALUE_COLUMNS.iter().enumerate() {
            let hist: Vec<i32> = row.try_get(format!("{column}_hist").as_str())?;
            remote.push(Remote {
                row: 0,
                column: i as u8,
                from: hist_from[i],
                count: hist.iter().map(|n| i64::from(*n)).sum(),
                hist,
                sum: sums[i],
                max: maxes[i],
            });
        }
        out.push(WeekValues {
            week,
            severity,
            is_drill: row.try_get("is_drill")?,
            incidents: row.try_get("incidents")?,
            by_status: row.try_get("by_status")?,
            from_alert: row.try_get("from_alert")?,
            ack_met: row.try_get("ack_met")?,
            ack_missed: row.try_get("ack_missed")?,
            res_met: row.try_get("res_met")?,
            res_missed: row.try_get("res_missed")?,
            no_update_due: row.try_get("no_update_due")?,
            update_due: row.try_get("update_due")?,
            breaches: row.try_get("breaches")?,
            ack_breaches: row.try_get("ack_breaches")?,
            res_breaches: row.try_get("res_breaches")?,
            warnings: row.try_get("warnings")?,
            updates_due: row.try_get("updates_due")?,
            slowest: seconds
                .into_iter()
                .zip(numbers)
                .zip(ids)
                .map(|((s, n), id)| (s, n, id, severity))
                .collect(),
            services: keys
                .into_iter()
                .zip(names)
                .zip(counts)
                .map(|((k, n), c)| (k, n, c))
                .collect(),
            remote,
            pm_drafted: row.try_get("pm_drafted")?,
            pm_published: row.try_get("pm_published")?,
            items: row.try_get("items")?,
            items_open: row.try_get("items_open")?,
            items_done: row.try_get("items_done")?,
            items_wont_do: row.try_get("items_wont_do")?,
            overdue: row.try_get("overdue")?,
        });
    }
    Ok((weeks, out))
}

/// Reads the slices `needs` of the weeks' values `weeks`, in one statement.
pub(crate) async fn week_slices(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    weeks: &[WeekValues],
    needs: &[Need],
) -> sqlx::Result<Slices> {
    let mut needs = needs.to_vec();
    needs.sort_by_key(|n| (n.row, n.column, n.bucket));
    needs.dedup();
    if needs.is_empty() {
        return Ok(Slices::new());
    }
    let mut week = Vec::with_capacity(needs.len());
    let mut severity = Vec::with_capacity(needs.len());
    let mut is_drill = Vec::with_capacity(needs.len());
    for n in &needs {
        let w = weeks
            .get(n.row)
            .ok_or_else(|| sqlx::Error::Protocol("a slice of no week".into()))?;
        week.push(w.week);
        severity.push(w.severity.as_str().to_owned());
        is_drill.push(w.is_drill);
    }
    let rows: Vec<(i64, Vec<f64>)> = sqlx::query_as(
        "SELECT q.ord, p.vals[q.lo:q.hi]
         FROM unnest($2::date[], $3::text[], $4::bool[], $5::int2[], $6::int4[], $7::int4[],
                     $8::int4[])
              WITH ORDINALITY AS q (week, severity, is_drill, col, page, lo, hi, ord)
         JOIN analytics_week_pages p ON p.workspace_id = $1 AND p.week = q.week
              AND p.severity = q.severity::incident_severity AND p.is_drill = q.is_drill
              AND p.col = q.col AND p.page = q.page",
    )
    .bind(workspace_id)
    .bind(week)
    .bind(severity)
    .bind(is_drill)
    .bind(
        needs
            .iter()
            .map(|n| i16::from(n.column))
            .collect::<Vec<i16>>(),
    )
    .bind(needs.iter().map(|n| n.page).collect::<Vec<i32>>())
    .bind(needs.iter().map(|n| n.lo).collect::<Vec<i32>>())
    .bind(needs.iter().map(|n| n.hi).collect::<Vec<i32>>())
    .fetch_all(conn)
    .await?;
    let mut out = Slices::with_capacity(rows.len());
    for (ord, values) in rows {
        let n = usize::try_from(ord - 1)
            .ok()
            .and_then(|i| needs.get(i))
            .ok_or_else(|| sqlx::Error::Protocol("a slice not asked for".into()))?;
        out.insert((n.row, n.column, n.bucket), values);
    }
    Ok(out)
}

/// The local Monday of `day`'s ISO week.
pub(crate) fn week_of(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike as _;
    day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// The first of `day`'s month.
pub(crate) fn month_of(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike as _;
    day.with_day(1).unwrap_or(day)
}

/// Accumulators by key.
pub(crate) type ByKey<K> = HashMap<K, Acc>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_as_the_values() {
        let values = [
            -3.0, 0.0, 0.5, 0.999, 1.0, 1.03, 1.0625, 1.999, 2.0, 59.0, 60.0, 61.5, 1e5, 1e9,
        ];
        for pair in values.windows(2) {
            assert!(bucket(pair[0]) <= bucket(pair[1]), "{pair:?}");
        }
        assert_eq!(bucket(0.999), 0);
        assert_eq!(bucket(1.0), 1);
        assert_eq!(bucket(1.0625), 2, "16 buckets per power of two");
        assert_eq!(bucket(2.0), 17);
    }

    /// A duration: whole minutes, sevenths of a second, powers of two (bucket edges),
    /// values below a second, and many ties.
    fn value(next: &mut impl FnMut() -> u64) -> f64 {
        match next() % 5 {
            0 => (next() % 4000) as f64 * 60.0,
            1 => (next() % 100_000) as f64 / 7.0,
            2 => 2f64.powi((next() % 24) as i32),
            3 => -((next() % 3) as f64) / 2.0,
            _ => 1800.0 + (next() % 50) as f64,
        }
    }

    /// Percentiles read from weeks' buckets are those of every value sorted, with ties,
    /// values below a second and values on bucket edges, however the values are spread
    /// over weeks and loose rows.
    #[test]
    fn percentiles_from_buckets_of_weeks_are_those_of_every_value() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed >> 33
        };
        for case in 0..200 {
            let weeks: Vec<Vec<f64>> = (0..case % 6)
                .map(|_| {
                    let n = next() % 400;
                    let mut v: Vec<f64> = (0..n).map(|_| value(&mut next)).collect();
                    v.sort_unstable_by(f64::total_cmp);
                    v
                })
                .collect();
            let n = next() % 50;
            let loose: Vec<f64> = (0..n).map(|_| value(&mut next)).collect();
            let mut split = Durations::of(loose.clone());
            for (row, v) in weeks.iter().enumerate() {
                let (from, hist) = histogram(v);
                split.remote.push(Remote {
                    row,
                    column: 2,
                    from,
                    count: v.len() as i64,
                    hist,
                    sum: v.iter().sum(),
                    max: v.last().copied(),
                });
            }
            let mut needs = Vec::new();
            split.needs(&[0.5, 0.9], &mut needs);
            // As `week_slices` reads them: from the pages the builder stores.
            let got: Slices = needs
                .iter()
                .map(|n| {
                    let pages = pages(&weeks[n.row]);
                    let (_, page) = pages
                        .iter()
                        .find(|(p, _)| *p == n.page)
                        .expect("the page of a needed bucket");
                    let slice = page[(n.lo - 1) as usize..n.hi as usize].to_vec();
                    ((n.row, n.column, n.bucket), slice)
                })
                .collect();
            let all: Vec<f64> = loose
                .iter()
                .chain(weeks.iter().flatten())
                .copied()
                .collect();
            let expected = Durations::of(all).stats(&Slices::new()).expect("local");
            let actual = split.stats(&got).expect("split");
            assert_eq!(actual.count, expected.count, "case {case}");
            assert_eq!(
                actual.median_seconds, expected.median_seconds,
                "case {case}"
            );
            assert_eq!(actual.p90_seconds, expected.p90_seconds, "case {case}");
            assert_eq!(actual.max_seconds, expected.max_seconds, "case {case}");
            match (actual.mean_seconds, expected.mean_seconds) {
                (Some(a), Some(e)) => assert!((a - e).abs() <= 1e-9 * e.abs().max(1.0)),
                (a, e) => assert_eq!(a, e),
            }
        }
    }

    #[test]
    fn figures_come_back_from_their_columns_exactly() {
        let stats = |base: f64| Stats {
            count: 3,
            mean_seconds: Some(base / 3.0),
            median_seconds: Some(base.sqrt()),
            p90_seconds: None,
            max_seconds: Some(base),
        };
        let figures = Figures {
            incidents: 7,
            mtta: stats(0.1),
            mttm: Stats::default(),
            mttr: stats(86_400.123_456),
            time_to_close: stats(1e-9),
            ack_met: 1,
            ack_missed: 2,
            res_met: 3,
            res_missed: 4,
            no_update_due: [5, 6, 7, 8],
            update_due: [9, 10, 11, 12],
            breaches: 13,
            ack_breaches: 14,
            res_breaches: 15,
            warnings: 16,
            updates_due: 17,
        };
        let (counts, stats) = figures.to_columns();
        assert_eq!(Figures::from_columns(&counts, &stats), Some(figures));
        assert_eq!(Figures::from_columns(&counts[1..], &stats), None);
    }
}
