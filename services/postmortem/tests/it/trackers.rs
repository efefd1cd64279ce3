//! Issue trackers: action items filed in Jira and Linear fakes (wiremock, answering as the
//! vendors document), filed once even when an answer is lost, closed once when the
//! tracker's issue is done; the settings' credential sealed, checked first, admin-only and
//! per workspace.

use std::time::Duration;

use incident_postmortem::tracker::export;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{
    body_partial_json, body_string_contains, header, method, path, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{ADMIN, TestApp};

async fn item(app: &TestApp, title: &str, description: &str) -> Value {
    let incident = app.resolved_incident(title).await;
    let pm = app.draft(&incident).await;
    app.create(
        ADMIN,
        &format!(
            "/api/v1/postmortems/{}/action-items",
            pm["id"].as_str().expect("id")
        ),
        json!({ "description": description, "priority": "P2", "due_date": "2026-12-24" }),
    )
    .await
}

fn id(value: &Value) -> &str {
    value["id"].as_str().expect("id")
}

async fn put_tracker(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(token, Method::PUT, "/api/v1/postmortem/tracker", Some(body))
        .await
}

/// The `action_item.updated` events moving item `item` to `to`.
async fn moves_to(app: &TestApp, item: &str, to: &str) -> usize {
    app.events("action_item.updated")
        .await
        .iter()
        .filter(|e| e["data"]["action_item"]["id"] == item && e["data"]["to_status"] == to)
        .count()
}

fn jira_issue(id: &str, key: &str, status: &str, category: &str) -> Value {
    json!({
        "id": id, "key": key, "self": format!("https://acme.atlassian.net/rest/api/3/issue/{id}"),
        "fields": { "status": {
            "self": "https://acme.atlassian.net/rest/api/3/status/3", "id": "3",
            "name": status, "statusCategory": { "id": 3, "key": category, "name": status }
        } }
    })
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_item_filed_in_jira_once_is_marked_done_once_when_jira_finishes_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let jira = MockServer::start().await;
    // Basic auth of dana@example.com:jira-api-token, as Jira Cloud's REST v3 takes it.
    let auth = "Basic ZGFuYUBleGFtcGxlLmNvbTpqaXJhLWFwaS10b2tlbg==";
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .and(header("authorization", auth))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "accountId": "5b10a2844c20165700ede21g", "emailAddress": "dana@example.com", "active": true }),
        ))
        .mount(&jira)
        .await;
    let (code, view) = put_tracker(
        &app,
        ADMIN,
        json!({
            "kind": "jira", "base_url": format!("{}/", jira.uri()), "jira_flavor": "cloud",
            "username": "dana@example.com", "credential": "jira-api-token", "project": "OPS",
        }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{view}");
    assert_eq!(view["issue_type"], "Task");
    assert_eq!(view["base_url"], jira.uri(), "trailing slash dropped");
    assert!(view.get("credential").is_none(), "{view}");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT credential FROM issue_trackers")
        .fetch_one(&pool)
        .await
        .expect("row");
    assert!(
        !sealed.windows(14).any(|w| w == b"jira-api-token"),
        "stored sealed"
    );

    let action = item(&app, "Checkout down", "Add a circuit breaker to payments").await;
    assert!(action.get("tracker").is_none(), "not filed: {action}");
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(header("authorization", auth))
        .and(body_partial_json(json!({ "fields": {
            "project": { "key": "OPS" }, "issuetype": { "name": "Task" },
            "summary": "Add a circuit breaker to payments",
            "description": { "type": "doc", "version": 1 },
        } })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "10000", "key": "OPS-24", "self": "https://acme.atlassian.net/rest/api/3/issue/10000"
        })))
        .expect(1)
        .named("create issue")
        .mount(&jira)
        .await;
    let export_path = format!("/api/v1/action-items/{}/export", id(&action));
    let (code, filed) = app.post(ADMIN, &export_path, json!({})).await;
    assert_eq!(code, StatusCode::OK, "{filed}");
    let browse = format!("{}/browse/OPS-24", jira.uri());
    assert_eq!(filed["tracker"]["key"], "OPS-24");
    assert_eq!(filed["tracker"]["state"], "filed");
    assert_eq!(filed["tracker"]["url"], json!(browse));
    assert_eq!(
        filed["external_url"],
        json!(browse),
        "the link is the item's"
    );
    let requests = jira.received_requests().await.expect("recorded");
    let created = requests
        .iter()
        .find(|r| r.method == Method::POST)
        .expect("a create");
    let body: Value = serde_json::from_slice(&created.body).expect("json");
    let label = body["fields"]["labels"][0].as_str().expect("marker label");
    assert!(label.starts_with("incident-action-item-"), "{label}");
    let text = body["fields"]["description"].to_string();
    assert!(text.contains("INC-1: Checkout down"), "{text}");
    assert!(
        text.contains("https://incidents.example.com/ui/incidents/1"),
        "{text}"
    );

    let (code, again) = app.post(ADMIN, &export_path, json!({})).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "filing twice answers the link: {again}"
    );
    assert_eq!(again["tracker"]["key"], "OPS-24");

    // Jira says In Progress: nothing moves.
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10000"))
        .and(query_param("fields", "status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jira_issue(
            "10000",
            "OPS-24",
            "In Progress",
            "indeterminate",
        )))
        .mount(&jira)
        .await;
    let closed = export::poll_due(&pool, &app.trackers, Duration::ZERO)
        .await
        .expect("poll");
    assert_eq!(closed, 0);
    let (_, seen) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&action)))
        .await;
    assert_eq!(seen["status"], "OPEN");
    assert_eq!(seen["tracker"]["status"], "In Progress");

    // Someone finishes it in Jira ("Closed", in the done category).
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10000"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jira_issue("10000", "OPS-24", "Closed", "done")),
        )
        .with_priority(1)
        .mount(&jira)
        .await;
    for _ in 0..3 {
        export::poll_due(&pool, &app.trackers, Duration::ZERO)
            .await
            .expect("poll");
    }
    let (_, done) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&action)))
        .await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert!(done["completed_at"].is_string());
    assert_eq!(done["tracker"]["done"], true);
    assert_eq!(done["tracker"]["status"], "Closed");
    assert_eq!(
        moves_to(&app, id(&action), "DONE").await,
        1,
        "marked done once"
    );
    let reads = jira
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.method == Method::GET && r.url.path() == "/rest/api/3/issue/10000")
        .count();
    assert_eq!(reads, 2, "a done item is not read again");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn linear_files_new_items_on_creation_never_twice_after_a_lost_answer_and_closes_them_once(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let linear = MockServer::start().await;
    let key = "lin_api_0123456789abcdef";
    Mock::given(method("POST"))
        .and(header("authorization", key))
        .and(body_string_contains("viewer"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "viewer": { "id": "u-1", "name": "Dana" } } })),
        )
        .mount(&linear)
        .await;
    let (code, view) = put_tracker(
        &app,
        ADMIN,
        json!({
            "kind": "linear", "base_url": format!("{}/graphql", linear.uri()),
            "credential": key, "project": "9cfb482a-81e3-4154-b5b9-2c805e70a02d", "auto_export": true,
        }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{view}");
    assert_eq!(view["auto_export"], true);

    // The first create is answered 502 after Linear may have filed it: the answer is lost.
    Mock::given(method("POST"))
        .and(body_string_contains("issueCreate"))
        .and(body_partial_json(json!({ "variables": { "input": {
            "teamId": "9cfb482a-81e3-4154-b5b9-2c805e70a02d",
            "title": "Page the database on-call for replica lag", "priority": 2, "dueDate": "2026-12-24",
        } } })))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .expect(1)
        .named("the one create")
        .mount(&linear)
        .await;
    let action = item(
        &app,
        "Replica lag",
        "Page the database on-call for replica lag",
    )
    .await;
    assert_eq!(action["tracker"]["state"], "pending", "{action}");
    export::file_due(&pool, &app.trackers, None)
        .await
        .expect("file");
    let (_, failed) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&action)))
        .await;
    assert_eq!(failed["tracker"]["state"], "pending");
    assert_eq!(failed["tracker"]["attempts"], 1);
    let error = failed["tracker"]["last_error"].as_str().expect("error");
    assert!(error.contains("502"), "{error}");

    // Linear did file it: the retry finds it by its marker instead of filing again.
    let marker: String = sqlx::query_scalar("SELECT marker FROM action_item_links")
        .fetch_one(&pool)
        .await
        .expect("link");
    Mock::given(method("POST"))
        .and(body_string_contains("IssueByMarker"))
        .and(body_partial_json(json!({ "variables": { "marker": marker } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "issues": { "nodes": [{
            "id": "a1b2c3", "identifier": "ENG-12", "url": "https://linear.app/acme/issue/ENG-12/page-the-database",
            "state": { "name": "Todo", "type": "unstarted" }
        }] } } })))
        .expect(1)
        .mount(&linear)
        .await;
    let filed = export::file_due(&pool, &app.trackers, None)
        .await
        .expect("file");
    assert_eq!(filed, 0, "the back-off holds the retry");
    sqlx::query("UPDATE action_item_links SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .expect("due now");
    let filed = export::file_due(&pool, &app.trackers, None)
        .await
        .expect("file");
    assert_eq!(filed, 1);
    let (_, linked) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&action)))
        .await;
    assert_eq!(linked["tracker"]["key"], "ENG-12", "{linked}");
    assert_eq!(linked["tracker"]["status"], "Todo");
    assert_eq!(linked["tracker"]["last_error"], Value::Null);
    assert_eq!(
        linked["external_url"],
        "https://linear.app/acme/issue/ENG-12/page-the-database"
    );

    // Canceled in Linear: WONT_DO, saying so.
    Mock::given(method("POST"))
        .and(body_string_contains("query Issue("))
        .and(body_partial_json(json!({ "variables": { "id": "a1b2c3" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "issue": {
            "id": "a1b2c3", "identifier": "ENG-12", "url": "https://linear.app/acme/issue/ENG-12/page-the-database",
            "state": { "name": "Won't fix", "type": "canceled" }
        } } })))
        .mount(&linear)
        .await;
    let closed = export::poll_due(&pool, &app.trackers, Duration::ZERO)
        .await
        .expect("poll");
    assert_eq!(closed, 1);
    let (_, dropped) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&action)))
        .await;
    assert_eq!(dropped["status"], "WONT_DO");
    assert_eq!(dropped["wont_do_reason"], "ENG-12 was canceled in Linear");
    assert_eq!(moves_to(&app, id(&action), "WONT_DO").await, 1);

    // Another item, filed at the first attempt, completed in Linear: DONE, once.
    Mock::given(method("POST"))
        .and(body_string_contains("issueCreate"))
        .and(body_partial_json(json!({ "variables": { "input": { "title": "Add a lag alert on every replica" } } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "issueCreate": {
            "success": true, "issue": {
                "id": "d4e5f6", "identifier": "ENG-13", "url": "https://linear.app/acme/issue/ENG-13/add-a-lag-alert",
                "state": { "name": "Backlog", "type": "backlog" }
            }
        } } })))
        .expect(1)
        .mount(&linear)
        .await;
    let second = item(
        &app,
        "Replica lag again",
        "Add a lag alert on every replica",
    )
    .await;
    assert_eq!(
        export::file_due(&pool, &app.trackers, None)
            .await
            .expect("file"),
        1
    );
    Mock::given(method("POST"))
        .and(body_string_contains("query Issue("))
        .and(body_partial_json(json!({ "variables": { "id": "d4e5f6" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "issue": {
            "id": "d4e5f6", "identifier": "ENG-13", "url": "https://linear.app/acme/issue/ENG-13/add-a-lag-alert",
            "state": { "name": "Done", "type": "completed" }
        } } })))
        .mount(&linear)
        .await;
    for _ in 0..3 {
        export::poll_due(&pool, &app.trackers, Duration::ZERO)
            .await
            .expect("poll");
    }
    let (_, done) = app
        .get(ADMIN, &format!("/api/v1/action-items/{}", id(&second)))
        .await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(done["tracker"]["key"], "ENG-13");
    assert_eq!(
        moves_to(&app, id(&second), "DONE").await,
        1,
        "marked done once"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn tracker_settings_are_checked_first_admin_only_and_per_workspace(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let jira = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/myself"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "errorMessages": ["You are not authenticated."], "errors": {} }),
        ))
        .mount(&jira)
        .await;
    let server = json!({
        "kind": "jira", "base_url": jira.uri(), "jira_flavor": "server",
        "credential": "wrong-pat", "project": "OPS", "issue_type": "Bug",
    });

    let responder = app.token(ADMIN, "responder", None).await;
    let (code, problem) = put_tracker(&app, &responder, server.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{problem}");

    let (code, problem) = put_tracker(&app, ADMIN, server).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "credential");
    assert!(
        problem["detail"].as_str().expect("detail").contains("401"),
        "{problem}"
    );
    let (code, problem) = app.get(ADMIN, "/api/v1/postmortem/tracker").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "nothing stored: {problem}");

    let (code, problem) = put_tracker(
        &app,
        ADMIN,
        json!({ "kind": "jira", "base_url": jira.uri(), "credential": "t", "project": "OPS" }),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "username", "Jira Cloud needs the email");
    let (code, problem) = put_tracker(
        &app,
        ADMIN,
        json!({ "kind": "linear", "credential": "k", "project": "t", "issue_type": "Bug" }),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "issue_type");

    // Nothing listens on port 9 (discard) here: the tracker cannot be reached.
    let (code, problem) = put_tracker(
        &app,
        ADMIN,
        json!({ "kind": "linear", "base_url": "http://127.0.0.1:9/graphql", "credential": "lin_api_x", "project": "t" }),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/upstream");

    let action = item(&app, "Queue stuck", "Alert on queue depth").await;
    let export_path = format!("/api/v1/action-items/{}/export", id(&action));
    let (code, problem) = app.post(ADMIN, &export_path, json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/not-configured"
    );

    let other = app.other_workspace("other").await;
    let (code, _) = app.post(&other, &export_path, json!({})).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "another workspace's item");
    let (code, _) = app.get(&other, "/api/v1/postmortem/tracker").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = app
        .call(&other, Method::DELETE, "/api/v1/postmortem/tracker", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM action_item_links")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(links, 0, "a refused export stores nothing");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_running_exporter_files_a_new_item_and_closes_it_when_linear_completes_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let linear = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("viewer"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "viewer": { "id": "u-1" } } })),
        )
        .mount(&linear)
        .await;
    let (code, view) = put_tracker(
        &app,
        ADMIN,
        json!({ "kind": "linear", "base_url": linear.uri(), "credential": "lin_api_k",
                "project": "team-1", "auto_export": true }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{view}");
    Mock::given(method("POST"))
        .and(body_string_contains("issueCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "issueCreate": {
            "success": true, "issue": { "id": "i-1", "identifier": "ENG-1",
                "url": "https://linear.app/acme/issue/ENG-1", "state": { "name": "Todo", "type": "unstarted" } }
        } } })))
        .expect(1)
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("query Issue("))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "issue": {
            "id": "i-1", "identifier": "ENG-1", "url": "https://linear.app/acme/issue/ENG-1",
            "state": { "name": "Done", "type": "completed" }
        } } })),
        )
        .mount(&linear)
        .await;

    // The task the service runs: woken by the creation, polling every second.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(export::run(
        pool.clone(),
        app.trackers.clone(),
        Duration::from_secs(1),
        shutdown.clone(),
    ));
    let action = item(
        &app,
        "Cache stampede",
        "Add request coalescing to the cache",
    )
    .await;
    let path = format!("/api/v1/action-items/{}", id(&action));
    incident_testkit::eventually(
        Duration::from_secs(30),
        "the item filed and done",
        || async { app.get(ADMIN, &path).await.1["status"] == "DONE" },
    )
    .await;
    let (_, done) = app.get(ADMIN, &path).await;
    assert_eq!(done["tracker"]["key"], "ENG-1");
    assert_eq!(done["external_url"], "https://linear.app/acme/issue/ENG-1");
    assert_eq!(moves_to(&app, id(&action), "DONE").await, 1);
    shutdown.cancel();
    task.await.expect("the exporter stops on shutdown");
}
