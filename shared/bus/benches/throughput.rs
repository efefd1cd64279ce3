//! Throughput of the bus next to the raw figures of the same machine, in the same run.
//!
//! Run on demand with `deploy/dev/bench` (or `cargo bench -p incident-bus --bench
//! throughput`), with PostgreSQL and RabbitMQ local. Each figure is the median of
//! `RUNS` runs. Measures:
//! - raw publish: bare lapin, confirm mode, pipelined, to one quorum queue;
//! - raw pipeline: bare lapin consume + one autocommit Postgres INSERT + ack per message;
//! - runner: our consumer runner (transaction, inbox row, effect row, commit, ack);
//! - relay: our outbox relay, from committed rows to confirmed publishes stamped published.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use incident_bus::OutboxRelay;
use incident_bus::outbox;
use incident_bus::testing::TestVhost;
use incident_bus::topology::EVENTS;
use incident_bus::{BusBuilder, Envelope, Handler, HandlerError, QueueSpec};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const RUNS: usize = 5;
const MESSAGES: usize = 5_000;
const RELAY_EVENTS: usize = 20_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = fresh_database(&admin).await?;
    println!(
        "bus throughput, median of {RUNS} runs ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let mut rows = Vec::new();
    rows.push((
        "raw lapin publish (confirms, quorum queue)",
        median(RUNS, || raw_publish(MESSAGES)).await?,
    ));
    rows.push((
        "raw pipeline (consume + INSERT + ack)",
        median(RUNS, || raw_pipeline(&pool, MESSAGES)).await?,
    ));
    rows.push((
        "runner (tx + inbox + effect + commit + ack)",
        median(RUNS, || runner(&pool, MESSAGES, 1)).await?,
    ));
    rows.push((
        "runner, 4 consumers",
        median(RUNS, || runner(&pool, MESSAGES, 4)).await?,
    ));
    rows.push((
        "raw pipeline, 4 consumers",
        median(RUNS, || raw_pipeline_parallel(&pool, MESSAGES, 4)).await?,
    ));
    rows.push((
        "outbox relay (commit -> confirmed, one relay)",
        median(RUNS, || relay(&pool, RELAY_EVENTS, 1)).await?,
    ));
    rows.push((
        "outbox relay, two relays",
        median(RUNS, || relay(&pool, RELAY_EVENTS, 2)).await?,
    ));

    println!("{:<48} {:>12}", "measure", "msgs/s");
    for (name, rate) in &rows {
        println!("{name:<48} {rate:>12.0}");
    }
    println!(
        "runner / raw pipeline, 1 consumer each: {:.0}% (target >= 50%)",
        rows[2].1 / rows[1].1 * 100.0
    );
    println!(
        "runner / raw pipeline, 4 consumers each: {:.0}% (target >= 50%)",
        rows[3].1 / rows[4].1 * 100.0
    );
    println!("relay: {:.0} events/s (target >= 10000)", rows[5].1);
    // Machine-readable lines for deploy/dev/bench's summary.
    println!("BENCH raw_publish={:.0} msgs/s", rows[0].1);
    println!("BENCH raw_consume_insert_ack={:.0} msgs/s", rows[1].1);
    println!("BENCH raw_consume_insert_ack_4={:.0} msgs/s", rows[4].1);
    println!("BENCH bus_runner_4={:.0} msgs/s", rows[3].1);
    Ok(())
}

async fn median<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        rates.push(f().await?);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[runs / 2])
}

async fn fresh_database(admin: &str) -> anyhow::Result<PgPool> {
    let pool = incident_bus::testing::bench_database(admin, "incident_bench").await?;
    sqlx::query("CREATE TABLE bench_effects (message_id uuid NOT NULL)")
        .execute(&pool)
        .await?;
    Ok(pool)
}

fn body() -> Vec<u8> {
    let e = Envelope::new(
        "bench.event",
        Uuid::nil(),
        serde_json::json!({ "incident_id": Uuid::now_v7(), "version": 3 }),
    )
    .expect("serializable");
    serde_json::to_vec(&e).expect("serializable")
}

