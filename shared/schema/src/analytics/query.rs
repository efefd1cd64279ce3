//! The analytics SQL. Every statement binds the same leading parameters, so the filter is
//! written once ([`FILTER`]):
//!
//! `$1` workspace, `$2` from, `$3` to (exclusive), `$4` drill, `$5` severities (`text[]`,
//! NULL: all), `$6` services (lower-case `text[]`, NULL: all), `$7` the workspace's time
//! zone; the slowest incidents add `$8` reader and `$9` whether the reader is an admin.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Row as _};

use super::rollup;
use super::{
    ActionItemMeasures, AlertLoad, AlertLoadRow, FollowThrough, Grouped, Grouping, Measures,
    Period, Request, Row, ServiceCount, SlaMeasures, SlowIncident, Sources, Stats, Summary,
    TargetShare,
};
use crate::access::Reader;
use crate::{IncidentStatus, Severity};

/// The incidents a request counts (alias `i`); drills are chosen by each statement.
const FILTER: &str = "i.workspace_id = $1 AND i.detected_at >= $2 AND i.detected_at < $3
    AND ($5::text[] IS NULL OR i.severity::text = ANY($5::text[]))
    AND ($6::text[] IS NULL OR EXISTS (
        SELECT 1 FROM affected_services fs
        WHERE fs.incident_id = i.id AND lower(fs.service_name) = ANY($6::text[])))";

/// The final resolution of a RESOLVED or CLOSED incident (NULL while open, reopened ones
/// included).
const FINAL: &str = "CASE WHEN i.status IN ('RESOLVED', 'CLOSED')
    THEN COALESCE(i.last_resolved_at, i.resolved_at, i.closed_at) END";

/// The workspace's time zone.
pub async fn time_zone(conn: &mut PgConnection, workspace_id: uuid::Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT time_zone FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(conn)
        .await
        .map(|tz| tz.unwrap_or_else(|| "UTC".to_owned()))
}

/// A transaction (a savepoint inside the caller's) whose statements run with the
/// planner settings the analytics need, `SET LOCAL` so they end with the caller's
/// transaction (a savepoint's settings stay after it is released):
///
/// - `jit = off`: over a large range the statements' estimated cost passes
///   `jit_above_cost`, and compiling their expressions took longer than running them
///   (2.9 s of JIT for a 90-day summary over 1,000,000 incidents, BENCHMARKS.md);
/// - `work_mem = 64MB`: the sort feeding a grouping's percentiles holds every incident
///   of the range (a year's week × severity series spilled to disk with 32 MB);
/// - `plan_cache_mode = force_custom_plan`: sqlx keeps its statements prepared, and
///   after five runs Postgres may switch to a generic plan, which knows nothing of the
///   range's size (it expected 67 incidents in a range of 83,000, and probed the SLA
///   findings once per incident); planning each call anew costs about a millisecond.
async fn tuned(conn: &mut PgConnection) -> sqlx::Result<sqlx::Transaction<'_, Postgres>> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query(
        "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true),
                set_config('plan_cache_mode', 'force_custom_plan', true)",
    )
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

struct Args<'a> {
    workspace_id: uuid::Uuid,
    request: &'a Request,
    time_zone: String,
}

impl Args<'_> {
    /// The statement `sql` (built from this module's constants only, never from input)
    /// with the leading parameters bound.
    fn bind(&self, sql: String) -> Query<'static, Postgres, PgArguments> {
        let f = &self.request.filter;
        let severities: Option<Vec<String>> = (!f.severities.is_empty())
            .then(|| f.severities.iter().map(|s| s.as_str().to_owned()).collect());
        let services = (!f.services.is_empty()).then(|| f.services.clone());
        sqlx::query(AssertSqlSafe(sql))
            .bind(self.workspace_id)
            .bind(self.request.from)
            .bind(self.request.to)
            .bind(f.drill)
            .bind(severities)
            .bind(services)
            .bind(self.time_zone.clone())
    }
}

/// `count, avg, median, p90, max` of a duration expression, as five columns `<name>_*`.
fn stats_sql(name: &str, seconds: &str) -> String {
    format!(
        "count({seconds}) AS {name}_count, avg({seconds}) AS {name}_mean,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) AS {name}_median,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY {seconds}) AS {name}_p90,
         max({seconds}) AS {name}_max"
    )
}

fn stats_of(row: &PgRow, name: &str) -> sqlx::Result<Stats> {
    Ok(Stats {
        count: row.try_get(format!("{name}_count").as_str())?,
        mean_seconds: row.try_get(format!("{name}_mean").as_str())?,
        median_seconds: row.try_get(format!("{name}_median").as_str())?,
        p90_seconds: row.try_get(format!("{name}_p90").as_str())?,
        max_seconds: row.try_get(format!("{name}_max").as_str())?,
    })
}

pub(super) fn share(met: i64, missed: i64) -> TargetShare {
    let decided = met + missed;
    TargetShare {
        met,
        missed,
        share: (decided > 0).then(|| met as f64 / decided as f64),
    }
}

