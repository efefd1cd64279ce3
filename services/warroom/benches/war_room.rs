//! Declare → war room ready, against the fake Slack with zero added latency, run on demand
//! (`cargo bench -p incident-warroom --bench war_room`) with PostgreSQL and RabbitMQ local.
//!
//! Core and the warroom run as in the stack (`start()`, one process); 200 SEV1 incidents
//! are declared through core's HTTP API at 20/s, each with a commander who has a Slack id.
//! "Ready" is the `pins.add` of the summary, the last of channel, topic, invites and
//! pinned summary; latency runs from the moment the declare request is sent. Prints p50
//! and p99 per run and their medians over the runs (target p99 < 250 ms).

use incident_warroom::testing::fake_slack;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use figment::Figment;
use figment::providers::Serialized;
use incident_bus::testing::TestVhost;
use incident_runtime::Config;
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use fake_slack::FakeSlack;

const ADMIN: &str = "bench-warroom-bootstrap-token-0123";
const INCIDENTS: usize = 200;
const RATE_PER_SEC: u64 = 20;
const RUNS: usize = 3;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn fresh_database(admin: &str) -> anyhow::Result<PgPool> {
    let pool = incident_bus::testing::bench_database(admin, "incident_bench_warroom").await?;
    Ok(pool)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One run: (p50, p99).
async fn run(admin: &str) -> anyhow::Result<(Duration, Duration)> {
    let pool = fresh_database(admin).await?;
    let fake = FakeSlack::start().await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let config = Config::from_figment(
        Figment::new()
            .merge(Serialized::default("amqp_url", &vhost.url))
            .merge(Serialized::default("bootstrap_token", ADMIN))
            .merge(Serialized::default("slack_bot_token", fake_slack::TOKEN))
            .merge(Serialized::default("slack_signing_secret", "bench-secret"))
            .merge(Serialized::default("slack_api_url", fake.api_url()))
            .merge(Serialized::default("outbox_poll_secs", 1)),
    )?;
    let core = incident_core::start(config.clone(), pool.clone(), shutdown.clone()).await?;
    let warroom = incident_warroom::start(config, pool.clone(), shutdown.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = core.router.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    let http = reqwest::Client::new();
    fake.add_user("UIC00001", "ic@example.com", "IC");
    let user: serde_json::Value = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(ADMIN)
        .json(&json!({ "email": "ic@example.com", "display_name": "IC", "slack_user_id": "UIC00001" }))
        .send()
        .await?
        .json()
        .await?;
    let commander = user["id"].clone();

    // Warm-up: the first declaration waits for the broker connections.
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE_PER_SEC));
    let mut handles = Vec::new();
    for n in 0..INCIDENTS {
        tick.tick().await;
        let http = http.clone();
        let url = format!("{base}/api/v1/incidents");
        let commander = commander.clone();
        handles.push(tokio::spawn(async move {
            let start = Instant::now();
            let response: serde_json::Value = http
                .post(url)
                .bearer_auth(ADMIN)
                .json(&json!({ "title": format!("Bench incident {n}"), "severity": "SEV1", "commander_id": commander }))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok((response["id"].as_str().unwrap_or_default().to_owned(), start))
        }));
    }
    for handle in handles {
        let (id, start) = handle.await??;
        sent.insert(id, start);
    }
    // Wait until every war room has its pinned summary.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pinned: i64 = sqlx::query_scalar("SELECT count(*) FROM warroom_rooms WHERE pinned")
            .fetch_one(&pool)
            .await?;
        if pinned as usize >= INCIDENTS {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {pinned} war rooms ready after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rooms: Vec<(String, String)> = sqlx::query_as(
        "SELECT incident_id::text, channel_id FROM warroom_rooms WHERE channel_id IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    let pins: HashMap<String, Instant> = fake
        .ok_calls("pins.add")
        .into_iter()
        .filter_map(|c| Some((c.args["channel"].as_str()?.to_owned(), c.at)))
        .collect();
    let mut latencies: Vec<Duration> = rooms
        .iter()
        .filter_map(|(incident, channel)| {
            Some(pins.get(channel)?.duration_since(*sent.get(incident)?))
        })
        .collect();
    latencies.sort();
    anyhow::ensure!(
        latencies.len() == INCIDENTS,
        "measured {} of {INCIDENTS}",
        latencies.len()
    );
    shutdown.cancel();
    drop((core, warroom));
    pool.close().await;
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run_no in 1..=RUNS {
        let (p50, p99) = run(&admin).await?;
        println!(
            "run {run_no}: declare → war room ready over {INCIDENTS} incidents at {RATE_PER_SEC}/s: p50 {:.1} ms, p99 {:.1} ms",
            ms(p50),
            ms(p99)
        );
        p50s.push(p50);
        p99s.push(p99);
    }
    p50s.sort();
    p99s.sort();
    println!(
        "median of {RUNS} runs: p50 {:.1} ms, p99 {:.1} ms (target p99 < 250 ms)",
        ms(p50s[RUNS / 2]),
        ms(p99s[RUNS / 2])
    );
    // Machine-readable line for deploy/dev/bench's summary.
    println!("BENCH war_room_p99={:.1} ms", ms(p99s[RUNS / 2]));
    Ok(())
}
