//! The postmortem pages over HTTP, as a browser without JavaScript uses them: read the
//! document, edit a section and every section, review, publish, add, move and assign
//! action items, download the Markdown, draft from the page; CSRF refused without the
//! token; another workspace's postmortem and item, a private incident's for a
//! non-member, answer 404; a viewer is offered no control and refused a write.

use incident_testkit::web::Page;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

async fn drafted(app: &TestApp, title: &str) -> (String, Value) {
    let incident = app.resolved_incident(title).await;
    let pm = app.draft(&incident).await;
    (incident, pm)
}

async fn postmortem_of(app: &TestApp, incident: &str) -> Value {
    let (status, pm) = app
        .get(ADMIN, &format!("/api/v1/incidents/{incident}/postmortem"))
        .await;
    assert_eq!(status, StatusCode::OK, "{pm}");
    pm
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_responder_edits_reviews_and_publishes_a_postmortem_without_javascript(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let alice = app.user(ADMIN, "alice@example.com", "Alice").await;
    let (incident, pm) = drafted(&app, "Checkout is down").await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();

    let (status, _, html) = page.get("/ui/postmortems/INC-1").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Checkout is down"), "{html}");
    assert!(html.contains(r#"id="section-summary""#), "{html}");
    assert!(html.contains("Timeline, as drafted"), "{html}");
    assert!(html.contains("Time to resolve"), "{html}");

    // A section posted without its CSRF token is refused and changes nothing.
    let (status, _) = page
        .post(
            "/ui/postmortems/INC-1/sections/summary",
            &[("text", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        postmortem_of(&app, &incident).await["summary"],
        pm["summary"]
    );

    // One section.
    let (status, location) = page
        .post(
            "/ui/postmortems/INC-1/sections/summary",
            &[
                ("_csrf", &csrf),
                ("text", "A certificate expired on the gateway."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/postmortems/INC-1"));
    let now = postmortem_of(&app, &incident).await;
    assert_eq!(now["summary"], "A certificate expired on the gateway.");
    assert_eq!(now["generation"]["summary"], "human");
    assert_eq!(now["edited_by_human"], true);

    // Without htmx the section's edit link goes to the whole form.
    let (status, location, _) = page.get("/ui/postmortems/INC-1/sections/summary").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/postmortems/INC-1/edit#field-summary")
    );
    let (status, _, form) = page.get("/ui/postmortems/INC-1/edit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains("A certificate expired on the gateway."),
        "{form}"
    );

    // Every section at once; an empty "where we got lucky" clears it.
    let (status, _) = page
        .post(
            "/ui/postmortems/INC-1",
            &[
                ("_csrf", &csrf),
                ("summary", "Expired certificate."),
                ("what_went_well", "Paging worked."),
                ("where_we_got_lucky", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let now = postmortem_of(&app, &incident).await;
    assert_eq!(now["summary"], "Expired certificate.");
    assert_eq!(now["what_went_well"], "Paging worked.");
    assert_eq!(now["where_we_got_lucky"], Value::Null);
    assert_eq!(now["what_happened"], pm["what_happened"], "untouched");

    // Review, and an illegal move shown on the page with 409.
    let (status, _) = page
        .post(
            "/ui/postmortems/INC-1/review",
            &[("_csrf", &csrf), ("status", "IN_REVIEW")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(postmortem_of(&app, &incident).await["status"], "IN_REVIEW");

    // An action item, assigned and due; moved on the board; assigned to nobody.
    let alice_id = alice.to_string();
    let (status, _) = page
        .post(
            "/ui/postmortems/INC-1/action-items",
            &[
                ("_csrf", &csrf),
                ("description", "Alert 14 days before a certificate expires"),
                ("assignee_id", &alice_id),
                ("due_date", "2027-01-15"),
                ("priority", "P2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let items = postmortem_of(&app, &incident).await["action_items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    let item = &items[0];
    assert_eq!(item["assignee_id"], json!(alice));
    assert_eq!(item["due_date"], "2027-01-15");
    assert_eq!(item["priority"], "P2");
    let item_path = format!(
        "/ui/postmortems/action-items/{}",
        item["id"].as_str().expect("id")
    );
    let (_, _, html) = page.get("/ui/postmortems/INC-1").await;
    assert!(html.contains("Alert 14 days before a certificate expires"));
    assert!(
        html.contains(r#"name="status" value="IN_PROGRESS""#),
        "{html}"
    );

    let (status, location) = page
        .post(
            &item_path,
            &[
                ("_csrf", &csrf),
                ("status", "IN_PROGRESS"),
                ("wont_do_reason", ""),
                ("back", "/ui/postmortems/INC-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/postmortems/INC-1"));
    let (status, _) = page
        .post(
            &item_path,
            &[("_csrf", &csrf), ("assign", "1"), ("assignee_id", "")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let item = &postmortem_of(&app, &incident).await["action_items"][0];
    assert_eq!(item["status"], "IN_PROGRESS");
    assert_eq!(item["assignee_id"], Value::Null);
    // WONT_DO without a reason is refused (422), with one it is taken; a redirect
    // elsewhere than the pages is not followed.
    let (status, _) = page
        .post(&item_path, &[("_csrf", &csrf), ("status", "WONT_DO")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location) = page
        .post(
            &item_path,
            &[
                ("_csrf", &csrf),
                ("status", "DONE"),
                ("back", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/postmortems/INC-1"));
    let item = &postmortem_of(&app, &incident).await["action_items"][0];
    assert_eq!(item["status"], "DONE");
    assert!(item["completed_at"].is_string());

    // Publish: once, with its event.
    let (status, _) = page
        .post("/ui/postmortems/INC-1/publish", &[("_csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(postmortem_of(&app, &incident).await["status"], "PUBLISHED");
    assert_eq!(app.events("postmortem.published").await.len(), 1);
    let (_, _, html) = page.get("/ui/postmortems/INC-1").await;
    assert!(
        !html.contains(r#"id="publish""#),
        "publish offered again: {html}"
    );

    // The Markdown download.
    let r = app
        .client
        .get(format!("{}/ui/postmortems/INC-1/export.md", app.base))
        .header("cookie", format!("incident_session={}", page.secret))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"INC-1-postmortem.md\""
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/markdown"))
    );
    let markdown = r.text().await.expect("body");
    assert!(markdown.contains("Expired certificate."), "{markdown}");

    // The lists.
    let (status, _, html) = page.get("/ui/postmortems?status=PUBLISHED").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/ui/postmortems/INC-1""#), "{html}");
    assert!(html.contains("0 of 1"), "{html}");
    let (_, _, html) = page.get("/ui/postmortems?status=DRAFT").await;
    assert!(!html.contains(r#"href="/ui/postmortems/INC-1""#), "{html}");
    let (status, _, html) = page.get("/ui/postmortems/action-items?status=all").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Alert 14 days before a certificate expires"),
        "{html}"
    );
    let (_, _, html) = page.get("/ui/postmortems/action-items").await;
    assert!(
        !html.contains("Alert 14 days before a certificate expires"),
        "a done item among the open ones: {html}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_resolved_incident_is_drafted_from_its_page_and_an_open_one_is_not(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.resolved_incident("Disk full").await;
    app.declare(
        ADMIN,
        json!({ "title": "Still burning", "severity": "SEV2" }),
    )
    .await;
    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, html) = page.get("/ui/postmortems/INC-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains(r#"id="draft""#), "{html}");
    let (status, location) = page
        .post("/ui/postmortems/INC-1/draft", &[("_csrf", &page.csrf())])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/postmortems/INC-1"));
    let (status, _, html) = page.get("/ui/postmortems/INC-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="section-summary""#), "{html}");
    assert_eq!(postmortem_of(&app, &incident).await["status"], "DRAFT");
    assert_eq!(app.events("postmortem.drafted").await.len(), 1);
    // Drafting again keeps the one postmortem.
    page.post("/ui/postmortems/INC-1/draft", &[("_csrf", &page.csrf())])
        .await;
    assert_eq!(app.events("postmortem.drafted").await.len(), 1);

    let (status, _, html) = page.get("/ui/postmortems/INC-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains(r#"id="draft""#), "{html}");
    assert!(html.contains("once the incident is resolved"), "{html}");
    let (status, _) = page
        .post("/ui/postmortems/INC-2/draft", &[("_csrf", &page.csrf())])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn other_workspaces_private_incidents_and_viewers_get_nothing_they_may_not_have(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (incident, pm) = drafted(&app, "Checkout is down").await;
    let item = app
        .create(
            ADMIN,
            &format!(
                "/api/v1/postmortems/{}/action-items",
                pm["id"].as_str().expect("id")
            ),
            json!({ "description": "Rotate the certificate" }),
        )
        .await;
    let item_path = format!(
        "/ui/postmortems/action-items/{}",
        item["id"].as_str().expect("id")
    );

    // Another workspace: our postmortem, our item and the list are not theirs.
    let other = app.other_workspace("acme").await;
    let stranger = Page::sign_in(&app, &other).await;
    for path in [
        "/ui/postmortems/INC-1",
        "/ui/postmortems/INC-1/edit",
        "/ui/postmortems/INC-1/export.md",
        &format!("/ui/postmortems/{incident}"),
    ] {
        let (status, _, _) = stranger.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = stranger
        .post(
            &item_path,
            &[("_csrf", &stranger.csrf()), ("status", "DONE")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, html) = stranger.get("/ui/postmortems").await;
    assert!(!html.contains("Checkout is down"), "{html}");
    let (_, _, html) = stranger
        .get("/ui/postmortems/action-items?status=all")
        .await;
    assert!(!html.contains("Rotate the certificate"), "{html}");

    // A private incident's postmortem, for a responder who is not a member.
    let private = app
        .declare(
            ADMIN,
            json!({ "title": "Secret breach", "severity": "SEV1", "visibility": "PRIVATE" }),
        )
        .await;
    let private_id = private["id"].as_str().expect("id").to_owned();
    app.set_status(ADMIN, &private_id, "RESOLVED").await;
    app.draft(&private_id).await;
    let responder = app.token(ADMIN, "responder", None).await;
    let outsider = Page::sign_in(&app, &responder).await;
    let (status, _, _) = outsider.get("/ui/postmortems/INC-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider
        .post(
            "/ui/postmortems/INC-2/sections/summary",
            &[("_csrf", &outsider.csrf()), ("text", "leaked")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, html) = outsider.get("/ui/postmortems").await;
    assert!(
        html.contains("Checkout is down") && !html.contains("Secret breach"),
        "{html}"
    );

    // A viewer reads, is offered no control, and is refused a write.
    let viewer = app.token(ADMIN, "viewer", None).await;
    let reader = Page::sign_in(&app, &viewer).await;
    let (status, _, html) = reader.get("/ui/postmortems/INC-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Rotate the certificate"), "{html}");
    let main = html.split("<main").nth(1).unwrap_or_default();
    assert!(
        !main.contains("<form"),
        "a viewer is offered a form: {main}"
    );
    assert!(!main.contains("hx-get"), "a viewer is offered an edit link");
    let (status, _) = reader
        .post(
            "/ui/postmortems/INC-1/sections/summary",
            &[("_csrf", &reader.csrf()), ("text", "viewer was here")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = reader
        .post(&item_path, &[("_csrf", &reader.csrf()), ("status", "DONE")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let now = postmortem_of(&app, &incident).await;
    assert_eq!(now["summary"], pm["summary"]);
    assert_eq!(now["action_items"][0]["status"], "OPEN");

    // Nobody signed in is sent to sign in.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = anonymous
        .get(format!("{}/ui/postmortems/INC-1", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .is_ok_and(|l| l.starts_with("/ui/login"))
    );
}
