//! Ingestion throughput and latency, run on demand (`cargo bench -p incident-ingestion
//! --bench ingest`), with PostgreSQL and RabbitMQ local. Each figure is the median of
//! `RUNS` runs, printed next to the raw figures of the same machine in the same run:
//!
//! - HTTP: Alertmanager notifications of 50 alerts from `CLIENTS` concurrent clients, to
//!   alerts and groups committed (a 202 is only sent after the commit), alerts/s;
//! - raw HTTP + Postgres: the same requests to a bare axum handler that parses the JSON
//!   and inserts the 50 alerts with one `UNNEST` statement;
//! - webhook latency at a steady 1,000 alerts/s (20 notifications of 50 per second):
//!   p50 and p99;
//! - AMQP: messages of 50 generic alerts published to `alerts.ingest`, consumed by the
//!   front (inbox, pipeline, commit, ack) with one consumer and with the service's
//!   `CONSUMERS`, alerts/s;
//! - raw broker + Postgres: the same messages consumed by bare lapin, one `UNNEST`
//!   insert of the 50 alerts, ack.
//!
//! - events: one alert per request, as PagerDuty Events API v2 clients send them: the
//!   documented trigger to `/webhooks/pagerduty/v2/enqueue` (routing key in the body)
//!   against Alertmanager notifications of one alert, each alert its own group, runs
//!   interleaved, alerts/s. `cargo bench -p incident-ingestion --bench ingest -- events`
//!   runs only this comparison.
//!
//! - declares: `DECLARES` Alertmanager notifications, each a new group whose alert
//!   declares (critical, a service of its own), sent from `CLIENTS` clients across the
//!   ingestion replicas, through ingestion → outbox → RabbitMQ → core, timed until all
//!   the incidents exist (and until ingestion linked every group to its incident), with
//!   one and with three ingestion replicas beside one core, each hosted as its binary
//!   hosts it. `cargo bench -p incident-ingestion --bench ingest -- declares` runs only
//!   this.
//!
//! Targets (issue 4): at least 5,000 alerts/s accepted and fully grouped, webhook p99
//! below 50 ms at 1,000 alerts/s. Issue 13: PagerDuty intake within 20 % of
//! Alertmanager's. Issue 18: 500 declaring groups in ≤ 2 s (≥ 250/s), three replicas
//! ≥ 1.5× one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use futures_util::StreamExt as _;
use incident_bus::testing::TestVhost;
use incident_bus::topology::ALERTS_INGEST;
use incident_bus::{BusBuilder, Envelope, QueueSpec};
use incident_ingestion::integration::{self, NewIntegration};
use incident_ingestion::{AppState, front, router};
use incident_runtime::Config;
use incident_schema::IntegrationKind;
use incident_testkit::services::Running;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const RUNS: usize = 3;
const CLIENTS: usize = 8;
const BATCH: usize = 50;
const GROUPS: usize = 40;
const HTTP_ALERTS: usize = 20_000;
const AMQP_ALERTS: usize = 20_000;
const STEADY_RATE: usize = 1_000;
const STEADY_SECS: u64 = 6;
const EVENTS: usize = 2_000;
const DECLARES: usize = 500;
const REPLICAS: [usize; 2] = [1, 3];
const TOKEN: &str = "bench-bootstrap-token-0123456789";

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn fresh_database(admin: &str) -> anyhow::Result<PgPool> {
    let pool = incident_bus::testing::bench_database(admin, "incident_bench_ingestion").await?;
    sqlx::query("CREATE TABLE bench_alerts (fingerprint text NOT NULL, labels jsonb NOT NULL)")
        .execute(&pool)
        .await?;
    Ok(pool)
}

async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE alerts, alert_groups, outbox, inbox, bench_alerts")
        .execute(pool)
        .await?;
    Ok(())
}

