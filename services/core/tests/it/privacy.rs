//! Private incidents stay private: to anyone but workspace admins, role holders and
//! members, a PRIVATE incident does not exist on any route (404, like another workspace's)
//! and is absent from lists. Members, visibility changes and the declarer's membership are
//! recorded on the timeline and as events.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

/// Every core route about one incident, with a valid body and its success status.
/// `step` picks a status the lifecycle allows on each successful run (forward moves).
fn incident_routes(
    incident: &str,
    commander: Uuid,
    guest: Uuid,
    step: usize,
) -> Vec<(Method, String, Option<Value>, StatusCode)> {
    let i = |p: &str| format!("/api/v1/incidents/{incident}{p}");
    let status = ["IDENTIFIED", "MONITORING", "RESOLVED"][step];
    vec![
        (Method::GET, i(""), None, StatusCode::OK),
        (
            Method::PATCH,
            i(""),
            Some(json!({ "impact": format!("step {step}") })),
            StatusCode::OK,
        ),
        (Method::POST, i("/acknowledge"), None, StatusCode::OK),
        (
            Method::POST,
            i("/status"),
            Some(json!({ "status": status })),
            StatusCode::OK,
        ),
        (
            Method::PUT,
            i("/roles/commander"),
            Some(json!({ "user_id": commander })),
            StatusCode::OK,
        ),
        (Method::DELETE, i("/roles/commander"), None, StatusCode::OK),
        (Method::GET, i("/timeline"), None, StatusCode::OK),
        (
            Method::POST,
            i("/timeline"),
            Some(json!({ "kind": "NOTE", "message": "hush" })),
            StatusCode::CREATED,
        ),
        (Method::GET, i("/services"), None, StatusCode::OK),
        (
            Method::PUT,
            i("/services"),
            Some(json!([{ "name": format!("api-{step}"), "impact": "DEGRADED" }])),
            StatusCode::OK,
        ),
        (Method::GET, i("/members"), None, StatusCode::OK),
        (
            Method::PUT,
            i(&format!("/members/{guest}")),
            None,
            StatusCode::OK,
        ),
        (
            Method::DELETE,
            i(&format!("/members/{guest}")),
            None,
            StatusCode::OK,
        ),
    ]
}

