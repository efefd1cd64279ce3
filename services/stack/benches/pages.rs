//! The web app's main pages next to the JSON API's answer for the same data, run on
//! demand (`deploy/dev/bench`, or `cargo bench -p incident-stack --bench pages`), with
//! PostgreSQL local. Core's and ingestion's routers are merged on one port as the stack
//! serves them; one workspace holds 100,000 incidents over about a year (every seventh
//! with an affected service, a public update on the one shown), 20 integrations and
//! the status page turned on. Signed in once through the login form (as a browser
//! without JavaScript), each page and its API counterpart are asked in turn, one request
//! at a time:
//!
//! | page | its API figure |
//! |---|---|
//! | `/ui/incidents` | `GET /api/v1/incidents` |
//! | `/ui/incidents/INC-n` | `GET /api/v1/incidents/INC-n` and its timeline |
//! | `/ui/analytics` (90 days) | `GET /api/v1/analytics/summary` then `…/series?interval=week` |
//! | `/status/{slug}` | `/status/{slug}/index.json` |
//! | `/ui/integrations` | `GET /api/v1/integrations` |
//!
//! Target: every page under 50 ms at p99. Each figure is the median of several runs'
//! p50 and p99; a run takes 200 requests, or fewer (at least 20) when it passes 20 s,
//! and the line says the fewest a run took. The analytics rollups are built first, as the
//! watchdog keeps them (every past day, every whole week), so the analytics page reads
//! the built days and only the last 8 live.

use std::time::{Duration, Instant};

use incident_bus::BusBuilder;
use incident_testkit::web::Page;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-bootstrap-token-0123456789";
const INCIDENTS: i64 = 100_000;
const INTEGRATIONS: usize = 20;
const REQUESTS: usize = 200;
/// A run stops early after this long (with at least [`MIN_REQUESTS`]): the analytics
/// page's live path takes a second or more a request in a debug build.
const RUN_BUDGET: Duration = Duration::from_secs(20);
const MIN_REQUESTS: usize = 20;
const RUNS: usize = 3;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// How one sample is asked: every request of it in turn, each answering 200.
#[derive(Clone, Copy)]
enum As<'a> {
    /// With the session cookie.
    Browser(&'a str),
    /// With the bearer token.
    Api,
    /// Without credentials.
    Public,
}

/// The median p50 and p99 (ms) of up to `REQUESTS` samples of `paths` (fewer when a run
/// exceeds [`RUN_BUDGET`]), over `RUNS` runs, and the fewest samples a run took.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    who: As<'_>,
    paths: &[String],
) -> anyhow::Result<(f64, f64, usize)> {
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut fewest = REQUESTS;
    for _ in 0..RUNS {
        let mut latencies = Vec::with_capacity(REQUESTS);
        let started = Instant::now();
        while latencies.len() < REQUESTS
            && (latencies.len() < MIN_REQUESTS || started.elapsed() < RUN_BUDGET)
        {
            let t = Instant::now();
            for path in paths {
                let request = client.get(format!("{base}{path}"));
                let request = match who {
                    As::Browser(cookie) => request.header("cookie", cookie),
                    As::Api => request.bearer_auth(TOKEN),
                    As::Public => request,
                };
                let r = request.send().await?;
                anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
                let _ = r.bytes().await?;
            }
            latencies.push(t.elapsed());
        }
        latencies.sort();
        fewest = fewest.min(latencies.len());
        p50.push(percentile(&latencies, 0.5));
        p99.push(percentile(&latencies, 0.99));
    }
    Ok((median(p50), median(p99), fewest))
}

