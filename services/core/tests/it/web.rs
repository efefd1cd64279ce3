//! The web app over HTTP (no browser): sign-in, the session cookie's attributes, CSRF,
//! revocation, the role and privacy rules on pages, and the public status page's
//! content and cache headers.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

pub use incident_testkit::web::Page;

async fn timeline_len(app: &TestApp, incident: &str) -> usize {
    app.timeline_kinds(incident).await.len()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_session_cookie_is_http_only_lax_expiring_and_secure_behind_https(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let plain = Page::sign_in(&app, ADMIN).await;
    assert!(
        plain.set_cookie.contains("HttpOnly"),
        "{}",
        plain.set_cookie
    );
    assert!(
        plain.set_cookie.contains("SameSite=Lax"),
        "{}",
        plain.set_cookie
    );
    assert!(
        plain.set_cookie.contains("Max-Age="),
        "{}",
        plain.set_cookie
    );
    assert!(!plain.set_cookie.contains("Secure"), "{}", plain.set_cookie);
    let https = Page::sign_in_with(&app, ADMIN, true)
        .await
        .expect("signed in");
    assert!(
        https.set_cookie.contains("; Secure"),
        "{}",
        https.set_cookie
    );
    // Stored hashed: the secret is nowhere in the table, its SHA-256 is.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT session_hash FROM web_sessions")
        .fetch_all(&pool)
        .await
        .expect("sessions");
    assert_eq!(stored.len(), 2);
    assert!(stored.contains(&incident_runtime::api::token::hash(&plain.secret)));
    let (status, _, body) = plain.get("/ui/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign out"));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_wrong_token_does_not_sign_in_and_pages_send_strangers_to_sign_in(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_eq!(
        Page::sign_in_with(&app, "inc_not-a-token-at-all", false)
            .await
            .err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = stranger
        .get(format!("{}/ui/incidents?status=RESOLVED", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/ui/login?next=/ui/incidents%3Fstatus%3DRESOLVED")
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_form_without_its_csrf_token_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.declare(ADMIN, "Checkout is down").await;
    let page = Page::sign_in(&app, ADMIN).await;
    let before = timeline_len(&app, "INC-1").await;
    let path = "/ui/incidents/INC-1/entries";
    let (missing, _) = page
        .post(path, &[("kind", "note"), ("message", "forged")])
        .await;
    assert_eq!(missing, StatusCode::FORBIDDEN);
    let other = incident_web::csrf::token_for("inc_someone-elses-session");
    let (wrong, _) = page
        .post(
            path,
            &[("_csrf", &other), ("kind", "note"), ("message", "forged")],
        )
        .await;
    assert_eq!(wrong, StatusCode::FORBIDDEN);
    let (status_move, _) = page
        .post("/ui/incidents/INC-1/status", &[("status", "RESOLVED")])
        .await;
    assert_eq!(status_move, StatusCode::FORBIDDEN);
    let (logout, _) = page.post("/ui/logout", &[]).await;
    assert_eq!(logout, StatusCode::FORBIDDEN);
    assert_eq!(
        timeline_len(&app, "INC-1").await,
        before,
        "nothing was written"
    );
    let (_, incident) = app.get(ADMIN, "/api/v1/incidents/INC-1").await;
    assert_eq!(incident["status"], "INVESTIGATING");

    let csrf = page.csrf();
    let (ok, location) = page
        .post(
            path,
            &[("_csrf", &csrf), ("kind", "note"), ("message", "real")],
        )
        .await;
    assert_eq!(ok, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/incidents/INC-1"));
    assert_eq!(timeline_len(&app, "INC-1").await, before + 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_session_of_a_revoked_token_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, created) = app
        .post(
            ADMIN,
            "/api/v1/tokens",
            json!({ "name": "laptop", "role": "responder" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let page = Page::sign_in(&app, created["secret"].as_str().expect("secret")).await;
    assert_eq!(page.get("/ui/incidents").await.0, StatusCode::OK);
    let id = created["id"].as_str().expect("id");
    let (revoked, body) = app
        .call(
            ADMIN,
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
        )
        .await;
    assert!(revoked.is_success(), "{revoked} {body}");
    let (status, location, _) = page.get("/ui/incidents").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.expect("to sign-in").starts_with("/ui/login"));
    // And its forms are refused, even with the right CSRF token.
    app.declare(ADMIN, "After revocation").await;
    let csrf = page.csrf();
    let (post, _) = page
        .post(
            "/ui/incidents/INC-1/entries",
            &[("_csrf", &csrf), ("message", "x")],
        )
        .await;
    assert_eq!(post, StatusCode::SEE_OTHER);
    assert_eq!(timeline_len(&app, "INC-1").await, 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn signing_out_ends_the_session(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();
    let (status, location) = page.post("/ui/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/login"));
    assert_eq!(page.get("/ui/incidents").await.0, StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_viewer_is_offered_no_write_controls_and_its_posts_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.declare(ADMIN, "Checkout is down").await;
    let viewer = app.token(ADMIN, "viewer").await;
    let page = Page::sign_in(&app, &viewer).await;
    let (status, _, html) = page.get("/ui/incidents/INC-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Checkout is down"));
    for control in [
        "/ui/incidents/INC-1/status",
        "/ui/incidents/INC-1/roles",
        "/ui/incidents/INC-1/entries",
        "/ui/incidents/new",
    ] {
        assert!(!html.contains(control), "a viewer is offered {control}");
    }
    assert!(
        !page
            .get("/ui/incidents")
            .await
            .2
            .contains("/ui/incidents/new")
    );
    assert_eq!(page.get("/ui/incidents/new").await.0, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let (post, _) = page
        .post(
            "/ui/incidents/INC-1/entries",
            &[("_csrf", &csrf), ("message", "x")],
        )
        .await;
    assert_eq!(post, StatusCode::FORBIDDEN);
    assert_eq!(timeline_len(&app, "INC-1").await, 1);

    let responder = app.token(ADMIN, "responder").await;
    let (_, _, html) = Page::sign_in(&app, &responder)
        .await
        .get("/ui/incidents/INC-1")
        .await;
    assert!(html.contains("/ui/incidents/INC-1/entries"));
    // Only legal moves are offered: from INVESTIGATING, never INVESTIGATING itself.
    assert!(html.contains(r#"<option value="IDENTIFIED">"#));
    assert!(!html.contains(r#"<option value="INVESTIGATING">"#));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_incident_and_another_workspaces_incident_are_404_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, _) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Secret breach", "severity": "SEV1", "visibility": "PRIVATE" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let responder = app.token(ADMIN, "responder").await;
    let page = Page::sign_in(&app, &responder).await;
    for path in [
        "/ui/incidents/INC-1",
        "/ui/incidents/INC-1/timeline",
        "/ui/incidents/INC-1/head",
        "/ui/incidents/INC-1/events",
    ] {
        let (status, _, html) = page.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("Secret breach"));
    }
    assert!(!page.get("/ui/incidents").await.2.contains("Secret breach"));
    let csrf = page.csrf();
    let (post, _) = page
        .post(
            "/ui/incidents/INC-1/entries",
            &[("_csrf", &csrf), ("message", "x")],
        )
        .await;
    assert_eq!(post, StatusCode::NOT_FOUND);

    let other = app.other_workspace("elsewhere").await;
    let stranger = Page::sign_in(&app, &other).await;
    assert_eq!(
        stranger.get("/ui/incidents/INC-1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        Page::sign_in(&app, ADMIN)
            .await
            .get("/ui/incidents/INC-1")
            .await
            .0,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn declaring_from_the_form_lands_on_the_incident_and_a_bad_field_shows_the_form_again(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();
    let (status, _) = page
        .post(
            "/ui/incidents",
            &[("_csrf", &csrf), ("title", "   "), ("severity", "SEV2")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, location) = page
        .post(
            "/ui/incidents",
            &[
                ("_csrf", &csrf),
                ("title", "Checkout is down"),
                ("description", "500s"),
                ("severity", "SEV1"),
                ("service_0", "payments"),
                ("impact_0", "TOTAL_OUTAGE"),
                ("service_1", ""),
                ("impact_1", "DEGRADED"),
                ("drill", "on"),
                ("private", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/incidents/INC-1"));
    let (_, incident) = app.get(ADMIN, "/api/v1/incidents/INC-1").await;
    assert_eq!(incident["severity"], "SEV1");
    assert_eq!(incident["is_drill"], true);
    assert_eq!(incident["visibility"], "PRIVATE");
    assert_eq!(
        incident["affected_services"],
        json!([{ "name": "payments", "impact": "TOTAL_OUTAGE" }])
    );
}

async fn enable_status_page(app: &TestApp, name: &str) {
    let page = Page::sign_in(app, ADMIN).await;
    let csrf = page.csrf();
    let (status, _) = page
        .post(
            "/ui/settings/status-page",
            &[("_csrf", &csrf), ("enabled", "on"), ("name", name)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_status_page_is_off_by_default_and_shows_only_public_updates_of_public_real_incidents(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let http = reqwest::Client::new();
    let url = format!("{}/status/default", app.base);
    assert_eq!(
        http.get(&url).send().await.expect("get").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(format!("{}/status/nobody", app.base))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::NOT_FOUND
    );

    let (_, _) = app
        .post(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Checkout is down", "severity": "SEV1",
            "affected_services": [{ "name": "payments", "impact": "TOTAL_OUTAGE" }] }),
        )
        .await;
    let entry = |message: &str, public: bool| json!({ "kind": if public { "UPDATE" } else { "NOTE" }, "message": message, "is_public": public });
    app.post(
        ADMIN,
        "/api/v1/incidents/INC-1/timeline",
        entry("We are rolling back", true),
    )
    .await;
    app.post(
        ADMIN,
        "/api/v1/incidents/INC-1/timeline",
        entry("db password rotated", false),
    )
    .await;
    app.post(
        ADMIN,
        "/api/v1/incidents",
        json!({ "title": "Secret breach", "severity": "SEV1", "visibility": "PRIVATE" }),
    )
    .await;
    app.post(
        ADMIN,
        "/api/v1/incidents/INC-2/timeline",
        entry("breach update", true),
    )
    .await;
    app.post(
        ADMIN,
        "/api/v1/incidents",
        json!({ "title": "Fire drill", "severity": "SEV3", "is_drill": true }),
    )
    .await;
    enable_status_page(&app, "Acme status").await;

    let r = http.get(&url).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[CACHE_CONTROL],
        "public, max-age=30, stale-while-revalidate=60"
    );
    let etag = r.headers()[ETAG].clone();
    let html = r.text().await.expect("html");
    assert!(
        html.contains("Acme status")
            && html.contains("Checkout is down")
            && html.contains("We are rolling back")
    );
    assert!(html.contains("Major outage"));
    for hidden in [
        "db password rotated",
        "Secret breach",
        "breach update",
        "Fire drill",
    ] {
        assert!(!html.contains(hidden), "the status page shows {hidden:?}");
    }
    let again = http
        .get(&url)
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let json: Value = http
        .get(format!("{url}/index.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(json["name"], "Acme status");
    assert_eq!(json["state"], "major_outage");
    assert_eq!(
        json["services"],
        json!([{ "name": "payments", "state": "major_outage" }])
    );
    assert_eq!(json["current"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        json["current"][0]["updates"][0]["message"],
        "We are rolling back"
    );
    assert_eq!(
        json["current"][0]["updates"].as_array().map(Vec::len),
        Some(1)
    );

    let atom = http
        .get(format!("{url}/feed.atom"))
        .send()
        .await
        .expect("get");
    assert!(
        atom.headers()[CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("application/atom+xml")
    );
    let atom = atom.text().await.expect("atom");
    assert!(
        atom.contains("<content type=\"text\">We are rolling back</content>"),
        "{atom}"
    );
    assert!(!atom.contains("db password rotated") && !atom.contains("breach"));

    // Resolved, the incident moves to the recent list and the page is operational again.
    app.post(
        ADMIN,
        "/api/v1/incidents/INC-1/status",
        json!({ "status": "RESOLVED" }),
    )
    .await;
    let json: Value = http
        .get(format!("{url}/index.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(json["state"], "operational");
    assert_eq!(json["recent"][0]["title"], "Checkout is down");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_event_about_an_incident_notifies_the_live_pages_on_commit(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listen");
    listener
        .listen(incident_web::sse::CHANNEL)
        .await
        .expect("listen");
    let incident = app.declare(ADMIN, "Checkout is down").await;
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("notified")
        .expect("notification");
    let change = incident_web::sse::Change::parse(n.payload()).expect("parses");
    assert_eq!(
        change.incident_id.to_string(),
        incident["id"].as_str().expect("id")
    );
    assert_eq!(change.message_type, "incident.declared");
}
