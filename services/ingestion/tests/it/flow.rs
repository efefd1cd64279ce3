//! Alerts to incidents, end to end with core: ingestion's commands reach core over
//! RabbitMQ, core declares and links, its events come back and set each group's
//! incident, and a resolved group is noted on the incident's timeline.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestStack, am_alert, am_notification, read, wait_for};

const WAIT: Duration = Duration::from_secs(30);

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn alerts_declare_an_incident_through_core_and_their_resolution_reaches_its_timeline(
    pool: PgPool,
) {
    let stack = TestStack::spawn(pool).await;
    let integration = stack
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let send = |body: serde_json::Value| {
        let request = stack
            .client
            .post(format!(
                "{}/webhooks/alertmanager/{}",
                stack.base, integration.id
            ))
            .bearer_auth(&integration.secret)
            .json(&body);
        async move {
            let (status, answer) = read(request.send().await.expect("request")).await;
            assert_eq!(status, 202, "{answer}");
            answer
        }
    };
    let labels =
        |name: &str| json!({ "alertname": name, "severity": "critical", "service": "checkout" });
    let first = send(am_notification(
        "{}:{alertname=\"Errors\"}",
        vec![am_alert(
            "e1",
            "firing",
            labels("Errors"),
            "2026-11-27T10:00:00Z",
            None,
        )],
    ))
    .await;
    let group: Uuid = first["alert_groups"][0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");

    wait_for(&stack.pool, "SELECT count(*) FROM incidents", 1, WAIT).await;
    let (incident, severity, key): (Uuid, String, Option<String>) =
        sqlx::query_as("SELECT id, severity::text, idempotency_key FROM incidents")
            .fetch_one(&stack.pool)
            .await
            .expect("incident");
    assert_eq!(severity, "SEV1");
    assert_eq!(key, Some(group.to_string()));
    wait_for(
        &stack.pool,
        &format!("SELECT count(*) FROM alert_groups WHERE incident_id = '{incident}'"),
        1,
        WAIT,
    )
    .await;

    // A second group about the same service joins the incident instead of declaring.
    let second = send(am_notification(
        "{}:{alertname=\"Latency\"}",
        vec![am_alert(
            "l1",
            "firing",
            labels("Latency"),
            "2026-11-27T10:01:00Z",
            None,
        )],
    ))
    .await;
    assert_eq!(second["alert_groups"][0]["decision"], "JOIN");
    wait_for(
        &stack.pool,
        &format!("SELECT count(*) FROM alert_groups WHERE incident_id = '{incident}'"),
        2,
        WAIT,
    )
    .await;
    let (status, view) = stack
        .get(ADMIN, &format!("/api/v1/incidents/{incident}"))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["alert_group_ids"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );
    assert_eq!(
        view["affected_services"],
        json!([{ "name": "checkout", "impact": "DEGRADED" }])
    );

    send(am_notification(
        "{}:{alertname=\"Errors\"}",
        vec![am_alert(
            "e1",
            "resolved",
            labels("Errors"),
            "2026-11-27T10:00:00Z",
            Some("2026-11-27T10:20:00Z"),
        )],
    ))
    .await;
    wait_for(
        &stack.pool,
        &format!(
            "SELECT count(*) FROM incident_timeline WHERE incident_id = '{incident}' AND kind = 'NOTE'
             AND message = 'Alert group \"e1 is unwell\" resolved (1 alert)'"
        ),
        1,
        WAIT,
    )
    .await;
    assert_eq!(
        crate::support::count(&stack.pool, "SELECT count(*) FROM incidents").await,
        1,
        "one incident for both groups"
    );
    let (_, timeline) = stack
        .get(ADMIN, &format!("/api/v1/incidents/{incident}/timeline"))
        .await;
    let kinds: Vec<&str> = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["DETECTED", "ALERT_LINKED", "ALERT_LINKED", "NOTE"]);
    stack.stop().await;
}
