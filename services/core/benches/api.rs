//! Core API throughput and latency, run on demand (`deploy/dev/bench`, or
//! `cargo bench -p incident-core --bench api`), with PostgreSQL local.
//!
//! - declares through HTTP with 8 concurrent clients (target ≥ 2,000/s, p99 < 25 ms),
//!   next to bare single-row Postgres inserts with 8 concurrent connections;
//! - `GET /incidents` with filters over 100,000 incidents (target p99 < 20 ms);
//! - the web app's pages over the same 100,000 incidents, signed in with a session: the
//!   list (filtered too), an incident's page, its fragments, and the public status page
//!   (target p99 < 50 ms).
//!
//! Each figure is the median of several runs.

use std::time::{Duration, Instant};

use incident_bus::BusBuilder;
use incident_core::access::bootstrap::bootstrap;
use incident_core::{AppState, router};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-bootstrap-token-0123456789";
const CLIENTS: usize = 8;
const DECLARES_PER_CLIENT: usize = 250;
const RUNS: usize = 3;
const LIST_INCIDENTS: i64 = 100_000;
const LIST_REQUESTS: usize = 400;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn fresh_database(admin: &str) -> anyhow::Result<PgPool> {
    let pool = incident_bus::testing::bench_database(admin, "incident_bench_core").await?;
    Ok(pool)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Declares through HTTP, client `c` using `tokens[c]`: (declares/s, p50 ms, p99 ms), medians of RUNS.
async fn declares(
    client: &reqwest::Client,
    base: &str,
    tokens: &[String],
) -> anyhow::Result<(f64, f64, f64)> {
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in 0..RUNS {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (c, token) in tokens.iter().enumerate() {
            let client = client.clone();
            let base = base.to_owned();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(DECLARES_PER_CLIENT);
                for i in 0..DECLARES_PER_CLIENT {
                    let body = serde_json::json!({ "title": format!("bench {run}.{c}.{i}"), "severity": "SEV3",
                        "affected_services": [{ "name": "api", "impact": "DEGRADED" }] });
                    let t = Instant::now();
                    let r = client.post(format!("{base}/api/v1/incidents")).bearer_auth(&token).json(&body).send().await.expect("request");
                    assert_eq!(r.status(), 201);
                    let _ = r.bytes().await;
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await?);
        }
        rates.push(all.len() as f64 / start.elapsed().as_secs_f64());
        all.sort();
        p50s.push(percentile(&all, 0.5).as_secs_f64() * 1000.0);
        p99s.push(percentile(&all, 0.99).as_secs_f64() * 1000.0);
    }
    Ok((median(rates), median(p50s), median(p99s)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = fresh_database(&admin).await?;
    bootstrap(&pool, &secrecy::SecretString::from(TOKEN.to_owned())).await?;
    let shutdown = CancellationToken::new();
    // Requests never publish (the outbox does), so the bus need not be connected.
    let (bus, _) =
        BusBuilder::new("amqp://guest:guest@127.0.0.1:1/%2f", "bench").start(shutdown.clone());
    let app = router(AppState {
        pool: pool.clone(),
        bus,
        tokens: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    println!(
        "core API, {} cores, median of {RUNS} runs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // Bare inserts: the floor the database sets on this machine.
    sqlx::query("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, title text NOT NULL, at timestamptz DEFAULT now())").execute(&pool).await?;
    let mut bare = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..DECLARES_PER_CLIENT {
                    sqlx::query("INSERT INTO bench_rows (title) VALUES ($1)")
                        .bind(format!("row {i}"))
                        .execute(&pool)
                        .await
                        .expect("insert");
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        bare.push((CLIENTS * DECLARES_PER_CLIENT) as f64 / start.elapsed().as_secs_f64());
    }

    // One workspace (every declare waits on its counter row: numbers are gap-free), then
    // each client in its own workspace (no shared counter).
    let mut own_tokens = Vec::new();
    for c in 0..CLIENTS {
        let r = client
            .post(format!("{base}/api/v1/workspaces"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "slug": format!("team-{c}"), "name": format!("Team {c}") }))
            .send()
            .await?;
        let body: serde_json::Value = r.json().await?;
        own_tokens.push(
            body["admin_token"]["secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let shared_tokens = vec![TOKEN.to_owned(); CLIENTS];
    let insert_rate = median(bare);
    println!("bare INSERT, {CLIENTS} connections:          {insert_rate:>8.0} rows/s");
    println!("BENCH bare_insert={insert_rate:.0} rows/s");
    for (label, tokens) in [
        ("one workspace", &shared_tokens),
        ("a workspace each", &own_tokens),
    ] {
        let (rate, p50, p99) = declares(&client, &base, tokens).await?;
        println!(
            "POST /incidents, {CLIENTS} clients, {label:<16} {rate:>8.0} declares/s  p50 {p50:.1} ms  p99 {p99:.1} ms (target >= 2000/s, p99 < 25 ms)"
        );
        // Machine-readable lines for deploy/dev/bench's summary.
        let name = label.replace(' ', "_");
        println!("BENCH declares_{name}={rate:.0} declares/s");
        println!("BENCH declares_{name}_p99={p99:.1} ms");
    }

    // 100,000 incidents for the list.
    let workspace: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
            .fetch_one(&pool)
            .await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&pool)
        .await?;
    let extra = LIST_INCIDENTS - existing;
    sqlx::query(
        "WITH n AS (UPDATE workspaces SET last_incident_number = last_incident_number + $2 WHERE id = $1 RETURNING last_incident_number - $2 AS base)
         INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at, created_at, is_drill,
                                acknowledged_at, resolved_at, closed_at)
         SELECT $1, n.base + g, 'generated incident ' || g || CASE WHEN g % 10 = 0 THEN ' database' ELSE '' END,
                (ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + g % 4]::incident_severity,
                CASE WHEN g % 5 = 0 THEN 'INVESTIGATING' ELSE 'CLOSED' END::incident_status,
                now() - make_interval(secs => g), now() - make_interval(secs => g), g % 50 = 0,
                CASE WHEN g % 5 = 0 THEN NULL ELSE now() END, CASE WHEN g % 5 = 0 THEN NULL ELSE now() END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE now() END
         FROM n, generate_series(1, $2::int) AS g",
    )
    .bind(workspace)
    .bind(extra)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO affected_services (workspace_id, incident_id, service_name, impact)
         SELECT workspace_id, id, 'payments', 'DEGRADED' FROM incidents WHERE number % 7 = 0 ON CONFLICT DO NOTHING",
    )
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;

    let queries = [
        "",
        "?severity=SEV1",
        "?status=INVESTIGATING,IDENTIFIED&severity=SEV1,SEV2",
        "?drill=true",
        "?service=payments",
        "?q=database",
        "?status=INVESTIGATING&service=payments&limit=20",
    ];
    for q in queries {
        let mut p99 = Vec::new();
        let mut p50 = Vec::new();
        for _ in 0..RUNS {
            let mut latencies = Vec::with_capacity(LIST_REQUESTS);
            for _ in 0..LIST_REQUESTS {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}/api/v1/incidents{q}"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await?;
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies.sort();
            p50.push(percentile(&latencies, 0.5).as_secs_f64() * 1000.0);
            p99.push(percentile(&latencies, 0.99).as_secs_f64() * 1000.0);
        }
        println!(
            "GET /incidents{q:<48} over 100k: p50 {:.1} ms  p99 {:.1} ms (target p99 < 20 ms)",
            median(p50),
            median(p99)
        );
    }
    pages(&client, &base, &pool, workspace).await?;
    shutdown.cancel();
    Ok(())
}

/// The web app's pages over the 100,000 incidents, as a signed-in browser without
/// JavaScript asks for them, and the public status page.
async fn pages(
    client: &reqwest::Client,
    base: &str,
    pool: &PgPool,
    workspace: uuid::Uuid,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let token = incident_web::session::verify_token(&mut conn, TOKEN)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the bootstrap token"))?;
    let session = incident_web::session::open(&mut conn, &token).await?;
    let settings = incident_schema::workspace::StatusPageSettings {
        enabled: true,
        name: None,
    };
    incident_schema::workspace::set_status_page(&mut conn, workspace, &settings).await?;
    let middle: i32 =
        sqlx::query_scalar("SELECT last_incident_number / 2 FROM workspaces WHERE id = $1")
            .bind(workspace)
            .fetch_one(&mut *conn)
            .await?;
    drop(conn);
    let cookie = format!("incident_session={}", session.secret);
    let paths = [
        "/ui/incidents".to_owned(),
        "/ui/incidents?severity=SEV1&status=INVESTIGATING".to_owned(),
        "/ui/incidents?service=payments".to_owned(),
        "/ui/incidents?q=database".to_owned(),
        format!("/ui/incidents/INC-{middle}"),
        format!("/ui/incidents/INC-{middle}/timeline"),
        "/status/default".to_owned(),
        "/status/default/index.json".to_owned(),
    ];
    for path in paths {
        let mut p99 = Vec::new();
        let mut p50 = Vec::new();
        for _ in 0..RUNS {
            let mut latencies = Vec::with_capacity(LIST_REQUESTS);
            for _ in 0..LIST_REQUESTS {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                assert_eq!(r.status(), 200, "{path}");
                let _ = r.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies.sort();
            p50.push(percentile(&latencies, 0.5).as_secs_f64() * 1000.0);
            p99.push(percentile(&latencies, 0.99).as_secs_f64() * 1000.0);
        }
        println!(
            "page {path:<52} over 100k: p50 {:.1} ms  p99 {:.1} ms (target p99 < 50 ms)",
            median(p50),
            median(p99)
        );
    }
    Ok(())
}
