//! The API's shapes: declare, validation problems, changes with their timeline entries and
//! events, listing with filters and cursors, and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn declaring_answers_201_with_number_reference_status_and_sla_deadline(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (code, body) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({
                "title": "  Checkout is down  ", "description": "5xx on /pay", "severity": "SEV1",
                "impact": "customers cannot pay", "is_drill": true,
                "affected_services": [{ "name": "payments", "impact": "TOTAL_OUTAGE" }, { "name": "web", "impact": "DEGRADED" }]
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(body["number"], 1);
    assert_eq!(body["reference"], "INC-1");
    assert_eq!(body["title"], "Checkout is down");
    assert_eq!(body["status"], "INVESTIGATING");
    assert_eq!(body["is_drill"], true);
    assert_eq!(
        body["affected_services"],
        json!([{ "name": "payments", "impact": "TOTAL_OUTAGE" }, { "name": "web", "impact": "DEGRADED" }])
    );
    let detected =
        chrono::DateTime::parse_from_rfc3339(body["detected_at"].as_str().expect("detected_at"))
            .expect("time");
    let deadline =
        chrono::DateTime::parse_from_rfc3339(body["sla_deadline"].as_str().expect("sla_deadline"))
            .expect("time");
    let resolve = chrono::DateTime::parse_from_rfc3339(
        body["sla_resolve_deadline"].as_str().expect("resolve"),
    )
    .expect("time");
    assert_eq!(
        (deadline - detected).num_minutes(),
        15,
        "SEV1 default: 15 minutes to acknowledge"
    );
    assert_eq!(
        (resolve - detected).num_minutes(),
        240,
        "SEV1 default: 4 hours to resolve"
    );

    let id = body["id"].as_str().expect("id");
    let (_, by_ref) = app.get(ADMIN, "/api/v1/incidents/INC-1").await;
    assert_eq!(by_ref["id"], id);
    assert_eq!(app.timeline_kinds(id).await, ["DETECTED"]);
    let events = app.events_of(id).await;
    assert_eq!(events.len(), 1);
    insta::assert_json_snapshot!("declared_event", events[0], {
        ".id" => "[id]", ".correlation_id" => "[id]", ".occurred_at" => "[time]", ".workspace_id" => "[id]",
        ".data.incident.id" => "[id]", ".data.incident.workspace_id" => "[id]", ".data.incident.declared_by" => "[id]", ".data.actor_id" => "[id]",
        ".data.incident.detected_at" => "[time]", ".data.incident.created_at" => "[time]", ".data.incident.updated_at" => "[time]",
        ".data.incident.sla_deadline" => "[time]", ".data.incident.sla_resolve_deadline" => "[time]",
    });
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn bad_input_gets_a_validation_problem_naming_the_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let long = "x".repeat(201);
    let cases = [
        (json!({ "title": "", "severity": "SEV1" }), "title"),
        (json!({ "title": long, "severity": "SEV1" }), "title"),
        (json!({ "title": "ok", "severity": "SEV5" }), "severity"),
        (json!({ "title": "ok" }), "body"),
        (
            json!({ "title": "ok", "severity": "SEV1", "description": "d".repeat(20_001) }),
            "description",
        ),
        (
            json!({ "title": "ok", "severity": "SEV1", "affected_services": [{ "name": "api", "impact": "MELTED" }] }),
            "affected_services[0].impact",
        ),
        (
            json!({ "title": "ok", "severity": "SEV1", "surprise": 1 }),
            "surprise",
        ),
        (
            json!({ "title": "ok", "severity": "SEV1", "commander_id": "00000000-0000-0000-0000-000000000001" }),
            "commander_id",
        ),
        (
            json!({ "title": "ok", "severity": "SEV1", "detected_at": "2999-01-01T00:00:00Z" }),
            "detected_at",
        ),
    ];
    for (body, field) in cases {
        let (code, problem) = app.post(ADMIN, "/api/v1/incidents", body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["type"], "https://incident.dev/problems/validation");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (_, problem) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV5" }),
        )
        .await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("SEV1") && detail.contains("SEV4"),
        "the allowed values are listed: {detail}"
    );
    let (code, problem) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV1" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{problem}");
    let (code, problem) = app.get(ADMIN, "/api/v1/incidents?severity=SEV9").await;
    assert_eq!(
        (code, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("severity"))
    );
    let response = app
        .client
        .post(format!("{}/api/v1/incidents", app.base))
        .bearer_auth(ADMIN)
        .body(vec![b'x'; 300 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "bodies over the limit are refused"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "nothing partial was stored");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn each_change_writes_its_timeline_entry_and_event(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "latency").await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let alice = app.user(ADMIN, "alice@example.com").await;
    let path = |p: &str| format!("/api/v1/incidents/{id}{p}");

    let (code, patched) = app
        .call(
            ADMIN,
            Method::PATCH,
            &path(""),
            Some(json!({ "severity": "SEV1", "root_cause": "bad deploy" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    let detected =
        chrono::DateTime::parse_from_rfc3339(patched["detected_at"].as_str().expect("t"))
            .expect("t");
    let deadline =
        chrono::DateTime::parse_from_rfc3339(patched["sla_deadline"].as_str().expect("t"))
            .expect("t");
    assert_eq!(
        (deadline - detected).num_minutes(),
        15,
        "SEV2 -> SEV1 moves the deadline to 15 minutes"
    );
    assert_ne!(patched["sla_deadline"], incident["sla_deadline"]);

    let (code, assigned) = app
        .call(
            ADMIN,
            Method::PUT,
            &path("/roles/commander"),
            Some(json!({ "user_id": alice })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["commander_id"], alice.to_string());
    let (code, _) = app
        .call(
            ADMIN,
            Method::PUT,
            &path("/roles/chef"),
            Some(json!({ "user_id": alice })),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, cleared) = app
        .call(ADMIN, Method::DELETE, &path("/roles/commander"), None)
        .await;
    assert!(cleared["commander_id"].is_null());

    let (code, entry) = app
        .post(
            ADMIN,
            &path("/timeline"),
            json!({ "kind": "UPDATE", "message": "We are rolling back", "is_public": true }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{entry}");
    assert_eq!(entry["is_public"], true);
    let (code, _) = app
        .post(
            ADMIN,
            &path("/timeline"),
            json!({ "kind": "STATUS_CHANGE", "message": "forged" }),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "system kinds are written by the system"
    );

    let (code, services) = app
        .call(
            ADMIN,
            Method::PUT,
            &path("/services"),
            Some(json!([{ "name": "api", "impact": "DEGRADED" }])),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(services, json!([{ "name": "api", "impact": "DEGRADED" }]));
    let (_, same) = app
        .call(
            ADMIN,
            Method::PUT,
            &path("/services"),
            Some(json!([{ "name": "api", "impact": "DEGRADED" }])),
        )
        .await;
    assert_eq!(same, services);

    assert_eq!(
        app.timeline_kinds(&id).await,
        [
            "DETECTED",
            "SEVERITY_CHANGED",
            "FIELD_CHANGED",
            "ROLE_ASSIGNED",
            "ROLE_CLEARED",
            "UPDATE",
            "SERVICES_CHANGED"
        ]
    );
    assert_eq!(
        app.event_types(&id).await,
        [
            "incident.declared",
            "incident.severity_changed",
            "incident.updated",
            "incident.role_assigned",
            "incident.role_assigned",
            "incident.timeline_entry_added",
            "incident.services_changed"
        ]
    );
    let events = app.events_of(&id).await;
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e["data"]["incident"]["version"].as_i64().expect("version"))
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "versions never go back: {versions:?}"
    );
    let (_, now) = app.get(ADMIN, &path("")).await;
    assert!(!now["updated_at"].is_null());
    assert_eq!(
        events.last().expect("last")["data"]["incident"]["version"],
        now["version"]
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn listing_filters_and_pages_newest_first(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for i in 1..=7 {
        let severity = if i % 2 == 0 { "SEV1" } else { "SEV3" };
        let body = json!({ "title": format!("Database issue {i}"), "severity": severity, "is_drill": i == 7,
            "affected_services": if i <= 2 { json!([{ "name": "db", "impact": "DEGRADED" }]) } else { json!([]) } });
        let (code, created) = app.post(ADMIN, "/api/v1/incidents", body).await;
        assert_eq!(code, StatusCode::CREATED, "{created}");
    }
    let numbers = |v: &Value| {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["number"].as_i64().expect("n"))
            .collect::<Vec<_>>()
    };

    let (_, all) = app.get(ADMIN, "/api/v1/incidents").await;
    assert_eq!(numbers(&all), [7, 6, 5, 4, 3, 2, 1]);
    let (_, sev1) = app.get(ADMIN, "/api/v1/incidents?severity=SEV1").await;
    assert_eq!(numbers(&sev1), [6, 4, 2]);
    let (_, drills) = app.get(ADMIN, "/api/v1/incidents?drill=true").await;
    assert_eq!(numbers(&drills), [7]);
    let (_, db) = app.get(ADMIN, "/api/v1/incidents?service=DB").await;
    assert_eq!(numbers(&db), [2, 1]);
    let (_, text) = app.get(ADMIN, "/api/v1/incidents?q=issue%205").await;
    assert_eq!(numbers(&text), [5]);
    let (_, open) = app
        .get(
            ADMIN,
            "/api/v1/incidents?status=INVESTIGATING,IDENTIFIED&drill=false",
        )
        .await;
    assert_eq!(numbers(&open), [6, 5, 4, 3, 2, 1]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=3&cursor={c}"),
            None => "/api/v1/incidents?limit=3".into(),
        };
        let (code, page) = app.get(ADMIN, &path).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        seen.extend(numbers(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1], "pages cover everything once");
    let (code, _) = app.get(ADMIN, "/api/v1/incidents?cursor=garbage").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn users_and_tokens_are_managed_by_admins(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (code, user) = app.post(ADMIN, "/api/v1/users", json!({ "email": "Carol@Example.com", "display_name": "Carol", "slack_user_id": "U123ABC" })).await;
    assert_eq!(code, StatusCode::CREATED, "{user}");
    let (code, dup) = app
        .post(
            ADMIN,
            "/api/v1/users",
            json!({ "email": "carol@example.com", "display_name": "Carol 2" }),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{dup}");
    let (code, bad) = app
        .post(
            ADMIN,
            "/api/v1/users",
            json!({ "email": "nope", "display_name": "x" }),
        )
        .await;
    assert_eq!(
        (code, bad["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("email"))
    );
    let id = user["id"].as_str().expect("id");
    let (code, patched) = app
        .call(
            ADMIN,
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(json!({ "slack_user_id": "" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert!(patched["slack_user_id"].is_null());

    let (code, created) = app
        .post(
            ADMIN,
            "/api/v1/tokens",
            json!({ "name": "ci", "role": "responder", "user_id": id }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("secret");
    assert!(secret.starts_with("inc_"));
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1::uuid")
            .bind(created["id"].as_str())
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_ne!(stored, secret.as_bytes(), "only the hash is stored");
    // The token acts as its user: declares are authored by them.
    let incident = app.declare(secret, "as carol").await;
    assert_eq!(incident["declared_by"], id);

    // An expiry already past is refused, naming the field; nothing is stored.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    let (code, refused) = app
        .post(
            ADMIN,
            "/api/v1/tokens",
            json!({ "name": "late", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("expires_at"), "{refused}");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(after, before);
    let (code, _) = app
        .post(
            ADMIN,
            "/api/v1/tokens",
            json!({ "name": "soon", "role": "viewer", "expires_at": "2999-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_openapi_document_describes_the_api(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .client
        .get(format!("{}/api/v1/core/openapi.json", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.expect("json");
    let doc = serde_json::to_value(incident_core::http::openapi()).expect("json");
    assert_eq!(served, doc);
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/status",
        "/api/v1/incidents/{id}/members",
        "/api/v1/incidents/{id}/members/{user_id}",
        "/api/v1/tokens/{id}",
        "/api/v1/workspaces",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    insta::assert_json_snapshot!("openapi", doc);

    // The whole API's document (every service's part, merged and committed) is core's too.
    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let whole: Value = response.json().await.expect("json");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert_eq!(&whole["paths"][path], item, "{path} in the whole document");
    }
    assert!(
        whole["paths"].get("/api/v1/postmortems").is_some(),
        "postmortem's part too"
    );
    assert!(
        whole["paths"]
            .get("/webhooks/alertmanager/{integration}")
            .is_some(),
        "ingestion's part too"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn sla_policies_are_set_per_severity_and_apply_to_later_declares(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (code, policies) = app.get(ADMIN, "/api/v1/sla-policies").await;
    assert_eq!(code, StatusCode::OK);
    let acks: Vec<i64> = policies
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| p["ack_target_minutes"].as_i64().expect("ack"))
        .collect();
    assert_eq!(acks, [15, 30, 120, 480], "the defaults for a new workspace");

    let before = app.declare(ADMIN, "before the change").await;
    let (code, policy) = app
        .call(ADMIN, Method::PUT, "/api/v1/sla-policies/SEV2", Some(json!({ "ack_target_minutes": 5, "resolve_target_minutes": 60, "update_cadence_minutes": 20 })))
        .await;
    assert_eq!(code, StatusCode::OK, "{policy}");
    assert_eq!(policy["ack_target_minutes"], 5);
    let after = app.declare(ADMIN, "after the change").await;
    let minutes = |i: &Value| {
        let d =
            chrono::DateTime::parse_from_rfc3339(i["detected_at"].as_str().expect("t")).expect("t");
        let s = chrono::DateTime::parse_from_rfc3339(i["sla_deadline"].as_str().expect("t"))
            .expect("t");
        (s - d).num_minutes()
    };
    assert_eq!(minutes(&before), 30, "promised deadlines stay");
    assert_eq!(minutes(&after), 5);

    let bad = [
        (
            json!({ "ack_target_minutes": 0, "resolve_target_minutes": 60 }),
            "ack_target_minutes",
        ),
        (
            json!({ "ack_target_minutes": 30, "resolve_target_minutes": 10 }),
            "resolve_target_minutes",
        ),
        (
            json!({ "ack_target_minutes": 30, "resolve_target_minutes": 60, "warning_ratio": 1.5 }),
            "warning_ratio",
        ),
    ];
    for (body, field) in bad {
        let (code, problem) = app
            .call(ADMIN, Method::PUT, "/api/v1/sla-policies/SEV3", Some(body))
            .await;
        assert_eq!(
            (code, problem["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{problem}"
        );
    }
    let (code, _) = app
        .call(
            ADMIN,
            Method::PUT,
            "/api/v1/sla-policies/SEV9",
            Some(json!({ "ack_target_minutes": 5, "resolve_target_minutes": 60 })),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let responder = app.token(ADMIN, "responder").await;
    let (code, _) = app
        .call(
            &responder,
            Method::PUT,
            "/api/v1/sla-policies/SEV1",
            Some(json!({ "ack_target_minutes": 5, "resolve_target_minutes": 60 })),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let other = app.other_workspace("other").await;
    let (_, theirs) = app.get(&other, "/api/v1/sla-policies").await;
    assert_eq!(
        theirs[1]["ack_target_minutes"], 30,
        "another workspace keeps its own policies"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_malformed_timestamp_is_told_an_rfc_3339_timestamp_is_expected(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cases = [
        (
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV3", "detected_at": "yesterday at noon" }),
            "detected_at",
        ),
        (
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV3", "detected_at": "2026-12-01 09:30" }),
            "detected_at",
        ),
        (
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV3", "detected_at": 1_700_000_000 }),
            "detected_at",
        ),
        (
            "/api/v1/tokens",
            json!({ "name": "ci", "role": "viewer", "expires_at": "next week" }),
            "expires_at",
        ),
    ];
    for (path, body, field) in cases {
        let (code, problem) = app.post(ADMIN, path, body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("expected an RFC 3339 timestamp such as 2026-12-01T09:30:00Z"),
            "{body}: {detail}"
        );
        assert!(!detail.contains("invalid characters"), "{detail}");
    }
    let (code, incident) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "ok", "severity": "SEV3", "detected_at": "2026-01-01T10:30:00+01:00" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{incident}");
    let detected = chrono::DateTime::parse_from_rfc3339(
        incident["detected_at"].as_str().expect("detected_at"),
    )
    .expect("time");
    assert_eq!(
        detected,
        chrono::DateTime::parse_from_rfc3339("2026-01-01T09:30:00Z").expect("time"),
        "any offset, the same instant"
    );
}
