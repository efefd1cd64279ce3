//! Alert storms: thousands of alerts across a few groups make one incident per group at
//! most, and the storm guard caps the declares per minute, the rest joining the latest.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinSet;

use crate::support::{TestApp, am_alert, am_notification};

const GROUPS: usize = 20;
const ALERTS_PER_GROUP: usize = 500;
const BATCH: usize = 50;
const CLIENTS: usize = 8;

/// The notifications of a storm: `GROUPS` groups of `per_group` alerts, in batches of
/// `BATCH`, interleaved across groups as Alertmanager would send them.
fn storm(per_group: usize, with_service: bool) -> Vec<Value> {
    let mut batches = Vec::new();
    for round in 0..per_group.div_ceil(BATCH) {
        for g in 0..GROUPS {
            let alerts: Vec<Value> = (round * BATCH..((round + 1) * BATCH).min(per_group))
                .map(|i| {
                    let mut labels = json!({ "alertname": format!("Storm{g}"), "severity": "critical", "pod": format!("pod-{i}") });
                    if with_service {
                        labels["service"] = json!(format!("svc-{g}"));
                    }
                    am_alert(&format!("g{g:02}-a{i:04}"), "firing", labels, "2026-11-27T10:00:00Z", None)
                })
                .collect();
            batches.push(am_notification(
                &format!("{{}}:{{alertname=\"Storm{g}\"}}"),
                alerts,
            ));
        }
    }
    batches
}

async fn send_all(app: &Arc<TestApp>, integration: &crate::support::Created, batches: Vec<Value>) {
    let queue = Arc::new(tokio::sync::Mutex::new(batches));
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (app, queue, integration) = (app.clone(), queue.clone(), integration.clone());
        clients.spawn(async move {
            loop {
                let Some(batch) = queue.lock().await.pop() else {
                    return;
                };
                let (status, body) = app.webhook("alertmanager", &integration, &batch).await;
                assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client");
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_alert_storm_of_10000_alerts_in_20_groups_declares_at_most_20_incidents(pool: PgPool) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    send_all(&app, &integration, storm(ALERTS_PER_GROUP, true)).await;

    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 10_000);
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 20);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE alert_count = 500 AND firing_count = 500 AND status = 'OPEN'")
            .await,
        20,
        "every group counts its alerts exactly"
    );
    let declares = app.outbox("incident.declare").await;
    assert!(declares.len() <= 20, "{} declares", declares.len());
    assert_eq!(
        declares.len(),
        20,
        "one per group: each has its own service"
    );
    let mut keys: Vec<&str> = declares
        .iter()
        .filter_map(|d| d["data"]["idempotency_key"].as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 20, "one idempotency key (group id) per declare");
    assert_eq!(app.outbox("alert_group.opened").await.len(), 20);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_storm_guard_caps_declares_per_minute_and_the_other_groups_join_the_latest(
    pool: PgPool,
) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(
            json!({ "kind": "alertmanager", "name": "prometheus", "max_incidents_per_minute": 5 }),
        )
        .await;
    send_all(&app, &integration, storm(3, false)).await;

    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 20);
    assert_eq!(
        app.outbox("incident.declare").await.len(),
        5,
        "capped at 5 a minute"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE decision = 'DECLARE'")
            .await,
        5
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alert_groups g JOIN alert_groups d ON d.id = g.join_group_id
             WHERE g.decision = 'JOIN' AND d.decision = 'DECLARE'"
        )
        .await,
        15,
        "the others wait for a declared group's incident"
    );
    let explanation: Value =
        sqlx::query_scalar("SELECT explanation FROM alert_groups WHERE decision = 'JOIN' LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .expect("explanation");
    assert_eq!(explanation["throttle"]["max_per_minute"], 5);
    assert!(
        explanation["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("storm guard"),
        "{explanation}"
    );
}
