//! Running the real `incident-stack` binary as a child process, and driving alert bursts
//! at it.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub use incident_testkit::db::{database_url, free_port, server_url};
pub use incident_testkit::eventually;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_incident-stack");
/// The bootstrap token the fault suite's stacks start with.
pub const TOKEN: &str = "fault-suite-bootstrap-token";

/// The stack as a child process, restartable on the same port and configuration.
pub struct StackProcess {
    child: Option<Child>,
    /// Where it listens.
    pub base: String,
    port: u16,
    env: Vec<(String, String)>,
}

impl StackProcess {
    /// Starts the binary with `env` (plus the port) and waits until it is ready.
    pub async fn start(env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut process = Self {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(BINARY);
        command
            .env_remove("INCIDENT_CONFIG_FILE")
            .env("INCIDENT_HTTP_ADDR", format!("127.0.0.1:{}", self.port))
            .env("INCIDENT_OUTBOX_POLL_SECS", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("starts");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                child.try_wait().expect("status").is_none(),
                "the stack exited"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stack never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no draining, whatever was in flight is cut.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// Starts it again after a kill.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }
}

impl Drop for StackProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A generic integration of the bootstrap workspace: `(webhook url, secret)`.
pub async fn integration(base: &str) -> (String, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/integrations"))
        .bearer_auth(TOKEN)
        .json(&json!({ "kind": "generic", "name": "burst" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 201);
    let body: serde_json::Value = response.json().await.expect("json");
    (
        body["webhook_url"]
            .as_str()
            .expect("webhook_url")
            .to_owned(),
        body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// What a burst got answered.
#[derive(Debug, Default)]
pub struct BurstOutcome {
    /// Dedup keys of every alert in a request answered 202.
    pub accepted: Vec<String>,
    /// Requests that failed (connection refused or reset, 5xx) and were sent again.
    pub failed: usize,
}

/// Sends `requests` requests of `per_request` critical alerts to each of `groups` groups
/// (one client per group, each group its own service so none joins another's incident).
/// A failed request is sent again until it is accepted: an alert source retries.
pub fn burst(
    url: &str,
    secret: &str,
    wave: &str,
    groups: usize,
    requests: usize,
    per_request: usize,
) -> (Arc<Mutex<BurstOutcome>>, JoinSet<()>) {
    let outcome: Arc<Mutex<BurstOutcome>> = Arc::default();
    let mut clients = JoinSet::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for g in 0..groups {
        let (http, url, secret, outcome) = (
            http.clone(),
            url.to_owned(),
            secret.to_owned(),
            outcome.clone(),
        );
        let wave = wave.to_owned();
        clients.spawn(async move {
            for r in 0..requests {
                let keys: Vec<String> =
                    (0..per_request).map(|a| format!("{wave}-g{g}-r{r}-a{a}")).collect();
                let alerts: Vec<_> = keys
                    .iter()
                    .map(|k| json!({ "title": format!("Disk full {k}"), "dedup_key": k, "group_key": format!("group-{g}"), "service": format!("svc-{g}"), "severity": "critical" }))
                    .collect();
                let body = json!({ "alerts": alerts });
                let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
                loop {
                    match http.post(&url).bearer_auth(&secret).json(&body).send().await {
                        Ok(r) if r.status().as_u16() == 202 => {
                            outcome.lock().await.accepted.extend(keys);
                            break;
                        }
                        other => {
                            if let Ok(r) = &other {
                                assert!(r.status().is_server_error(), "refused: {}", r.status());
                            }
                            outcome.lock().await.failed += 1;
                            assert!(tokio::time::Instant::now() < deadline, "never accepted");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
        });
    }
    (outcome, clients)
}

/// The counts compared after a fault: every accepted alert stored once, every group
/// declared exactly one incident and linked to it.
pub async fn assert_nothing_lost_nothing_doubled(
    pool: &PgPool,
    accepted: &[String],
    groups: usize,
) {
    eventually(
        Duration::from_secs(90),
        "every group is linked to its incident",
        || async {
            let (incidents, linked): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM incidents),
                    (SELECT count(*) FROM alert_groups WHERE incident_id IS NOT NULL)",
            )
            .fetch_one(pool)
            .await
            .expect("counts");
            incidents >= groups as i64 && linked >= groups as i64
        },
    )
    .await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT fingerprint FROM alerts")
        .fetch_all(pool)
        .await
        .expect("alerts");
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let lost: Vec<&String> = accepted.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        lost.is_empty(),
        "{} accepted alerts lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts")
        .fetch_one(pool)
        .await
        .expect("alerts");
    assert_eq!(alerts as usize, stored.len(), "no alert stored twice");
    let (incidents, keys, groups_declared): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT idempotency_key),
                (SELECT count(DISTINCT incident_id) FROM alert_groups)
         FROM incidents",
    )
    .fetch_one(pool)
    .await
    .expect("incidents");
    assert_eq!(
        incidents as usize, groups,
        "one incident per group, declared once"
    );
    assert_eq!(keys, incidents, "each from its own group");
    assert_eq!(
        groups_declared as usize, groups,
        "each group linked to its own incident"
    );
    let miscounted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alert_groups g
         WHERE alert_count <> (SELECT count(*) FROM alerts a WHERE a.alert_group_id = g.id)",
    )
    .fetch_one(pool)
    .await
    .expect("group counts");
    assert_eq!(
        miscounted, 0,
        "every group counts exactly the alerts it holds"
    );
}
