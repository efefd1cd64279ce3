//! End to end with a real Prometheus Alertmanager (Debian package
//! `prometheus-alertmanager`): started on loopback with a webhook receiver pointing at
//! ingestion, alerts fired and resolved with `amtool alert add`. Firing alerts declare an
//! incident of the right severity through core; resolving them resolves the group and
//! notes it on the incident's timeline. Skipped, with a message, where the package is
//! not installed (CI installs it). The same Alertmanager paging through its PagerDuty
//! notifier (Events API v2) at the PagerDuty enqueue URL does the same.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{TestStack, count, wait_for};

const ALERTMANAGER: &str = "prometheus-alertmanager";
const AMTOOL: &str = "amtool";
const WAIT: Duration = Duration::from_secs(45);

fn installed(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running Alertmanager and its temporary directory, removed on drop.
struct Alertmanager {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Alertmanager {
    /// Notifying ingestion through its webhook receiver.
    async fn start(webhook_url: &str, secret: &str) -> Self {
        Self::start_with(&format!(
            r#"    webhook_configs:
      - url: '{webhook_url}'
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: '{secret}'
"#
        ))
        .await
    }

    /// Notifying with the receiver configuration `receiver` (the `incident` receiver's
    /// notifier lines).
    async fn start_with(receiver: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ingestion-am-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        let config = format!(
            r#"global:
  resolve_timeout: 1m
route:
  receiver: incident
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incident
{receiver}"#
        );
        let config_path = dir.join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("config");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("alertmanager starts");
        let mut am = Self { child, dir, url };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", am.url)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                am.child.try_wait().expect("status").is_none(),
                "alertmanager exited before becoming ready"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "alertmanager never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        am
    }

    /// `amtool alert add <labels> [--annotation ...] [--end ...]`.
    fn amtool_add(&self, labels: &[&str], extra: &[String]) {
        let output = Command::new(AMTOOL)
            .arg(format!("--alertmanager.url={}", self.url))
            .args(["alert", "add"])
            .args(labels)
            .args(extra)
            .output()
            .expect("amtool runs");
        assert!(
            output.status.success(),
            "amtool failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_real_alertmanager_declares_an_incident_and_its_resolution_resolves_the_group(
    pool: PgPool,
) {
    if !installed(ALERTMANAGER) || !installed(AMTOOL) {
        eprintln!(
            "SKIPPED a_real_alertmanager_declares_an_incident_and_its_resolution_resolves_the_group: \
             `{ALERTMANAGER}` and `{AMTOOL}` are not installed (apt-get install -y prometheus-alertmanager)"
        );
        return;
    }
    let stack = TestStack::spawn(pool).await;
    let integration = stack
        .integration(json!({ "kind": "alertmanager", "name": "alertmanager" }))
        .await;
    let webhook = integration.body["webhook_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let am = Alertmanager::start(&webhook, &integration.secret).await;

    let alerts: [&[&str]; 2] = [
        &[
            "alertname=CheckoutErrors",
            "severity=critical",
            "service=checkout",
            "instance=web-1",
        ],
        &[
            "alertname=CheckoutErrors",
            "severity=critical",
            "service=checkout",
            "instance=web-2",
        ],
    ];
    let summary = vec!["--annotation=summary=Checkout returns 5xx".to_owned()];
    for labels in alerts {
        am.amtool_add(labels, &summary);
    }

    wait_for(&stack.pool, "SELECT count(*) FROM incidents", 1, WAIT).await;
    let (incident, severity, title): (Uuid, String, String) =
        sqlx::query_as("SELECT id, severity::text, title FROM incidents")
            .fetch_one(&stack.pool)
            .await
            .expect("incident");
    assert_eq!(severity, "SEV1", "severity=critical declares SEV1");
    assert_eq!(title, "Checkout returns 5xx");
    wait_for(
        &stack.pool,
        &format!(
            "SELECT count(*) FROM alert_groups WHERE incident_id = '{incident}' AND status = 'OPEN' AND firing_count = 2"
        ),
        1,
        WAIT,
    )
    .await;
    let (raw_end, fingerprint): (serde_json::Value, String) =
        sqlx::query_as("SELECT raw->'endsAt', fingerprint FROM alerts LIMIT 1")
            .fetch_one(&stack.pool)
            .await
            .expect("alert");
    assert_eq!(
        raw_end,
        json!("0001-01-01T00:00:00Z"),
        "what Alertmanager sends while firing"
    );
    assert_eq!(
        fingerprint.len(),
        16,
        "Alertmanager's own fingerprint: {fingerprint}"
    );

    // Resolve both: an end in the past.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let end =
        (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for labels in alerts {
        am.amtool_add(labels, &[summary[0].clone(), format!("--end={end}")]);
    }
    wait_for(
        &stack.pool,
        "SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED' AND firing_count = 0 AND alert_count = 2",
        1,
        WAIT,
    )
    .await;
    wait_for(
        &stack.pool,
        &format!(
            "SELECT count(*) FROM incident_timeline WHERE incident_id = '{incident}' AND kind = 'NOTE'
             AND message LIKE 'Alert group %resolved (2 alerts)'"
        ),
        1,
        WAIT,
    )
    .await;
    assert_eq!(
        count(&stack.pool, "SELECT count(*) FROM incidents").await,
        1
    );
    assert_eq!(
        count(&stack.pool, "SELECT count(*) FROM alert_groups").await,
        1
    );
    drop(am);
    stack.stop().await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_real_alertmanager_paging_through_its_pagerduty_notifier_declares_and_resolves(
    pool: PgPool,
) {
    if !installed(ALERTMANAGER) || !installed(AMTOOL) {
        eprintln!(
            "SKIPPED a_real_alertmanager_paging_through_its_pagerduty_notifier_declares_and_resolves: \
             `{ALERTMANAGER}` and `{AMTOOL}` are not installed (apt-get install -y prometheus-alertmanager)"
        );
        return;
    }
    let stack = TestStack::spawn(pool).await;
    let integration = stack
        .integration(json!({ "kind": "pagerduty", "name": "alertmanager via pagerduty" }))
        .await;
    // What a PagerDuty client is configured with: a URL override and the routing key.
    let am = Alertmanager::start_with(&format!(
        r#"    pagerduty_configs:
      - routing_key: '{}'
        url: '{}/webhooks/pagerduty/v2/enqueue'
        severity: critical
        send_resolved: true
"#,
        integration.secret, stack.base
    ))
    .await;
    let labels = ["alertname=DiskFull", "severity=critical", "instance=db-1"];
    let summary = "--annotation=summary=Disk full on db-1".to_owned();
    am.amtool_add(&labels, std::slice::from_ref(&summary));

    wait_for(&stack.pool, "SELECT count(*) FROM incidents", 1, WAIT).await;
    let severity: String = sqlx::query_scalar("SELECT severity::text FROM incidents")
        .fetch_one(&stack.pool)
        .await
        .expect("incident");
    assert_eq!(severity, "SEV1", "the notifier's severity: critical");
    let (fingerprint, alert_labels, raw): (String, serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT fingerprint, labels, raw FROM alerts")
            .fetch_one(&stack.pool)
            .await
            .expect("alert");
    assert_eq!(
        raw["dedup_key"],
        json!(fingerprint),
        "the event's dedup_key"
    );
    assert_eq!(alert_labels["severity"], "critical");
    assert_eq!(raw["event_action"], "trigger");
    assert!(raw.get("routing_key").is_none());

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let end =
        (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    am.amtool_add(&labels, &[summary, format!("--end={end}")]);
    wait_for(
        &stack.pool,
        "SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED' AND firing_count = 0 AND alert_count = 1",
        1,
        WAIT,
    )
    .await;
    assert_eq!(
        count(
            &stack.pool,
            "SELECT count(*) FROM alerts WHERE status = 'RESOLVED' AND labels->>'severity' = 'critical'"
        )
        .await,
        1,
        "resolved, its content kept"
    );
    drop(am);
    stack.stop().await;
}
