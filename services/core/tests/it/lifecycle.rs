//! The lifecycle: every transition, legal and illegal; timestamps stamped once; reopen.

use incident_schema::IncidentStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

/// Declares an incident and walks it to `status` along the main path.
async fn incident_at(app: &TestApp, status: IncidentStatus) -> Value {
    let incident = app.declare(ADMIN, &format!("at {status}")).await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let path = [
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
        IncidentStatus::Closed,
    ];
    let mut current = incident;
    for step in path {
        if current["status"] == status.as_str() {
            break;
        }
        let (code, body) = app
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{id}/status"),
                json!({ "status": step }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        current = body;
    }
    assert_eq!(current["status"], status.as_str());
    current
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_transition_is_allowed_or_refused_as_the_lifecycle_says(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for &from in IncidentStatus::ALL {
        for &to in IncidentStatus::ALL {
            let incident = incident_at(&app, from).await;
            let id = incident["id"].as_str().expect("id");
            let (code, body) = app
                .post(
                    ADMIN,
                    &format!("/api/v1/incidents/{id}/status"),
                    json!({ "status": to, "message": "test" }),
                )
                .await;
            if from.can_transition_to(to) {
                assert_eq!(code, StatusCode::OK, "{from} -> {to}: {body}");
                assert_eq!(body["status"], to.as_str());
                assert_eq!(
                    body["version"].as_i64(),
                    incident["version"].as_i64().map(|v| v + 1),
                    "{from} -> {to} bumps the version once"
                );
            } else {
                assert_eq!(code, StatusCode::CONFLICT, "{from} -> {to}: {body}");
                assert_eq!(
                    body["type"],
                    "https://incident.dev/problems/illegal-transition"
                );
                let allowed: Vec<&str> = body["allowed"]
                    .as_array()
                    .expect("allowed")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let expected: Vec<&str> = from.allowed_next().iter().map(|s| s.as_str()).collect();
                assert_eq!(allowed, expected, "{from} -> {to}");
                let (_, after) = app.get(ADMIN, &format!("/api/v1/incidents/{id}")).await;
                assert_eq!(
                    after["version"], incident["version"],
                    "a refused move changes nothing"
                );
            }
        }
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn timestamps_are_stamped_once_at_first_arrival_and_kept_across_a_reopen(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "flapping").await;
    let id = incident["id"].as_str().expect("id");
    assert!(incident["acknowledged_at"].is_null());
    let status = |s: &'static str| json!({ "status": s });

    let (_, resolved) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            status("RESOLVED"),
        )
        .await;
    assert!(
        !resolved["acknowledged_at"].is_null(),
        "moving past INVESTIGATING acknowledges"
    );
    assert!(
        resolved["mitigated_at"].is_null(),
        "skipping MONITORING stamps nothing for it"
    );
    let first_resolved = resolved["resolved_at"].clone();
    let first_ack = resolved["acknowledged_at"].clone();

    let (code, reopened) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": "INVESTIGATING", "message": "it came back" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{reopened}");
    assert_eq!(
        reopened["resolved_at"], first_resolved,
        "a reopen keeps the first resolution"
    );

    let (_, monitoring) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            status("MONITORING"),
        )
        .await;
    assert!(!monitoring["mitigated_at"].is_null());
    let (_, resolved_again) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            status("RESOLVED"),
        )
        .await;
    assert_eq!(
        resolved_again["resolved_at"], first_resolved,
        "stamped once, at first arrival"
    );
    assert_eq!(resolved_again["acknowledged_at"], first_ack);
    let (_, closed) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            status("CLOSED"),
        )
        .await;
    assert!(!closed["closed_at"].is_null());

    assert_eq!(
        app.timeline_kinds(id).await,
        [
            "DETECTED",
            "ACKNOWLEDGED",
            "STATUS_CHANGE",
            "STATUS_CHANGE",
            "STATUS_CHANGE",
            "STATUS_CHANGE",
            "STATUS_CHANGE"
        ]
    );
    let (_, timeline) = app
        .get(ADMIN, &format!("/api/v1/incidents/{id}/timeline"))
        .await;
    assert!(
        timeline[3]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Reopened"),
        "{}",
        timeline[3]
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_explicit_acknowledge_stamps_once_without_changing_the_status(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "pager").await;
    let id = incident["id"].as_str().expect("id");
    let (code, acked) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "INVESTIGATING");
    assert!(!acked["acknowledged_at"].is_null());
    let (_, again) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(again["acknowledged_at"], acked["acknowledged_at"]);
    assert_eq!(
        again["version"], acked["version"],
        "a second acknowledge changes nothing"
    );
    let (_, identified) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": "IDENTIFIED" }),
        )
        .await;
    assert_eq!(identified["acknowledged_at"], acked["acknowledged_at"]);
    assert_eq!(
        app.timeline_kinds(id).await,
        ["DETECTED", "ACKNOWLEDGED", "STATUS_CHANGE"]
    );
    assert_eq!(
        app.event_types(id).await,
        [
            "incident.declared",
            "incident.acknowledged",
            "incident.status_changed"
        ]
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn closing_with_open_action_items_needs_force_and_the_force_is_recorded(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = incident_at(&app, IncidentStatus::Resolved).await;
    let id = incident["id"].as_str().expect("id");
    // The postmortem service owns these tables; write its rows directly for the test.
    sqlx::query(
        "WITH p AS (INSERT INTO postmortems (incident_id, workspace_id) SELECT id, workspace_id FROM incidents WHERE id = $1::uuid RETURNING id, workspace_id)
         INSERT INTO action_items (postmortem_id, workspace_id, description, status, completed_at)
         SELECT p.id, p.workspace_id, d, s::action_item_status, CASE WHEN s = 'DONE' THEN now() END
         FROM p, (VALUES ('add an alert', 'OPEN'), ('write a runbook', 'DONE')) AS v(d, s)",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .expect("postmortem rows");
    sqlx::query("UPDATE action_items SET completed_at = now() WHERE status = 'DONE'")
        .execute(&app.pool)
        .await
        .ok();

    let (code, problem) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": "CLOSED" }),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/open-action-items"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1 open action item"),
        "{problem}"
    );

    let (code, closed) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": "CLOSED", "force": true }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "CLOSED");
    let (_, timeline) = app
        .get(ADMIN, &format!("/api/v1/incidents/{id}/timeline"))
        .await;
    let last = timeline
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["data"]["forced"], true, "{last}");
    assert_eq!(last["data"]["open_action_items"], 1);
    let events = app.events_of(id).await;
    assert_eq!(
        events.last().map(|e| e["data"]["forced"].clone()),
        Some(json!(true))
    );
}