pub(super) fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The key columns (`k_period` local timestamp, `k_severity`, `k_service`) of a grouping
/// (`None`: one row of everything) and the join it needs.
fn keys(by: Option<Grouping>) -> (&'static str, &'static str) {
    const NONE: &str = "NULL::timestamp AS k_period, NULL::text AS k_severity, NULL::text AS k_service, NULL::text AS k_service_name";
    const WEEK: &str = "date_trunc('week', i.detected_at AT TIME ZONE $7) AS k_period, NULL::text AS k_severity, NULL::text AS k_service, NULL::text AS k_service_name";
    const MONTH: &str = "date_trunc('month', i.detected_at AT TIME ZONE $7) AS k_period, NULL::text AS k_severity, NULL::text AS k_service, NULL::text AS k_service_name";
    const SEVERITY: &str = "NULL::timestamp AS k_period, i.severity::text AS k_severity, NULL::text AS k_service, NULL::text AS k_service_name";
    const WEEK_SEVERITY: &str = "date_trunc('week', i.detected_at AT TIME ZONE $7) AS k_period, i.severity::text AS k_severity, NULL::text AS k_service, NULL::text AS k_service_name";
    const SERVICE: &str = "NULL::timestamp AS k_period, NULL::text AS k_severity, lower(s.service_name) AS k_service, s.service_name AS k_service_name";
    const SERVICE_JOIN: &str = "LEFT JOIN affected_services s ON s.incident_id = i.id
        AND ($6::text[] IS NULL OR lower(s.service_name) = ANY($6::text[]))";
    match by {
        None => (NONE, ""),
        Some(Grouping::Week) => (WEEK, ""),
        Some(Grouping::Month) => (MONTH, ""),
        Some(Grouping::Severity) => (SEVERITY, ""),
        Some(Grouping::WeekSeverity) => (WEEK_SEVERITY, ""),
        Some(Grouping::Service) => (SERVICE, SERVICE_JOIN),
    }
}

/// The measures statement of a grouping.
///
/// The range's incidents are read once (`r`, materialised) with every per-incident value
/// computed there, once per incident: computed in the aggregate instead, each value would
/// be evaluated again for every aggregate naming it (count, mean, percentiles, max). The
/// SLA findings are aggregated for those incidents only (`e`, joined to `r`), not for the
/// workspace's whole history; the service grouping joins services to `r` last.
fn measures_sql(by: Option<Grouping>) -> String {
    let (key_columns, join) = keys(by);
    let stats = [
        stats_sql("mtta", "b.ack"),
        stats_sql("mttm", "b.mit"),
        stats_sql("mttr", "b.res"),
        stats_sql("ttc", "b.clo"),
    ]
    .join(",\n");
    format!(
        "WITH r AS MATERIALIZED (
            SELECT i.id, i.detected_at, i.severity,
                   date_part('epoch', i.acknowledged_at - i.detected_at) AS ack,
                   date_part('epoch', i.mitigated_at - i.detected_at) AS mit,
                   date_part('epoch', ({FINAL}) - i.detected_at) AS res,
                   date_part('epoch', i.closed_at - i.detected_at) AS clo,
                   CASE WHEN i.sla_deadline IS NULL THEN NULL
                        WHEN LEAST(i.acknowledged_at, i.mitigated_at, i.resolved_at, i.closed_at) <= i.sla_deadline THEN true
                        WHEN LEAST(i.acknowledged_at, i.mitigated_at, i.resolved_at, i.closed_at) IS NOT NULL
                             OR i.sla_deadline < now() THEN false END AS ack_met,
                   CASE WHEN i.sla_resolve_deadline IS NULL THEN NULL
                        WHEN ({FINAL}) <= i.sla_resolve_deadline THEN true
                        WHEN ({FINAL}) IS NOT NULL OR i.sla_resolve_deadline < now() THEN false END AS res_met,
                   i.severity IN ('SEV1', 'SEV2') AND p.update_cadence_minutes IS NOT NULL AS upd_due
            FROM incidents i
            LEFT JOIN sla_policies p ON p.workspace_id = i.workspace_id AND p.severity = i.severity
            WHERE {FILTER} AND i.is_drill = $4
         ), e AS (
            SELECT e.incident_id,
                   count(*) FILTER (WHERE e.kind = 'BREACH') AS breaches,
                   count(*) FILTER (WHERE e.kind = 'BREACH' AND e.target = 'ACKNOWLEDGE') AS ack_breaches,
                   count(*) FILTER (WHERE e.kind = 'BREACH' AND e.target = 'RESOLVE') AS res_breaches,
                   count(*) FILTER (WHERE e.kind = 'WARNING') AS warnings,
                   count(*) FILTER (WHERE e.kind = 'UPDATE_DUE') AS updates_due
            FROM r JOIN sla_events e ON e.incident_id = r.id
            WHERE e.workspace_id = $1 AND e.is_drill = $4
            GROUP BY e.incident_id
         ), b AS (
            SELECT {key_columns},
                   i.ack, i.mit, i.res, i.clo, i.ack_met, i.res_met,
                   CASE WHEN i.upd_due THEN COALESCE(e.updates_due, 0) = 0 END AS upd_met,
                   COALESCE(e.breaches, 0) AS breaches, COALESCE(e.ack_breaches, 0) AS ack_breaches,
                   COALESCE(e.res_breaches, 0) AS res_breaches, COALESCE(e.warnings, 0) AS warnings,
                   COALESCE(e.updates_due, 0) AS updates_due
            FROM r i
            LEFT JOIN e ON e.incident_id = i.id
            {join}
         )
         SELECT b.k_period, b.k_severity, b.k_service, min(b.k_service_name COLLATE \"C\") AS k_service_name,
                count(*) AS incidents,
                {stats},
                count(*) FILTER (WHERE b.ack_met) AS ack_met, count(*) FILTER (WHERE NOT b.ack_met) AS ack_missed,
                count(*) FILTER (WHERE b.res_met) AS res_met, count(*) FILTER (WHERE NOT b.res_met) AS res_missed,
                count(*) FILTER (WHERE b.upd_met) AS upd_met, count(*) FILTER (WHERE NOT b.upd_met) AS upd_missed,
                sum(b.breaches)::int8 AS breaches, sum(b.ack_breaches)::int8 AS ack_breaches,
                sum(b.res_breaches)::int8 AS res_breaches, sum(b.warnings)::int8 AS warnings,
                sum(b.updates_due)::int8 AS updates_due
         FROM b GROUP BY b.k_period, b.k_severity, b.k_service"
    )
}