/// Publishes `n` envelopes to `incidents.events` (bound to queue `bench.q`), confirms pipelined.
async fn fill(vhost: &TestVhost, n: usize) -> anyhow::Result<f64> {
    let (connection, channel) = vhost
        .channel_with(&[QueueSpec::new("bench.q").bind(EVENTS, "#")])
        .await;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let start = Instant::now();
    let mut confirms = Vec::with_capacity(n);
    for _ in 0..n {
        let body = body();
        let c = channel
            .basic_publish(
                EVENTS.into(),
                "bench.event".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
        confirms.push(c);
    }
    for c in confirms {
        c.await?;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(rate)
}

async fn raw_publish(n: usize) -> anyhow::Result<f64> {
    let vhost = TestVhost::create();
    fill(&vhost, n).await
}

async fn raw_pipeline(pool: &PgPool, n: usize) -> anyhow::Result<f64> {
    raw_pipeline_parallel(pool, n, 1).await
}

/// `consumers` bare consumers: INSERT (autocommit) then ack, prefetch 16.
async fn raw_pipeline_parallel(pool: &PgPool, n: usize, consumers: usize) -> anyhow::Result<f64> {
    sqlx::query("TRUNCATE bench_effects").execute(pool).await?;
    let vhost = TestVhost::create();
    fill(&vhost, n).await?;
    let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    let per = n / consumers;
    for i in 0..consumers {
        let channel = connection.create_channel().await?;
        channel.basic_qos(16, BasicQosOptions::default()).await?;
        let mut consumer = channel
            .basic_consume(
                "bench.q".into(),
                format!("raw{i}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < per {
                let Some(Ok(delivery)) = consumer.next().await else {
                    break;
                };
                let e: Envelope = serde_json::from_slice(&delivery.data).expect("envelope");
                sqlx::query("INSERT INTO bench_effects (message_id) VALUES ($1)")
                    .bind(e.id)
                    .execute(&pool)
                    .await
                    .expect("insert");
                delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
                done += 1;
            }
            channel.close(200, "done".into()).await.ok();
        }));
    }
    for t in tasks {
        t.await?;
    }
    let rate = (per * consumers) as f64 / start.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await.ok();
    Ok(rate)
}

struct Effect;

impl Handler for Effect {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO bench_effects (message_id) VALUES ($1)")
                .bind(message.id)
                .execute(tx)
                .await?;
            Ok(())
        })
    }
}

async fn runner(pool: &PgPool, n: usize, consumers: usize) -> anyhow::Result<f64> {
    sqlx::query("TRUNCATE bench_effects").execute(pool).await?;
    sqlx::query("TRUNCATE inbox").execute(pool).await?;
    let vhost = TestVhost::create();
    fill(&vhost, n).await?;
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let (_bus, task) = BusBuilder::new(&vhost.url, "bench")
        .prefetch(16)
        .consumers_per_queue(consumers)
        .consume(
            QueueSpec::new("bench.q").bind(EVENTS, "#"),
            pool.clone(),
            Effect,
        )
        .start(shutdown.clone());
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_effects")
            .fetch_one(pool)
            .await?;
        if done as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await?;
    Ok(rate)
}

async fn relay(pool: &PgPool, n: usize, relays: usize) -> anyhow::Result<f64> {
    incident_bus::testing::fill_outbox(pool, n).await?;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let mut handles = Vec::new();
    let mut buses = Vec::new();
    for i in 0..relays {
        let (bus, task) = BusBuilder::new(&vhost.url, format!("bench-relay-{i}"))
            .declare(QueueSpec::new("bench.q").bind(EVENTS, "#"))
            .start(shutdown.clone());
        bus.wait_connected(&shutdown).await;
        buses.push(bus);
        handles.push(task);
    }
    let start = Instant::now();
    for bus in &buses {
        handles.push(tokio::spawn(
            OutboxRelay::new(pool.clone(), bus.clone(), "bench").run(shutdown.clone()),
        ));
    }
    while outbox::backlog(pool, "bench").await?.pending > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    shutdown.cancel();
    for h in handles {
        h.await?;
    }
    Ok(rate)
}
