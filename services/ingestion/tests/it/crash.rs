//! Killing the ingestion service (the real binary, SIGKILL) in the middle of a burst
//! loses no accepted alert: every alert answered 2xx is in its group.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use incident_ingestion::integration::{self, NewIntegration};
use incident_schema::IntegrationKind;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::support::{ADMIN, database_url};
use incident_testkit::db::free_port;

const BINARY: &str = env!("CARGO_BIN_EXE_incident-ingestion");
const CLIENTS: usize = 8;
const ALERTS_PER_REQUEST: usize = 20;
/// Accepted requests after which the process is killed.
const KILL_AFTER: usize = 40;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn killing_the_service_mid_burst_loses_no_accepted_alert(pool: PgPool) {
    let secret = secrecy::SecretString::from(ADMIN.to_owned());
    incident_core::access::bootstrap::bootstrap(&pool, &secret)
        .await
        .expect("bootstrap");
    let workspace_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM workspaces")
        .fetch_one(&pool)
        .await
        .expect("workspace");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let created = {
        let mut conn = pool.acquire().await.expect("conn");
        integration::create(
            &mut conn,
            workspace_id,
            &NewIntegration {
                kind: IntegrationKind::Generic,
                name: "burst".into(),
                rules: None,
                grouping_key: None,
                max_incidents_per_minute: None,
            },
            &base,
        )
        .await
        .expect("integration")
    };

    // No broker: webhooks never wait on it (the outbox keeps the commands).
    let mut child = Command::new(BINARY)
        .env("DATABASE_URL", database_url(&pool))
        .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("INCIDENT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .env_remove("INCIDENT_CONFIG_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "the service exited"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let url = created.integration.webhook_url.clone();
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        let (http, url, secret) = (http.clone(), url.clone(), created.secret.clone());
        let (accepted, ok, failed) = (accepted.clone(), ok.clone(), failed.clone());
        clients.spawn(async move {
            for n in 0.. {
                let keys: Vec<String> = (0..ALERTS_PER_REQUEST).map(|i| format!("c{c}-r{n}-a{i}")).collect();
                let alerts: Vec<_> = keys
                    .iter()
                    .map(|k| json!({ "title": format!("burst {k}"), "dedup_key": k, "group_key": format!("client-{c}"), "severity": "warning" }))
                    .collect();
                match http.post(&url).bearer_auth(&secret).json(&json!({ "alerts": alerts })).send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        accepted.lock().await.extend(keys);
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
    }
    while ok.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }

    let accepted = accepted.lock().await;
    assert!(accepted.len() >= KILL_AFTER * ALERTS_PER_REQUEST);
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "the kill interrupted the burst"
    );
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT a.fingerprint FROM alerts a JOIN alert_groups g ON g.id = a.alert_group_id
         WHERE g.group_key = 'client-' || substr(split_part(a.fingerprint, '-', 1), 2)",
    )
    .fetch_all(&pool)
    .await
    .expect("alerts");
    let stored: HashSet<String> = stored.into_iter().collect();
    let lost: Vec<&String> = accepted.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        lost.is_empty(),
        "{} accepted alerts lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let ungrouped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alert_groups g WHERE alert_count <> (SELECT count(*) FROM alerts a WHERE a.alert_group_id = g.id)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(
        ungrouped, 0,
        "every group counts exactly the alerts it holds"
    );
}
