//! The Nagle stall, measured (`cargo bench -p incident-runtime --bench nodelay`, or
//! `deploy/dev/bench`), with PostgreSQL at `DATABASE_URL`.
//!
//! One connection of the pool every binary opens (`database::connect`) inserts rows whose
//! one parameter is 200 B, 12 KB, 20 KB and 64 KB, first as connected (`TCP_NODELAY` set,
//! the patched sqlx-core), then with `TCP_NODELAY` cleared on the same socket, as sqlx
//! 0.9.0 left it. Above the ~16 KB send buffer, a Bind message leaves in two writes and
//! the second waits for PostgreSQL's delayed ACK (about 40 ms) when Nagle's algorithm is
//! on. Prints the median and p90 of each, medians of several runs.

use std::time::{Duration, Instant};

use incident_runtime::Config;
use incident_runtime::database;
use incident_testkit::sockets;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

const SIZES: [usize; 4] = [200, 12 * 1024, 20 * 1024, 64 * 1024];
const INSERTS: usize = 60;
const RUNS: usize = 3;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (p50 ms, p90 ms) of `INSERTS` inserts of a `size`-byte parameter, medians of `RUNS`.
async fn inserts(conn: &mut PgConnection, size: usize) -> anyhow::Result<(f64, f64)> {
    let body = "x".repeat(size);
    let (mut p50s, mut p90s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let mut latencies = Vec::with_capacity(INSERTS);
        for _ in 0..INSERTS {
            let t = Instant::now();
            sqlx::query("INSERT INTO nodelay_bench (body) VALUES ($1)")
                .bind(&body)
                .execute(&mut *conn)
                .await?;
            latencies.push(t.elapsed());
        }
        latencies.sort();
        p50s.push(percentile(&latencies, 0.5).as_secs_f64() * 1000.0);
        p90s.push(percentile(&latencies, 0.9).as_secs_f64() * 1000.0);
    }
    Ok((median(p50s), median(p90s)))
}

async fn bench() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut config = Config::for_urls(&url, "amqp://guest:guest@127.0.0.1:1/%2f")?;
    config.database_max_connections = 1;
    let pool = database::connect(&config, &CancellationToken::new()).await?;
    let port = pool.connect_options().get_port();
    let mut conn = pool.acquire().await?;
    sqlx::query("CREATE TEMP TABLE nodelay_bench (id bigserial PRIMARY KEY, body text NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let socket = sockets::connected_to(port)
        .into_iter()
        .next()
        .ok_or_else(|| {
            anyhow::anyhow!("no TCP socket to port {port}: is DATABASE_URL a TCP host?")
        })?;

    println!(
        "INSERT of one text parameter, one connection, {} cores, {INSERTS} inserts, median of {RUNS} runs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| parameter | TCP_NODELAY set: p50 / p90 (ms) | cleared, as sqlx 0.9.0: p50 / p90 (ms) |"
    );
    println!("|---:|---:|---:|");
    let mut rows = Vec::new();
    for on in [true, false] {
        socket.set_nodelay(on);
        assert_eq!(socket.nodelay(), on);
        for (i, size) in SIZES.into_iter().enumerate() {
            // A warm-up, so the statement is prepared and the table's pages are in memory.
            inserts_warm(&mut conn, size).await?;
            let figure = inserts(&mut conn, size).await?;
            if on {
                rows.push((size, figure, (0.0, 0.0)));
            } else {
                rows[i].2 = figure;
            }
        }
    }
    socket.set_nodelay(true);
    for (size, (on50, on90), (off50, off90)) in rows {
        let label = if size < 1024 {
            format!("{size} B")
        } else {
            format!("{} KB", size / 1024)
        };
        println!("| {label} | {on50:.2} / {on90:.2} | {off50:.2} / {off90:.2} |");
    }
    drop(conn);
    pool.close().await;
    Ok(())
}

async fn inserts_warm(conn: &mut PgConnection, size: usize) -> anyhow::Result<()> {
    let body = "x".repeat(size);
    for _ in 0..3 {
        sqlx::query("INSERT INTO nodelay_bench (body) VALUES ($1)")
            .bind(&body)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
