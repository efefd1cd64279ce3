//! The quiet defaults: an integration created without rules declares for `critical`
//! (SEV1) and `error`/`high` (SEV2) only; a warning, or an alert without a severity
//! label, opens or joins its group without an incident. An integration created before
//! the defaults changed keeps the rules it was created with.

use incident_runtime::api::token;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{Created, TestApp, am_alert, am_notification};

const T0: &str = "2026-01-27T10:00:00Z";

/// A notification of one firing alert `name` with `labels`, in a group of its own.
fn alone(name: &str, labels: Value) -> Value {
    am_notification(
        &format!("{{}}:{{alertname=\"{name}\"}}"),
        vec![am_alert(name, "firing", labels, T0, None)],
    )
}

/// The rules every integration was created with before the quiet defaults, as such a
/// row holds them: warnings and unlabelled alerts declare a SEV3.
fn pre_upgrade_rules() -> Value {
    let matcher = |values: &[&str]| json!([{ "label": "severity", "one_of": values }]);
    json!([
        { "name": "critical", "matchers": matcher(&["critical"]), "declare": true, "severity": "SEV1", "join_open_incident": true },
        { "name": "error", "matchers": matcher(&["error", "high", "major"]), "declare": true, "severity": "SEV2", "join_open_incident": true },
        { "name": "warning", "matchers": matcher(&["warning"]), "declare": true, "severity": "SEV3", "join_open_incident": true },
        { "name": "informational", "matchers": matcher(&["info", "low", "none"]), "declare": false, "join_open_incident": true },
        { "name": "anything else", "matchers": [], "declare": true, "severity": "SEV3", "join_open_incident": true }
    ])
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_warning_and_an_unlabelled_alert_open_their_groups_without_declaring(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    for (name, labels) in [
        (
            "DiskFilling",
            json!({ "alertname": "DiskFilling", "severity": "warning" }),
        ),
        (
            "Unlabelled",
            json!({ "alertname": "Unlabelled", "service": "search" }),
        ),
        (
            "Chatty",
            json!({ "alertname": "Chatty", "severity": "info" }),
        ),
    ] {
        let answer = app
            .accepted("alertmanager", &integration, &alone(name, labels))
            .await;
        let group = &answer["alert_groups"][0];
        assert_eq!(group["opened"], true, "{name}: {answer}");
        assert_eq!(group["status"], "OPEN", "{name}");
        assert_eq!(group["decision"], "NONE", "{name}: {answer}");
    }
    // A second warning of the same group joins it, still without an incident.
    let answer = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                "{}:{alertname=\"DiskFilling\"}",
                vec![am_alert(
                    "DiskFilling-2",
                    "firing",
                    json!({ "alertname": "DiskFilling", "severity": "warning", "host": "b" }),
                    T0,
                    None,
                )],
            ),
        )
        .await;
    assert_eq!(answer["alert_groups"][0]["opened"], false, "{answer}");
    assert_eq!(answer["alert_groups"][0]["decision"], "NONE");

    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 3);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'OPEN' AND severity IS NULL")
            .await,
        3
    );
    assert!(app.outbox("incident.declare").await.is_empty());
    assert_eq!(
        app.outbox("alert_group.opened").await.len(),
        3,
        "the groups are still announced"
    );
    let id = answer["alert_groups"][0]["id"].as_str().expect("id");
    let (_, group) = app
        .get(crate::support::ADMIN, &format!("/api/v1/alert-groups/{id}"))
        .await;
    let reason = group["explanation"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("anything else"),
        "the explanation names the rule: {group}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn critical_declares_a_sev1_and_high_and_error_declare_a_sev2(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    for (name, severity) in [("Down", "critical"), ("Slow", "high"), ("Failing", "error")] {
        let answer = app
            .accepted(
                "alertmanager",
                &integration,
                &alone(name, json!({ "alertname": name, "severity": severity })),
            )
            .await;
        assert_eq!(
            answer["alert_groups"][0]["decision"], "DECLARE",
            "{severity}"
        );
    }
    let severities: Vec<Value> = app
        .outbox("incident.declare")
        .await
        .iter()
        .map(|c| c["data"]["incident"]["severity"].clone())
        .collect();
    assert_eq!(severities, [json!("SEV1"), json!("SEV2"), json!("SEV2")]);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_integration_created_before_the_quiet_defaults_still_declares_a_sev3_for_a_warning(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let secret = "ing_000000000000000000000000000000000000000000000042".to_owned();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash, rules)
         VALUES ($1, 'alertmanager', 'prometheus (2025)', $2, $3) RETURNING id",
    )
    .bind(app.workspace_id)
    .bind(token::hash(&secret))
    .bind(pre_upgrade_rules())
    .fetch_one(&app.pool)
    .await
    .expect("a pre-upgrade row");
    let integration = Created {
        id,
        secret,
        body: Value::Null,
    };
    let answer = app
        .accepted(
            "alertmanager",
            &integration,
            &alone(
                "DiskFilling",
                json!({ "alertname": "DiskFilling", "severity": "warning" }),
            ),
        )
        .await;
    assert_eq!(answer["alert_groups"][0]["decision"], "DECLARE", "{answer}");
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV3");
    let stored: Value = sqlx::query_scalar("SELECT rules FROM integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("rules");
    assert_eq!(stored, pre_upgrade_rules(), "its rules were not rewritten");
}
