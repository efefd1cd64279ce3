//! Explainable grouping and decisions: a group says why it was grouped and why it
//! declared, joined or did nothing; a dry run shows all that without storing anything;
//! grouping labels and open incidents of the same service change what happens.

use chrono::Utc;
use incident_schema::incident::{NewIncident, insert_incident};
use incident_schema::workspace::next_incident_number;
use incident_schema::{Severity, Visibility};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp, am_alert, am_notification};

const T0: &str = "2026-11-27T10:00:00Z";

fn firing(fingerprint: &str, labels: Value) -> Value {
    am_alert(fingerprint, "firing", labels, T0, None)
}

/// An open incident covering `service`, as core would have made it.
async fn open_incident(app: &TestApp, service: &str) -> Uuid {
    let mut tx = app.pool.begin().await.expect("tx");
    let number = next_incident_number(&mut tx, app.workspace_id)
        .await
        .expect("number");
    let incident = insert_incident(
        &mut tx,
        &NewIncident {
            workspace_id: app.workspace_id,
            number,
            title: "Checkout degraded",
            description: "",
            severity: Severity::Sev2,
            impact: None,
            detected_at: Utc::now(),
            sla_deadline: None,
            sla_resolve_deadline: None,
            commander_id: None,
            is_drill: false,
            visibility: Visibility::Public,
            declared_by: None,
            idempotency_key: None,
        },
    )
    .await
    .expect("incident");
    sqlx::query(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact) VALUES ($1, $2, $3, 'DEGRADED')",
    )
    .bind(incident.id)
    .bind(app.workspace_id)
    .bind(service)
    .execute(&mut *tx)
    .await
    .expect("service");
    tx.commit().await.expect("commit");
    incident.id
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_group_explains_why_it_was_grouped_and_why_it_declared(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let answer = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                "{}:{alertname=\"Latency\"}",
                vec![
                    firing("l1", json!({ "alertname": "Latency", "severity": "info" })),
                    firing(
                        "l2",
                        json!({ "alertname": "Latency", "severity": "critical", "service": "api" }),
                    ),
                ],
            ),
        )
        .await;
    let id = answer["alert_groups"][0]["id"].as_str().expect("id");
    let (status, group) = app.get(ADMIN, &format!("/api/v1/alert-groups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{group}");
    let explanation = &group["explanation"];
    assert_eq!(explanation["grouping"]["by"], "alertmanager groupKey");
    assert_eq!(explanation["grouping"]["key"], "{}:{alertname=\"Latency\"}");
    assert_eq!(explanation["decision"], "DECLARE");
    assert_eq!(explanation["rule"]["name"], "critical");
    assert_eq!(explanation["rule"]["matched"], "severity in [critical]");
    assert_eq!(explanation["alert"], "l2");
    let reason = explanation["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("\"critical\" (#0)") && reason.contains("SEV1"),
        "{reason}"
    );
    let evaluated = explanation["evaluated"].as_array().expect("evaluated");
    assert_eq!(evaluated.len(), 2);
    assert_eq!(
        evaluated[0]["matched"], "\"anything else\" (#2)",
        "an info alert matches the quiet catch-all"
    );
    assert_eq!(group["decision"], "DECLARE");
    assert_eq!(group["severity"], "SEV1");
    assert_eq!(group["service"], "api");
    assert_eq!(group["alerts"].as_array().map(Vec::len), Some(2));

    let (status, listed) = app.get(ADMIN, "/api/v1/alert-groups?status=OPEN").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (_, none) = app.get(ADMIN, "/api/v1/alert-groups?status=RESOLVED").await;
    assert_eq!(none, json!([]));
    let (status, problem) = app.get(ADMIN, "/api/v1/alert-groups?status=BURNING").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app
        .get(ADMIN, &format!("/api/v1/alert-groups/{}", Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_dry_run_shows_what_would_happen_and_stores_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let sample = am_notification(
        "{}:{alertname=\"CPU\"}",
        vec![firing(
            "c1",
            json!({ "alertname": "CPU", "severity": "error", "service": "batch" }),
        )],
    );
    let (status, plan) = app
        .post(
            ADMIN,
            &format!("/api/v1/integrations/{}/dry-run", integration.id),
            sample,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["new_alerts"], 1);
    let group = &plan["alert_groups"][0];
    assert_eq!(group["opened"], true);
    assert_eq!(group["decision"], "DECLARE");
    assert_eq!(group["explanation"]["severity"], "SEV2");
    let types: Vec<&str> = plan["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["type"].as_str())
        .collect();
    assert!(
        types.contains(&"incident.declare") && types.contains(&"alert_group.opened"),
        "{types:?}"
    );
    for table in ["alerts", "alert_groups", "outbox"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    let (status, problem) = app
        .post(
            ADMIN,
            &format!("/api/v1/integrations/{}/dry-run", integration.id),
            json!({ "version": "4" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn grouping_labels_override_the_source_grouping(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(
            json!({ "kind": "alertmanager", "name": "prometheus", "grouping_key": "alertname" }),
        )
        .await;
    for (key, fingerprint) in [("{}:{instance=\"a\"}", "g1"), ("{}:{instance=\"b\"}", "g2")] {
        app.accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![firing(
                    fingerprint,
                    json!({ "alertname": "Down", "severity": "critical" }),
                )],
            ),
        )
        .await;
    }
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 1);
    let (key, explanation): (String, Value) =
        sqlx::query_as("SELECT group_key, explanation FROM alert_groups")
            .fetch_one(&app.pool)
            .await
            .expect("group");
    assert_eq!(key, "{alertname=\"Down\"}");
    assert_eq!(
        explanation["grouping"]["by"],
        "labels alertname (the integration's grouping key)"
    );
    assert_eq!(app.outbox("incident.declare").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_open_incident_of_the_same_service_is_joined_instead_of_declaring_again(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = open_incident(&app, "Checkout").await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let answer = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                "{}:{alertname=\"Errors\"}",
                vec![firing(
                    "e1",
                    json!({ "alertname": "Errors", "severity": "critical", "service": "checkout" }),
                )],
            ),
        )
        .await;
    assert_eq!(answer["alert_groups"][0]["decision"], "JOIN");
    assert!(app.outbox("incident.declare").await.is_empty());
    let links = app.outbox("incident.link_alert_group").await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["data"]["incident_id"], incident.to_string());
    assert_eq!(
        links[0]["data"]["alert_group_id"],
        answer["alert_groups"][0]["id"]
    );
    let explanation: Value = sqlx::query_scalar("SELECT explanation FROM alert_groups")
        .fetch_one(&app.pool)
        .await
        .expect("explanation");
    let why = explanation["join"]["why"].as_str().unwrap_or_default();
    assert!(why.contains("INC-1") && why.contains("checkout"), "{why}");

    // A rule may opt out of joining.
    let own = app
        .integration(json!({ "kind": "alertmanager", "name": "own", "rules": [{ "severity": "SEV2", "join_open_incident": false }] }))
        .await;
    let answer = app
        .accepted(
            "alertmanager",
            &own,
            &am_notification(
                "{}:{alertname=\"Errors\"}",
                vec![firing(
                    "e1",
                    json!({ "alertname": "Errors", "service": "checkout" }),
                )],
            ),
        )
        .await;
    assert_eq!(answer["alert_groups"][0]["decision"], "DECLARE");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn groups_of_one_service_declare_once_while_core_has_not_confirmed_yet(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let labels =
        |name: &str| json!({ "alertname": name, "severity": "critical", "service": "search" });
    let first = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification("{}:{alertname=\"A\"}", vec![firing("a", labels("A"))]),
        )
        .await;
    let second = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                "{}:{alertname=\"B\"}",
                vec![
                    firing("b", labels("B")),
                    firing(
                        "c",
                        json!({ "alertname": "C", "severity": "critical", "service": "search" }),
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(first["alert_groups"][0]["decision"], "DECLARE");
    assert_eq!(second["alert_groups"][0]["decision"], "JOIN");
    assert_eq!(app.outbox("incident.declare").await.len(), 1);
    let waiting: Option<Uuid> =
        sqlx::query_scalar("SELECT join_group_id FROM alert_groups WHERE id = $1")
            .bind(
                second["alert_groups"][0]["id"]
                    .as_str()
                    .expect("id")
                    .parse::<Uuid>()
                    .expect("uuid"),
            )
            .fetch_one(&app.pool)
            .await
            .expect("group");
    assert_eq!(
        waiting.map(|w| w.to_string()),
        first["alert_groups"][0]["id"].as_str().map(str::to_owned),
        "the second group waits for the first group's incident"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_group_no_rule_declares_decides_again_when_a_declaring_alert_fires_in_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let key = "{}:{alertname=\"Queue\"}";
    let quiet = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![firing(
                    "q1",
                    json!({ "alertname": "Queue", "severity": "info" }),
                )],
            ),
        )
        .await;
    assert_eq!(quiet["alert_groups"][0]["decision"], "NONE");
    assert!(app.outbox("incident.declare").await.is_empty());
    let loud = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![
                    firing("q1", json!({ "alertname": "Queue", "severity": "info" })),
                    firing(
                        "q2",
                        json!({ "alertname": "Queue", "severity": "critical" }),
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(loud["alert_groups"][0]["decision"], "DECLARE");
    assert_eq!(
        loud["alert_groups"][0]["id"],
        quiet["alert_groups"][0]["id"]
    );
    assert_eq!(app.outbox("incident.declare").await.len(), 1);
}

/// A token of `role` acting for a new user of the workspace: (secret, user id).
async fn person_token(app: &TestApp, role: &str) -> (String, Uuid) {
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO users (workspace_id, email, display_name)
         VALUES ($1, gen_random_uuid() || '@example.com', 'Someone') RETURNING id",
    )
    .bind(app.workspace_id)
    .fetch_one(&app.pool)
    .await
    .expect("user");
    let secret = format!("inc_test_{}", Uuid::now_v7().simple());
    sqlx::query(
        "INSERT INTO api_tokens (workspace_id, user_id, name, role, prefix, token_hash)
         VALUES ($1, $2, 'test', $3::access_role, 'inc_test', $4)",
    )
    .bind(app.workspace_id)
    .bind(user)
    .bind(role)
    .bind(incident_runtime::api::token::hash(&secret))
    .execute(&app.pool)
    .await
    .expect("token");
    (secret, user)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_group_linked_to_a_private_incident_is_found_only_by_those_who_may_read_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let answer = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                "{}:{alertname=\"Secret\"}",
                vec![firing(
                    "s1",
                    json!({ "alertname": "Secret", "service": "vault" }),
                )],
            ),
        )
        .await;
    let group = answer["alert_groups"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let incident = open_incident(&app, "vault").await;
    sqlx::query("UPDATE incidents SET visibility = 'PRIVATE' WHERE id = $1")
        .bind(incident)
        .execute(&app.pool)
        .await
        .expect("private");
    sqlx::query("UPDATE alert_groups SET incident_id = $2 WHERE id = $1::uuid")
        .bind(&group)
        .bind(incident)
        .execute(&app.pool)
        .await
        .expect("link");

    let (viewer, _) = person_token(&app, "viewer").await;
    let (responder, _) = person_token(&app, "responder").await;
    let (commander, commander_id) = person_token(&app, "viewer").await;
    sqlx::query("UPDATE incidents SET commander_id = $2 WHERE id = $1")
        .bind(incident)
        .bind(commander_id)
        .execute(&app.pool)
        .await
        .expect("commander");

    let listed = |body: &Value| {
        body.as_array()
            .expect("groups")
            .iter()
            .any(|g| g["id"] == json!(group))
    };
    for token in [&viewer, &responder] {
        let (status, problem) = app
            .get(token, &format!("/api/v1/alert-groups/{group}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        let (status, body) = app.get(token, "/api/v1/alert-groups").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!listed(&body), "{body}");
        let (_, body) = app
            .get(
                token,
                &format!("/api/v1/alert-groups?incident_id={incident}"),
            )
            .await;
        assert_eq!(body, json!([]));
    }
    for token in [ADMIN, commander.as_str()] {
        let (status, body) = app
            .get(token, &format!("/api/v1/alert-groups/{group}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["incident_id"], json!(incident));
        let (_, body) = app.get(token, "/api/v1/alert-groups").await;
        assert!(listed(&body), "{body}");
    }
}
