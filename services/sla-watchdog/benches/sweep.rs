//! The SLA sweep over a large history, run on demand (`deploy/dev/bench`, or
//! `cargo bench -p incident-sla-watchdog --bench sweep`), with PostgreSQL local.
//!
//! 1,000,000 incidents in one workspace (one `INSERT ... SELECT generate_series`), of which
//! 100,000 are open: half of those unacknowledged, every open one with its deadlines ahead
//! and a fresh public update, so nothing is due. The closed ones answered within their
//! targets; 150,000 findings of the past are in `sla_events`. Measured, next to a plain `count(*)` over `incidents` in the same run (issue 18's
//! targets: idle sweep < 20 ms, flagging 1,000 breaches < 500 ms):
//!
//! - an idle sweep: the watchdog's [`sweep`] with nothing due (p50 and p99 of 40 calls);
//! - a sweep that flags 1,000 acknowledge breaches: before each call 1,000 unacknowledged
//!   open incidents have their acknowledge deadline moved into the past; the sweep records
//!   each finding, sets the flag, writes the timeline entry and queues the event, in batches
//!   of the default size, as the watchdog does (median of 5 rounds, each its own incidents).
//!
//! Each run fills a fresh database (about a minute): the breach rounds change what the next
//! run would find.

use std::time::{Duration, Instant};

use incident_sla_watchdog::sla::sweep::{SweepOptions, sweep};
use sqlx::PgPool;

const INCIDENTS: i32 = 1_000_000;
const WARMUP: usize = 3;
const CALLS: usize = 40;
const BREACHES: i64 = 1_000;
const ROUNDS: usize = 5;
const DATABASE: &str = "incident_bench_sweep";

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    ms(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

async fn fill(pool: &PgPool, workspace_id: uuid::Uuid) -> anyhow::Result<()> {
    let started = Instant::now();
    // Every tenth incident open (detected a minute ago, deadlines a day and three days
    // ahead, a public update just now; every twentieth unacknowledged and INVESTIGATING,
    // the others IDENTIFIED); the rest detected
    // over the 3 years before the last week, answered within their targets, a third
    // RESOLVED and the rest CLOSED.
    sqlx::query(
        "INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at,
             acknowledged_at, mitigated_at, resolved_at, closed_at, sla_deadline,
             sla_resolve_deadline, last_public_update_at, created_at)
         SELECT $1, n, 'bench incident ' || n,
                (ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + n % 4]::incident_severity,
                (CASE WHEN open AND n % 20 = 0 THEN 'INVESTIGATING' WHEN open THEN 'IDENTIFIED'
                      WHEN n % 3 = 0 THEN 'RESOLVED' ELSE 'CLOSED' END)::incident_status,
                d,
                CASE WHEN NOT open OR n % 20 <> 0 THEN d + interval '30 seconds' END,
                CASE WHEN NOT open THEN d + interval '10 minutes' END,
                CASE WHEN NOT open THEN d + interval '1 hour' END,
                CASE WHEN NOT open AND n % 3 <> 0 THEN d + interval '2 days' END,
                CASE WHEN open THEN now() + interval '1 day' ELSE d + interval '15 minutes' END,
                CASE WHEN open THEN now() + interval '3 days' ELSE d + interval '8 hours' END,
                CASE WHEN open THEN now() END,
                d
         FROM (SELECT n, n % 10 = 0 AS open,
                      CASE WHEN n % 10 = 0 THEN now() - interval '1 minute'
                           ELSE now() - interval '3 years' - interval '8 days'
                                + (interval '3 years' / $2::int) * n END AS d
               FROM generate_series(1, $2::int) AS n) AS g",
    )
    .bind(workspace_id)
    .bind(INCIDENTS)
    .execute(pool)
    .await?;
    // Three years of findings, as a workspace that old has them: an acknowledge breach for
    // one closed incident in 20 and a resolve warning for one in 10. (An empty `sla_events`
    // would also make its probes look free to the planner, which no real install sees.)
    sqlx::query(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, detected_at)
         SELECT id, workspace_id, 'ACKNOWLEDGE'::sla_target, 'BREACH'::sla_event_kind, sla_deadline, sla_deadline
         FROM incidents WHERE number % 20 = 1
         UNION ALL
         SELECT id, workspace_id, 'RESOLVE', 'WARNING', sla_resolve_deadline, detected_at
         FROM incidents WHERE number % 10 = 3",
    )
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    println!(
        "filled: {INCIDENTS} incidents ({} open), in {:.0} s",
        INCIDENTS / 10,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = incident_bus::testing::bench_database(&admin, DATABASE).await?;
    let workspace = {
        let mut conn = pool.acquire().await?;
        incident_schema::workspace::create_workspace(&mut conn, "bench", "Bench").await?
    };
    fill(&pool, workspace.id).await?;
    let options = SweepOptions::default();
    let mut conn = pool.acquire().await?;

    // Whatever the fill left due (nothing, by construction) is reported once here.
    let first = sweep(&mut conn, &options).await?;
    anyhow::ensure!(first.flags() == 0, "the fill left findings due: {first:?}");

    let mut counts = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents WHERE workspace_id = $1")
            .bind(workspace.id)
            .fetch_one(&mut *conn)
            .await?;
        counts.push(t.elapsed());
        anyhow::ensure!(n == i64::from(INCIDENTS));
    }
    counts.sort();

    for _ in 0..WARMUP {
        sweep(&mut conn, &options).await?;
    }
    let mut idle = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let report = sweep(&mut conn, &options).await?;
        idle.push(t.elapsed());
        anyhow::ensure!(report.flags() == 0, "an idle sweep flagged {report:?}");
    }
    idle.sort();

    let mut flagging = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let moved = sqlx::query(
            "UPDATE incidents SET sla_deadline = now() - interval '1 second'
             WHERE id IN (SELECT id FROM incidents
                          WHERE workspace_id = $1 AND acknowledged_at IS NULL
                            AND resolved_at IS NULL AND sla_deadline > now()
                          LIMIT $2)",
        )
        .bind(workspace.id)
        .bind(BREACHES)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        anyhow::ensure!(moved == BREACHES as u64);
        let t = Instant::now();
        let report = sweep(&mut conn, &options).await?;
        flagging.push(t.elapsed());
        anyhow::ensure!(
            report.acknowledge_breaches == BREACHES as usize && report.flags() == BREACHES as usize,
            "a flagging sweep reported {report:?}"
        );
    }
    flagging.sort();
    let flag_median = ms(flagging[flagging.len() / 2]);

    println!(
        "count(*) over incidents: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&counts, 0.5),
        percentile(&counts, 0.99)
    );
    println!(
        "idle sweep ({CALLS} calls): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99)
    );
    println!(
        "sweep flagging {BREACHES} breaches ({ROUNDS} rounds): median {flag_median:.1} ms, max {:.1} ms",
        ms(flagging[flagging.len() - 1])
    );
    println!("BENCH count_star={:.1} ms", percentile(&counts, 0.5));
    println!("BENCH sla_sweep_idle={:.1} ms", percentile(&idle, 0.5));
    println!("BENCH sla_sweep_idle_p99={:.1} ms", percentile(&idle, 0.99));
    println!("BENCH sla_sweep_flag_1000={flag_median:.1} ms");
    drop(conn);
    pool.close().await;
    Ok(())
}