/// `n` alerts in notifications of `BATCH`, spread over `GROUPS` groups; fingerprints
/// unique per `run`.
fn am_notifications(run: &str, n: usize) -> Vec<Value> {
    (0..n / BATCH)
        .map(|b| {
            let g = b % GROUPS;
            let alerts: Vec<Value> = (0..BATCH)
                .map(|i| {
                    json!({
                        "status": "firing",
                        "labels": { "alertname": format!("Bench{g}"), "severity": "critical", "service": format!("svc-{g}"),
                                    "instance": format!("{run}-{b}-{i}") },
                        "annotations": { "summary": format!("bench group {g}") },
                        "startsAt": "2026-01-01T00:00:00.123456789Z",
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "",
                        "fingerprint": format!("{run}-{b}-{i}"),
                    })
                })
                .collect();
            json!({
                "receiver": "incident", "status": "firing", "version": "4",
                "groupKey": format!("{{}}:{{alertname=\"Bench{g}\"}}"), "truncatedAlerts": 0,
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "http://am", "alerts": alerts,
            })
        })
        .collect()
}

/// `n` Alertmanager notifications of one firing alert each, each its own group, with
/// the content of [`pd_events`]' (as many labels, annotations and a link), so the two
/// measure the intake paths rather than payload sizes.
fn am_singles(run: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "receiver": "incident", "status": "firing", "version": "4",
                "groupKey": format!("{{}}:{{alertname=\"Single-{run}-{i}\"}}"), "truncatedAlerts": 0,
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "http://am",
                "alerts": [{
                    "status": "firing",
                    "labels": { "alertname": format!("Single-{run}-{i}"), "severity": "critical",
                                "instance": "prod-datapipe03.example.com", "component": "mysql",
                                "group": "prod-datapipe", "class": "disk" },
                    "annotations": { "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                                     "free space": "1%", "ping time": "1500ms", "load avg": "0.75" },
                    "startsAt": "2026-01-01T00:00:00.123456789Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://monitoring.service.com",
                    "fingerprint": format!("{run}-{i}"),
                }],
            })
        })
        .collect()
}

/// `n` PagerDuty triggers (the documented example) with distinct dedup keys.
fn pd_events(run: &str, n: usize, routing_key: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "payload": {
                    "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                    "timestamp": "2015-07-17T08:42:58.315+0000",
                    "severity": "critical",
                    "source": "prod-datapipe03.example.com",
                    "component": "mysql", "group": "prod-datapipe", "class": "disk",
                    "custom_details": { "free space": "1%", "ping time": "1500ms", "load avg": 0.75 }
                },
                "routing_key": routing_key,
                "dedup_key": format!("{run}-{i}"),
                "event_action": "trigger",
                "client": "Sample Monitoring Service",
                "client_url": "https://monitoring.service.com",
            })
        })
        .collect()
}

struct Server {
    base: String,
    am: (Uuid, String),
    pd: String,
    generic: (Uuid, Uuid),
}

