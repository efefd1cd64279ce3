//! Outbound webhook deliveries per second with one sender, next to the raw outbox relay
//! figure of the same run (the relay measured as `shared/bus/benches/throughput.rs`
//! does). Run on demand with `deploy/dev/bench` (or `cargo bench -p incident-core
//! --bench webhooks`), with PostgreSQL and RabbitMQ local. Each figure is the median of
//! `RUNS` runs.
//!
//! - sender, independent: `DELIVERIES` pending deliveries without an incident, one
//!   subscription, posted to a local receiver (axum, answering 204) and settled;
//! - sender, ordered chains: the same number spread over `INCIDENTS` incidents, so only
//!   the head of each incident's chain is due at a time;
//! - outbox relay: `RELAY_EVENTS` committed outbox rows to confirmed publishes, one relay.
//!
//! Every delivery is signed (HMAC-SHA256) and its attempt recorded, as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use incident_bus::outbox;
use incident_bus::testing::TestVhost;
use incident_bus::topology::EVENTS;
use incident_bus::{BusBuilder, OutboxRelay, QueueSpec};
use incident_core::webhooks::Sender;
use incident_core::webhooks::subscription::{self, NewSubscription};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const RUNS: usize = 3;
const DELIVERIES: i64 = 10_000;
const INCIDENTS: i64 = 200;
const RELAY_EVENTS: usize = 20_000;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = incident_bus::testing::bench_database(&admin, "incident_bench_webhooks").await?;
    let received = Arc::new(AtomicUsize::new(0));
    let url = receiver(received.clone()).await?;
    let workspace: Uuid = sqlx::query_scalar(
        "INSERT INTO workspaces (slug, name) VALUES ('bench', 'bench') RETURNING id",
    )
    .fetch_one(&pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let created = subscription::create(
        &mut conn,
        workspace,
        &NewSubscription {
            url,
            description: "bench".into(),
            event_types: vec!["*".into()],
            include_private: false,
        },
    )
    .await?;
    drop(conn);
    let subscription_id = created.subscription.id;
    println!(
        "webhook deliveries, median of {RUNS} runs ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let independent = median(|| sender(&pool, subscription_id, None, &received)).await?;
    let chained = median(|| sender(&pool, subscription_id, Some(INCIDENTS), &received)).await?;
    let relay = median(|| relay(&pool, RELAY_EVENTS)).await?;
    println!("{:<56} {:>12}", "measure", "per second");
    println!(
        "{:<56} {independent:>12.0}",
        "webhook sender, independent deliveries (one sender)"
    );
    println!(
        "{:<56} {chained:>12.0}",
        format!("webhook sender, ordered over {INCIDENTS} incidents (one sender)")
    );
    println!(
        "{:<56} {relay:>12.0}",
        "outbox relay (commit -> confirmed, one relay)"
    );
    println!(
        "sender: {independent:.0} signed deliveries/s (target >= 1000), {:.0}% of the relay",
        independent / relay * 100.0
    );
    Ok(())
}

async fn median<F, Fut>(mut f: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        rates.push(f().await?);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[RUNS / 2])
}

/// A local receiver answering 204 to every POST, counting them; returns its URL.
async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Writes `DELIVERIES` pending deliveries (about `incidents` incidents, or none), then
/// times one sender from its start until none is pending.
async fn sender(
    pool: &PgPool,
    subscription_id: Uuid,
    incidents: Option<i64>,
    received: &AtomicUsize,
) -> anyhow::Result<f64> {
    sqlx::query("TRUNCATE webhook_deliveries, webhook_attempts")
        .execute(pool)
        .await?;
    let body = serde_json::json!({
        "type": "incident.updated",
        "timestamp": chrono::Utc::now(),
        "data": { "incident": { "title": "Checkout is slow", "severity": "SEV2" } },
    })
    .to_string();
    let incident_ids: Vec<Uuid> = (0..incidents.unwrap_or(0))
        .map(|_| Uuid::now_v7())
        .collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, event_type, incident_id, payload)
         SELECT $1, gen_random_uuid(), 'incident.updated',
                CASE WHEN cardinality($3::uuid[]) = 0 THEN NULL ELSE ($3::uuid[])[1 + i % cardinality($3::uuid[])] END,
                $4
         FROM generate_series(1, $2) AS i",
    )
    .bind(subscription_id)
    .bind(DELIVERIES)
    .bind(&incident_ids)
    .bind(&body)
    .execute(pool)
    .await?;
    let before = received.load(Ordering::Relaxed);
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(
        Sender::new(pool.clone())
            .poll_interval(Duration::from_millis(50))
            .run(shutdown.clone()),
    );
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    task.await?;
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(delivered == DELIVERIES, "only {delivered} delivered");
    anyhow::ensure!(
        received.load(Ordering::Relaxed) - before == DELIVERIES as usize,
        "the receiver did not get each delivery once"
    );
    Ok(DELIVERIES as f64 / elapsed.as_secs_f64())
}

/// The outbox relay, from `n` committed rows to confirmed publishes stamped published.
async fn relay(pool: &PgPool, n: usize) -> anyhow::Result<f64> {
    incident_bus::testing::fill_outbox(pool, n).await?;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let (bus, supervisor) = BusBuilder::new(&vhost.url, "bench-relay")
        .declare(QueueSpec::new("bench.q").bind(EVENTS, "#"))
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await;
    let start = Instant::now();
    let relay = tokio::spawn(OutboxRelay::new(pool.clone(), bus, "bench").run(shutdown.clone()));
    while outbox::backlog(pool, "bench").await?.pending > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    shutdown.cancel();
    relay.await?;
    supervisor.await?;
    Ok(rate)
}
