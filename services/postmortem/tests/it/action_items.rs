//! Action items: every status transition, `completed_at` stamped once, their events,
//! validation, the listing's filters with the overdue flag, and core refusing to close an
//! incident with open items unless forced (and recording the force).

use chrono::{NaiveDate, TimeDelta};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

async fn postmortem(app: &TestApp, title: &str) -> (String, String) {
    let incident = app.resolved_incident(title).await;
    let pm = app.draft(&incident).await;
    (incident, pm["id"].as_str().expect("id").to_owned())
}

async fn add(app: &TestApp, pm: &str, body: Value) -> Value {
    let (code, item) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{pm}/action-items"),
            body,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{item}");
    item
}

async fn set(app: &TestApp, item: &Value, body: Value) -> (StatusCode, Value) {
    app.patch(
        ADMIN,
        &format!("/api/v1/action-items/{}", item["id"].as_str().expect("id")),
        body,
    )
    .await
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_action_item_moves_through_every_status_and_completed_at_is_stamped_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (incident, pm) = postmortem(&app, "Disk full").await;
    let item = add(
        &app,
        &pm,
        json!({ "description": "  Alert on disk usage at 80%  " }),
    )
    .await;
    assert_eq!(item["status"], "OPEN");
    assert_eq!(item["priority"], "P3");
    assert_eq!(item["description"], "Alert on disk usage at 80%");
    assert_eq!(item["incident_id"], json!(incident));
    assert_eq!(item["completed_at"], Value::Null);

    for (to, completed) in [
        ("IN_PROGRESS", false),
        ("OPEN", false),
        ("IN_PROGRESS", false),
        ("DONE", true),
    ] {
        let (code, moved) = set(&app, &item, json!({ "status": to })).await;
        assert_eq!(code, StatusCode::OK, "{to}: {moved}");
        assert_eq!(moved["status"], to);
        assert_eq!(moved["completed_at"].is_string(), completed, "{to}");
    }
    let (_, done) = app
        .get(
            ADMIN,
            &format!("/api/v1/action-items/{}", item["id"].as_str().expect("id")),
        )
        .await;
    let (code, again) = set(&app, &item, json!({ "status": "DONE" })).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(again["completed_at"], done["completed_at"], "stamped once");
    let (code, problem) = set(&app, &item, json!({ "status": "OPEN" })).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(problem["allowed"], json!([]));

    let dropped = add(
        &app,
        &pm,
        json!({ "description": "Rewrite the storage layer", "priority": "P4" }),
    )
    .await;
    let (code, problem) = set(&app, &dropped, json!({ "status": "WONT_DO" })).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "wont_do_reason");
    let (code, wont) = set(
        &app,
        &dropped,
        json!({ "status": "WONT_DO", "wont_do_reason": "Replaced by the quota work" }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{wont}");
    assert_eq!(wont["wont_do_reason"], "Replaced by the quota work");
    assert_eq!(wont["completed_at"], Value::Null);
    let (code, problem) = set(&app, &dropped, json!({ "status": "DONE" })).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/illegal-transition"
    );

    let created = app.events("action_item.created").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["data"]["action_item"]["id"], item["id"]);
    assert_eq!(created[0]["data"]["incident"]["reference"], "INC-1");
    let updated = app.events("action_item.updated").await;
    let moves: Vec<(Value, Value)> = updated
        .iter()
        .map(|e| {
            (
                e["data"]["from_status"].clone(),
                e["data"]["to_status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (json!("OPEN"), json!("IN_PROGRESS")),
            (json!("IN_PROGRESS"), json!("OPEN")),
            (json!("OPEN"), json!("IN_PROGRESS")),
            (json!("IN_PROGRESS"), json!("DONE")),
            (json!("OPEN"), json!("WONT_DO")),
        ],
        "one event per change, none for the repeated DONE or the refusals"
    );
    assert_eq!(
        updated[4]["data"]["changed"],
        json!(["status", "wont_do_reason"])
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn bad_action_items_are_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (_, pm) = postmortem(&app, "Cache stampede").await;
    let other = app.other_workspace("other").await;
    let stranger = app.user(&other, "zed@other.example", "Zed").await;
    let path = format!("/api/v1/postmortems/{pm}/action-items");
    for (body, field) in [
        (json!({ "description": "   " }), "description"),
        (json!({ "description": "x".repeat(2001) }), "description"),
        (
            json!({ "description": "ok", "assignee_id": stranger }),
            "assignee_id",
        ),
        (
            json!({ "description": "ok", "external_url": "ftp://tickets/1" }),
            "external_url",
        ),
        (json!({ "description": "ok", "priority": "P9" }), "priority"),
        (
            json!({ "description": "ok", "due_date": "tomorrow" }),
            "due_date",
        ),
    ] {
        let (code, problem) = app.post(ADMIN, &path, body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (code, _) = app
        .post(ADMIN, &path, json!({ "description": "ok", "owner": "me" }))
        .await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let item = add(&app, &pm, json!({ "description": "Jitter the cache TTL", "external_url": "https://linear.app/acme/issue/OPS-7" })).await;
    for (body, field) in [
        (json!({ "wont_do_reason": "because" }), "wont_do_reason"),
        (json!({ "assignee_id": stranger }), "assignee_id"),
        (json!({ "external_url": "not a url" }), "external_url"),
    ] {
        let (code, problem) = set(&app, &item, body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["field"], field);
    }
    let (code, cleared) = set(
        &app,
        &item,
        json!({ "external_url": null, "priority": "P1" }),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(cleared["external_url"], Value::Null);
    assert_eq!(cleared["priority"], "P1");
    let updated = app.events("action_item.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0]["data"]["changed"],
        json!(["priority", "external_url"])
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_listing_filters_by_status_assignee_and_overdue(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (_, pm) = postmortem(&app, "Slow search").await;
    let xavier = app.user(ADMIN, "xavier@example.com", "Xavier").await;
    let as_xavier = app.token(ADMIN, "viewer", Some(xavier)).await;
    let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date")
        .fetch_one(&app.pool)
        .await
        .expect("today");
    let yesterday = today - TimeDelta::days(1);
    let tomorrow = today + TimeDelta::days(1);
    let late = add(
        &app,
        &pm,
        json!({ "description": "A: late", "assignee_id": xavier, "due_date": yesterday }),
    )
    .await;
    let soon = add(
        &app,
        &pm,
        json!({ "description": "B: soon", "due_date": tomorrow }),
    )
    .await;
    let finished = add(
        &app,
        &pm,
        json!({ "description": "C: done late", "due_date": yesterday }),
    )
    .await;
    let someday = add(
        &app,
        &pm,
        json!({ "description": "D: someday", "assignee_id": xavier }),
    )
    .await;
    let (code, _) = set(&app, &finished, json!({ "status": "DONE" })).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(late["overdue"], true);
    assert_eq!(soon["overdue"], false);

    let listed = |query: &'static str, token: String| {
        let app = &app;
        async move {
            let (code, page) = app
                .get(&token, &format!("/api/v1/action-items{query}"))
                .await;
            assert_eq!(code, StatusCode::OK, "{query}: {page}");
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["description"].as_str().expect("description")[..1].to_owned())
                .collect::<Vec<_>>()
        }
    };
    let admin = || ADMIN.to_owned();
    assert_eq!(
        listed("", admin()).await,
        ["A", "C", "B", "D"],
        "due first, undated last"
    );
    assert_eq!(listed("?overdue=true", admin()).await, ["A"]);
    assert_eq!(listed("?overdue=false", admin()).await, ["C", "B", "D"]);
    assert_eq!(
        listed("?status=OPEN,IN_PROGRESS", admin()).await,
        ["A", "B", "D"]
    );
    assert_eq!(listed("?status=done", admin()).await, ["C"]);
    assert_eq!(listed("?assignee=none", admin()).await, ["C", "B"]);
    assert_eq!(listed("?assignee=me", as_xavier.clone()).await, ["A", "D"]);
    assert_eq!(
        listed("?assignee=me&overdue=true&status=OPEN", as_xavier).await,
        ["A"]
    );
    let by_user = format!("/api/v1/action-items?assignee={xavier}&limit=1");
    let (_, page) = app.get(ADMIN, &by_user).await;
    assert_eq!(page["items"][0]["id"], late["id"]);
    assert_eq!(page["items"][0]["assignee_name"], "Xavier");
    let (_, of_pm) = app
        .get(ADMIN, &format!("/api/v1/postmortems/{pm}/action-items"))
        .await;
    assert_eq!(of_pm["items"].as_array().expect("items").len(), 4);
    assert_eq!(someday["due_date"], Value::Null);

    // The bootstrap token acts as the first admin; a service token acts as nobody.
    let service = app.token(ADMIN, "viewer", None).await;
    for (query, field) in [
        ("?status=LATE", "status"),
        ("?assignee=bob", "assignee"),
        ("?assignee=me", "assignee"),
        ("?limit=0", "limit"),
    ] {
        let (code, problem) = app
            .get(&service, &format!("/api/v1/action-items{query}"))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {problem}");
        assert_eq!(problem["field"], field, "{query}");
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn closing_is_blocked_by_open_action_items_until_forced_and_the_force_is_recorded(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (incident, pm) = postmortem(&app, "Certificate expired").await;
    let first = add(&app, &pm, json!({ "description": "Automate renewals" })).await;
    let second = add(&app, &pm, json!({ "description": "Alert 30 days ahead" })).await;
    let (code, _) = set(&app, &second, json!({ "status": "IN_PROGRESS" })).await;
    assert_eq!(code, StatusCode::OK);

    let (code, problem) = app.set_status(ADMIN, &incident, "CLOSED").await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/open-action-items"
    );
    // Finishing one is not enough: IN_PROGRESS is still open.
    let (code, _) = set(&app, &first, json!({ "status": "DONE" })).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app.set_status(ADMIN, &incident, "CLOSED").await;
    assert_eq!(code, StatusCode::CONFLICT);

    let (code, closed) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{incident}/status"),
            json!({ "status": "CLOSED", "force": true }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "CLOSED");
    let (_, timeline) = app
        .get(ADMIN, &format!("/api/v1/incidents/{incident}/timeline"))
        .await;
    let last = timeline
        .as_array()
        .expect("timeline")
        .last()
        .expect("entry")
        .clone();
    assert_eq!(last["kind"], "STATUS_CHANGE");
    assert_eq!(last["data"]["forced"], true, "{last}");
    assert_eq!(last["data"]["open_action_items"], 1);

    // With every item finished, closing needs no force.
    let (other, other_pm) = postmortem(&app, "Full queue").await;
    let item = add(
        &app,
        &other_pm,
        json!({ "description": "Add a dead-letter alarm" }),
    )
    .await;
    let (code, _) = set(
        &app,
        &item,
        json!({ "status": "WONT_DO", "wont_do_reason": "Covered by the platform team" }),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = app.set_status(ADMIN, &other, "CLOSED").await;
    assert_eq!(code, StatusCode::OK, "{body}");
}