async fn serve(pool: &PgPool) -> anyhow::Result<Server> {
    incident_core::access::bootstrap::bootstrap(
        pool,
        &secrecy::SecretString::from(TOKEN.to_owned()),
    )
    .await?;
    let workspace_id: Uuid = sqlx::query_scalar("SELECT id FROM workspaces")
        .fetch_one(pool)
        .await?;
    let mut conn = pool.acquire().await?;
    let new = |kind, name: &str| NewIntegration {
        kind,
        name: name.into(),
        rules: None,
        grouping_key: None,
        max_incidents_per_minute: None,
    };
    let am = integration::create(
        &mut conn,
        workspace_id,
        &new(IntegrationKind::Alertmanager, "am"),
        "http://bench",
    )
    .await?;
    let generic = integration::create(
        &mut conn,
        workspace_id,
        &new(IntegrationKind::Generic, "amqp"),
        "http://bench",
    )
    .await?;
    let pd = integration::create(
        &mut conn,
        workspace_id,
        &new(IntegrationKind::Pagerduty, "pagerduty"),
        "http://bench",
    )
    .await?;
    let app = router(AppState {
        pool: pool.clone(),
        public_url: None,
    });
    let raw_pool = pool.clone();
    let app = app.route(
        "/raw",
        axum::routing::post(move |body: Bytes| {
            let pool = raw_pool.clone();
            async move { raw_insert(&pool, &body).await }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Server {
        base,
        am: (am.integration.id, am.secret),
        pd: pd.secret,
        generic: (generic.integration.id, workspace_id),
    })
}

/// The raw handler: parse, one INSERT of the alerts, 202.
async fn raw_insert(pool: &PgPool, body: &[u8]) -> StatusCode {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let alerts = value["alerts"].as_array().cloned().unwrap_or_default();
    let fingerprints: Vec<String> = alerts
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap_or_default().to_owned())
        .collect();
    let labels: Vec<Value> = alerts.iter().map(|a| a["labels"].clone()).collect();
    match sqlx::query("INSERT INTO bench_alerts SELECT * FROM UNNEST($1::text[], $2::jsonb[])")
        .bind(&fingerprints)
        .bind(&labels)
        .execute(pool)
        .await
    {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Sends `bodies` (of `BATCH` alerts) to `url` from `CLIENTS` clients; alerts/s and the
/// latencies.
async fn burst(
    url: &str,
    secret: Option<&str>,
    bodies: Vec<Value>,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    burst_of(url, secret, bodies, BATCH).await
}

/// Sends `bodies` of `per_body` alerts each to `url` from `CLIENTS` clients.
async fn burst_of(
    url: &str,
    secret: Option<&str>,
    bodies: Vec<Value>,
    per_body: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let client = reqwest::Client::new();
    let bodies: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| serde_json::to_vec(b).expect("json"))
        .collect();
    let alerts = bodies.len() * per_body;
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, queue, url, secret) = (
            client.clone(),
            queue.clone(),
            url.to_owned(),
            secret.map(str::to_owned),
        );
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(body) = queue.lock().expect("queue").pop() else {
                    return latencies;
                };
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(secret) = &secret {
                    request = request.bearer_auth(secret);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("request");
                assert_eq!(
                    response.status(),
                    202,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
                latencies.push(sent.elapsed());
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done?);
    }
    let rate = alerts as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    Ok((rate, latencies))
}

/// Webhook latencies at a steady `STEADY_RATE` alerts/s.
async fn steady(server: &Server, run: &str) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/alertmanager/{}", server.base, server.am.0);
    let per_second = STEADY_RATE / BATCH;
    let bodies = am_notifications(run, per_second * STEADY_SECS as usize * BATCH);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for body in bodies {
        tick.tick().await;
        let request = client.post(&url).bearer_auth(&server.am.1).json(&body);
        tasks.spawn(async move {
            let sent = Instant::now();
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 202);
            sent.elapsed()
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.push(done?);
    }
    latencies.sort();
    Ok(latencies)
}

/// Publishes `n` alerts as messages of `BATCH` generic alerts, confirms pipelined.
async fn fill(
    vhost: &TestVhost,
    server: &Server,
    run: &str,
    n: usize,
    queues: &[QueueSpec],
) -> anyhow::Result<usize> {
    let (connection, channel) = vhost.channel_with(queues).await;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut confirms = Vec::new();
    let messages = n / BATCH;
    for m in 0..messages {
        let g = m % GROUPS;
        let alerts: Vec<Value> = (0..BATCH)
            .map(|i| json!({ "title": format!("bench group {g}"), "severity": "critical", "service": format!("svc-{g}"),
                             "dedup_key": format!("{run}-{m}-{i}"), "group_key": format!("group-{g}") }))
            .collect();
        let envelope = Envelope::new(
            "alert.ingest",
            server.generic.1,
            json!({ "integration_id": server.generic.0, "alerts": alerts }),
        )?;
        let body = serde_json::to_vec(&envelope)?;
        confirms.push(
            channel
                .basic_publish(
                    ALERTS_INGEST.into(),
                    "alert.bench".into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default()
                        .with_message_id(envelope.id.to_string().into())
                        .with_delivery_mode(2),
                )
                .await?,
        );
    }
    for c in confirms {
        c.await?;
    }
    connection.close(200, "filled".into()).await?;
    Ok(messages)
}

async fn amqp_front(
    pool: &PgPool,
    server: &Server,
    run: &str,
    consumers: usize,
) -> anyhow::Result<f64> {
    reset(pool).await?;
    let vhost = TestVhost::create();
    let messages = fill(&vhost, server, run, AMQP_ALERTS, &[front::queue()]).await?;
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let (_bus, task) = BusBuilder::new(&vhost.url, "ingestion")
        .prefetch(16)
        .consumers_per_queue(consumers)
        .consume(front::queue(), pool.clone(), front::AlertsFront)
        .start(shutdown.clone());
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'ingestion.alerts'")
                .fetch_one(pool)
                .await?;
        if done as usize >= messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = (messages * BATCH) as f64 / start.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts")
        .fetch_one(pool)
        .await?;
    assert_eq!(stored as usize, messages * BATCH);
    Ok(rate)
}

async fn amqp_raw(pool: &PgPool, server: &Server, run: &str) -> anyhow::Result<f64> {
    reset(pool).await?;
    let vhost = TestVhost::create();
    let messages = fill(&vhost, server, run, AMQP_ALERTS, &[front::queue()]).await?;
    let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(16, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            front::queue().name.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let start = Instant::now();
    for _ in 0..messages {
        let Some(Ok(delivery)) = consumer.next().await else {
            anyhow::bail!("the raw consumer stopped");
        };
        let envelope: Envelope = serde_json::from_slice(&delivery.data)?;
        let alerts = envelope.data["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let keys: Vec<String> = alerts
            .iter()
            .map(|a| a["dedup_key"].as_str().unwrap_or_default().to_owned())
            .collect();
        sqlx::query("INSERT INTO bench_alerts SELECT * FROM UNNEST($1::text[], $2::jsonb[])")
            .bind(&keys)
            .bind(&alerts)
            .execute(pool)
            .await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    let rate = (messages * BATCH) as f64 / start.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(rate)
}

/// One alert per request: PagerDuty triggers against single-alert Alertmanager
/// notifications, interleaved run by run; each checked fully grouped (one group per
/// alert). Prints both medians and their ratio.
async fn events(pool: &PgPool, server: &Server) -> anyhow::Result<()> {
    let (mut am, mut pd) = (vec![], vec![]);
    for run in 0..RUNS {
        for source in ["am", "pd"] {
            reset(pool).await?;
            let tag = format!("{source}{run}");
            let rate = if source == "am" {
                let url = format!("{}/webhooks/alertmanager/{}", server.base, server.am.0);
                burst_of(&url, Some(&server.am.1), am_singles(&tag, EVENTS), 1).await?
            } else {
                let url = format!("{}/webhooks/pagerduty/v2/enqueue", server.base);
                burst_of(&url, None, pd_events(&tag, EVENTS, &server.pd), 1).await?
            }
            .0;
            let (groups, alerts): (i64, Option<i64>) =
                sqlx::query_as("SELECT count(*), sum(alert_count) FROM alert_groups")
                    .fetch_one(pool)
                    .await?;
            assert_eq!(
                (groups as usize, alerts.unwrap_or(0) as usize),
                (EVENTS, EVENTS),
                "{source}: fully grouped"
            );
            if source == "am" {
                am.push(rate)
            } else {
                pd.push(rate)
            }
        }
    }
    let (am, pd) = (median(am), median(pd));
    println!("{:<64} {:>10}", "one alert per request", "median");
    println!(
        "{:<64} {am:>10.0} alerts/s",
        "HTTP: Alertmanager notifications of 1 alert"
    );
    println!(
        "{:<64} {pd:>10.0} alerts/s",
        "HTTP: PagerDuty Events v2 triggers (routing key in the body)"
    );
    println!(
        "PagerDuty / Alertmanager: {:.0}% (target: within 20%)",
        pd / am * 100.0
    );
    Ok(())
}

/// `n` Alertmanager notifications of one critical alert each, each its own group and
/// service (so each declares), unique per `run`.
fn declaring_groups(run: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "receiver": "incident", "status": "firing", "version": "4",
                "groupKey": format!("{{}}:{{alertname=\"Down-{run}-{i}\"}}"), "truncatedAlerts": 0,
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                "externalURL": "http://am",
                "alerts": [{
                    "status": "firing",
                    "labels": { "alertname": format!("Down-{run}-{i}"), "severity": "critical",
                                "service": format!("svc-{run}-{i}"), "zone": "eu-west-1a" },
                    "annotations": { "summary": format!("svc-{run}-{i} is down in eu-west-1a") },
                    "startsAt": "2026-01-01T00:00:00.123456789Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": format!("{run}-{i}"),
                }],
            })
        })
        .collect()
}

