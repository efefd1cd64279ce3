//! The webhooks: what each source sends is stored and grouped, a new group sends one
//! declare command; bad requests get their problem and store nothing; repeated,
//! redelivered and out-of-order notifications converge on the right state.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{Created, TestApp, am_alert, am_notification};

const T0: &str = "2026-01-27T10:00:00.123456789Z";
const T1: &str = "2026-01-27T10:05:00Z";
const T2: &str = "2026-01-27T10:10:00Z";

async fn alertmanager(app: &TestApp) -> Created {
    app.integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await
}

fn checkout_batch() -> Value {
    am_notification(
        "{}:{alertname=\"HighErrorRate\"}",
        vec![
            am_alert(
                "aaaa000000000001",
                "firing",
                json!({ "alertname": "HighErrorRate", "severity": "warning", "service": "checkout", "instance": "a" }),
                T0,
                None,
            ),
            am_alert(
                "aaaa000000000002",
                "firing",
                json!({ "alertname": "HighErrorRate", "severity": "critical", "service": "checkout", "instance": "b" }),
                T0,
                None,
            ),
            am_alert(
                "aaaa000000000003",
                "firing",
                json!({ "alertname": "HighErrorRate", "severity": "warning", "service": "checkout", "instance": "c" }),
                T0,
                None,
            ),
        ],
    )
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_alertmanager_batch_opens_one_group_and_sends_one_declare_command_with_the_rule_severity(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let answer = app
        .accepted("alertmanager", &integration, &checkout_batch())
        .await;
    assert_eq!(answer["accepted"], 3);
    assert_eq!(answer["new_alerts"], 3);
    let groups = answer["alert_groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["opened"], true);
    assert_eq!(groups[0]["status"], "OPEN");
    assert_eq!(groups[0]["decision"], "DECLARE");
    let group_id = groups[0]["id"].as_str().expect("id").to_owned();

    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 3);
    let (count, firing, severity, service, labels): (i32, i32, String, String, Value) =
        sqlx::query_as(
            "SELECT alert_count, firing_count, severity::text, service, labels FROM alert_groups",
        )
        .fetch_one(&app.pool)
        .await
        .expect("group");
    assert_eq!((count, firing), (3, 3));
    assert_eq!(severity, "SEV1", "the most severe declaring rule wins");
    assert_eq!(service, "checkout");
    assert_eq!(
        labels,
        json!({ "alertname": "HighErrorRate", "service": "checkout" }),
        "the labels every alert shares"
    );
    let raw: Value =
        sqlx::query_scalar("SELECT raw FROM alerts WHERE fingerprint = 'aaaa000000000002'")
            .fetch_one(&app.pool)
            .await
            .expect("raw");
    assert_eq!(raw["startsAt"], T0, "the alert is kept as sent");

    let opened = app.outbox("alert_group.opened").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["data"]["alert_group"]["id"], group_id);
    let commands = app.outbox("incident.declare").await;
    assert_eq!(commands.len(), 1);
    let command = &commands[0];
    assert_eq!(command["data"]["idempotency_key"], group_id);
    assert_eq!(
        command["data"]["incident"]["alert_group_ids"],
        json!([group_id])
    );
    assert_eq!(command["data"]["incident"]["severity"], "SEV1");
    let (exchange, routing_key, mandatory): (String, String, bool) = sqlx::query_as(
        "SELECT exchange, routing_key, mandatory FROM outbox WHERE message_type = 'incident.declare'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("row");
    assert_eq!(
        (exchange.as_str(), routing_key.as_str(), mandatory),
        ("incidents.commands", "incident.declare", true)
    );
    insta::assert_json_snapshot!("declare_command", command, {
        ".id" => "[id]", ".correlation_id" => "[id]", ".occurred_at" => "[time]", ".workspace_id" => "[id]",
        ".data.idempotency_key" => "[group id]", ".data.incident.alert_group_ids[0]" => "[group id]",
        ".data.incident.description" => insta::dynamic_redaction(|value, _| {
            let text = value.as_str().unwrap_or_default().to_owned();
            let mut words: Vec<String> = text.split(' ').map(str::to_owned).collect();
            for w in &mut words {
                if Uuid::parse_str(w).is_ok() {
                    *w = "[group id]".into();
                }
            }
            insta::internals::Content::from(words.join(" "))
        }),
    });
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn grafana_and_generic_notifications_are_accepted_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let grafana = app
        .integration(json!({ "kind": "grafana", "name": "grafana" }))
        .await;
    let body = json!({
        "receiver": "incident", "status": "firing", "orgId": 1, "version": "1",
        "groupKey": "{}:{alertname=\"High memory\"}", "truncatedAlerts": 0,
        "title": "[FIRING:1] High memory", "state": "alerting", "message": "m",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "https://grafana/",
        "alerts": [{
            "status": "firing", "labels": { "alertname": "High memory", "severity": "critical" },
            "annotations": { "summary": "memory above 90%" },
            "startsAt": "2026-11-27T10:00:00.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana/alerting/x/edit", "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana/silence", "dashboardURL": "", "panelURL": "",
            "values": { "B": 44.2 }, "valueString": "[ var='B' value=44.2 ]"
        }]
    });
    let answer = app.accepted("grafana", &grafana, &body).await;
    assert_eq!(answer["alert_groups"][0]["decision"], "DECLARE");

    let generic = app
        .integration(json!({ "kind": "generic", "name": "cron" }))
        .await;
    let answer = app
        .accepted(
            "generic",
            &generic,
            &json!({ "title": "Nightly backup failed", "severity": "error", "dedup_key": "backup", "service": "db",
                     "links": [{ "href": "https://ci/backup/42", "text": "build" }] }),
        )
        .await;
    assert_eq!(answer["accepted"], 1);
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 2);
    assert_eq!(declares[0]["data"]["incident"]["title"], "memory above 90%");
    assert_eq!(declares[1]["data"]["incident"]["severity"], "SEV2");
    assert_eq!(
        declares[1]["data"]["incident"]["affected_services"],
        json!([{ "name": "db", "impact": "DEGRADED" }])
    );
    let description = declares[1]["data"]["incident"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("https://ci/backup/42"),
        "{description}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_token_query_parameter_authenticates_like_the_bearer_header(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let url = integration.body["webhook_url_with_token"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = app
        .client
        .post(url)
        .json(&checkout_batch())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 3);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn bad_requests_get_their_problem_and_store_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let url = format!("{}/webhooks/alertmanager/{}", app.base, integration.id);
    let send = |url: String, secret: Option<String>, body: Vec<u8>| {
        let mut request = app
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        async move { crate::support::read(request.send().await.expect("request")).await }
    };
    let secret = Some(integration.secret.clone());
    let valid = serde_json::to_vec(&checkout_batch()).expect("json");

    let (status, problem) = send(
        url.clone(),
        secret.clone(),
        b"{\"version\": \"4\", ".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/malformed");

    let wrong_shape = json!({ "version": "4", "alerts": [{ "status": "firing", "labels": {}, "startsAt": "yesterday" }] });
    let (status, problem) = send(
        url.clone(),
        secret.clone(),
        serde_json::to_vec(&wrong_shape).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/validation");
    assert_eq!(problem["field"], "alerts[0].startsAt");

    let huge = {
        let alerts: Vec<Value> = (0..4000)
            .map(|i| {
                am_alert(
                    &format!("{i:016x}"),
                    "firing",
                    json!({ "alertname": "Big", "padding": "x".repeat(200) }),
                    T0,
                    None,
                )
            })
            .collect();
        serde_json::to_vec(&am_notification("{}:{}", alerts)).expect("json")
    };
    assert!(huge.len() > 1024 * 1024);
    let (status, problem) = send(url.clone(), secret.clone(), huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/payload-too-large"
    );

    let unknown = format!("{}/webhooks/alertmanager/{}", app.base, Uuid::now_v7());
    let (status, problem) = send(unknown, secret.clone(), valid.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/not-found");
    let (status, _) = send(
        format!("{}/webhooks/alertmanager/not-an-id", app.base),
        secret.clone(),
        valid.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other_kind = format!("{}/webhooks/grafana/{}", app.base, integration.id);
    let (status, _) = send(other_kind, secret.clone(), valid.clone()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an integration answers on its own kind's webhook only"
    );

    let (status, problem) = send(url.clone(), Some("ing_wrong".into()), valid.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/unauthorized"
    );
    let (status, _) = send(format!("{url}?token=ing_wrong"), None, valid.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, problem) = send(url.clone(), None, valid.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("token="),
        "the problem says how to authenticate: {problem}"
    );

    for table in ["alerts", "alert_groups", "outbox"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} stays empty"
        );
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn repeated_and_redelivered_notifications_update_alerts_without_duplicating_them(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let first = app
        .accepted("alertmanager", &integration, &checkout_batch())
        .await;
    let mut again = checkout_batch();
    again["alerts"][0]["annotations"]["summary"] = json!("still unwell");
    let second = app.accepted("alertmanager", &integration, &again).await;
    let third = app.accepted("alertmanager", &integration, &again).await;
    assert_eq!(second["new_alerts"], 0);
    assert_eq!(second["updated_alerts"], 3);
    assert_eq!(second["alert_groups"][0]["opened"], false);
    assert_eq!(
        second["alert_groups"][0]["id"],
        first["alert_groups"][0]["id"]
    );
    assert_eq!(third["alert_groups"][0]["decision"], "DECLARE");

    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE notification_count = 3")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE annotations->>'summary' = 'still unwell'")
            .await,
        1,
        "a repeat refreshes the alert's content"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE alert_count = 3 AND firing_count = 3")
            .await,
        1
    );
    assert_eq!(
        app.outbox("incident.declare").await.len(),
        1,
        "one declare, whatever the repeats"
    );
    assert_eq!(app.outbox("alert_group.opened").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_group_resolves_when_every_alert_has_resolved_and_a_refiring_alert_opens_a_new_group(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let key = "{}:{alertname=\"DiskFull\"}";
    let labels =
        |host: &str| json!({ "alertname": "DiskFull", "severity": "critical", "host": host });
    app.accepted(
        "alertmanager",
        &integration,
        &am_notification(
            key,
            vec![
                am_alert("d1", "firing", labels("a"), T0, None),
                am_alert("d2", "firing", labels("b"), T0, None),
            ],
        ),
    )
    .await;
    let partly = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![
                    am_alert("d1", "resolved", labels("a"), T0, Some(T1)),
                    am_alert("d2", "firing", labels("b"), T0, None),
                ],
            ),
        )
        .await;
    assert_eq!(
        partly["alert_groups"][0]["status"], "OPEN",
        "d2 still fires"
    );
    assert!(app.outbox("alert_group.resolved").await.is_empty());

    let done = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![
                    am_alert("d1", "resolved", labels("a"), T0, Some(T1)),
                    am_alert("d2", "resolved", labels("b"), T0, Some(T1)),
                ],
            ),
        )
        .await;
    assert_eq!(done["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(done["alert_groups"][0]["resolved"], true);
    let resolved = app.outbox("alert_group.resolved").await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["data"]["alert_group"]["alert_count"], 2);
    assert_eq!(resolved[0]["data"]["incident_id"], Value::Null);
    assert!(
        app.outbox("incident.add_update").await.is_empty(),
        "no incident linked yet: nothing to note"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED' AND resolved_at IS NOT NULL")
            .await,
        1
    );

    let again = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(key, vec![am_alert("d1", "firing", labels("a"), T2, None)]),
        )
        .await;
    assert_eq!(
        again["alert_groups"].as_array().map(Vec::len),
        Some(2),
        "{again}"
    );
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'OPEN' AND alert_count = 1 AND firing_count = 1")
            .await,
        1,
        "the re-fired alert moved to a new open group"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED' AND alert_count = 1"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alerts").await,
        2,
        "still two alerts"
    );
    assert_eq!(
        app.outbox("incident.declare").await.len(),
        2,
        "one per group"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_resolve_that_arrives_before_its_firing_leaves_the_alert_resolved_and_declares_nothing(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = alertmanager(&app).await;
    let key = "{}:{alertname=\"Flap\"}";
    let labels = json!({ "alertname": "Flap", "severity": "critical" });
    let resolved = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![am_alert("f1", "resolved", labels.clone(), T0, Some(T1))],
            ),
        )
        .await;
    assert_eq!(resolved["alert_groups"][0]["status"], "RESOLVED");
    assert_eq!(resolved["alert_groups"][0]["decision"], "NONE");
    let late = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![am_alert("f1", "firing", labels.clone(), T0, None)],
            ),
        )
        .await;
    app.assert_late_trigger_ignored(&late).await;

    // The same alert resolving and firing out of order within one group, redelivered.
    let key = "{}:{alertname=\"Mixed\"}";
    let labels = json!({ "alertname": "Mixed", "severity": "critical" });
    for _ in 0..2 {
        app.accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![am_alert("m1", "firing", labels.clone(), T1, None)],
            ),
        )
        .await;
    }
    app.accepted(
        "alertmanager",
        &integration,
        &am_notification(
            key,
            vec![am_alert("m1", "resolved", labels.clone(), T1, Some(T2))],
        ),
    )
    .await;
    let stale = app
        .accepted(
            "alertmanager",
            &integration,
            &am_notification(
                key,
                vec![am_alert("m1", "firing", labels.clone(), T1, None)],
            ),
        )
        .await;
    assert_eq!(stale["stale_notifications"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE fingerprint = 'm1' AND status = 'RESOLVED'")
            .await,
        1
    );
    assert_eq!(
        app.outbox("incident.declare").await.len(),
        1,
        "one declare for the Mixed group"
    );
}