fn measures_of(row: &PgRow) -> sqlx::Result<Measures> {
    let get = |name: &str| row.try_get::<i64, _>(name);
    Ok(Measures {
        incidents: get("incidents")?,
        mtta: stats_of(row, "mtta")?,
        mttm: stats_of(row, "mttm")?,
        mttr: stats_of(row, "mttr")?,
        time_to_close: stats_of(row, "ttc")?,
        sla: SlaMeasures {
            acknowledge: share(get("ack_met")?, get("ack_missed")?),
            resolve: share(get("res_met")?, get("res_missed")?),
            update: share(get("upd_met")?, get("upd_missed")?),
            breaches: get("breaches")?,
            acknowledge_breaches: get("ack_breaches")?,
            resolve_breaches: get("res_breaches")?,
            warnings: get("warnings")?,
            updates_due: get("updates_due")?,
        },
    })
}

/// An aggregated row's key: local period start, severity, lower-case service.
type Key = (Option<NaiveDateTime>, Option<String>, Option<String>);

/// The measures of every group that has incidents, by key (with the service's display
/// name).
async fn measures_by_key(
    conn: &mut PgConnection,
    args: &Args<'_>,
    by: Option<Grouping>,
) -> sqlx::Result<HashMap<Key, (Option<String>, Measures)>> {
    let sql = measures_sql(by);
    let rows = args.bind(sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            let key = (
                row.try_get("k_period")?,
                row.try_get("k_severity")?,
                row.try_get("k_service")?,
            );
            Ok((key, (row.try_get("k_service_name")?, measures_of(row)?)))
        })
        .collect()
}

/// The periods of the range (every one, with or without incidents): local start, label,
/// instants.
async fn periods(
    conn: &mut PgConnection,
    args: &Args<'_>,
    by: Grouping,
) -> sqlx::Result<Vec<(NaiveDateTime, Period)>> {
    let (unit, step, format) = match by {
        Grouping::Month => ("month", "1 month", "YYYY-MM"),
        _ => ("week", "1 week", "IYYY-\"W\"IW"),
    };
    let sql = format!(
        "SELECT p AS local_start, to_char(p, '{format}') AS label,
                p AT TIME ZONE $3 AS starts_at, (p + interval '{step}') AT TIME ZONE $3 AS ends_at
         FROM generate_series(date_trunc('{unit}', $1 AT TIME ZONE $3),
                              ($2 AT TIME ZONE $3) - interval '1 microsecond',
                              interval '{step}') AS p
         ORDER BY p"
    );
    let rows: Vec<(NaiveDateTime, String, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(args.request.from)
            .bind(args.request.to)
            .bind(&args.time_zone)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(local, label, starts_at, ends_at)| {
            (
                local,
                Period {
                    label,
                    starts_at,
                    ends_at,
                },
            )
        })
        .collect())
}

fn severities_of(request: &Request) -> Vec<Severity> {
    if request.filter.severities.is_empty() {
        Severity::ALL.to_vec()
    } else {
        request.filter.severities.clone()
    }
}

/// The rows of `by` over the request: every period (and severity) of a periodic or
/// severity grouping present, empty ones with 0 incidents and `null` durations; services
/// most incidents first, incidents without a service last.
pub async fn grouped(
    conn: &mut PgConnection,
    reader: &Reader,
    request: &Request,
    by: Grouping,
) -> sqlx::Result<Grouped> {
    let mut tx = tuned(conn).await?;
    let grouped = grouped_in(&mut tx, reader, request, by, &mut Memo::default()).await?;
    tx.commit().await?;
    Ok(grouped)
}

