//! The postmortem settings page over HTTP, as a browser without JavaScript uses it: each
//! form saved and read back through the API; a template that does not compile refused
//! beside its field with nothing stored, and the reset; the tracker's credential checked
//! with a Jira fake, never shown, kept when the field is left empty; CSRF refused; a
//! viewer and a responder refused; another workspace's settings never shown.

use incident_testkit::web::Page;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{ADMIN, TestApp};

const PAGE: &str = "/ui/settings/postmortems";

async fn api(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get(token, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Basic auth of dana@example.com:jira-api-token, as Jira Cloud's REST v3 takes it.
const DANA: &str = "Basic ZGFuYUBleGFtcGxlLmNvbTpqaXJhLWFwaS10b2tlbg==";

/// A Jira Cloud fake that takes [`DANA`] only.
async fn jira() -> MockServer {
    let jira = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .and(header("authorization", DANA))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "accountId": "5b10a2844c20165700ede21g", "emailAddress": "dana@example.com", "active": true }),
        ))
        .mount(&jira)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&jira)
        .await;
    jira
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_saves_the_draft_trigger_and_the_llm_options_without_javascript(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();

    let (status, _, html) = page.get(PAGE).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(r#"value="ON_RESOLVE" id="trigger-ON_RESOLVE" checked"#),
        "the default is checked: {html}"
    );
    assert!(
        html.contains(r#"<a href="/ui/settings/postmortems" aria-current="page">Postmortems</a>"#),
        "the settings navigation marks this page: {html}"
    );

    let (status, location) = page
        .post(
            PAGE,
            &[
                ("_csrf", &csrf),
                ("draft_trigger", "ON_CLOSE"),
                ("llm_allow_internal", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/postmortems?saved=settings")
    );
    let settings = api(&app, ADMIN, "/api/v1/postmortem/settings").await;
    assert_eq!(
        settings,
        json!({ "draft_trigger": "ON_CLOSE", "llm_allow_private": false, "llm_allow_internal": true })
    );
    let (_, _, html) = page.get("/ui/settings/postmortems?saved=settings").await;
    assert!(html.contains("Draft and LLM settings saved."), "{html}");
    assert!(
        html.contains(r#"value="ON_CLOSE" id="trigger-ON_CLOSE" checked"#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="llm-allow-internal" checked"#),
        "{html}"
    );
    assert!(
        !html.contains(r#"id="llm-allow-private" checked"#),
        "{html}"
    );

    // A trigger the form does not offer is refused and changes nothing.
    let (status, _, html) = page
        .submit(PAGE, &[("_csrf", &csrf), ("draft_trigger", "ON_MONDAYS")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"id="settings-error""#), "{html}");
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/settings").await["draft_trigger"],
        "ON_CLOSE"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_template_that_does_not_compile_is_refused_beside_the_field_and_nothing_is_stored(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();

    // Refused: an unclosed block. The page shows the text as sent and the line at fault.
    let broken =
        "# {{ incident.title }}\r\n\r\n{% if postmortem.summary %}\r\n{{ postmortem.summary }}\r\n";
    let (status, _, html) = page
        .submit(
            "/ui/settings/postmortems/template",
            &[("_csrf", &csrf), ("template", broken)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains(r#"id="template-error""#), "{html}");
    assert!(html.contains("Line "), "the line at fault: {html}");
    assert!(html.contains(r#"aria-invalid="true""#), "{html}");
    assert!(
        html.contains("{% if postmortem.summary %}"),
        "the text as sent: {html}"
    );
    let stored = api(&app, ADMIN, "/api/v1/postmortem/template").await;
    assert_eq!(stored["is_default"], true, "nothing stored: {stored}");

    // Refused: a name the sample postmortem does not have.
    let (status, _, html) = page
        .submit(
            "/ui/settings/postmortems/template",
            &[
                ("_csrf", &csrf),
                ("template", "# {{ incident.no_such_field }}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains(r#"id="template-error""#), "{html}");
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/template").await["is_default"],
        true
    );

    // Saved: the browser's CRLF line breaks stored as LF.
    let (status, location) = page
        .post(
            "/ui/settings/postmortems/template",
            &[
                ("_csrf", &csrf),
                (
                    "template",
                    "# {{ incident.title }}\r\n\r\n{{ postmortem.summary }}\r\n",
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/postmortems?saved=template")
    );
    let stored = api(&app, ADMIN, "/api/v1/postmortem/template").await;
    assert_eq!(stored["is_default"], false);
    assert_eq!(
        stored["template"],
        "# {{ incident.title }}\n\n{{ postmortem.summary }}\n"
    );
    let (_, _, html) = page.get(PAGE).await;
    assert!(
        html.contains("This workspace&#x27;s own template")
            || html.contains("This workspace's own template"),
        "{html}"
    );
    assert!(html.contains(r#"id="template-reset""#), "{html}");

    // Reset to the built-in one.
    let (status, location) = page
        .post(
            "/ui/settings/postmortems/template/reset",
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/postmortems?saved=template-reset")
    );
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/template").await["is_default"],
        true
    );
    let (_, _, html) = page.get(PAGE).await;
    assert!(html.contains("The built-in template is in use."), "{html}");
    assert!(!html.contains(r#"id="template-reset""#), "{html}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_tracker_credential_is_checked_never_shown_and_kept_when_left_empty(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let jira = jira().await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();
    let (_, _, html) = page.get(PAGE).await;
    assert!(
        html.contains(r#"<span id="credential-state" class="badge">not set</span>"#),
        "{html}"
    );
    let base = jira.uri();
    let form = |credential: &'static str, project: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("kind", "jira".to_owned()),
            ("base_url", base.clone()),
            ("jira_flavor", "cloud".to_owned()),
            ("username", "dana@example.com".to_owned()),
            ("project", project.to_owned()),
            ("issue_type", String::new()),
            ("credential", credential.to_owned()),
            ("auto_export", "on".to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let page = &page;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page.submit("/ui/settings/postmortems/tracker", &pairs)
                .await
        }
    };

    // A credential the tracker refuses: beside the field, nothing stored.
    let (status, _, html) = post(form("wrong-token", "OPS")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains(r#"id="tracker-credential-error""#), "{html}");
    assert!(!html.contains("wrong-token"), "never echoed: {html}");
    assert!(html.contains(r#"value="OPS""#), "the rest as sent: {html}");
    let (status, _) = app.get(ADMIN, "/api/v1/postmortem/tracker").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Empty with no tracker set: the credential is required.
    let (status, _, html) = post(form("", "OPS")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains(r#"id="tracker-credential-error""#), "{html}");

    // Saved: checked with the fake, stored sealed, shown as "set" and never rendered.
    let (status, location, _) = post(form("jira-api-token", "OPS")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/postmortems?saved=tracker")
    );
    let view = api(&app, ADMIN, "/api/v1/postmortem/tracker").await;
    assert_eq!(view["kind"], "jira");
    assert_eq!(view["project"], "OPS");
    assert_eq!(view["username"], "dana@example.com");
    assert_eq!(view["issue_type"], "Task");
    assert_eq!(view["auto_export"], true);
    let (_, _, html) = page.get("/ui/settings/postmortems?saved=tracker").await;
    assert!(
        html.contains(r#"<span id="credential-state" class="badge">set</span>"#),
        "{html}"
    );
    assert!(!html.contains("jira-api-token"), "{html}");
    assert!(
        html.contains(r#"id="tracker-project" name="project" value="OPS""#),
        "{html}"
    );

    // Saved again with the field empty: the stored credential is checked and kept.
    let (status, _, html) = post(form("", "SRE")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/tracker").await["project"],
        "SRE"
    );
    let checks = jira
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(DANA))
        .count();
    assert_eq!(checks, 2, "the stored credential was the one checked");

    // Removed.
    let (status, location) = page
        .post(
            "/ui/settings/postmortems/tracker/remove",
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/postmortems?saved=tracker-removed")
    );
    let (status, _) = app.get(ADMIN, "/api/v1/postmortem/tracker").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn forms_without_the_csrf_token_or_from_a_viewer_or_responder_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let admin = Page::sign_in(&app, ADMIN).await;
    for (path, fields) in [
        (PAGE, vec![("draft_trigger", "ON_REQUEST")]),
        (
            "/ui/settings/postmortems/template",
            vec![("template", "# x")],
        ),
        ("/ui/settings/postmortems/template/reset", vec![]),
        (
            "/ui/settings/postmortems/tracker",
            vec![("kind", "linear"), ("credential", "k"), ("project", "T")],
        ),
        ("/ui/settings/postmortems/tracker/remove", vec![]),
    ] {
        let (status, _) = admin.post(path, &fields).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{path} without its CSRF token"
        );
    }
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/settings").await["draft_trigger"],
        "ON_RESOLVE"
    );
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/template").await["is_default"],
        true
    );

    for role in ["viewer", "responder"] {
        let token = app.token(ADMIN, role, None).await;
        let page = Page::sign_in(&app, &token).await;
        let csrf = page.csrf();
        let (status, _, html) = page.get(PAGE).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {html}");
        assert!(html.contains("Only workspace admins"), "{html}");
        assert!(
            !html.contains(r#"href="/ui/settings/status-page""#),
            "{role} is offered no settings: {html}"
        );
        let (_, _, incidents) = page.get("/ui/postmortems").await;
        assert!(!incidents.contains(">Settings</a>"), "{role}: {incidents}");
        for (path, fields) in [
            (
                PAGE,
                vec![("_csrf", csrf.as_str()), ("draft_trigger", "ON_REQUEST")],
            ),
            (
                "/ui/settings/postmortems/template",
                vec![("_csrf", csrf.as_str()), ("template", "# x")],
            ),
            (
                "/ui/settings/postmortems/template/reset",
                vec![("_csrf", csrf.as_str())],
            ),
            (
                "/ui/settings/postmortems/tracker/remove",
                vec![("_csrf", csrf.as_str())],
            ),
        ] {
            let (status, _) = page.post(path, &fields).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {path}");
        }
    }
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/settings").await["draft_trigger"],
        "ON_RESOLVE"
    );
    assert_eq!(
        api(&app, ADMIN, "/api/v1/postmortem/template").await["is_default"],
        true
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_settings_are_never_shown_or_changed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other = app.other_workspace("acme").await;
    let (status, _) = app
        .call(
            &other,
            reqwest::Method::PUT,
            "/api/v1/postmortem/template",
            Some(json!({ "template": "# ACME ONLY {{ incident.title }}" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            &other,
            reqwest::Method::PUT,
            "/api/v1/postmortem/settings",
            Some(json!({ "draft_trigger": "ON_REQUEST", "llm_allow_private": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, html) = page.get(PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("ACME ONLY"), "{html}");
    assert!(html.contains("The built-in template is in use."), "{html}");
    assert!(
        html.contains(r#"id="trigger-ON_RESOLVE" checked"#),
        "{html}"
    );
    assert!(
        !html.contains(r#"id="llm-allow-private" checked"#),
        "{html}"
    );

    // Saving here changes this workspace's only.
    let (status, _) = page
        .post(
            "/ui/settings/postmortems/template/reset",
            &[("_csrf", &page.csrf())],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let theirs = api(&app, &other, "/api/v1/postmortem/template").await;
    assert_eq!(theirs["template"], "# ACME ONLY {{ incident.title }}");
    assert_eq!(
        api(&app, &other, "/api/v1/postmortem/settings").await["draft_trigger"],
        "ON_REQUEST"
    );
}
