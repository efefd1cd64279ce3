//! The integration pages (`/ui/integrations`), served beside core's pages as the stack
//! serves them, over HTTP as a browser without JavaScript uses them: an admin creates an
//! integration and sees its secret once, rotates it after a confirm (the old secret
//! refused at once), edits the rules (a refusal names the line, changes nothing), runs a
//! payload dry; a viewer reads with no write control and is refused a write; another
//! workspace's integration is a 404 everywhere; a form without the CSRF token is refused.
//! The pages rendered from fixed data, as snapshots. And the rotation in a real
//! Chromium.

use std::time::Duration;

use askama::Template;
use fantoccini::Locator;
use incident_ingestion::ui::pages::{
    DryRunGroup, DryRunView, IntegrationPage, IntegrationRow, IntegrationsPage, RotatePage,
    ShownSecret, When,
};
use incident_schema::AccessRole;
use incident_testkit::browser::Browser;
use incident_testkit::eventually;
use incident_testkit::web::Page;
use incident_web::Shell;
use incident_web::assets::ASSETS;
use incident_web::shell::{Section, Viewer};
use incident_web::view::Choice;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::pages::app;
use crate::support::{ADMIN, am_alert, am_notification};

/// The secret a page shows in `#secret-value`.
fn shown_secret(html: &str) -> Option<String> {
    let at = html.find(r#"id="secret-value" value=""#)?;
    let rest = &html[at + r#"id="secret-value" value=""#.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The integration id in a page's `/ui/integrations/<id>/rotate` link.
fn id_in(html: &str) -> String {
    let at =
        html.find("/ui/integrations/").expect("an integration link") + "/ui/integrations/".len();
    html[at..at + 36].to_owned()
}

async fn webhook(app: &incident_testkit::app::Api, id: &str, secret: &str) -> StatusCode {
    let body = am_notification(
        "{}:{alertname=\"Checkout5xx\"}",
        vec![am_alert(
            "fp1",
            "firing",
            json!({ "alertname": "Checkout5xx", "severity": "warning" }),
            "2026-12-02T04:00:00Z",
            None,
        )],
    );
    reqwest::Client::new()
        .post(format!("{}/webhooks/alertmanager/{id}", app.base))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .expect("webhook")
        .status()
}

/// An Alertmanager integration `prod` created through the API: its id, its secret and
/// the API's answer.
async fn prod(app: &incident_testkit::app::Api) -> (String, String, Value) {
    let created = app
        .create(
            ADMIN,
            "/api/v1/integrations",
            json!({ "kind": "alertmanager", "name": "prod" }),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    (id, secret, created)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_creates_an_integration_sees_its_secret_once_and_rotates_it(pool: PgPool) {
    let app = app(pool.clone()).await;
    let admin = Page::sign_in(&app, ADMIN).await;
    let csrf = admin.csrf();

    let (status, _, html) = admin
        .submit(
            "/ui/integrations",
            &[
                ("_csrf", &csrf),
                ("kind", "alertmanager"),
                ("name", "prod alerts"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let secret = shown_secret(&html).expect("the secret is shown");
    assert!(secret.starts_with("ing_"), "{secret}");
    let id = id_in(&html);
    assert!(
        html.contains(&format!("/webhooks/alertmanager/{id}")),
        "the webhook URL: {html}"
    );
    assert_eq!(webhook(&app, &id, &secret).await, StatusCode::ACCEPTED);

    // Shown once: neither the page nor the list shows it again.
    let (status, _, page) = admin.get(&format!("/ui/integrations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains(&secret) && shown_secret(&page).is_none(),
        "{page}"
    );
    let (_, _, list) = admin.get("/ui/integrations").await;
    assert!(
        list.contains("prod alerts") && list.contains("alertmanager"),
        "{list}"
    );
    assert!(
        list.contains(&format!("/webhooks/alertmanager/{id}")),
        "{list}"
    );
    assert!(!list.contains(&secret));

    // A duplicate name is refused on the list page, the form kept.
    let (status, _, refused) = admin
        .submit(
            "/ui/integrations",
            &[
                ("_csrf", &csrf),
                ("kind", "grafana"),
                ("name", "prod alerts"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(refused.contains("already exists"), "{refused}");

    // Rotation: a confirm page, then the new secret once; the old one stops at once.
    let (status, _, confirm) = admin.get(&format!("/ui/integrations/{id}/rotate")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains(r#"id="confirm-rotate""#), "{confirm}");
    let (status, _, rotated) = admin
        .submit(
            &format!("/ui/integrations/{id}/rotate"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = shown_secret(&rotated).expect("the new secret");
    assert_ne!(new_secret, secret);
    assert!(rotated.contains("the old one no longer works"), "{rotated}");
    assert_eq!(webhook(&app, &id, &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(webhook(&app, &id, &new_secret).await, StatusCode::ACCEPTED);

    // Disabled: it accepts nothing; the list says so.
    let (status, location) = admin
        .post(
            &format!("/ui/integrations/{id}/enabled"),
            &[("_csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/ui/integrations/{id}").as_str())
    );
    assert_eq!(webhook(&app, &id, &new_secret).await, StatusCode::FORBIDDEN);
    let (_, _, list) = admin.get("/ui/integrations").await;
    assert!(list.contains("disabled"), "{list}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn rules_are_edited_with_the_apis_validation_and_a_refusal_names_its_line(pool: PgPool) {
    let app = app(pool.clone()).await;
    let created = app
        .create(
            ADMIN,
            "/api/v1/integrations",
            json!({ "kind": "generic", "name": "edge" }),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let admin = Page::sign_in(&app, ADMIN).await;
    let csrf = admin.csrf();
    let (_, _, page) = admin.get(&format!("/ui/integrations/{id}")).await;
    assert!(
        page.contains("&#34;critical&#34;") || page.contains("\"critical\""),
        "the default rules: {page}"
    );

    let refused_rules = "[\n  {\n    \"name\": \"pages\",\n    \"matchers\": [ { \"label\": \"team\", \"equals\": \"edge\" } ]\n  }\n]";
    let (status, _, html) = admin
        .submit(
            &format!("/ui/integrations/{id}/rules"),
            &[("_csrf", &csrf), ("rules", refused_rules)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("line 2: rules[0].severity: a rule that declares needs a severity"),
        "{html}"
    );
    assert!(
        html.contains("&#34;team&#34;") || html.contains("\"team\""),
        "the text kept: {html}"
    );
    let (_, unchanged) = app.get(ADMIN, &format!("/api/v1/integrations/{id}")).await;
    assert_eq!(unchanged["rules"], created["rules"]);

    let (status, _, html) = admin
        .submit(
            &format!("/ui/integrations/{id}/rules"),
            &[
                ("_csrf", &csrf),
                ("rules", "[\n  { \"severity\": \"SEV2\",\n  ]"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("line 3: rules"), "{html}");

    let good = r#"[{"name": "edge pages", "matchers": [{"label": "team", "equals": "edge"}], "severity": "SEV2"}]"#;
    let (status, location) = admin
        .post(
            &format!("/ui/integrations/{id}/rules"),
            &[("_csrf", &csrf), ("rules", good)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, saved) = admin.get(&location.expect("back to the page")).await;
    assert!(saved.contains(r#"id="rules-saved""#), "{saved}");
    let (_, now) = app.get(ADMIN, &format!("/api/v1/integrations/{id}")).await;
    assert_eq!(
        now["rules"],
        json!([{ "name": "edge pages", "matchers": [{ "label": "team", "equals": "edge" }],
                 "declare": true, "severity": "SEV2", "join_open_incident": true }])
    );

    // The dry run: what the payload would do, nothing stored.
    let payload = json!({ "title": "Edge 5xx", "dedup_key": "edge-5xx", "status": "firing",
                          "labels": { "team": "edge", "service": "cdn" } })
    .to_string();
    let (status, _, ran) = admin
        .submit(
            &format!("/ui/integrations/{id}/dry-run"),
            &[("_csrf", &csrf), ("payload", &payload)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert!(
        ran.contains(r#"id="dry-run""#) && ran.contains("DECLARE"),
        "{ran}"
    );
    assert!(ran.contains("command incident.declare"), "{ran}");
    assert_eq!(
        incident_testkit::db::count(&pool, "SELECT count(*) FROM alert_groups").await,
        0,
        "a dry run stores nothing"
    );
    let (status, _, bad) = admin
        .submit(
            &format!("/ui/integrations/{id}/dry-run"),
            &[("_csrf", &csrf), ("payload", "{not json")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains(r#"id="dry-run-error""#), "{bad}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn viewers_read_without_controls_strangers_get_404_and_forged_forms_are_refused(
    pool: PgPool,
) {
    let app = app(pool.clone()).await;
    let created = app
        .create(
            ADMIN,
            "/api/v1/integrations",
            json!({ "kind": "grafana", "name": "grafana" }),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let viewer_token = app.token(ADMIN, "viewer", None).await;
    let viewer = Page::sign_in(&app, &viewer_token).await;

    let (status, _, list) = viewer.get("/ui/integrations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("grafana"), "{list}");
    let (status, _, page) = viewer.get(&format!("/ui/integrations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for control in [
        r#"id="new-integration""#,
        r#"id="rotate""#,
        r#"id="rules-form""#,
        r#"id="dry-run-form""#,
        r#"id="disable""#,
    ] {
        assert!(
            !list.contains(control) && !page.contains(control),
            "a viewer is offered {control}"
        );
    }
    // The only form a viewer's page holds is the sign-out.
    assert_eq!(page.matches("method=\"post\"").count(), 1, "{page}");
    let csrf = viewer.csrf();
    let (status, _) = viewer
        .post(
            &format!("/ui/integrations/{id}/rotate"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .post(
            "/ui/integrations",
            &[("_csrf", &csrf), ("kind", "generic"), ("name", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another workspace's admin: every page and form of it is a 404.
    let other = app.other_workspace("acme").await;
    let stranger = Page::sign_in(&app, &other).await;
    let theirs = stranger.csrf();
    for path in [
        format!("/ui/integrations/{id}"),
        format!("/ui/integrations/{id}/rotate"),
    ] {
        let (status, _, _) = stranger.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    for (path, fields) in [
        (
            format!("/ui/integrations/{id}/rotate"),
            vec![("_csrf", theirs.as_str())],
        ),
        (
            format!("/ui/integrations/{id}/rules"),
            vec![("_csrf", theirs.as_str()), ("rules", "[]")],
        ),
        (
            format!("/ui/integrations/{id}/enabled"),
            vec![("_csrf", theirs.as_str()), ("enabled", "false")],
        ),
        (
            format!("/ui/integrations/{id}/dry-run"),
            vec![("_csrf", theirs.as_str()), ("payload", "{}")],
        ),
    ] {
        let (status, _) = stranger.post(&path, &fields).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, _, their_list) = stranger.get("/ui/integrations").await;
    assert!(!their_list.contains(&id), "{their_list}");
    let (status, _, _) = stranger.get("/ui/integrations/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Without the CSRF token (or with another session's), the admin's forms are refused
    // and nothing changes.
    let admin = Page::sign_in(&app, ADMIN).await;
    for fields in [vec![], vec![("_csrf", theirs.as_str())]] {
        let (status, _) = admin
            .post(&format!("/ui/integrations/{id}/rotate"), &fields)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let mut create = fields.clone();
        create.extend([("kind", "generic"), ("name", "forged")]);
        let (status, _) = admin.post("/ui/integrations", &create).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let mut rules = fields.clone();
        rules.push(("rules", "[]"));
        let (status, _) = admin
            .post(&format!("/ui/integrations/{id}/rules"), &rules)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (_, now) = app.get(ADMIN, &format!("/api/v1/integrations/{id}")).await;
    assert_eq!(now["rules"], created["rules"]);
    let (_, all) = app.get(ADMIN, "/api/v1/integrations").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_rotates_a_secret_in_a_real_browser_and_sees_it_once(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app(pool.clone()).await;
    let (id, old, _) = prod(&app).await;
    let wait = Duration::from_secs(15);
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;
    c.goto(&format!("{}/ui/integrations", app.base))
        .await
        .expect("list");
    eventually(wait, "the integration listed", || async {
        browser.count("#integrations a").await == 1
    })
    .await;
    c.find(Locator::Css("#integrations a"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    eventually(wait, "its page with the webhook URL", || async {
        browser.count("#webhook-url").await == 1
    })
    .await;
    let url: Value = c
        .execute(
            "return document.getElementById('webhook-url').value;",
            vec![],
        )
        .await
        .expect("url");
    assert!(
        url.as_str()
            .is_some_and(|u| u.ends_with(&format!("/webhooks/alertmanager/{id}"))),
        "{url}"
    );
    browser.screenshot("integration").await;
    c.find(Locator::Id("rotate"))
        .await
        .expect("rotate")
        .click()
        .await
        .expect("click");
    eventually(wait, "the confirm step", || async {
        browser.count("#confirm-rotate").await == 1
    })
    .await;
    c.find(Locator::Id("confirm-rotate"))
        .await
        .expect("confirm")
        .click()
        .await
        .expect("click");
    eventually(wait, "the new secret, once", || async {
        browser.count("#secret-value").await == 1
    })
    .await;
    let secret: Value = c
        .execute(
            "return document.getElementById('secret-value').value;",
            vec![],
        )
        .await
        .expect("secret");
    let secret = secret.as_str().expect("text").to_owned();
    assert!(secret.starts_with("ing_") && secret != old, "{secret}");
    browser.screenshot("integration-secret").await;
    assert_eq!(webhook(&app, &id, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(webhook(&app, &id, &secret).await, StatusCode::ACCEPTED);
    // Reloading the page shows it no more.
    c.goto(&format!("{}/ui/integrations/{id}", app.base))
        .await
        .expect("page");
    eventually(wait, "the page again", || async {
        browser.count("#webhook-url").await == 1
    })
    .await;
    assert_eq!(browser.count("#secret-value").await, 0);
    let source = c.source().await.expect("source");
    assert!(!source.contains(&secret));
    browser.close().await;
}

fn html<T: Template>(page: &T) -> String {
    page.render()
        .expect("renders")
        .replace(&ASSETS.css, "/ui/assets/app-HASH.css")
        .replace(&ASSETS.js, "/ui/assets/app-HASH.js")
}

fn shell(role: AccessRole, title: &str) -> Shell {
    Shell {
        title: title.to_owned(),
        viewer: Some(Viewer::new("Alice".to_owned(), role)),
        csrf: "CSRF".to_owned(),
        section: Section::Integrations,
        assets: &ASSETS,
    }
}

fn row() -> IntegrationRow {
    IntegrationRow {
        id: "00000000-0000-0000-0000-000000000001".to_owned(),
        kind: "alertmanager".to_owned(),
        name: "prod <alerts>".to_owned(),
        enabled: true,
        webhook_url:
            "https://inc.example/webhooks/alertmanager/00000000-0000-0000-0000-000000000001"
                .to_owned(),
    }
}

fn integration_page(role: AccessRole) -> IntegrationPage {
    IntegrationPage {
        shell: shell(role, "Integration prod"),
        integration: row(),
        grouping_key: Some("alertname,service".to_owned()),
        max_incidents_per_minute: Some(5),
        secret: None,
        rules: "[\n  {\n    \"severity\": \"SEV1\"\n  }\n]".to_owned(),
        rules_error: None,
        rules_saved: false,
        payload: String::new(),
        dry_run_error: None,
        dry_run: None,
        created: When {
            iso: "2026-12-02T04:00:00Z".to_owned(),
            label: "2026-12-02 04:00 UTC".to_owned(),
        },
    }
}

#[test]
fn the_integration_pages() {
    let list = IntegrationsPage {
        shell: shell(AccessRole::Admin, "Integrations"),
        rows: vec![
            row(),
            IntegrationRow {
                enabled: false,
                name: "old".to_owned(),
                ..row()
            },
        ],
        kinds: Choice::of(&["alertmanager", "generic"], "generic"),
        name: "edge".to_owned(),
        error: Some("an integration named \"edge\" already exists".to_owned()),
    };
    insta::assert_snapshot!("web_integrations_admin", html(&list));
    let as_viewer = IntegrationsPage {
        shell: shell(AccessRole::Viewer, "Integrations"),
        error: None,
        ..list
    };
    insta::assert_snapshot!("web_integrations_viewer", html(&as_viewer));

    insta::assert_snapshot!(
        "web_integration_viewer",
        html(&integration_page(AccessRole::Viewer))
    );
    let worked = IntegrationPage {
        secret: Some(ShownSecret {
            secret: "ing_SECRET".to_owned(),
            webhook_url_with_token: "https://inc.example/webhooks/alertmanager/1?token=ing_SECRET"
                .to_owned(),
            reason: "rotated".to_owned(),
        }),
        rules_error: Some("line 3: rules[0].severity: unknown variant `SEV9`".to_owned()),
        payload: "{\"alerts\": []}".to_owned(),
        dry_run: Some(DryRunView {
            alerts: 1,
            new_alerts: 1,
            groups: vec![DryRunGroup {
                title: "Checkout5xx".to_owned(),
                group_key: "alertname=Checkout5xx".to_owned(),
                change: "opened".to_owned(),
                decision: "DECLARE".to_owned(),
                firing: 1,
                alerts: 1,
                explanation: "{\n  \"rule\": 0\n}".to_owned(),
            }],
            messages: vec![
                "command incident.declare".to_owned(),
                "event alert_group.opened".to_owned(),
            ],
        }),
        ..integration_page(AccessRole::Admin)
    };
    insta::assert_snapshot!("web_integration_admin", html(&worked));
    let rotate = RotatePage {
        shell: shell(AccessRole::Admin, "Rotate the secret of prod"),
        integration: row(),
    };
    insta::assert_snapshot!("web_integration_rotate", html(&rotate));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn alerts_sent_by_alertmanager_show_as_a_group_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app(pool.clone()).await;
    let (id, secret, _) = prod(&app).await;
    assert!(webhook(&app, &id, &secret).await.is_success());
    let wait = Duration::from_secs(15);
    let c = &browser.client;
    // A responder reads them (the forms of integrations are the admins').
    let responder = app.token(ADMIN, "responder", None).await;
    browser.sign_in(&app.base, &responder).await;
    c.goto(&format!("{}/ui/alerts", app.base))
        .await
        .expect("alert groups");
    eventually(wait, "the group listed", || async {
        browser.count("#alert-groups a[href^='/ui/alerts/']").await == 1
    })
    .await;
    browser.screenshot("alerts").await;
    c.find(Locator::Css("#alert-groups a[href^='/ui/alerts/']"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    eventually(wait, "the group's page with its alert", || async {
        browser.count("#alerts tbody tr").await == 1
    })
    .await;
    let shown: Value = c
        .execute(
            "return [document.getElementById('group-status').textContent,
                     document.getElementById('alerts').textContent,
                     document.getElementById('explanation').textContent];",
            vec![],
        )
        .await
        .expect("page");
    let [status, alerts, why] = [0, 1, 2].map(|i| shown[i].as_str().unwrap_or_default().to_owned());
    assert_eq!(status.trim(), "OPEN", "{shown}");
    assert!(
        alerts.contains("fp1") || alerts.contains("Checkout5xx"),
        "{alerts}"
    );
    assert!(why.contains("grouping"), "why it grouped: {why}");
    browser.screenshot("alert-group").await;
}
