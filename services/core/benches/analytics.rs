//! Analytics latency over a large history, run on demand (`deploy/dev/bench`, or
//! `cargo bench -p incident-core --bench analytics`), with PostgreSQL local.
//!
//! 1,000,000 incidents in one workspace, detected over the last 3 years across 20
//! services (one `INSERT ... SELECT generate_series` per table), with SLA findings,
//! postmortems and action items. Measured, each next to a plain `count(*)` over
//! `incidents` in the same run (target p99 < 200 ms for the first two):
//!
//! - the summary over the default range (the last 90 days);
//! - a year's weekly series by severity (53 weeks × 4 severities);
//! - the summary over a year, for scale;
//! - both summaries again from day cells only, as before the weeks' values (migration
//!   0125), in the same run.
//!
//! Each call is the query module's function in a read-only repeatable-read transaction,
//! as core's handler runs it (without the HTTP hop and JSON encoding).
//!
//! The fill takes minutes, so a database already filled by the same fill ([`FILL`], kept
//! as the database's comment once the fill has finished) is reused: migrated, then
//! measured as it is. Ranges end at the last detection, so a reused fill measures the
//! same incidents as a fresh one. `DROP DATABASE incident_bench_analytics` forces a new
//! fill.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use incident_schema::access::Reader;
use incident_schema::analytics::{Filter, Grouping, Request, query};
use sqlx::PgPool;

const INCIDENTS: i64 = 1_000_000;
const SERVICES: i64 = 20;
const WARMUP: usize = 3;
const CALLS: usize = 40;
const DATABASE: &str = "incident_bench_analytics";
/// What a finished fill is marked with; change it whenever `fill` changes.
const FILL: &str = "analytics bench fill v1: 1000000 incidents, 20 services, 3 years";

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

async fn fill(pool: &PgPool, workspace_id: uuid::Uuid) -> anyhow::Result<()> {
    let started = Instant::now();
    // Detections spread evenly over 3 years up to now; a spread of response times; 2% still
    // open, a third RESOLVED, the rest CLOSED; one incident in 500 a drill, one in 100
    // private.
    sqlx::query(
        "INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at,
             acknowledged_at, mitigated_at, resolved_at, closed_at, sla_deadline,
             sla_resolve_deadline, is_drill, visibility, created_at)
         SELECT $1, n, 'bench incident ' || n,
                (ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + n % 4]::incident_severity,
                (CASE WHEN n % 50 = 0 THEN 'INVESTIGATING' WHEN n % 3 = 0 THEN 'RESOLVED'
                      ELSE 'CLOSED' END)::incident_status,
                d,
                CASE WHEN n % 50 <> 0 THEN d + make_interval(mins => 1 + n % 47) END,
                CASE WHEN n % 50 <> 0 THEN d + make_interval(mins => 10 + n % 173) END,
                CASE WHEN n % 50 <> 0 THEN d + make_interval(mins => 30 + n % 971) END,
                CASE WHEN n % 50 <> 0 AND n % 3 <> 0 THEN d + make_interval(mins => 2000 + n % 4001) END,
                d + interval '15 minutes', d + interval '8 hours',
                n % 500 = 0,
                (CASE WHEN n % 100 = 0 THEN 'PRIVATE' ELSE 'PUBLIC' END)::incident_visibility,
                d
         FROM (SELECT n, now() - interval '3 years'
                         + (interval '3 years' / $2::int) * n AS d
               FROM generate_series(1, $2::int) AS n) AS g",
    )
    .bind(workspace_id)
    .bind(INCIDENTS as i32)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
         SELECT id, workspace_id, 'service-' || (number % $1), 'DEGRADED' FROM incidents",
    )
    .bind(SERVICES)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, detected_at, is_drill)
         SELECT id, workspace_id, 'ACKNOWLEDGE', 'BREACH', sla_deadline, sla_deadline, is_drill
         FROM incidents WHERE number % 20 = 0",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO postmortems (incident_id, workspace_id, status, published_at)
         SELECT id, workspace_id,
                (CASE WHEN number % 2 = 0 THEN 'PUBLISHED' ELSE 'DRAFT' END)::postmortem_status,
                CASE WHEN number % 2 = 0 THEN resolved_at + interval '3 days' END
         FROM incidents WHERE severity IN ('SEV1', 'SEV2') AND resolved_at IS NOT NULL",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO action_items (postmortem_id, workspace_id, description, status, completed_at, due_date)
         SELECT p.id, p.workspace_id, 'follow up',
                (CASE WHEN k = 1 THEN 'DONE' ELSE 'OPEN' END)::action_item_status,
                CASE WHEN k = 1 THEN p.created_at END,
                (p.created_at + interval '14 days')::date
         FROM postmortems p, generate_series(1, 2) AS k",
    )
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    println!(
        "filled: {INCIDENTS} incidents, {SERVICES} services, in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The pool and workspace of a database a finished fill marked with [`FILL`] (migrated
/// to the current schema first), if there is one.
async fn reuse(admin_url: &str) -> anyhow::Result<Option<(PgPool, uuid::Uuid)>> {
    let admin = PgPool::connect(admin_url).await?;
    let mark: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(DATABASE)
    .fetch_optional(&admin)
    .await?;
    admin.close().await;
    if mark.flatten().as_deref() != Some(FILL) {
        return Ok(None);
    }
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&format!("{base}/{DATABASE}"))
        .await?;
    incident_schema::migrate(&pool).await?;
    let workspace_id: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'bench'")
            .fetch_optional(&pool)
            .await?;
    Ok(workspace_id.map(|id| (pool, id)))
}

