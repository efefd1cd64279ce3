//! PagerDuty Events API v2: PagerDuty's documented events trigger, de-duplicate,
//! acknowledge and resolve alerts and groups as Alertmanager's notifications do, the
//! routing key is the secret (on the integration's URL and on the shared enqueue URL),
//! and refusals are problems PagerDuty clients understand too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Created, TestApp, read};

/// A documented event (`tests/it/fixtures/pagerduty/`) with `secret` as its routing key.
fn event(name: &str, secret: &str) -> Value {
    let text = match name {
        "trigger" => include_str!("fixtures/pagerduty/trigger.json"),
        "acknowledge" => include_str!("fixtures/pagerduty/acknowledge.json"),
        "resolve" => include_str!("fixtures/pagerduty/resolve.json"),
        other => panic!("no fixture {other}"),
    };
    let mut value: Value = serde_json::from_str(text).expect("fixture");
    value["routing_key"] = json!(secret);
    value
}

async fn pagerduty(app: &TestApp) -> Created {
    app.integration(json!({ "kind": "pagerduty", "name": "pagerduty clients" }))
        .await
}

/// Posts `body` to the shared enqueue URL, as a PagerDuty client does: no header.
async fn enqueue(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/webhooks/pagerduty/v2/enqueue", app.base))
        .json(body)
        .send()
        .await
        .expect("request");
    read(response).await
}

