//! Private incidents on every postmortem and action item route: whoever may not read the
//! incident (a viewer or responder of the same workspace who is neither a member nor a
//! role holder, a service token, another workspace) gets 404 and finds nothing in lists;
//! an admin and a role holder get the postmortem.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp, fixture};
use incident_schema::Visibility;

/// Every route naming a postmortem (its incident, it, one of its action items), with a
/// body that succeeds for a reader; the tenancy tests walk the same table.
pub fn routes(
    incident: &str,
    postmortem: &str,
    item: &str,
) -> Vec<(Method, String, Option<Value>)> {
    let p = |s: &str| format!("/api/v1/postmortems/{postmortem}{s}");
    vec![
        (
            Method::POST,
            format!("/api/v1/incidents/{incident}/postmortem"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{incident}/postmortem"),
            None,
        ),
        (Method::GET, p(""), None),
        (Method::GET, p(".md"), None),
        (Method::PATCH, p(""), Some(json!({ "summary": "edited" }))),
        (Method::POST, p("/publish"), Some(json!({}))),
        (Method::GET, p("/action-items"), None),
        (
            Method::POST,
            p("/action-items"),
            Some(json!({ "description": "a follow-up" })),
        ),
        (Method::GET, format!("/api/v1/action-items/{item}"), None),
        (
            Method::PATCH,
            format!("/api/v1/action-items/{item}"),
            Some(json!({ "description": "changed" })),
        ),
    ]
}

async fn listed(app: &TestApp, token: &str, postmortem: &str, incident: Uuid) -> (bool, bool) {
    let (code, list) = app.get(token, "/api/v1/postmortems").await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let in_postmortems = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|p| p["id"] == json!(postmortem));
    let (code, items) = app
        .get(
            token,
            &format!("/api/v1/action-items?incident_id={incident}"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{items}");
    let (_, all) = app.get(token, "/api/v1/action-items").await;
    let in_items = !items["items"].as_array().expect("items").is_empty()
        || all["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["incident_id"] == json!(incident));
    (in_postmortems, in_items)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_incidents_postmortem_and_items_do_not_exist_for_those_who_cannot_read_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Private).await;
    let incident = f.incident_id.to_string();
    let pm = app.draft(&incident).await;
    let postmortem = pm["id"].as_str().expect("id").to_owned();
    let (code, item) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{postmortem}/action-items"),
            json!({ "description": "Rotate the certificate" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{item}");
    let item = item["id"].as_str().expect("id").to_owned();

    let viewer_user = app.user(ADMIN, "viewer@example.com", "Vic Viewer").await;
    let responder_user = app
        .user(ADMIN, "responder@example.com", "Rae Responder")
        .await;
    let lead = app.user(ADMIN, "lead@example.com", "Lee Lead").await;
    // Core's member API is not on this branch: a role holder is set in the row.
    sqlx::query("UPDATE incidents SET commander_id = $2 WHERE id = $1")
        .bind(f.incident_id)
        .bind(lead)
        .execute(&app.pool)
        .await
        .expect("commander");

    let outsiders = [
        (
            "a viewer of the workspace",
            app.token(ADMIN, "viewer", Some(viewer_user)).await,
        ),
        (
            "a responder of the workspace",
            app.token(ADMIN, "responder", Some(responder_user)).await,
        ),
        (
            "a token without a person",
            app.token(ADMIN, "responder", None).await,
        ),
        ("another workspace", app.other_workspace("b").await),
    ];
    for (who, token) in &outsiders {
        for (method, path, body) in routes(&incident, &postmortem, &item) {
            let (code, answer) = app.call(token, method.clone(), &path, body).await;
            assert_eq!(
                code,
                StatusCode::NOT_FOUND,
                "{who}: {method} {path}: {answer}"
            );
            assert_eq!(answer["type"], "https://incident.dev/problems/not-found");
        }
        assert_eq!(
            listed(&app, token, &postmortem, f.incident_id).await,
            (false, false),
            "{who} lists nothing of it"
        );
    }
    let (_, unchanged) = app
        .get(ADMIN, &format!("/api/v1/postmortems/{postmortem}"))
        .await;
    assert_eq!(unchanged["status"], "DRAFT");
    assert_eq!(unchanged["edited_by_human"], false);
    assert_eq!(
        unchanged["action_items"].as_array().expect("items").len(),
        1
    );

    let readers = [
        ("an admin", ADMIN.to_owned()),
        (
            "the commander",
            app.token(ADMIN, "responder", Some(lead)).await,
        ),
    ];
    for (who, token) in &readers {
        for (method, path, body) in routes(&incident, &postmortem, &item) {
            let (code, answer) = app.call(token, method.clone(), &path, body).await;
            assert!(code.is_success(), "{who}: {method} {path}: {code} {answer}");
        }
        assert_eq!(
            listed(&app, token, &postmortem, f.incident_id).await,
            (true, true),
            "{who} lists it"
        );
    }
}
