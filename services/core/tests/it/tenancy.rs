//! Tenancy and auth on every route: another workspace's data answers 404, a viewer
//! cannot change anything, a revoked or missing token is refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

/// Every route that names something of workspace A, with a valid body.
fn routes(incident: &str, user: &str, token: &str) -> Vec<(Method, String, Option<Value>)> {
    let i = |p: &str| format!("/api/v1/incidents/{incident}{p}");
    vec![
        (Method::GET, i(""), None),
        (Method::PATCH, i(""), Some(json!({ "title": "stolen" }))),
        (Method::POST, i("/acknowledge"), Some(json!({}))),
        (
            Method::POST,
            i("/status"),
            Some(json!({ "status": "RESOLVED" })),
        ),
        (
            Method::PUT,
            i("/roles/commander"),
            Some(json!({ "user_id": user })),
        ),
        (Method::DELETE, i("/roles/commander"), None),
        (Method::GET, i("/timeline"), None),
        (
            Method::POST,
            i("/timeline"),
            Some(json!({ "kind": "NOTE", "message": "hi" })),
        ),
        (Method::GET, i("/services"), None),
        (
            Method::PUT,
            i("/services"),
            Some(json!([{ "name": "api", "impact": "DEGRADED" }])),
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{user}"),
            Some(json!({ "display_name": "stolen" })),
        ),
        (Method::DELETE, format!("/api/v1/tokens/{token}"), None),
    ]
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspace_gets_404_on_every_route_and_sees_nothing_in_lists(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "workspace A only").await;
    let reference = incident["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let incident_id = incident["id"].as_str().expect("id").to_owned();
    let user = app.user(ADMIN, "alice@a.example").await.to_string();
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let token = tokens[0]["id"].as_str().expect("token id").to_owned();
    let other = app.other_workspace("b").await;
    // B has an incident numbered 1 too: the reference must still resolve within B only.
    app.declare(&other, "workspace B").await;

    for (method, path, body) in routes(&incident_id, &user, &token) {
        let (code, answer) = app.call(&other, method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["type"], "https://incident.dev/problems/not-found");
    }
    // A reference resolves within the caller's workspace: B's INC-1 is B's own.
    let (code, own) = app
        .get(&other, &format!("/api/v1/incidents/{reference}"))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_ne!(own["id"].as_str(), Some(incident_id.as_str()));
    assert_eq!(own["title"], "workspace B");
    let (_, list) = app.get(&other, "/api/v1/incidents").await;
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["id"] != incident_id.as_str())
    );
    let (_, users) = app.get(&other, "/api/v1/users").await;
    assert!(
        users
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["id"] != user.as_str())
    );
    let (_, other_tokens) = app.get(&other, "/api/v1/tokens").await;
    assert!(
        other_tokens
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| t["id"] != token.as_str())
    );

    // And A's incident is untouched.
    let (_, after) = app
        .get(ADMIN, &format!("/api/v1/incidents/{incident_id}"))
        .await;
    assert_eq!(after["version"], incident["version"]);
    assert_eq!(after["title"], "workspace A only");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_viewer_token_cannot_change_anything(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "look, don't touch").await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let user = app.user(ADMIN, "bob@a.example").await.to_string();
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let token = tokens[0]["id"].as_str().expect("token id").to_owned();
    let viewer = app.token(ADMIN, "viewer").await;

    let mut writes = routes(&id, &user, &token)
        .into_iter()
        .filter(|(m, _, _)| *m != Method::GET)
        .collect::<Vec<_>>();
    writes.push((
        Method::POST,
        "/api/v1/incidents".into(),
        Some(json!({ "title": "x", "severity": "SEV4" })),
    ));
    writes.push((
        Method::POST,
        "/api/v1/users".into(),
        Some(json!({ "email": "c@a.example", "display_name": "c" })),
    ));
    writes.push((
        Method::POST,
        "/api/v1/tokens".into(),
        Some(json!({ "name": "t", "role": "admin" })),
    ));
    writes.push((
        Method::POST,
        "/api/v1/workspaces".into(),
        Some(json!({ "slug": "x", "name": "x" })),
    ));
    for (method, path, body) in writes {
        let (code, answer) = app.call(&viewer, method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["type"], "https://incident.dev/problems/forbidden");
    }
    let (code, _) = app.get(&viewer, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(code, StatusCode::OK, "a viewer can read");
    let (_, after) = app.get(ADMIN, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(after["version"], incident["version"], "nothing changed");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_revoked_or_missing_token_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let responder = app.token(ADMIN, "responder").await;
    let (code, _) = app.get(&responder, "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::OK);
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let id = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["role"] == "responder")
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(
        tokens.to_string().find(&responder).is_none(),
        "listings never show a secret"
    );
    let (code, revoked) = app
        .call(ADMIN, Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(!revoked["revoked_at"].is_null());

    let (code, problem) = app.get(&responder, "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/unauthorized"
    );
    let (code, _) = app.get("not-a-token", "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(format!("{}/api/v1/incidents", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_caller_without_the_role_is_refused_before_its_body_is_read(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.declare(ADMIN, "bodies come second").await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let viewer = app.token(ADMIN, "viewer").await;
    let responder = app.token(ADMIN, "responder").await;
    let invalid = json!({ "surprise": [1, 2, 3] });
    let cases = [
        (&viewer, Method::POST, "/api/v1/incidents".to_owned()),
        (&viewer, Method::PATCH, format!("/api/v1/incidents/{id}")),
        (
            &viewer,
            Method::POST,
            format!("/api/v1/incidents/{id}/status"),
        ),
        (
            &viewer,
            Method::PUT,
            format!("/api/v1/incidents/{id}/roles/commander"),
        ),
        (
            &viewer,
            Method::POST,
            format!("/api/v1/incidents/{id}/timeline"),
        ),
        (
            &viewer,
            Method::PUT,
            format!("/api/v1/incidents/{id}/services"),
        ),
        (&responder, Method::POST, "/api/v1/users".to_owned()),
        (&responder, Method::POST, "/api/v1/tokens".to_owned()),
        (
            &responder,
            Method::PUT,
            "/api/v1/sla-policies/SEV1".to_owned(),
        ),
        (&responder, Method::POST, "/api/v1/workspaces".to_owned()),
    ];
    for (token, method, path) in cases {
        let (code, problem) = app
            .call(token, method.clone(), &path, Some(invalid.clone()))
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(problem["type"], "https://incident.dev/problems/forbidden");
    }
    // Not even JSON: still the role first.
    let response = app
        .client
        .post(format!("{}/api/v1/incidents", app.base))
        .bearer_auth(&viewer)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A responder with the same body gets the validation problem.
    let (code, problem) = app.post(&responder, "/api/v1/incidents", invalid).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}