/// The summary and the weekly series, all together and by severity, of one request, as
/// the analytics page shows them: in one snapshot, reading once what the three read
/// alike (the workspace's time zone, the range's day cells and live rows, the whole
/// weeks' figures). The same figures as [`summary`] and [`grouped`] by [`Grouping::Week`]
/// and [`Grouping::WeekSeverity`] in the same snapshot.
pub async fn summary_and_weeks(
    conn: &mut PgConnection,
    reader: &Reader,
    request: &Request,
) -> sqlx::Result<(Summary, Grouped, Grouped)> {
    let mut tx = tuned(conn).await?;
    let mut memo = Memo::default();
    let summary = summary_in(&mut tx, reader, request, &mut memo).await?;
    let weeks = grouped_in(&mut tx, reader, request, Grouping::Week, &mut memo).await?;
    let by_severity =
        grouped_in(&mut tx, reader, request, Grouping::WeekSeverity, &mut memo).await?;
    tx.commit().await?;
    Ok((summary, weeks, by_severity))
}

/// The range's rolled-up cells and live rows, and the severities with an update
/// cadence ([`gather`]).
struct Gathered {
    cover: rollup::Cover,
    rows: Vec<rollup::IncidentRow>,
    cadenced: Vec<Severity>,
}

/// What the reads of one request inside one snapshot share: each is read on first use
/// and kept (the gathered cells and rows for the weeks they skip: another set of weeks
/// reads them again).
#[derive(Default)]
struct Memo {
    time_zone: Option<String>,
    gathered: Option<(Vec<NaiveDate>, Gathered)>,
    figures: Option<(bool, WeekFigures)>,
}

/// Whole built weeks' figures: week → severity (or `ALL`) → figures.
type WeekFigures = BTreeMap<NaiveDate, HashMap<String, rollup::Figures>>;

impl Memo {
    async fn time_zone(
        &mut self,
        conn: &mut PgConnection,
        workspace_id: uuid::Uuid,
    ) -> sqlx::Result<String> {
        if let Some(tz) = &self.time_zone {
            return Ok(tz.clone());
        }
        let tz = time_zone(conn, workspace_id).await?;
        self.time_zone = Some(tz.clone());
        Ok(tz)
    }

    async fn gathered(
        &mut self,
        conn: &mut PgConnection,
        args: &Args<'_>,
        skip: &[NaiveDate],
    ) -> sqlx::Result<&Gathered> {
        if self.gathered.as_ref().is_none_or(|(s, _)| s != skip) {
            let (cover, rows, cadenced) = gather(conn, args, skip).await?;
            self.gathered = Some((
                skip.to_vec(),
                Gathered {
                    cover,
                    rows,
                    cadenced,
                },
            ));
        }
        Ok(&self.gathered.as_ref().expect("just gathered").1)
    }

    async fn week_figures(
        &mut self,
        conn: &mut PgConnection,
        args: &Args<'_>,
    ) -> sqlx::Result<WeekFigures> {
        let drill = args.request.filter.drill;
        if let Some((d, figures)) = &self.figures
            && *d == drill
        {
            return Ok(figures.clone());
        }
        let figures = rollup::week_figures(
            conn,
            args.workspace_id,
            args.request.from,
            args.request.to,
            &args.time_zone,
            drill,
        )
        .await?;
        self.figures = Some((drill, figures.clone()));
        Ok(figures)
    }
}

async fn grouped_in(
    conn: &mut PgConnection,
    reader: &Reader,
    request: &Request,
    by: Grouping,
    memo: &mut Memo,
) -> sqlx::Result<Grouped> {
    let args = Args {
        workspace_id: reader.workspace_id,
        request,
        time_zone: memo.time_zone(&mut *conn, reader.workspace_id).await?,
    };
    if by != Grouping::Service && request.filter.services.is_empty() {
        let rows = rolled_up_grouped(&mut *conn, &args, by, memo).await?;
        return Ok(Grouped {
            from: request.from,
            to: request.to,
            time_zone: args.time_zone,
            by,
            rows,
        });
    }
    let mut found = measures_by_key(&mut *conn, &args, Some(by)).await?;
    let mut take = |key: Key| found.remove(&key).map(|(_, m)| m).unwrap_or_default();
    let rows = match by {
        Grouping::Week | Grouping::Month => periods(&mut *conn, &args, by)
            .await?
            .into_iter()
            .map(|(local, period)| Row {
                measures: take((Some(local), None, None)),
                period: Some(period),
                severity: None,
                service: None,
            })
            .collect(),
        Grouping::WeekSeverity => {
            let mut rows = Vec::new();
            for (local, period) in periods(&mut *conn, &args, by).await? {
                for severity in severities_of(request) {
                    rows.push(Row {
                        measures: take((Some(local), Some(severity.as_str().to_owned()), None)),
                        period: Some(period.clone()),
                        severity: Some(severity),
                        service: None,
                    });
                }
            }
            rows
        }
        Grouping::Severity => severities_of(request)
            .into_iter()
            .map(|severity| Row {
                measures: take((None, Some(severity.as_str().to_owned()), None)),
                period: None,
                severity: Some(severity),
                service: None,
            })
            .collect(),
        Grouping::Service => {
            let mut rows: Vec<(Option<String>, Row)> = found
                .drain()
                .map(|((_, _, lower), (name, measures))| {
                    (
                        lower,
                        Row {
                            period: None,
                            severity: None,
                            service: name,
                            measures,
                        },
                    )
                })
                .collect();
            rows.sort_by(|(a, ra), (b, rb)| {
                (a.is_none(), -ra.measures.incidents, a).cmp(&(
                    b.is_none(),
                    -rb.measures.incidents,
                    b,
                ))
            });
            rows.into_iter().map(|(_, row)| row).collect()
        }
    };
    Ok(Grouped {
        from: request.from,
        to: request.to,
        time_zone: args.time_zone,
        by,
        rows,
    })
}

