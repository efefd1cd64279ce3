//! Grafana OnCall's formatted webhook: the documented body fires an alert, `state: ok`
//! resolves it and its group (the generic webhook never did), repeats are one alert, and
//! what the shape cannot say (a time) is visible in how a resolve-first behaves.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::TestApp;

fn body(name: &str) -> Value {
    let text = match name {
        "alerting" => include_str!("fixtures/grafana_oncall/alerting.json"),
        "ok" => include_str!("fixtures/grafana_oncall/ok.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixture")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_documented_body_fires_once_however_often_sent_and_state_ok_resolves_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "grafana_oncall", "name": "oncall" }))
        .await;
    let first = app
        .accepted("grafana_oncall", &integration, &body("alerting"))
        .await;
    assert_eq!(first["new_alerts"], 1);
    assert_eq!(first["alert_groups"][0]["opened"], true);
    assert_eq!(
        first["alert_groups"][0]["decision"], "NONE",
        "no severity: the quiet defaults declare nothing"
    );
    let again = app
        .accepted("grafana_oncall", &integration, &body("alerting"))
        .await;
    assert_eq!(again["updated_alerts"], 1);
    assert_eq!(
        again["alert_groups"][0]["id"],
        first["alert_groups"][0]["id"]
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    let (labels, annotations, generator_url): (Value, Value, Option<String>) = sqlx::query_as(
        "SELECT labels, annotations, generator_url FROM alerts
         WHERE fingerprint = '08d6891a-835c-e661-39fa-96b6a9e26552'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("alert");
    assert_eq!(labels, json!({ "alertname": "The whole system is down" }));
    assert_eq!(annotations["description"], "Smth happened. Oh no!");
    assert_eq!(
        generator_url.as_deref(),
        Some("https://en.wikipedia.org/wiki/Downtime")
    );

    let resolved = app
        .accepted("grafana_oncall", &integration, &body("ok"))
        .await;
    assert_eq!(
        resolved["alert_groups"][0]["status"], "RESOLVED",
        "{resolved}"
    );
    assert_eq!(resolved["alert_groups"][0]["resolved"], true);
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE status = 'RESOLVED' AND ends_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(app.outbox("alert_group.resolved").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_severity_added_by_a_template_declares_by_the_default_rules(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "grafana_oncall", "name": "oncall" }))
        .await;
    let mut critical = body("alerting");
    critical["severity"] = json!("critical");
    critical["labels"] = json!({ "unknown": "fields are ignored" });
    let answer = app
        .accepted("grafana_oncall", &integration, &critical)
        .await;
    assert_eq!(answer["alert_groups"][0]["decision"], "DECLARE");
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV1");
    assert_eq!(
        declares[0]["data"]["incident"]["title"],
        "The whole system is down"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_resolve_before_its_alerting_records_it_resolved_and_the_timeless_alerting_fires_anew(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "grafana_oncall", "name": "oncall" }))
        .await;
    let resolved = app
        .accepted("grafana_oncall", &integration, &body("ok"))
        .await;
    assert_eq!(resolved["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(resolved["alert_groups"][0]["decision"], "NONE");
    assert!(app.outbox("incident.declare").await.is_empty());
    // The formatted webhook carries no time: a later `alerting` cannot be told from a new
    // occurrence, so it fires in a new group (Alertmanager's late firing notification,
    // which says when it started, is ignored instead).
    let late = app
        .accepted("grafana_oncall", &integration, &body("alerting"))
        .await;
    assert_eq!(late["stale_notifications"], 0);
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'OPEN'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_missing_title_is_a_problem_naming_it_and_the_generic_kind_is_not_used(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "grafana_oncall", "name": "oncall" }))
        .await;
    let mut untitled = body("alerting");
    untitled.as_object_mut().map(|m| m.remove("title"));
    let (status, problem) = app.webhook("grafana_oncall", &integration, &untitled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/validation");
    assert_eq!(problem["field"], "title");
    let (status, _) = app
        .webhook("generic", &integration, &body("alerting"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an integration answers on its own kind's webhook only"
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 0);
}