async fn enqueued(app: &TestApp, body: &Value) -> Value {
    let (status, answer) = enqueue(app, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["message"], "Event processed");
    answer
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_documented_trigger_opens_a_group_declares_a_sev1_and_answers_as_pagerduty_does(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    assert_eq!(
        integration.body["webhook_url"],
        format!("{}/webhooks/pagerduty/{}", app.base, integration.id)
    );
    let answer = enqueued(&app, &event("trigger", &integration.secret)).await;
    assert_eq!(answer["dedup_key"], "srv01/mysql");
    assert_eq!(answer["new_alerts"], 1);
    assert_eq!(answer["alert_groups"][0]["opened"], true);
    assert_eq!(answer["alert_groups"][0]["decision"], "DECLARE");

    let (status, labels, annotations, raw, generator_url): (
        String,
        Value,
        Value,
        Value,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT status::text, labels, annotations, raw, generator_url FROM alerts
         WHERE fingerprint = 'srv01/mysql'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("alert");
    assert_eq!(status, "FIRING");
    assert_eq!(
        labels,
        json!({ "severity": "critical", "source": "prod-datapipe03.example.com",
                "component": "mysql", "group": "prod-datapipe", "class": "disk" })
    );
    assert_eq!(
        annotations,
        json!({ "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                "free space": "1%", "ping time": "1500ms", "load avg": "0.75" })
    );
    assert_eq!(
        generator_url.as_deref(),
        Some("https://monitoring.service.com")
    );
    assert!(raw.get("routing_key").is_none(), "the secret is not stored");
    assert_eq!(raw["payload"]["timestamp"], "2015-07-17T08:42:58.315+0000");

    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    let incident = &declares[0]["data"]["incident"];
    assert_eq!(incident["severity"], "SEV1");
    assert_eq!(
        incident["title"],
        "DISK at 99% on machine prod-datapipe03.example.com"
    );
    let description = incident["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("http://pagerduty.example.com"),
        "{description}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_same_dedup_key_twice_is_one_alert_on_either_url(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    enqueued(&app, &event("trigger", &integration.secret)).await;
    let mut again = event("trigger", &integration.secret);
    again["payload"]["timestamp"] = json!("2015-07-17T08:47:58.315+0000");
    again["payload"]["custom_details"]["free space"] = json!("0%");
    // The integration's own URL, the routing key in the body as its only credential.
    let response = app
        .client
        .post(format!(
            "{}/webhooks/pagerduty/{}",
            app.base, integration.id
        ))
        .json(&again)
        .send()
        .await
        .expect("request");
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["new_alerts"], 0);
    assert_eq!(answer["updated_alerts"], 1);
    assert_eq!(answer["alert_groups"][0]["opened"], false);

    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alerts WHERE notification_count = 2
             AND annotations->>'free space' = '0%'"
        )
        .await,
        1,
        "the repeat refreshes the alert"
    );
    assert_eq!(app.outbox("incident.declare").await.len(), 1);
    assert_eq!(app.outbox("alert_group.opened").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_acknowledge_keeps_the_alert_firing_and_a_resolve_resolves_it_keeping_its_content(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    enqueued(&app, &event("trigger", &integration.secret)).await;

    let ack = enqueued(&app, &event("acknowledge", &integration.secret)).await;
    assert_eq!(ack["dedup_key"], "srv01/mysql");
    assert_eq!(ack["updated_alerts"], 1);
    assert_eq!(ack["alert_groups"], json!([]), "no group changes");
    let acknowledged = || {
        app.count(
            "SELECT count(*) FROM alerts WHERE status = 'FIRING'
             AND annotations ? 'incident_acknowledged_at'",
        )
    };
    assert_eq!(acknowledged().await, 1);
    // A repeat of the trigger keeps the acknowledgement.
    let mut again = event("trigger", &integration.secret);
    again["payload"]["timestamp"] = json!("2015-07-17T08:50:00.000+0000");
    enqueued(&app, &again).await;
    assert_eq!(acknowledged().await, 1);
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'OPEN' AND firing_count = 1")
            .await,
        1
    );

    let resolved = enqueued(&app, &event("resolve", &integration.secret)).await;
    assert_eq!(resolved["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(resolved["alert_groups"][0]["resolved"], true);
    let (labels, summary, group_labels): (Value, Option<String>, Value) = sqlx::query_as(
        "SELECT a.labels, a.annotations->>'summary', g.labels FROM alerts a
         JOIN alert_groups g ON g.id = a.alert_group_id WHERE a.status = 'RESOLVED'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("resolved alert");
    assert_eq!(
        labels["severity"], "critical",
        "the resolve names the alert only"
    );
    assert_eq!(
        summary.as_deref(),
        Some("DISK at 99% on machine prod-datapipe03.example.com")
    );
    assert_eq!(group_labels["group"], "prod-datapipe");
    assert_eq!(app.outbox("alert_group.resolved").await.len(), 1);

    // Acknowledging what is not firing changes nothing, as at PagerDuty.
    let mut unknown = event("acknowledge", &integration.secret);
    unknown["dedup_key"] = json!("never-triggered");
    let answer = enqueued(&app, &unknown).await;
    assert_eq!(answer["stale_notifications"], 1);
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
    let late_ack = enqueued(&app, &event("acknowledge", &integration.secret)).await;
    assert_eq!(late_ack["stale_notifications"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE status = 'RESOLVED'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_resolve_that_arrives_before_its_trigger_leaves_the_alert_resolved_and_declares_nothing(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    let resolved = enqueued(&app, &event("resolve", &integration.secret)).await;
    assert_eq!(resolved["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(resolved["alert_groups"][0]["decision"], "NONE");
    // The trigger, sent before the resolve (its timestamp says so), arrives late.
    let late = enqueued(&app, &event("trigger", &integration.secret)).await;
    app.assert_late_trigger_ignored(&late).await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn severities_follow_the_quiet_defaults_and_a_trigger_without_a_key_gets_one(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    for (key, severity, decision) in [
        ("e", "error", "DECLARE"),
        ("w", "warning", "NONE"),
        ("i", "info", "NONE"),
    ] {
        let mut body = event("trigger", &integration.secret);
        body["dedup_key"] = json!(key);
        body["payload"]["severity"] = json!(severity);
        let answer = enqueued(&app, &body).await;
        assert_eq!(
            answer["alert_groups"][0]["decision"], decision,
            "{severity}"
        );
    }
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV2");

    let mut keyless = event("trigger", &integration.secret);
    keyless.as_object_mut().map(|m| m.remove("dedup_key"));
    let answer = enqueued(&app, &keyless).await;
    let key = answer["dedup_key"].as_str().expect("a generated key");
    assert_eq!(key.len(), 32, "{key}");
    let mut resolve = event("resolve", &integration.secret);
    resolve["dedup_key"] = json!(key);
    let resolved = enqueued(&app, &resolve).await;
    assert_eq!(resolved["alert_groups"][0]["resolved"], true, "{resolved}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn unknown_fields_are_ignored_and_a_missing_required_field_is_a_problem_naming_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    let mut extended = event("trigger", &integration.secret);
    extended["payload"]["priority"] = json!({ "id": "P1", "shape": "future" });
    extended["incident_type"] = json!("major");
    extended["links"][0]["extra"] = json!(true);
    enqueued(&app, &extended).await;

    for (path, field) in [
        (&["payload", "summary"][..], "payload.summary"),
        (&["payload", "source"][..], "payload.source"),
        (&["payload", "severity"][..], "payload.severity"),
        (&["payload"][..], "payload"),
        (&["event_action"][..], "event_action"),
    ] {
        let mut body = event("trigger", &integration.secret);
        let (last, parents) = path.split_last().expect("a path");
        let mut target = &mut body;
        for p in parents {
            target = &mut target[*p];
        }
        target.as_object_mut().map(|m| m.remove(*last));
        let (status, problem) = enqueue(&app, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["type"], "https://incident.dev/problems/validation");
        assert_eq!(problem["field"], field);
        assert_eq!(problem["status"], 422);
        assert_eq!(problem["message"], "Event object is invalid");
        let error = problem["errors"][0].as_str().unwrap_or_default();
        assert!(error.starts_with(field), "{problem}");
    }
    let mut keyless = event("resolve", &integration.secret);
    keyless.as_object_mut().map(|m| m.remove("dedup_key"));
    let (status, problem) = enqueue(&app, &keyless).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "dedup_key");

    let response = app
        .client
        .post(format!("{}/webhooks/pagerduty/v2/enqueue", app.base))
        .header("content-type", "application/json")
        .body("{\"event_action\": ")
        .send()
        .await
        .expect("request");
    let (status, problem) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/malformed");
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_routing_key_or_the_bearer_secret_authenticates_and_nothing_else_does(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = pagerduty(&app).await;
    let alertmanager = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;

    for secret in ["ing_wrong", alertmanager.secret.as_str()] {
        let (status, problem) = enqueue(&app, &event("trigger", secret)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert_eq!(
            problem["type"],
            "https://incident.dev/problems/unauthorized"
        );
        assert_eq!(problem["message"], "Unauthorized");
    }
    let mut anonymous = event("trigger", "");
    anonymous.as_object_mut().map(|m| m.remove("routing_key"));
    let (status, problem) = enqueue(&app, &anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("routing_key"),
        "{problem}"
    );
    let url = format!("{}/webhooks/pagerduty/{}", app.base, integration.id);
    let (status, _) = read(
        app.client
            .post(&url)
            .json(&anonymous)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = read(
        app.client
            .post(&url)
            .bearer_auth(&integration.secret)
            .json(&anonymous)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "the bearer secret: {answer}");
    let (status, _) = read(
        app.client
            .post(format!(
                "{}/webhooks/pagerduty/{}",
                app.base, alertmanager.id
            ))
            .json(&event("trigger", &alertmanager.secret))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an integration answers on its own kind's webhook only"
    );

    let (status, _) = app
        .patch(
            crate::support::ADMIN,
            &format!("/api/v1/integrations/{}", integration.id),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = enqueue(&app, &event("trigger", &integration.secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/integration-disabled"
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 1);
}