/// p50 and p99 in ms of `CALLS` calls of `f` (after `WARMUP`).
async fn measure<F, Fut>(mut f: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..WARMUP {
        f().await?;
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (pool, workspace_id) = match reuse(&admin).await? {
        Some(found) => {
            println!("reusing {DATABASE} ({FILL})");
            found
        }
        None => {
            let pool = incident_bus::testing::bench_database(&admin, DATABASE).await?;
            let mut conn = pool.acquire().await?;
            let workspace =
                incident_schema::workspace::create_workspace(&mut conn, "bench", "Bench").await?;
            drop(conn);
            fill(&pool, workspace.id).await?;
            // The name and the mark are this file's constants, never input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "COMMENT ON DATABASE {DATABASE} IS '{FILL}'"
            )))
            .execute(&pool)
            .await?;
            (pool, workspace.id)
        }
    };
    let workspace =
        incident_schema::workspace::get_workspace(&mut *pool.acquire().await?, workspace_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the bench workspace is gone"))?;
    let reader = Reader::system(workspace.id);
    // The rollups, as the watchdog keeps them: every past day built (a reused fill keeps
    // its built days; a day a late change forgot is built again here).
    let started = Instant::now();
    let built = incident_schema::analytics::rollup::build(
        &mut *pool.acquire().await?,
        workspace.id,
        100_000,
    )
    .await?;
    println!(
        "rollups: {} days built, {} deferred, in {:.1} s",
        built.days,
        built.deferred,
        started.elapsed().as_secs_f64()
    );
    // The end of the ranges: just after the last detection (a fill's own `now()`).
    let last: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT max(detected_at) FROM incidents WHERE workspace_id = $1")
            .bind(workspace.id)
            .fetch_one(&pool)
            .await?;
    let now = last + TimeDelta::seconds(1);
    let request = |days: i64| Request {
        from: now - TimeDelta::days(days),
        to: now,
        filter: Filter::default(),
    };

    let count = || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents WHERE workspace_id = $1")
            .bind(workspace.id)
            .fetch_one(&pool)
            .await?;
        anyhow::ensure!(n == INCIDENTS);
        Ok(())
    };
    let summary = |days: i64| {
        let pool = pool.clone();
        let request = request(days);
        async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let s = query::summary(&mut tx, &reader, &request).await?;
            anyhow::ensure!(s.measures.incidents > 0);
            tx.commit().await?;
            Ok(())
        }
    };
    let series = || {
        let pool = pool.clone();
        let request = request(365);
        async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let g = query::grouped(&mut tx, &reader, &request, Grouping::WeekSeverity).await?;
            anyhow::ensure!(g.rows.len() >= 52 * 4);
            tx.commit().await?;
            Ok(())
        }
    };

    println!(
        "analytics over {INCIDENTS} incidents, {} cores, {CALLS} calls each (p99 of {CALLS} is about the slowest)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (p50, p99) = measure(count).await?;
    println!("count(*) over incidents:           p50 {p50:>7.1} ms  p99 {p99:>7.1} ms");
    // Machine-readable lines for deploy/dev/bench's summary.
    println!("BENCH count_star={p50:.1} ms");
    let (p50, p99) = measure(|| summary(90)).await?;
    println!(
        "summary, last 90 days:             p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  (target p99 < 200 ms)"
    );
    println!("BENCH analytics_summary_p99={p99:.1} ms");
    let (p50, p99) = measure(series).await?;
    println!(
        "weekly series by severity, a year: p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  (target p99 < 200 ms)"
    );
    println!("BENCH analytics_series_p99={p99:.1} ms");
    let (p50, p99) = measure(|| summary(365)).await?;
    println!("summary, last 365 days:            p50 {p50:>7.1} ms  p99 {p99:>7.1} ms");
    // The same summaries as before migration 0125, in the same run: whole weeks read from
    // their day cells (every value merged) instead of their values by bucket.
    let weeks = |on: bool| {
        sqlx::query("UPDATE analytics_weeks SET with_values = $2 WHERE workspace_id = $1")
            .bind(workspace.id)
            .bind(on)
            .execute(&pool)
    };
    weeks(false).await?;
    let before = measure(|| summary(90)).await;
    let before_year = measure(|| summary(365)).await;
    weeks(true).await?;
    let (p50, p99) = before?;
    println!(
        "summary, 90 days, from day cells:  p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  (as before week values)"
    );
    let (p50, p99) = before_year?;
    println!(
        "summary, 365 days, from day cells: p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  (as before week values)"
    );
    let (p50, p99) = measure(count).await?;
    println!("count(*) over incidents, again:    p50 {p50:>7.1} ms  p99 {p99:>7.1} ms");
    Ok(())
}
