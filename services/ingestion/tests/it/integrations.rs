//! Integrations through the API: created with a secret shown once and a ready webhook
//! URL, read, changed, rotated, deleted; admins only, one workspace at a time.

use incident_runtime::api::token;
use incident_schema::AccessRole;
use incident_schema::auth::{NewApiToken, insert_api_token};
use incident_schema::workspace::create_workspace;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

fn generic_alert() -> serde_json::Value {
    json!({ "title": "Queue backlog", "severity": "warning", "dedup_key": "q" })
}

/// A token of `role` in `workspace_id` (inserted directly: core's token API is not served here).
async fn token_in(pool: &PgPool, workspace_id: Uuid, role: AccessRole) -> String {
    let material = token::generate();
    let mut conn = pool.acquire().await.expect("conn");
    insert_api_token(
        &mut conn,
        &NewApiToken {
            workspace_id,
            user_id: None,
            name: "test",
            role,
            is_instance_admin: false,
            prefix: &material.prefix,
            token_hash: &material.hash,
            expires_at: None,
        },
    )
    .await
    .expect("token");
    material.secret
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn creating_an_integration_answers_its_secret_once_and_a_ready_webhook_url(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .integration(json!({ "kind": "alertmanager", "name": " prometheus-prod " }))
        .await;
    let body = &created.body;
    assert_eq!(body["name"], "prometheus-prod");
    assert_eq!(body["kind"], "alertmanager");
    assert_eq!(body["enabled"], true);
    assert!(created.secret.starts_with("ing_"), "{}", created.secret);
    let url = format!("{}/webhooks/alertmanager/{}", app.base, created.id);
    assert_eq!(body["webhook_url"], url);
    assert_eq!(
        body["webhook_url_with_token"],
        format!("{url}?token={}", created.secret)
    );
    let rules = body["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 3, "the default rules: {body}");
    assert_eq!(rules[0]["severity"], "SEV1");
    assert_eq!(rules[1]["severity"], "SEV2");
    assert_eq!(rules[2]["declare"], false, "anything else declares nothing");

    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM integrations WHERE id = $1")
        .bind(created.id)
        .fetch_one(&app.pool)
        .await
        .expect("row");
    assert_eq!(
        stored,
        token::hash(&created.secret),
        "only the hash is stored"
    );

    let (status, one) = app
        .get(ADMIN, &format!("/api/v1/integrations/{}", created.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(one.get("secret").is_none(), "never shown again: {one}");
    assert_eq!(one["webhook_url"], url);
    let (_, all) = app.get(ADMIN, "/api/v1/integrations").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    assert!(all[0].get("secret").is_none());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_public_url_is_used_for_webhook_urls_when_configured(pool: PgPool) {
    let app = TestApp::spawn_with(pool, Some("https://incidents.example.com/")).await;
    let created = app
        .integration(json!({ "kind": "grafana", "name": "grafana" }))
        .await;
    assert_eq!(
        created.body["webhook_url"],
        format!(
            "https://incidents.example.com/webhooks/grafana/{}",
            created.id
        )
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn rotating_the_secret_locks_the_old_one_out(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut created = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    app.accepted("generic", &created, &generic_alert()).await;

    let (status, rotated) = app
        .post(
            ADMIN,
            &format!("/api/v1/integrations/{}/rotate-secret", created.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, created.secret);

    let (status, problem) = app.webhook("generic", &created, &generic_alert()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    created.secret = new_secret;
    app.accepted("generic", &created, &generic_alert()).await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn patching_changes_rules_grouping_and_the_storm_guard_and_null_clears_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    let path = format!("/api/v1/integrations/{}", created.id);
    let (status, patched) = app
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({
                "name": "batch jobs",
                "rules": [{ "name": "all", "severity": "SEV2" }],
                "grouping_key": " alertname , service ",
                "max_incidents_per_minute": 5,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "batch jobs");
    assert_eq!(
        patched["rules"],
        json!([{ "name": "all", "matchers": [], "declare": true, "severity": "SEV2", "join_open_incident": true }])
    );
    assert_eq!(patched["grouping_key"], "alertname,service");
    assert_eq!(patched["max_incidents_per_minute"], 5);

    let (_, cleared) = app
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({ "grouping_key": null, "max_incidents_per_minute": null })),
        )
        .await;
    assert_eq!(cleared["grouping_key"], serde_json::Value::Null);
    assert_eq!(cleared["max_incidents_per_minute"], serde_json::Value::Null);
    assert_eq!(cleared["name"], "batch jobs", "absent fields stay");

    let (_, disabled) = app
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    let (status, problem) = app.webhook("generic", &created, &generic_alert()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/integration-disabled"
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn invalid_settings_get_a_validation_problem_naming_the_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cases = [
        (json!({ "kind": "nagios", "name": "x" }), "kind"),
        (json!({ "kind": "generic", "name": "" }), "name"),
        (json!({ "kind": "generic" }), "body"),
        (
            json!({ "kind": "generic", "name": "x", "surprise": true }),
            "surprise",
        ),
        (
            json!({ "kind": "generic", "name": "x", "rules": [{ "matchers": [{ "label": "a" }], "severity": "SEV1" }] }),
            "rules[0].matchers[0]",
        ),
        (
            json!({ "kind": "generic", "name": "x", "rules": [{ "name": "no severity" }] }),
            "rules[0].severity",
        ),
        (
            json!({ "kind": "generic", "name": "x", "rules": [{ "severity": "SEV9" }] }),
            "rules[0].severity",
        ),
        (
            json!({ "kind": "generic", "name": "x", "grouping_key": "a,,b" }),
            "grouping_key",
        ),
        (
            json!({ "kind": "generic", "name": "x", "max_incidents_per_minute": 0 }),
            "max_incidents_per_minute",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post(ADMIN, "/api/v1/integrations", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["type"], "https://incident.dev/problems/validation");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    assert_eq!(app.count("SELECT count(*) FROM integrations").await, 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_duplicate_name_is_a_conflict(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    let (status, problem) = app
        .post(
            ADMIN,
            "/api/v1/integrations",
            json!({ "kind": "grafana", "name": "cron" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/conflict");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn only_admins_manage_integrations_and_another_workspace_sees_none(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    let responder = token_in(&app.pool, app.workspace_id, AccessRole::Responder).await;
    let (status, _) = app.get(&responder, "/api/v1/integrations").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &responder,
            "/api/v1/integrations",
            json!({ "kind": "generic", "name": "mine" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let other = {
        let mut conn = app.pool.acquire().await.expect("conn");
        create_workspace(&mut conn, "other", "Other")
            .await
            .expect("workspace")
    };
    let other_admin = token_in(&app.pool, other.id, AccessRole::Admin).await;
    let path = format!("/api/v1/integrations/{}", created.id);
    let (status, _) = app.get(&other_admin, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            &other_admin,
            Method::PATCH,
            &path,
            Some(json!({ "name": "stolen" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(&other_admin, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.get(&other_admin, "/api/v1/integrations").await;
    assert_eq!(listed, json!([]));
    let (status, _) = app.get("inc_not-a-token", "/api/v1/integrations").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn deleting_an_integration_removes_it_with_its_alerts_and_groups(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    app.accepted("generic", &created, &generic_alert()).await;
    let path = format!("/api/v1/integrations/{}", created.id);
    let (status, _) = app.call(ADMIN, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(ADMIN, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 0);
    let (status, _) = app.webhook("generic", &created, &generic_alert()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