fn listed(list: &Value, id: &str) -> bool {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["id"] == id)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_incident_answers_404_on_every_route_to_anyone_not_involved(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (member, member_token) = app.person(ADMIN, "mia@a.example", "responder").await;
    let (_, viewer) = app.person(ADMIN, "vic@a.example", "viewer").await;
    let (_, responder) = app.person(ADMIN, "rex@a.example", "responder").await;
    let userless = app.token(ADMIN, "responder").await;
    let commander = app.user(ADMIN, "cora@a.example").await;
    let guest = app.user(ADMIN, "gus@a.example").await;
    let other = app.other_workspace("b").await;
    let public = app.declare(ADMIN, "everyone may look").await;

    let (code, incident) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Payroll leak", "severity": "SEV2", "visibility": "PRIVATE" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{incident}");
    assert_eq!(incident["visibility"], "PRIVATE");
    let id = incident["id"].as_str().expect("id").to_owned();
    let reference = incident["reference"].as_str().expect("ref").to_owned();
    let (code, _) = app
        .call(
            ADMIN,
            Method::PUT,
            &format!("/api/v1/incidents/{id}/members/{member}"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, before) = app.get(ADMIN, &format!("/api/v1/incidents/{id}")).await;

    let denied = [
        ("a non-member viewer", &viewer),
        ("a non-member responder", &responder),
        ("a token without a user", &userless),
        ("another workspace", &other),
    ];
    for (who, token) in denied {
        for key in [&id, &reference] {
            for (method, path, body, _) in incident_routes(key, commander, guest, 0) {
                let (code, answer) = app.call(token, method.clone(), &path, body).await;
                assert_eq!(
                    code,
                    StatusCode::NOT_FOUND,
                    "{who}: {method} {path}: {answer}"
                );
                assert_eq!(answer["type"], "https://incident.dev/problems/not-found");
            }
        }
        let (code, list) = app.get(token, "/api/v1/incidents").await;
        assert_eq!(code, StatusCode::OK);
        assert!(!listed(&list, &id), "{who} does not see it listed");
        let (_, found) = app.get(token, "/api/v1/incidents?q=Payroll").await;
        assert!(!listed(&found, &id), "{who} cannot search for it");
    }
    let (_, list) = app.get(&viewer, "/api/v1/incidents").await;
    assert!(
        listed(&list, public["id"].as_str().expect("id")),
        "public incidents are still listed"
    );
    let (_, after) = app.get(ADMIN, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(after["version"], before["version"], "nothing changed");

    for (step, (who, token)) in [("a member", &member_token), ("an admin", &ADMIN.to_owned())]
        .into_iter()
        .enumerate()
    {
        for (method, path, body, success) in incident_routes(&id, commander, guest, step) {
            let (code, answer) = app.call(token, method.clone(), &path, body).await;
            assert_eq!(code, success, "{who}: {method} {path}: {answer}");
        }
        let (_, list) = app.get(token, "/api/v1/incidents").await;
        assert!(listed(&list, &id), "{who} sees it listed");
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn members_are_added_and_removed_with_timeline_entries_naming_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (frank, frank_token) = app.person(ADMIN, "frank@a.example", "viewer").await;
    let (_, viewer) = app.person(ADMIN, "vera@a.example", "viewer").await;
    let (code, incident) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Quiet one", "severity": "SEV3", "visibility": "PRIVATE" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{incident}");
    let id = incident["id"].as_str().expect("id").to_owned();
    let members = format!("/api/v1/incidents/{id}/members");
    let frank_path = format!("{members}/{frank}");
    let (code, _) = app
        .get(&frank_token, &format!("/api/v1/incidents/{id}"))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "not a member yet");

    let (code, list) = app.call(ADMIN, Method::PUT, &frank_path, None).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let listed: Vec<&str> = list
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["user_id"].as_str().expect("user_id"))
        .collect();
    assert!(listed.contains(&frank.to_string().as_str()), "{list}");
    let (code, _) = app.call(ADMIN, Method::PUT, &frank_path, None).await;
    assert_eq!(code, StatusCode::OK, "adding twice is not an error");
    let (code, seen) = app
        .get(&frank_token, &format!("/api/v1/incidents/{id}"))
        .await;
    assert_eq!(code, StatusCode::OK, "a member reads it: {seen}");
    let (code, problem) = app.call(&frank_token, Method::PUT, &frank_path, None).await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "a viewer member cannot change members: {problem}"
    );

    let (code, problem) = app
        .call(
            ADMIN,
            Method::PUT,
            &format!("{members}/{}", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{problem}");
    let other = app.other_workspace("b").await;
    let stranger = app.user(&other, "stan@b.example").await;
    let (code, _) = app
        .call(ADMIN, Method::PUT, &format!("{members}/{stranger}"), None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "another workspace's user");
    let (code, problem) = app
        .call(ADMIN, Method::PUT, &format!("{members}/frank"), None)
        .await;
    assert_eq!(
        (code, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("user_id"))
    );

    let (code, list) = app.call(ADMIN, Method::DELETE, &frank_path, None).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert!(!list.to_string().contains(&frank.to_string()), "{list}");
    let (code, _) = app.call(ADMIN, Method::DELETE, &frank_path, None).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "removing a non-member changes nothing"
    );
    let (code, _) = app
        .get(&frank_token, &format!("/api/v1/incidents/{id}"))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "no longer a member");
    let (code, _) = app.get(&viewer, &members).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "members of a hidden incident are hidden"
    );

    let (_, timeline) = app
        .get(ADMIN, &format!("/api/v1/incidents/{id}/timeline"))
        .await;
    let entries: Vec<(&str, &str)> = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "MEMBER_ADDED" || e["kind"] == "MEMBER_REMOVED")
        .map(|e| {
            (
                e["kind"].as_str().expect("kind"),
                e["message"].as_str().expect("message"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("MEMBER_ADDED", "Administrator added as a member"),
            ("MEMBER_ADDED", "frank@a.example added as a member"),
            ("MEMBER_REMOVED", "frank@a.example removed from the members"),
        ],
        "the declarer, then frank in and out, each once"
    );
    let events = app.events_of(&id).await;
    let member_events: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("incident.member_"))
        })
        .map(|e| {
            (
                e["type"].as_str().expect("type"),
                e["data"]["user_id"].as_str().expect("user_id"),
            )
        })
        .collect();
    let frank = frank.to_string();
    assert_eq!(
        &member_events[1..],
        [
            ("incident.member_added", frank.as_str()),
            ("incident.member_removed", frank.as_str()),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["data"]["incident"]["visibility"] == "PRIVATE"),
        "every event says the incident is private"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn changing_visibility_writes_a_timeline_entry_and_an_event(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (rita, rita_token) = app.person(ADMIN, "rita@a.example", "responder").await;
    let (_, viewer) = app.person(ADMIN, "vic@a.example", "viewer").await;
    let incident = app.declare(ADMIN, "started public").await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/incidents/{id}");

    let (code, private) = app
        .call(
            &rita_token,
            Method::PATCH,
            &path,
            Some(json!({ "visibility": "PRIVATE" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{private}");
    assert_eq!(private["visibility"], "PRIVATE");
    let (code, _) = app.get(&viewer, &path).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "hidden from the viewer now");
    let (code, _) = app.get(&rita_token, &path).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "whoever makes it private becomes a member"
    );
    let (_, members) = app.get(ADMIN, &format!("{path}/members")).await;
    assert_eq!(members[0]["user_id"], rita.to_string());

    let (code, public) = app
        .call(
            &rita_token,
            Method::PATCH,
            &path,
            Some(json!({ "visibility": "PUBLIC" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{public}");
    let (code, _) = app.get(&viewer, &path).await;
    assert_eq!(code, StatusCode::OK, "visible again");
    let (code, problem) = app
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({ "visibility": "SECRET" })),
        )
        .await;
    assert_eq!(
        (code, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("visibility"))
    );

    assert_eq!(
        app.timeline_kinds(&id).await,
        [
            "DETECTED",
            "VISIBILITY_CHANGED",
            "MEMBER_ADDED",
            "VISIBILITY_CHANGED"
        ]
    );
    let events = app.events_of(&id).await;
    let changes: Vec<(&Value, &Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == "incident.visibility_changed")
        .map(|e| {
            (
                &e["data"]["from"],
                &e["data"]["to"],
                &e["data"]["incident"]["visibility"],
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (&json!("PUBLIC"), &json!("PRIVATE"), &json!("PRIVATE")),
            (&json!("PRIVATE"), &json!("PUBLIC"), &json!("PUBLIC")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["data"]["incident"]["visibility"].is_string()),
        "every event carries the visibility"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_responder_who_declares_privately_can_still_read_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (dora, dora_token) = app.person(ADMIN, "dora@a.example", "responder").await;
    let (_, other_responder) = app.person(ADMIN, "otto@a.example", "responder").await;
    let (code, incident) = app
        .post(
            &dora_token,
            "/api/v1/incidents",
            json!({ "title": "HR matter", "severity": "SEV4", "visibility": "PRIVATE" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{incident}");
    let id = incident["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/incidents/{id}");
    let (code, _) = app.get(&dora_token, &path).await;
    assert_eq!(code, StatusCode::OK, "the declarer reads it");
    let (code, _) = app
        .post(
            &dora_token,
            &format!("{path}/timeline"),
            json!({ "kind": "NOTE", "message": "noted" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "and works it");
    let (_, list) = app.get(&dora_token, "/api/v1/incidents").await;
    assert!(listed(&list, &id));
    let (_, members) = app.get(&dora_token, &format!("{path}/members")).await;
    assert_eq!(members[0]["user_id"], dora.to_string());
    assert_eq!(members[0]["display_name"], "dora@a.example");
    let (code, _) = app.get(&other_responder, &path).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        app.event_types(&id).await[..2],
        ["incident.declared", "incident.member_added"]
    );
}