/// Sends `bodies` from `CLIENTS` clients, client `c` to `urls[c % urls.len()]`, each
/// answer a 202.
async fn burst_across(urls: &[String], secret: &str, bodies: Vec<Value>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let mut tasks = JoinSet::new();
    for c in 0..CLIENTS {
        let (client, queue, url, secret) = (
            client.clone(),
            queue.clone(),
            urls[c % urls.len()].clone(),
            secret.to_owned(),
        );
        tasks.spawn(async move {
            loop {
                let Some(body) = queue.lock().expect("queue").pop() else {
                    return;
                };
                let response = client
                    .post(&url)
                    .bearer_auth(&secret)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(
                    response.status(),
                    202,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    Ok(())
}

/// Polls `sql` (a count) until it reaches `n`; fails after a minute.
async fn until_count(pool: &PgPool, sql: &'static str, id: Uuid, n: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count: i64 = sqlx::query_scalar(sql).bind(id).fetch_one(pool).await?;
        if count >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{count} of {n} after a minute: {sql}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One run of the declaring burst against running services: seconds until every
/// notification was accepted, every incident existed, every group was linked.
async fn declaring_burst(
    pool: &PgPool,
    workspace_id: Uuid,
    bases: &[String],
    run: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let created = {
        let mut conn = pool.acquire().await?;
        integration::create(
            &mut conn,
            workspace_id,
            &NewIntegration {
                kind: IntegrationKind::Alertmanager,
                name: format!("declares-{run}"),
                rules: None,
                grouping_key: None,
                max_incidents_per_minute: None,
            },
            "http://bench",
        )
        .await?
    };
    let id = created.integration.id;
    let urls: Vec<String> = bases
        .iter()
        .map(|b| format!("{b}/webhooks/alertmanager/{id}"))
        .collect();
    let bodies = declaring_groups(run, DECLARES);
    let start = Instant::now();
    burst_across(&urls, &created.secret, bodies).await?;
    let accepted = start.elapsed().as_secs_f64();
    // Core records each declare with its group's id as the idempotency key.
    until_count(
        pool,
        "SELECT count(*) FROM incidents i JOIN alert_groups g ON i.idempotency_key = g.id::text
         WHERE g.integration_id = $1",
        id,
        DECLARES as i64,
    )
    .await?;
    let exist = start.elapsed().as_secs_f64();
    until_count(
        pool,
        "SELECT count(*) FROM alert_groups WHERE integration_id = $1 AND incident_id IS NOT NULL",
        id,
        DECLARES as i64,
    )
    .await?;
    let linked = start.elapsed().as_secs_f64();
    let declared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alert_groups WHERE integration_id = $1 AND decision = 'DECLARE'",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    assert_eq!(declared as usize, DECLARES, "every group declared");
    Ok((accepted, exist, linked))
}

/// The declaring groups through ingestion and core, with one and with three ingestion
/// replicas (each with its own pool, bus, relay and consumers, as a binary runs it).
async fn declares(admin: &str) -> anyhow::Result<()> {
    const NAME: &str = "incident_bench_declares";
    let pool = incident_bus::testing::bench_database(admin, NAME).await?;
    let server = admin.split('?').next().unwrap_or(admin);
    let url = format!(
        "{}/{NAME}",
        server.rsplit_once('/').map_or(server, |(b, _)| b)
    );
    incident_core::access::bootstrap::bootstrap(
        &pool,
        &secrecy::SecretString::from(TOKEN.to_owned()),
    )
    .await?;
    let workspace_id: Uuid = sqlx::query_scalar("SELECT id FROM workspaces")
        .fetch_one(&pool)
        .await?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "declaring groups, {cores} cores, median of {RUNS} runs of {DECLARES} notifications (one new group each), {CLIENTS} HTTP clients"
    );
    println!(
        "{:<28} {:>12} {:>14} {:>14} {:>16}",
        "ingestion replicas", "accepted (s)", "incidents (s)", "linked (s)", "declares/s"
    );
    let mut rates = Vec::new();
    for replicas in REPLICAS {
        let vhost = TestVhost::create();
        let mut config = Config::for_urls(&url, &vhost.url)?;
        config.outbox_poll_secs = 1;
        let core = Running::start(config.clone(), &[incident_core::start]).await;
        let mut ingestion = Vec::new();
        for _ in 0..replicas {
            ingestion.push(Running::start(config.clone(), &[incident_ingestion::start]).await);
        }
        let bases: Vec<String> = ingestion.iter().map(|r| r.base.clone()).collect();
        let (mut accepted, mut exist, mut linked) = (vec![], vec![], vec![]);
        for run in 0..RUNS {
            let (a, e, l) =
                declaring_burst(&pool, workspace_id, &bases, &format!("r{replicas}x{run}")).await?;
            accepted.push(a);
            exist.push(e);
            linked.push(l);
        }
        for running in ingestion {
            running.stop().await?;
        }
        core.stop().await?;
        let exist = median(exist);
        let rate = DECLARES as f64 / exist;
        rates.push(rate);
        // Machine-readable lines for deploy/dev/bench's summary.
        println!("BENCH declaring_groups_incidents_{replicas}={exist:.2} s");
        println!("BENCH declaring_groups_rate_{replicas}={rate:.1} groups/s");
        println!(
            "{:<28} {:>12.2} {:>14.2} {:>14.2} {:>16.1}",
            replicas,
            median(accepted),
            exist,
            median(linked),
            rate
        );
    }
    println!(
        "3 replicas / 1: {:.2}x (target >= 1.5x); target: all {DECLARES} incidents in <= 2 s (>= 250/s)",
        rates[1] / rates[0]
    );
    println!(
        "BENCH declaring_groups_scaling={:.2} x",
        rates[1] / rates[0]
    );
    Ok(())
}

async fn bench() -> anyhow::Result<()> {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if std::env::args().any(|a| a == "declares") {
        return declares(&admin).await;
    }
    let pool = fresh_database(&admin).await?;
    let server = serve(&pool).await?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    if std::env::args().any(|a| a == "events") {
        println!("ingestion, {cores} cores, median of {RUNS} runs, {CLIENTS} HTTP clients");
        return events(&pool, &server).await;
    }
    println!(
        "ingestion, {cores} cores, median of {RUNS} runs, notifications of {BATCH} alerts, {CLIENTS} HTTP clients"
    );

    let (mut http, mut raw_http, mut p50, mut p99, mut burst_p99) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut front1, mut front2, mut raw_amqp) = (vec![], vec![], vec![]);
    for run in 0..RUNS {
        reset(&pool).await?;
        let url = format!("{}/webhooks/alertmanager/{}", server.base, server.am.0);
        let (rate, latencies) = burst(
            &url,
            Some(&server.am.1),
            am_notifications(&format!("h{run}"), HTTP_ALERTS),
        )
        .await?;
        let groups: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_groups")
            .fetch_one(&pool)
            .await?;
        let alerts: i64 = sqlx::query_scalar("SELECT sum(alert_count) FROM alert_groups")
            .fetch_one(&pool)
            .await?;
        assert_eq!(
            (groups as usize, alerts as usize),
            (GROUPS, HTTP_ALERTS),
            "fully grouped"
        );
        http.push(rate);
        burst_p99.push(percentile(&latencies, 0.99).as_secs_f64() * 1000.0);

        reset(&pool).await?;
        let (rate, _) = burst(
            &format!("{}/raw", server.base),
            None,
            am_notifications(&format!("r{run}"), HTTP_ALERTS),
        )
        .await?;
        raw_http.push(rate);

        reset(&pool).await?;
        let latencies = steady(&server, &format!("s{run}")).await?;
        p50.push(percentile(&latencies, 0.50).as_secs_f64() * 1000.0);
        p99.push(percentile(&latencies, 0.99).as_secs_f64() * 1000.0);

        front1.push(amqp_front(&pool, &server, &format!("a{run}"), 1).await?);
        front2.push(
            amqp_front(
                &pool,
                &server,
                &format!("b{run}"),
                incident_ingestion::CONSUMERS,
            )
            .await?,
        );
        raw_amqp.push(amqp_raw(&pool, &server, &format!("q{run}")).await?);
    }

    println!("{:<64} {:>10}", "measure", "median");
    let row = |name: &str, value: f64, unit: &str| println!("{name:<64} {value:>10.0} {unit}");
    row(
        "HTTP: Alertmanager batches -> alerts and groups committed",
        median(http.clone()),
        "alerts/s",
    );
    row(
        "raw HTTP + Postgres (parse + one UNNEST insert)",
        median(raw_http.clone()),
        "alerts/s",
    );
    row("HTTP burst: p99 per notification", median(burst_p99), "ms");
    println!(
        "{:<64} {:>10.1} ms",
        "steady 1,000 alerts/s: webhook p50",
        median(p50)
    );
    println!(
        "{:<64} {:>10.1} ms",
        "steady 1,000 alerts/s: webhook p99",
        median(p99.clone())
    );
    row(
        "AMQP front, 1 consumer (inbox + pipeline + commit + ack)",
        median(front1.clone()),
        "alerts/s",
    );
    row(
        &format!(
            "AMQP front, {} consumers (as the service runs)",
            incident_ingestion::CONSUMERS
        ),
        median(front2.clone()),
        "alerts/s",
    );
    row(
        "raw broker + Postgres (consume + one UNNEST insert + ack)",
        median(raw_amqp.clone()),
        "alerts/s",
    );
    println!(
        "HTTP / raw HTTP: {:.0}%; AMQP front (1 consumer) / raw broker: {:.0}%",
        median(http.clone()) / median(raw_http.clone()) * 100.0,
        median(front1) / median(raw_amqp) * 100.0
    );
    println!(
        "targets: >= 5000 alerts/s grouped (HTTP {:.0}, AMQP {:.0}); p99 < 50 ms at 1000 alerts/s ({:.1} ms)",
        median(http.clone()),
        median(front2),
        median(p99.clone())
    );
    // Machine-readable lines for deploy/dev/bench's summary.
    println!("BENCH alerts_grouped={:.0} alerts/s", median(http));
    println!("BENCH raw_http_insert={:.0} alerts/s", median(raw_http));
    println!("BENCH webhook_p99_at_1000={:.1} ms", median(p99));
    events(&pool, &server).await
}