async fn fill(pool: &PgPool, client: &reqwest::Client, base: &str) -> anyhow::Result<i64> {
    let workspace: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
            .fetch_one(pool)
            .await?;
    // One incident every five minutes back from now: about 347 days.
    sqlx::query(
        "WITH n AS (UPDATE workspaces SET last_incident_number = last_incident_number + $2 WHERE id = $1 RETURNING last_incident_number - $2 AS base)
         INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at, created_at, is_drill,
                                acknowledged_at, resolved_at, closed_at)
         SELECT $1, n.base + g, 'generated incident ' || g || CASE WHEN g % 10 = 0 THEN ' database' ELSE '' END,
                (ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + g % 4]::incident_severity,
                CASE WHEN g % 5 = 0 THEN 'INVESTIGATING' ELSE 'CLOSED' END::incident_status,
                now() - make_interval(mins => 5 * g), now() - make_interval(mins => 5 * g), g % 50 = 0,
                CASE WHEN g % 5 = 0 THEN NULL ELSE now() - make_interval(mins => 5 * g - 3) END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE now() - make_interval(mins => 5 * g - 40) END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE now() - make_interval(mins => 5 * g - 60) END
         FROM n, generate_series(1, $2::int) AS g",
    )
    .bind(workspace)
    .bind(INCIDENTS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO affected_services (workspace_id, incident_id, service_name, impact)
         SELECT workspace_id, id, 'payments', 'DEGRADED' FROM incidents WHERE number % 7 = 0
         ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    // `build` builds the whole weeks of the days it built too.
    let built = incident_schema::analytics::rollup::build(&mut conn, workspace, 100_000).await?;
    drop(conn);
    println!(
        "rollups: {} days ({} deferred) and {} weeks built in {:.1} s",
        built.days,
        built.deferred,
        built.weeks,
        started.elapsed().as_secs_f64()
    );
    for i in 0..INTEGRATIONS {
        let r = client
            .post(format!("{base}/api/v1/integrations"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "kind": "alertmanager", "name": format!("source {i:02}") }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "integration: {}", r.status());
    }
    // The status page has no API (its setting is the settings page's): set it directly.
    let settings = incident_schema::workspace::StatusPageSettings {
        enabled: true,
        name: None,
    };
    let mut conn = pool.acquire().await?;
    incident_schema::workspace::set_status_page(&mut conn, workspace, &settings).await?;
    drop(conn);
    let middle: i64 = INCIDENTS / 2;
    // A public update on the incident shown, so its timeline has an entry to render.
    let r = client
        .post(format!("{base}/api/v1/incidents/INC-{middle}/timeline"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "kind": "UPDATE", "message": "We are looking into it.", "is_public": true }))
        .send()
        .await?;
    if !r.status().is_success() {
        println!("(no public update added: {})", r.status());
    }
    Ok(middle)
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = incident_bus::testing::bench_database(&admin, "incident_bench_pages").await?;
    incident_core::access::bootstrap::bootstrap(
        &pool,
        &secrecy::SecretString::from(TOKEN.to_owned()),
    )
    .await?;
    let shutdown = CancellationToken::new();
    // Requests never publish (the outbox does), so the bus need not be connected.
    let (bus, _) =
        BusBuilder::new("amqp://guest:guest@127.0.0.1:1/%2f", "bench").start(shutdown.clone());
    let app = incident_core::router(incident_core::AppState {
        pool: pool.clone(),
        bus,
        tokens: Default::default(),
    })
    .merge(incident_ingestion::router(incident_ingestion::AppState {
        pool: pool.clone(),
        public_url: None,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let started = Instant::now();
    let middle = fill(&pool, &client, &base).await?;
    println!(
        "web pages next to the API, {INCIDENTS} incidents filled in {:.1} s, {} cores, {} build, median of {RUNS} runs of {REQUESTS}",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let page = Page::sign_in_at(&base, TOKEN, false)
        .await
        .map_err(|s| anyhow::anyhow!("sign in: {s}"))?;
    let cookie = format!("incident_session={}", page.secret);
    let one = |p: &str| vec![p.to_owned()];
    let pairs: [(&str, Vec<String>, As<'_>, Vec<String>); 5] = [
        (
            "incident_list",
            one("/ui/incidents"),
            As::Api,
            one("/api/v1/incidents"),
        ),
        (
            "incident",
            one(&format!("/ui/incidents/INC-{middle}")),
            As::Api,
            vec![
                format!("/api/v1/incidents/INC-{middle}"),
                format!("/api/v1/incidents/INC-{middle}/timeline"),
            ],
        ),
        (
            "analytics",
            one("/ui/analytics"),
            As::Api,
            vec![
                "/api/v1/analytics/summary".to_owned(),
                "/api/v1/analytics/series?interval=week".to_owned(),
            ],
        ),
        (
            "status",
            one("/status/default"),
            As::Public,
            one("/status/default/index.json"),
        ),
        (
            "integrations",
            one("/ui/integrations"),
            As::Api,
            one("/api/v1/integrations"),
        ),
    ];
    for (name, page_paths, api_as, api_paths) in pairs {
        let who = if name == "status" {
            As::Public
        } else {
            As::Browser(&cookie)
        };
        let (page_p50, page_p99, page_n) = measure(&client, &base, who, &page_paths).await?;
        let (api_p50, api_p99, api_n) = measure(&client, &base, api_as, &api_paths).await?;
        println!(
            "{:<34} p50 {page_p50:>7.1} ms  p99 {page_p99:>7.1} ms (n >= {page_n}) | API {:<60} p50 {api_p50:>7.1} ms  p99 {api_p99:>7.1} ms (n >= {api_n}) (target page p99 < 50 ms)",
            page_paths.join(" + "),
            api_paths.join(" + "),
        );
        println!("BENCH page_{name}_p50={page_p50:.1} ms");
        println!("BENCH page_{name}_p99={page_p99:.1} ms");
        println!("BENCH api_{name}_p50={api_p50:.1} ms");
        println!("BENCH api_{name}_p99={api_p99:.1} ms");
    }
    shutdown.cancel();
    Ok(())
}
