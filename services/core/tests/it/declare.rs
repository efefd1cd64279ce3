//! Declaring safely: an `Idempotency-Key` is bound to its request (a retry gets the first
//! incident, another body with the same key is refused), and an alert group is never
//! taken away from an incident that is still open.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

async fn declare_with_key(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/incidents", app.base))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn reusing_an_idempotency_key_with_another_body_answers_422_naming_the_key(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let body = json!({ "title": "disk full", "severity": "SEV2", "affected_services": [{ "name": "db", "impact": "DEGRADED" }] });
    let (code, first) = declare_with_key(&app, "deploy-42", body.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{first}");

    let (code, retry) = declare_with_key(&app, "deploy-42", body).await;
    assert_eq!(code, StatusCode::OK, "{retry}");
    assert_eq!(retry["id"], first["id"]);
    // The same request written differently (key order, defaults spelled out) is a retry.
    let (code, same) = declare_with_key(
        &app,
        "deploy-42",
        json!({ "is_drill": false, "affected_services": [{ "impact": "DEGRADED", "name": "db" }], "severity": "SEV2", "title": "disk full", "alert_group_ids": [] }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{same}");
    assert_eq!(same["id"], first["id"]);

    let (code, problem) = declare_with_key(
        &app,
        "deploy-42",
        json!({ "title": "disk full on another host", "severity": "SEV2" }),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/validation");
    assert_eq!(problem["field"], "Idempotency-Key");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("deploy-42") && detail.contains("different request"),
        "{detail}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "the refused declare created nothing");
    let next = app.declare(ADMIN, "next").await;
    assert_eq!(next["number"], 2, "and took no number");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_key_used_before_fingerprints_or_by_a_command_still_answers_with_its_incident(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (code, first) = declare_with_key(
        &app,
        "alert-group-9",
        json!({ "title": "from alerts", "severity": "SEV3" }),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{first}");
    // As a command or an older version would have stored it: no fingerprint.
    sqlx::query("UPDATE incidents SET declare_fingerprint = NULL")
        .execute(&app.pool)
        .await
        .expect("clear");
    let (code, retry) = declare_with_key(
        &app,
        "alert-group-9",
        json!({ "title": "from alerts, retitled", "severity": "SEV3" }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{retry}");
    assert_eq!(retry["id"], first["id"]);
}

/// An alert group of the default workspace, optionally linked to `incident` (as ingestion
/// does when it sees the incident's event).
async fn alert_group(app: &TestApp, key: &str) -> Uuid {
    let workspace: Uuid = sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
        .fetch_one(&app.pool)
        .await
        .expect("workspace");
    let integration: Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash, max_incidents_per_minute)
         VALUES ($1, 'alertmanager', $2, $3, 5) RETURNING id",
    )
    .bind(workspace)
    .bind(format!("prod-{key}"))
    .bind(&[0u8; 32][..])
    .fetch_one(&app.pool)
    .await
    .expect("integration");
    sqlx::query_scalar(
        "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title)
         VALUES ($1, $2, $3, 'High latency') RETURNING id",
    )
    .bind(workspace)
    .bind(integration)
    .bind(key)
    .fetch_one(&app.pool)
    .await
    .expect("group")
}

async fn link(app: &TestApp, group: Uuid, incident: &Value) {
    sqlx::query("UPDATE alert_groups SET incident_id = $2::uuid WHERE id = $1")
        .bind(group)
        .bind(incident["id"].as_str())
        .execute(&app.pool)
        .await
        .expect("link");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn declaring_with_an_alert_group_of_another_open_incident_answers_409(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let group = alert_group(&app, "alertname=HighLatency").await;
    let with_group = json!({ "title": "latency", "severity": "SEV2", "alert_group_ids": [group] });
    let (code, first) = declare_with_key(&app, "latency-1", with_group.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{first}");
    link(&app, group, &first).await;

    let (code, problem) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "latency again", "severity": "SEV3", "alert_group_ids": [group] }),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/conflict");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&group.to_string()) && detail.contains("INC-1"),
        "names the group and its incident: {detail}"
    );
    let holder: Option<Uuid> =
        sqlx::query_scalar("SELECT incident_id FROM alert_groups WHERE id = $1")
            .bind(group)
            .fetch_one(&app.pool)
            .await
            .expect("holder");
    assert_eq!(
        holder.map(|h| h.to_string()).as_deref(),
        first["id"].as_str()
    );

    let (code, retry) = declare_with_key(&app, "latency-1", with_group).await;
    assert_eq!(code, StatusCode::OK, "a retry is not a conflict: {retry}");
    assert_eq!(retry["id"], first["id"]);

    let id = first["id"].as_str().expect("id");
    let (code, _) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": "RESOLVED" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, second) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "latency, back", "severity": "SEV3", "alert_group_ids": [group] }),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::CREATED,
        "a resolved incident gives its groups up: {second}"
    );

    // A private holder is not named to someone who may not know it exists.
    let hidden = alert_group(&app, "alertname=Payroll").await;
    let (code, private) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "payroll", "severity": "SEV2", "visibility": "PRIVATE", "alert_group_ids": [hidden] }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{private}");
    link(&app, hidden, &private).await;
    let responder = app.token(ADMIN, "responder").await;
    let (code, problem) = app
        .call(
            &responder,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({ "title": "payroll?", "severity": "SEV2", "alert_group_ids": [hidden] })),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.contains(private["reference"].as_str().expect("ref")),
        "{detail}"
    );
}
