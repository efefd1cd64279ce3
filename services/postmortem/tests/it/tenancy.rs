//! Tenancy and auth on every postmortem and action item route: another workspace's data
//! answers 404 and never shows in its lists, a viewer cannot change anything, settings and
//! templates are for admins, a missing token is refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::privacy::routes;
use crate::support::{ADMIN, TestApp};

struct WorkspaceA {
    incident: String,
    postmortem: String,
    item: String,
}

async fn workspace_a(app: &TestApp) -> WorkspaceA {
    let incident = app.resolved_incident("workspace A only").await;
    let pm = app.draft(&incident).await;
    let postmortem = pm["id"].as_str().expect("id").to_owned();
    let (code, item) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{postmortem}/action-items"),
            json!({ "description": "A's follow-up" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    WorkspaceA {
        incident,
        postmortem,
        item: item["id"].as_str().expect("id").to_owned(),
    }
}

async fn unchanged(app: &TestApp, a: &WorkspaceA) {
    let (_, pm) = app
        .get(ADMIN, &format!("/api/v1/postmortems/{}", a.postmortem))
        .await;
    assert_eq!(pm["status"], "DRAFT");
    assert_eq!(pm["edited_by_human"], false);
    assert_eq!(pm["action_items"].as_array().expect("items").len(), 1);
    assert_eq!(pm["action_items"][0]["status"], "OPEN");
    let of_a = |events: Vec<Value>| {
        events
            .into_iter()
            .filter(|e| e["data"]["incident"]["id"] == json!(a.incident))
            .count()
    };
    assert_eq!(of_a(app.events("postmortem.drafted").await), 1);
    assert_eq!(of_a(app.events("postmortem.published").await), 0);
    assert_eq!(of_a(app.events("action_item.created").await), 1);
    assert_eq!(of_a(app.events("action_item.updated").await), 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspace_gets_404_on_every_route_and_sees_nothing_in_lists(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = workspace_a(&app).await;
    let other = app.other_workspace("b").await;
    // B has a resolved INC-1 with a postmortem of its own: references resolve within B.
    let b_incident = app
        .declare(
            &other,
            json!({ "title": "workspace B", "severity": "SEV3" }),
        )
        .await;
    let b_id = b_incident["id"].as_str().expect("id").to_owned();
    let (code, _) = app.set_status(&other, &b_id, "RESOLVED").await;
    assert_eq!(code, StatusCode::OK);

    for (method, path, body) in routes(&a.incident, &a.postmortem, &a.item) {
        let (code, answer) = app.call(&other, method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["type"], "https://incident.dev/problems/not-found");
    }
    let (code, own) = app
        .post(&other, "/api/v1/incidents/INC-1/postmortem", json!({}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{own}");
    assert_eq!(own["incident_id"], json!(b_id));

    let (_, list) = app.get(&other, "/api/v1/postmortems").await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(ids, [&own["id"]]);
    let (_, items) = app.get(&other, "/api/v1/action-items").await;
    assert_eq!(items["items"], json!([]));
    let (_, items) = app
        .get(
            &other,
            &format!("/api/v1/action-items?postmortem_id={}", a.postmortem),
        )
        .await;
    assert_eq!(items["items"], json!([]));

    // B's settings are B's own.
    let (code, _) = app
        .call(
            &other,
            Method::PUT,
            "/api/v1/postmortem/settings",
            Some(json!({ "draft_trigger": "ON_REQUEST" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, mine) = app.get(ADMIN, "/api/v1/postmortem/settings").await;
    assert_eq!(mine["draft_trigger"], "ON_RESOLVE");

    unchanged(&app, &a).await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_viewer_cannot_change_anything_and_only_admins_change_settings(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = workspace_a(&app).await;
    let viewer = app.token(ADMIN, "viewer", None).await;
    let responder = app.token(ADMIN, "responder", None).await;

    let admin_only = vec![
        (
            Method::PUT,
            "/api/v1/postmortem/settings".to_owned(),
            Some(json!({ "draft_trigger": "ON_CLOSE" })),
        ),
        (
            Method::PUT,
            "/api/v1/postmortem/template".to_owned(),
            Some(json!({ "template": "# {{ incident.title }}" })),
        ),
        (
            Method::DELETE,
            "/api/v1/postmortem/template".to_owned(),
            None,
        ),
    ];
    let mut writes = routes(&a.incident, &a.postmortem, &a.item)
        .into_iter()
        .filter(|(m, _, _)| *m != Method::GET)
        .collect::<Vec<_>>();
    writes.extend(admin_only.clone());
    for (method, path, body) in writes {
        let (code, answer) = app.call(&viewer, method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["type"], "https://incident.dev/problems/forbidden");
    }
    for (method, path, body) in admin_only {
        let (code, answer) = app.call(&responder, method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }
    // Every read works for a viewer.
    for (method, path, _) in routes(&a.incident, &a.postmortem, &a.item)
        .into_iter()
        .filter(|(m, _, _)| *m == Method::GET)
        .chain([
            (Method::GET, "/api/v1/postmortems".to_owned(), None),
            (Method::GET, "/api/v1/action-items".to_owned(), None),
            (Method::GET, "/api/v1/postmortem/settings".to_owned(), None),
            (Method::GET, "/api/v1/postmortem/template".to_owned(), None),
        ])
    {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&viewer)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
    }
    let (_, settings) = app.get(ADMIN, "/api/v1/postmortem/settings").await;
    assert_eq!(settings["draft_trigger"], "ON_RESOLVE");
    unchanged(&app, &a).await;

    let response = app
        .client
        .get(format!("{}/api/v1/postmortems/{}", app.base, a.postmortem))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