/// The whole range: measures, counts, follow-through, alert load and the slowest
/// incidents (identified only where `reader` may read them).
pub async fn summary(
    conn: &mut PgConnection,
    reader: &Reader,
    request: &Request,
) -> sqlx::Result<Summary> {
    let mut tx = tuned(conn).await?;
    let summary = summary_in(&mut tx, reader, request, &mut Memo::default()).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn summary_in(
    conn: &mut PgConnection,
    reader: &Reader,
    request: &Request,
    memo: &mut Memo,
) -> sqlx::Result<Summary> {
    let args = Args {
        workspace_id: reader.workspace_id,
        request,
        time_zone: memo.time_zone(&mut *conn, reader.workspace_id).await?,
    };
    if request.filter.services.is_empty() {
        return rolled_up_summary(&mut *conn, reader, &args, memo).await;
    }
    let measures = measures_by_key(&mut *conn, &args, None)
        .await?
        .into_values()
        .next()
        .map(|(_, m)| m)
        .unwrap_or_default();

    let mut by_severity: BTreeMap<String, i64> = Severity::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut by_status: BTreeMap<String, i64> = IncidentStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut by_source = Sources::default();
    let mut drills = 0;
    let counts_sql = format!(
        "SELECT i.is_drill, i.severity::text, i.status::text,
                EXISTS (SELECT 1 FROM alert_groups g
                        WHERE g.incident_id = i.id AND g.decision = 'DECLARE') AS from_alert,
                count(*)
         FROM incidents i WHERE {FILTER}
         GROUP BY 1, 2, 3, 4"
    );
    let counts = args.bind(counts_sql).fetch_all(&mut *conn).await?;
    for row in &counts {
        let (is_drill, severity, status, from_alert, n): (bool, String, String, bool, i64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        );
        if is_drill != request.filter.drill {
            if is_drill {
                drills += n;
            }
            continue;
        }
        if request.filter.drill {
            drills += n;
        }
        *by_severity.entry(severity).or_default() += n;
        *by_status.entry(status).or_default() += n;
        if from_alert {
            by_source.alert += n;
        } else {
            by_source.person += n;
        }
    }

    let services_sql = format!(
        "SELECT min(s.service_name COLLATE \"C\"), count(DISTINCT i.id)
         FROM incidents i JOIN affected_services s ON s.incident_id = i.id
         WHERE {FILTER} AND i.is_drill = $4
           AND s.workspace_id = $1 AND s.incident_detected_at >= $2 AND s.incident_detected_at < $3
           AND ($6::text[] IS NULL OR lower(s.service_name) = ANY($6::text[]))
         GROUP BY lower(s.service_name)
         ORDER BY 2 DESC, lower(s.service_name)"
    );
    let by_service = args
        .bind(services_sql)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            Ok(ServiceCount {
                service: row.try_get(0)?,
                incidents: row.try_get(1)?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;

    let follow_through = follow_through(&mut *conn, &args).await?;
    let alert_load = alert_load(&mut *conn, &args).await?;

    // The five are chosen from the index's columns alone; only they are read from the
    // table, for their titles and whether the reader may see them.
    let slowest_sql = format!(
        "WITH top AS (
            SELECT i.id FROM incidents i
            WHERE {FILTER} AND i.is_drill = $4 AND i.status IN ('RESOLVED', 'CLOSED')
            ORDER BY ({FINAL}) - i.detected_at DESC, i.number
            LIMIT 5
         )
         SELECT i.number, i.title, i.severity,
                date_part('epoch', ({FINAL}) - i.detected_at) AS seconds,
                -- NULL (a role not held) is not readable, as in a WHERE
                COALESCE(incident_readable(i, $8, $9), false) AS readable
         FROM top JOIN incidents i ON i.id = top.id
         ORDER BY ({FINAL}) - i.detected_at DESC, i.number"
    );
    let slowest = args
        .bind(slowest_sql)
        .bind(reader.user_id)
        .bind(reader.is_admin)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            let readable: bool = row.try_get("readable")?;
            let number: i32 = row.try_get("number")?;
            Ok(SlowIncident {
                reference: readable.then(|| format!("INC-{number}")),
                title: if readable {
                    Some(row.try_get("title")?)
                } else {
                    None
                },
                severity: row.try_get("severity")?,
                seconds_to_resolve: row.try_get("seconds")?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;

    Ok(Summary {
        from: request.from,
        to: request.to,
        time_zone: args.time_zone,
        measures,
        by_severity,
        by_status,
        by_service,
        by_source,
        drills,
        follow_through,
        alert_load,
        slowest,
    })
}

/// Postmortems and their action items in one statement: the range's incidents and their
/// postmortems are read once (`pm`) and the action items joined to those.
async fn follow_through(conn: &mut PgConnection, args: &Args<'_>) -> sqlx::Result<FollowThrough> {
    let sql = format!(
        "WITH pm AS MATERIALIZED (
            SELECT pm.id, pm.status, pm.published_at, {FINAL} AS final
            FROM incidents i JOIN postmortems pm ON pm.incident_id = i.id
            WHERE {FILTER} AND i.is_drill = $4
              AND pm.workspace_id = $1 AND pm.incident_detected_at >= $2 AND pm.incident_detected_at < $3
         )
         SELECT p.*, a.* FROM (
            SELECT count(*) AS drafted,
                   count(*) FILTER (WHERE pm.status = 'PUBLISHED') AS published,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY date_part('epoch', pm.published_at - pm.final))
                       FILTER (WHERE pm.status = 'PUBLISHED' AND pm.final IS NOT NULL) AS to_publish
            FROM pm
         ) p, (
            SELECT count(*) AS total,
                   count(*) FILTER (WHERE a.status IN ('OPEN', 'IN_PROGRESS')) AS open,
                   count(*) FILTER (WHERE a.status IN ('OPEN', 'IN_PROGRESS')
                                      AND a.due_date < (now() AT TIME ZONE $7)::date) AS overdue,
                   count(*) FILTER (WHERE a.status = 'DONE') AS done,
                   count(*) FILTER (WHERE a.status = 'WONT_DO') AS wont_do,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY date_part('epoch', a.completed_at - a.created_at))
                       FILTER (WHERE a.status = 'DONE') AS to_done
            FROM pm JOIN action_items a ON a.postmortem_id = pm.id
            WHERE a.workspace_id = $1 AND a.incident_detected_at >= $2 AND a.incident_detected_at < $3
         ) a"
    );
    let row = args.bind(sql).fetch_one(&mut *conn).await?;
    let total: i64 = row.try_get("total")?;
    let done: i64 = row.try_get("done")?;
    let wont_do: i64 = row.try_get("wont_do")?;
    Ok(FollowThrough {
        postmortems_drafted: row.try_get("drafted")?,
        postmortems_published: row.try_get("published")?,
        median_seconds_resolve_to_publish: row.try_get("to_publish")?,
        action_items: ActionItemMeasures {
            total,
            open: row.try_get("open")?,
            overdue: row.try_get("overdue")?,
            done,
            wont_do,
            completion_rate: ratio(done, total - wont_do),
            median_seconds_to_done: row.try_get("to_done")?,
        },
    })
}

async fn alert_load(conn: &mut PgConnection, args: &Args<'_>) -> sqlx::Result<AlertLoad> {
    let load_sql = |key: &str, name: &str, join: &str| {
        format!(
            "SELECT {name} AS name, count(*) AS groups,
                    COALESCE(sum(g.alert_count), 0)::int8 AS alerts,
                    count(*) FILTER (WHERE g.decision = 'DECLARE') AS declared
             FROM alert_groups g {join}
             WHERE g.workspace_id = $1 AND g.opened_at >= $2 AND g.opened_at < $3
               AND ($6::text[] IS NULL OR lower(g.service) = ANY($6::text[]))
             GROUP BY {key}
             ORDER BY 2 DESC, 1"
        )
    };
    let rows_of = |rows: Vec<PgRow>| {
        rows.iter()
            .map(|row| {
                let groups: i64 = row.try_get("groups")?;
                let declared: i64 = row.try_get("declared")?;
                Ok(AlertLoadRow {
                    name: row.try_get("name")?,
                    groups,
                    alerts: row.try_get("alerts")?,
                    declared,
                    declared_share: ratio(declared, groups),
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()
    };
    let by_integration_sql = load_sql(
        "n.id, n.name",
        "n.name",
        "JOIN integrations n ON n.id = g.integration_id",
    );
    let by_integration = rows_of(args.bind(by_integration_sql).fetch_all(&mut *conn).await?)?;
    let by_service_sql = load_sql("lower(g.service)", "min(g.service COLLATE \"C\")", "");
    let by_service = rows_of(args.bind(by_service_sql).fetch_all(&mut *conn).await?)?;
    let mut total = AlertLoadRow::default();
    for row in &by_integration {
        total.groups += row.groups;
        total.alerts += row.alerts;
        total.declared += row.declared;
    }
    total.declared_share = ratio(total.declared, total.groups);
    Ok(AlertLoad {
        total,
        by_integration,
        by_service,
    })
}

/// The range's rolled-up cells and live rows (of the filter's severities; drills and
/// real incidents both), and the severities whose policy has an update cadence.
async fn gather(
    conn: &mut PgConnection,
    args: &Args<'_>,
    skip_weeks: &[NaiveDate],
) -> sqlx::Result<(rollup::Cover, Vec<rollup::IncidentRow>, Vec<Severity>)> {
    let f = &args.request.filter;
    let severities: Option<Vec<String>> = (!f.severities.is_empty())
        .then(|| f.severities.iter().map(|s| s.as_str().to_owned()).collect());
    let cover = rollup::cover(
        &mut *conn,
        args.workspace_id,
        args.request.from,
        args.request.to,
        severities.as_deref(),
        &args.time_zone,
        skip_weeks,
    )
    .await?;
    let rows = rollup::rows(
        &mut *conn,
        args.workspace_id,
        &cover.live,
        severities.as_deref(),
        &args.time_zone,
    )
    .await?;
    let cadenced = rollup::cadenced(&mut *conn, args.workspace_id).await?;
    Ok((cover, rows, cadenced))
}

/// A grouping other than by service, without a service filter: from the rollups and
/// the live rows ([`rollup`]), every period (and severity) present.
async fn rolled_up_grouped(
    conn: &mut PgConnection,
    args: &Args<'_>,
    by: Grouping,
    memo: &mut Memo,
) -> sqlx::Result<Vec<Row>> {
    let drill = args.request.filter.drill;
    // Whole built weeks answer from their figures: for week × severity always, for weeks
    // alone when every severity counts (figures of some severities do not merge).
    let weeks = match by {
        Grouping::WeekSeverity => true,
        Grouping::Week => args.request.filter.severities.is_empty(),
        _ => false,
    };
    let mut figures = if weeks {
        memo.week_figures(&mut *conn, args).await?
    } else {
        BTreeMap::new()
    };
    let skip: Vec<NaiveDate> = figures.keys().copied().collect();
    let Gathered {
        cover,
        rows,
        cadenced,
    } = memo.gathered(&mut *conn, args, &skip).await?;
    let key = |day: NaiveDate, severity: Severity| -> (Option<NaiveDate>, Option<Severity>) {
        match by {
            Grouping::Week => (Some(rollup::week_of(day)), None),
            Grouping::Month => (Some(rollup::month_of(day)), None),
            Grouping::WeekSeverity => (Some(rollup::week_of(day)), Some(severity)),
            Grouping::Severity | Grouping::Service => (None, Some(severity)),
        }
    };
    let mut found: rollup::ByKey<(Option<NaiveDate>, Option<Severity>)> = HashMap::new();
    for cell in cover.cells.iter().filter(|c| c.is_drill == drill) {
        found
            .entry(key(cell.day, cell.severity))
            .or_default()
            .add_cell(cell);
    }
    for row in rows.iter().filter(|r| r.is_drill == drill) {
        found
            .entry(key(row.day, row.severity))
            .or_default()
            .add_row(row);
    }
    let mut take = |k: (Option<NaiveDate>, Option<Severity>)| {
        if let Some(week) = k.0.and_then(|w| figures.get_mut(&w)) {
            let severity = k.1.map_or("ALL", |s| s.as_str());
            return week.remove(severity).unwrap_or_default().measures(cadenced);
        }
        found.remove(&k).unwrap_or_default().measures(cadenced)
    };
    let request = args.request;
    Ok(match by {
        Grouping::Week | Grouping::Month => periods(&mut *conn, args, by)
            .await?
            .into_iter()
            .map(|(local, period)| Row {
                measures: take((Some(local.date()), None)),
                period: Some(period),
                severity: None,
                service: None,
            })
            .collect(),
        Grouping::WeekSeverity => {
            let mut out = Vec::new();
            for (local, period) in periods(&mut *conn, args, by).await? {
                for severity in severities_of(request) {
                    out.push(Row {
                        measures: take((Some(local.date()), Some(severity))),
                        period: Some(period.clone()),
                        severity: Some(severity),
                        service: None,
                    });
                }
            }
            out
        }
        Grouping::Severity | Grouping::Service => severities_of(request)
            .into_iter()
            .map(|severity| Row {
                measures: take((None, Some(severity))),
                period: None,
                severity: Some(severity),
                service: None,
            })
            .collect(),
    })
}

/// The summary without a service filter: measures, counts, services and the slowest
/// from the rollups and the live rows; follow-through and alert load live.
async fn rolled_up_summary(
    conn: &mut PgConnection,
    reader: &Reader,
    args: &Args<'_>,
    memo: &mut Memo,
) -> sqlx::Result<Summary> {
    let request = args.request;
    let drill = request.filter.drill;
    let severities: Option<Vec<String>> = (!request.filter.severities.is_empty()).then(|| {
        request
            .filter
            .severities
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    });
    // Whole built weeks answer from their values (migration 0125): their counts here,
    // their durations read by bucket below; their days' cells are skipped.
    let (whole, weeks) = rollup::week_values(
        &mut *conn,
        args.workspace_id,
        request.from,
        request.to,
        &args.time_zone,
        severities.as_deref(),
    )
    .await?;
    // A few weeks' day cells are as cheap as a second round trip for their buckets.
    let (skip, weeks) = if whole.len() >= rollup::SUMMARY_MIN_WEEKS {
        (whole, weeks)
    } else {
        (Vec::new(), Vec::new())
    };
    let Gathered {
        cover,
        rows,
        cadenced,
    } = memo.gathered(&mut *conn, args, &skip).await?;
    let mut acc = rollup::Acc::default();
    let mut drills = 0;
    let mut services = BTreeMap::new();
    let mut follow = rollup::Follow::default();
    for (i, week) in weeks.iter().enumerate() {
        if week.is_drill {
            drills += week.incidents;
        }
        if week.is_drill == drill {
            acc.add_week(i, week);
            follow.add_week(i, week);
            rollup::merge_services(&mut services, week.services.iter().cloned());
        }
    }
    for cell in &cover.cells {
        if cell.is_drill {
            drills += cell.incidents;
        }
        if cell.is_drill == drill {
            acc.add_cell(cell);
            rollup::merge_services(&mut services, cell.services.iter().cloned());
        }
    }
    for row in rows {
        if row.is_drill {
            drills += 1;
        }
        if row.is_drill == drill {
            acc.add_row(row);
        }
    }
    let live_services = rollup::live_services(
        &mut *conn,
        args.workspace_id,
        &cover.live,
        severities.as_deref(),
        drill,
    )
    .await?;
    rollup::merge_services(&mut services, live_services);
    let mut by_service: Vec<(String, ServiceCount)> = services
        .into_iter()
        .map(|(key, (service, incidents))| (key, ServiceCount { service, incidents }))
        .collect();
    by_service.sort_by(|(a, ca), (b, cb)| cb.incidents.cmp(&ca.incidents).then(a.cmp(b)));

    let by_severity = Severity::ALL
        .iter()
        .zip(acc.by_severity)
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let by_status = IncidentStatus::ALL
        .iter()
        .zip(acc.by_status)
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let slowest_chosen = acc.slowest();
    let from_alert = acc.from_alert;

    let ids: Vec<uuid::Uuid> = slowest_chosen.iter().map(|s| s.2).collect();
    let details: HashMap<uuid::Uuid, (Option<String>, bool)> = sqlx::query(
        "SELECT i.id, i.title,
                -- NULL (a role not held) is not readable, as in a WHERE
                COALESCE(incident_readable(i, $3, $4), false) AS readable
         FROM incidents i WHERE i.workspace_id = $1 AND i.id = ANY($2)",
    )
    .bind(args.workspace_id)
    .bind(&ids)
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("id")?,
            (row.try_get("title")?, row.try_get("readable")?),
        ))
    })
    .collect::<sqlx::Result<_>>()?;
    let slowest = slowest_chosen
        .into_iter()
        .map(|(seconds, number, id, severity)| {
            let (title, readable) = details.get(&id).cloned().unwrap_or((None, false));
            SlowIncident {
                reference: readable.then(|| format!("INC-{number}")),
                title: if readable { title } else { None },
                severity,
                seconds_to_resolve: seconds,
            }
        })
        .collect();

    for cell in cover.cells.iter().filter(|c| c.is_drill == drill) {
        follow.add(&cell.follow);
    }
    let live = rollup::follow_live(
        &mut *conn,
        args.workspace_id,
        &cover.live,
        severities.as_deref(),
    )
    .await?;
    for (_, f) in live.iter().filter(|(is_drill, _)| *is_drill == drill) {
        follow.add(f);
    }
    let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(&args.time_zone)
        .fetch_one(&mut *conn)
        .await?;
    // The buckets of the weeks' values the medians and p90s fall in, in one statement.
    let mut needs = Vec::new();
    acc.needs(&mut needs);
    follow.needs(&mut needs);
    let got = rollup::week_slices(&mut *conn, args.workspace_id, &weeks, &needs).await?;
    let measures = acc.measures_with(cadenced, &got)?;
    let by_source = Sources {
        alert: from_alert,
        person: measures.incidents - from_alert,
    };
    let follow_through = follow.measures(today, &got)?;
    let alert_load = alert_load(&mut *conn, args).await?;
    Ok(Summary {
        from: request.from,
        to: request.to,
        time_zone: args.time_zone.clone(),
        measures,
        by_severity,
        by_status,
        by_service: by_service.into_iter().map(|(_, c)| c).collect(),
        by_source,
        drills,
        follow_through,
        alert_load,
        slowest,
    })
}
