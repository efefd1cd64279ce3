//! Opsgenie's Alert API: the documented create opens (and by its alias de-duplicates) an
//! alert, the documented close resolves it and its group, priorities follow the quiet
//! defaults, the `GenieKey` is the secret, and refusals name the field.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Created, TestApp, read};

const ALIAS: &str = "Life%20is%20too%20short%20for%20no%20alias";

fn fixture(name: &str) -> Value {
    let text = match name {
        "create" => include_str!("fixtures/opsgenie/create.json"),
        "close" => include_str!("fixtures/opsgenie/close.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixture")
}

async fn opsgenie(app: &TestApp) -> Created {
    app.integration(json!({ "kind": "opsgenie", "name": "opsgenie clients" }))
        .await
}

/// Posts `body` to `path` (under `/webhooks/opsgenie`) with `GenieKey <key>`.
async fn send(app: &TestApp, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/webhooks/opsgenie{path}", app.base))
        .header("authorization", format!("GenieKey {key}"))
        .json(body)
        .send()
        .await
        .expect("request");
    read(response).await
}

async fn sent(app: &TestApp, path: &str, key: &str, body: &Value) -> Value {
    let (status, answer) = send(app, path, key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["result"], "Request will be processed", "{answer}");
    assert!(answer["requestId"].is_string() && answer["took"].is_number());
    answer
}

fn close_path() -> String {
    format!("/v2/alerts/{ALIAS}/close?identifierType=alias")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_documented_create_declares_a_sev1_once_and_the_documented_close_resolves_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = opsgenie(&app).await;
    let first = sent(&app, "/v2/alerts", &integration.secret, &fixture("create")).await;
    assert_eq!(first["new_alerts"], 1);
    assert_eq!(first["alert_groups"][0]["decision"], "DECLARE");
    let again = sent(&app, "/v2/alerts", &integration.secret, &fixture("create")).await;
    assert_eq!(again["updated_alerts"], 1, "the alias de-duplicates");
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    let (labels, annotations): (Value, Value) = sqlx::query_as(
        "SELECT labels, annotations FROM alerts WHERE fingerprint = 'Life is too short for no alias'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("alert");
    assert_eq!(
        labels,
        json!({ "priority": "P1", "severity": "critical", "entity": "An example entity",
                "tags": "OverwriteQuietHours,Critical" })
    );
    assert_eq!(annotations["summary"], "An example alert message");
    assert_eq!(annotations["key1"], "value1");
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV1");

    let closed = sent(&app, &close_path(), &integration.secret, &fixture("close")).await;
    assert_eq!(closed["alert_groups"][0]["status"], "RESOLVED", "{closed}");
    assert_eq!(closed["alert_groups"][0]["resolved"], true);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alerts WHERE status = 'RESOLVED' AND labels->>'priority' = 'P1'"
        )
        .await,
        1,
        "the close keeps the alert's content"
    );
    assert_eq!(app.outbox("alert_group.resolved").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_close_before_its_create_records_the_alert_resolved_and_declares_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = opsgenie(&app).await;
    let closed = sent(&app, &close_path(), &integration.secret, &fixture("close")).await;
    assert_eq!(closed["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(closed["alert_groups"][0]["decision"], "NONE");
    assert!(app.outbox("incident.declare").await.is_empty());
    // A create carries no time: one arriving after the close cannot be told from a new
    // occurrence, which opens a group of its own (Alertmanager's late firing
    // notification says when it started, and is ignored instead).
    let late = sent(&app, "/v2/alerts", &integration.secret, &fixture("create")).await;
    let groups = late["alert_groups"].as_array().expect("groups");
    assert!(
        groups
            .iter()
            .any(|g| g["opened"] == true && g["status"] == "OPEN"),
        "{late}"
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED'")
            .await,
        1,
        "the close's group stays resolved"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn priorities_follow_the_quiet_defaults_on_the_integration_url_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = opsgenie(&app).await;
    let base = format!("/{}/v2/alerts", integration.id);
    for (alias, priority, decision) in [
        ("p2", Some("P2"), "DECLARE"),
        ("p3", Some("P3"), "NONE"),
        ("default", None, "NONE"),
        ("p5", Some("P5"), "NONE"),
    ] {
        let mut body = json!({ "message": format!("alert {alias}"), "alias": alias, "surprise": { "new": "field" } });
        if let Some(p) = priority {
            body["priority"] = json!(p);
        }
        let answer = sent(&app, &base, &integration.secret, &body).await;
        assert_eq!(answer["alert_groups"][0]["decision"], decision, "{alias}");
    }
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV2");
    // The bearer secret works as on every webhook.
    let response = app
        .client
        .post(format!(
            "{}/webhooks/opsgenie/{}/v2/alerts/p2/close?identifierType=alias",
            app.base, integration.id
        ))
        .bearer_auth(&integration.secret)
        .send()
        .await
        .expect("request");
    let (status, answer) = read(response).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "an empty close body: {answer}"
    );
    assert_eq!(answer["alert_groups"][0]["resolved"], true);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_missing_message_another_identifier_type_or_a_wrong_key_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = opsgenie(&app).await;
    let mut untitled = fixture("create");
    untitled.as_object_mut().map(|m| m.remove("message"));
    let (status, problem) = send(&app, "/v2/alerts", &integration.secret, &untitled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/validation");
    assert_eq!(problem["field"], "message");
    assert!(
        problem["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("message"),
        "Opsgenie's member: {problem}"
    );
    let (status, problem) = send(
        &app,
        &format!("/v2/alerts/{ALIAS}/close?identifierType=id"),
        &integration.secret,
        &fixture("close"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "identifierType");
    let (status, problem) = send(&app, "/v2/alerts", "ing_wrong", &fixture("create")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/unauthorized"
    );
    let other = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    let (status, _) = send(&app, "/v2/alerts", &other.secret, &fixture("create")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another kind's secret");
    for table in ["alerts", "alert_groups", "outbox"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} stays empty"
        );
    }
}
