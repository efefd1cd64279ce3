//! How long a template draft and a Markdown export take for an incident with 1,000
//! timeline entries (issue 7's targets: a draft under 50 ms, an export under 20 ms).
//!
//! Run on demand with `cargo bench -p incident-postmortem` against the local PostgreSQL
//! (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`; the bench
//! creates and drops its own database). Each figure is the median of `RUNS` runs, after
//! one warm-up. Measures:
//! - draft, end to end: read the facts, compose the template draft, store it (a first
//!   draft, with its outbox event) and commit;
//! - draft, read only: the facts (incident, timeline with authors, alerts, SLA);
//! - draft, compose only: the template sections, impact and frozen timeline in memory;
//! - export, end to end: read the postmortem, incident and action items, render Markdown;
//! - export, render only: the built-in minijinja template over a ready context.

use std::time::{Duration, Instant};

use incident_postmortem::action_item;
use incident_postmortem::draft::{self, DraftRequest, Trigger};
use incident_postmortem::export::{self, ExportContext};
use incident_postmortem::postmortem::{self, store};
use incident_postmortem::settings;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

const RUNS: usize = 21;
const ENTRIES: i64 = 1_000;
const DATABASE: &str = "incident_bench_postmortem";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
        .execute(&admin)
        .await?;
    let url = format!(
        "{}/{DATABASE}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base)
    );
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    incident_schema::migrate(&pool).await?;
    let result = run(&pool).await;
    pool.close().await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn run(pool: &PgPool) -> anyhow::Result<()> {
    let (workspace_id, incident_id) = seed(pool).await?;
    let request = DraftRequest {
        workspace_id,
        incident_id,
        regenerate: false,
        actor_id: None,
        trigger: Trigger::Request,
    };

    // A first draft each time: the previous one is deleted (untimed) before each run.
    let draft_e2e = median(|| async {
        sqlx::query("DELETE FROM postmortems WHERE incident_id = $1")
            .bind(incident_id)
            .execute(pool)
            .await?;
        let start = Instant::now();
        let mut tx = pool.begin().await?;
        let outcome = draft::run(&mut tx, None, &request, None).await?;
        tx.commit().await?;
        let elapsed = start.elapsed();
        assert!(matches!(outcome, draft::DraftOutcome::Created(_)));
        Ok(elapsed)
    })
    .await?;

    let read = median(|| async {
        let mut conn = pool.acquire().await?;
        let start = Instant::now();
        draft::facts::gather(&mut conn, workspace_id, incident_id).await?;
        Ok(start.elapsed())
    })
    .await?;

    let mut conn = pool.acquire().await?;
    let facts = draft::facts::gather(&mut conn, workspace_id, incident_id).await?;
    let compose = median(|| async {
        let start = Instant::now();
        let composed = draft::compose(&facts, None).await;
        let elapsed = start.elapsed();
        assert_eq!(composed.timeline.len(), ENTRIES as usize);
        Ok(elapsed)
    })
    .await?;

    let record = store::of_incident(&mut conn, workspace_id, incident_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the draft exists"))?;
    let postmortem_id = record.row.id;
    for n in 0..5 {
        sqlx::query(
            "INSERT INTO action_items (postmortem_id, workspace_id, description, due_date)
             VALUES ($1, $2, $3, '2099-01-01')",
        )
        .bind(postmortem_id)
        .bind(workspace_id)
        .bind(format!("Follow-up number {n}"))
        .execute(&mut *conn)
        .await?;
    }
    drop(conn);

    let export_e2e = median(|| async {
        let start = Instant::now();
        let mut conn = pool.acquire().await?;
        let record = store::get(&mut conn, workspace_id, postmortem_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("postmortem"))?;
        let incident = postmortem::incident_of(&mut conn, &record).await?;
        let items =
            action_item::store::of_postmortem(&mut conn, workspace_id, postmortem_id).await?;
        let template = settings::template(&mut conn, workspace_id).await?;
        drop(conn);
        let rendered = export::render(
            template.as_deref(),
            &ExportContext::new(&record, &incident, items),
        )?;
        let elapsed = start.elapsed();
        assert_eq!(rendered.template, "default");
        Ok(elapsed)
    })
    .await?;

    let mut conn = pool.acquire().await?;
    let incident = postmortem::incident_of(&mut conn, &record).await?;
    let items = action_item::store::of_postmortem(&mut conn, workspace_id, postmortem_id).await?;
    drop(conn);
    let context = ExportContext::new(&record, &incident, items);
    let size = export::render_default(&context)?.len();
    let render = median(|| async {
        let start = Instant::now();
        export::render_default(&context)?;
        Ok(start.elapsed())
    })
    .await?;

    println!(
        "postmortem draft and export, {ENTRIES} timeline entries, median of {RUNS} runs ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (name, took, target) in [
        (
            "draft, end to end (read + compose + store + commit)",
            draft_e2e,
            Some(50),
        ),
        ("draft, read the facts only", read, None),
        ("draft, compose only (in memory)", compose, None),
        ("export, end to end (read + render)", export_e2e, Some(20)),
        ("export, render only", render, None),
    ] {
        let target = target.map_or_else(String::new, |ms| format!("   (target < {ms} ms)"));
        println!(
            "  {name:<55} {:>8.2} ms{target}",
            took.as_secs_f64() * 1000.0
        );
    }
    println!("  Markdown size: {} KiB", size / 1024);
    Ok(())
}

/// The median of `RUNS` runs of `f`, after one warm-up run.
async fn median<F, Fut>(mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    f().await?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        times.push(f().await?);
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// A resolved SEV1 incident with `ENTRIES` timeline entries by five people, three affected
/// services, two alert groups of 40 alerts, and a first draft.
async fn seed(pool: &PgPool) -> anyhow::Result<(Uuid, Uuid)> {
    let mut conn = pool.acquire().await?;
    let workspace =
        incident_schema::workspace::create_workspace(&mut conn, "bench", "Bench").await?;
    let ws = workspace.id;
    let incident_id: Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (workspace_id, number, title, description, severity, status,
                                impact, detected_at, acknowledged_at, mitigated_at, resolved_at,
                                sla_deadline, sla_resolve_deadline)
         VALUES ($1, 1, 'Checkout is down', 'Payments failed at checkout.', 'SEV1', 'RESOLVED',
                 'All card payments failed', now() - interval '5 hours',
                 now() - interval '290 minutes', now() - interval '3 hours',
                 now() - interval '2 hours', now() - interval '285 minutes',
                 now() - interval '1 hour')
         RETURNING id",
    )
    .bind(ws)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE workspaces SET last_incident_number = 1 WHERE id = $1")
        .bind(ws)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO users (workspace_id, email, display_name)
         SELECT $1, 'person' || n || '@example.com', 'Person ' || n FROM generate_series(1, 5) n",
    )
    .bind(ws)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO incident_timeline (workspace_id, incident_id, author_id, kind, message,
                                        is_public, occurred_at)
         SELECT $1, $2,
                (SELECT id FROM users WHERE workspace_id = $1 ORDER BY email OFFSET n % 5 LIMIT 1),
                (ARRAY['NOTE', 'UPDATE', 'STATUS_CHANGE', 'MITIGATION', 'NOTE']::timeline_kind[])[1 + n % 5],
                'Entry ' || n || ': investigated the | gateway and found something worth noting',
                n % 5 = 1,
                now() - interval '5 hours' + n * interval '10 seconds'
         FROM generate_series(1, $3) n",
    )
    .bind(ws)
    .bind(incident_id)
    .bind(ENTRIES)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
         VALUES ($1, $2, 'payments', 'TOTAL_OUTAGE'), ($1, $2, 'web', 'DEGRADED'),
                ($1, $2, 'api', 'PARTIAL_OUTAGE')",
    )
    .bind(incident_id)
    .bind(ws)
    .execute(&mut *conn)
    .await?;
    let integration: Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'alertmanager', 'prod', $2) RETURNING id",
    )
    .bind(ws)
    .bind(&[0u8; 32][..])
    .fetch_one(&mut *conn)
    .await?;
    for group in ["Checkout 5xx", "Gateway latency"] {
        let group_id: Uuid = sqlx::query_scalar(
            "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title, incident_id,
                                       status, resolved_at)
             VALUES ($1, $2, $3, $3, $4, 'RESOLVED', now()) RETURNING id",
        )
        .bind(ws)
        .bind(integration)
        .bind(group)
        .bind(incident_id)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO alerts (workspace_id, integration_id, alert_group_id, fingerprint, status, starts_at)
             SELECT $1, $2, $3, $4 || n, 'RESOLVED', now() FROM generate_series(1, 40) n",
        )
        .bind(ws)
        .bind(integration)
        .bind(group_id)
        .bind(group)
        .execute(&mut *conn)
        .await?;
    }
    let first = DraftRequest {
        workspace_id: ws,
        incident_id,
        regenerate: false,
        actor_id: None,
        trigger: Trigger::Request,
    };
    draft::run(&mut conn, None, &first, None).await?;
    Ok((ws, incident_id))
}