/// `value` with a NUL appended to every string (and to every label and annotation name),
/// but for statuses, times and the version, which are not stored as text.
fn poisoned(value: &Value) -> Value {
    const KEPT: &[&str] = &[
        "status",
        "startsAt",
        "endsAt",
        "starts_at",
        "ends_at",
        "version",
    ];
    const MAPS: &[&str] = &[
        "labels",
        "annotations",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
    ];
    fn walk(value: &Value, key: Option<&str>) -> Value {
        match value {
            Value::String(s) if !key.is_some_and(|k| KEPT.contains(&k)) => {
                Value::String(format!("{s}\0x"))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, key)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let name = if key.is_some_and(|k| MAPS.contains(&k)) {
                            format!("{k}\0")
                        } else {
                            k.clone()
                        };
                        let child = if key.is_some_and(|k| MAPS.contains(&k)) {
                            Some("value")
                        } else {
                            Some(k.as_str())
                        };
                        (name, walk(v, child))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(value, None)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_nul_in_every_string_of_every_body_shape_is_stored_replaced_and_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bodies = [
        ("alertmanager", checkout_batch(), 3),
        (
            "grafana",
            json!({
                "receiver": "incident", "status": "firing", "orgId": 1, "version": "1",
                "groupKey": "{}:{alertname=\"High memory\"}", "truncatedAlerts": 0,
                "title": "[FIRING:1] High memory", "state": "alerting", "message": "m",
                "groupLabels": { "alertname": "High memory" }, "commonLabels": { "team": "infra" },
                "commonAnnotations": { "note": "n" }, "externalURL": "https://grafana/",
                "alerts": [{
                    "status": "firing", "labels": { "alertname": "High memory", "severity": "critical" },
                    "annotations": { "summary": "memory above 90%" },
                    "startsAt": "2026-11-27T10:00:00.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://grafana/alerting/x/edit", "fingerprint": "c6eadffa33fcdf37",
                    "silenceURL": "https://grafana/silence", "dashboardURL": "https://grafana/d",
                    "panelURL": "https://grafana/p", "values": { "B": 44.2 },
                    "valueString": "[ var='B' value=44.2 ]"
                }]
            }),
            1,
        ),
        (
            "generic",
            json!({ "alerts": [{
                "title": "Nightly backup failed", "severity": "error", "dedup_key": "backup",
                "group_key": "nightly", "service": "db", "description": "exit 1",
                "labels": { "host": "db-1" }, "annotations": { "runbook": "https://wiki/backup" },
                "links": [{ "href": "https://ci/backup/42", "text": "build" }],
                "starts_at": "2026-01-27T10:00:00Z"
            }] }),
            1,
        ),
    ];
    for (kind, body, alerts) in bodies {
        let integration = app
            .integration(json!({ "kind": kind, "name": format!("{kind} with NULs") }))
            .await;
        let body = poisoned(&body);
        assert!(body.to_string().contains("\\u0000"), "the body has NULs");
        let (status, answer) = app.webhook(kind, &integration, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{kind}: {answer}");
        assert_eq!(answer["accepted"], alerts, "{kind}: every alert is kept");

        let stored: Vec<(String, Value, Value, Option<String>, Value)> = sqlx::query_as(
            "SELECT fingerprint, labels, annotations, generator_url, raw FROM alerts
             WHERE integration_id = $1",
        )
        .bind(integration.id)
        .fetch_all(&app.pool)
        .await
        .expect("alerts");
        assert_eq!(stored.len(), alerts, "{kind}");
        for (fingerprint, labels, annotations, generator_url, raw) in stored {
            let replaced = |text: &str| text.contains('\u{FFFD}') && !text.contains('\0');
            // Every value was sent with a NUL; so were the names, but for those derived
            // from generic fields (`severity`, `service`).
            let labels = labels.as_object().expect("labels");
            assert!(
                labels.values().all(|v| v.as_str().is_some_and(replaced))
                    && labels.keys().any(|k| replaced(k)),
                "{kind}: label names and values replaced: {labels:?}"
            );
            let others: Vec<(&String, &Value)> = annotations
                .as_object()
                .expect("annotations")
                .iter()
                .filter(|(k, _)| *k != "incident_sanitised")
                .collect();
            assert!(
                others.iter().all(|(_, v)| v.as_str().is_some_and(replaced))
                    && others.iter().any(|(k, _)| replaced(k)),
                "{kind}: annotation names and values replaced: {annotations}"
            );
            let note = annotations["incident_sanitised"]
                .as_str()
                .unwrap_or_default();
            assert!(
                note.starts_with("NUL characters replaced with U+FFFD in: ")
                    && note.contains("labels"),
                "{kind}: the alert says it was sanitised: {annotations}"
            );
            if kind != "generic" {
                assert!(replaced(&fingerprint), "{kind}: {fingerprint:?}");
                assert!(generator_url.as_deref().is_some_and(replaced), "{kind}");
            }
            assert!(
                replaced(&raw.to_string()),
                "{kind}: the raw alert too: {raw}"
            );
        }
        let titles: Vec<String> =
            sqlx::query_scalar("SELECT title FROM alert_groups WHERE integration_id = $1")
                .bind(integration.id)
                .fetch_all(&app.pool)
                .await
                .expect("groups");
        assert!(
            titles.iter().all(|t| t.contains('\u{FFFD}')),
            "{kind}: {titles:?}"
        );
    }
}
