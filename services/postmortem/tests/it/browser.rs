//! The postmortem pages in a real headless Chromium (`incident_testkit::browser`), served
//! beside core's pages as the stack serves them: from the resolved incident's page to
//! its postmortem, drafted with a button; a section edited in place (htmx swaps the
//! section for its form); an action item added, started and done on the board;
//! publishing; the action item list; a viewer offered no control; the settings page's
//! draft trigger and template saved (a broken template refused). Screenshots go to
//! `target/screenshots/`. Skipped, loudly, where Chromium is not installed.

use std::time::Duration;

use fantoccini::Locator;
use incident_testkit::browser::Browser;
use incident_testkit::eventually;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

const WAIT: Duration = Duration::from_secs(15);

/// Clicks the element `css` finds. The incident page re-renders parts of itself on live
/// updates, so an element found may be replaced before the click lands ("stale element
/// reference"): it is found again, for up to [`WAIT`].
async fn click(browser: &Browser, css: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let element = browser
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match element.click().await {
            Ok(_) => return,
            Err(e)
                if e.to_string().contains("stale element")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("click {css}: {e}"),
        }
    }
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.text(css).await.unwrap_or_default()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_responder_writes_and_publishes_a_postmortem_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let alice = app.user(ADMIN, "alice@example.com", "Alice").await;
    let incident = app.resolved_incident("Checkout is down").await;
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;

    // From the incident's page to its postmortem, drafted from the page.
    c.goto(&format!("{}/ui/incidents/INC-1", app.base))
        .await
        .expect("incident");
    eventually(WAIT, "the postmortem link", || async {
        browser.count("#postmortem-link").await == 1
    })
    .await;
    click(&browser, "#postmortem-link").await;
    eventually(WAIT, "the offer to draft", || async {
        browser.count("#draft").await == 1
    })
    .await;
    click(&browser, "#draft").await;
    eventually(WAIT, "the drafted postmortem", || async {
        browser.count("#section-summary").await == 1
            && text_of(&browser, "#postmortem-status").await == "DRAFT"
    })
    .await;

    // Edit the summary in place.
    click(&browser, "#section-summary a.edit").await;
    eventually(WAIT, "the summary's form in place", || async {
        browser
            .count("#section-summary textarea#field-summary")
            .await
            == 1
    })
    .await;
    let field = c.find(Locator::Id("field-summary")).await.expect("field");
    field.clear().await.expect("clear");
    field
        .send_keys("An expired certificate on the card gateway broke checkout.")
        .await
        .expect("type");
    click(&browser, "#section-summary button[type=submit]").await;
    eventually(WAIT, "the new summary on the page", || async {
        text_of(&browser, "#section-summary .md")
            .await
            .contains("An expired certificate on the card gateway")
            && browser.count("#field-summary").await == 0
    })
    .await;
    let (_, pm) = app
        .get(ADMIN, &format!("/api/v1/incidents/{incident}/postmortem"))
        .await;
    assert_eq!(
        pm["summary"],
        "An expired certificate on the card gateway broke checkout."
    );
    assert_eq!(pm["generation"]["summary"], "human");

    // Add an action item for Alice; start it; finish it.
    c.find(Locator::Id("item-description"))
        .await
        .expect("description")
        .send_keys("Alert 14 days before a certificate expires")
        .await
        .expect("type");
    c.find(Locator::Id("item-assignee"))
        .await
        .expect("assignee")
        .select_by_value(&alice.to_string())
        .await
        .expect("select");
    c.execute(
        "document.getElementById('item-due').value = '2027-01-15';",
        vec![],
    )
    .await
    .expect("due date");
    click(&browser, "#new-item button[type=submit]").await;
    eventually(WAIT, "the item in the open column", || async {
        text_of(&browser, "#column-open")
            .await
            .contains("Alert 14 days")
    })
    .await;
    // Read once the live refresh that follows the page's load has settled.
    eventually(WAIT, "the item's assignee and due date", || async {
        let open = text_of(&browser, "#column-open").await;
        open.contains("Alice") && open.contains("due 2027-01-15")
    })
    .await;
    browser.screenshot("postmortem-board").await;
    click(&browser, "#column-open button[value=IN_PROGRESS]").await;
    eventually(WAIT, "the item in progress", || async {
        text_of(&browser, "#column-in-progress")
            .await
            .contains("Alert 14 days")
    })
    .await;
    click(&browser, "#column-in-progress button[value=DONE]").await;
    eventually(WAIT, "the item done", || async {
        text_of(&browser, "#column-done")
            .await
            .contains("Alert 14 days")
    })
    .await;
    let (_, pm) = app
        .get(ADMIN, &format!("/api/v1/incidents/{incident}/postmortem"))
        .await;
    assert_eq!(pm["action_items"][0]["status"], "DONE");
    assert_eq!(pm["action_items"][0]["assignee_id"], json!(alice));

    // Publish.
    click(&browser, "#publish").await;
    eventually(WAIT, "published", || async {
        text_of(&browser, "#postmortem-status").await == "PUBLISHED"
    })
    .await;
    assert_eq!(browser.count("#publish").await, 0);
    // Read in the page rather than through an element reference: the live refresh that
    // follows the page's load may replace the link in between.
    let export = c
        .execute(
            "return document.getElementById('export').getAttribute('href');",
            vec![],
        )
        .await
        .expect("export link");
    assert_eq!(export, json!("/ui/postmortems/INC-1/export.md"));
    browser.screenshot("postmortem").await;

    // The workspace's action items.
    click(&browser, "a[href='/ui/postmortems/action-items']").await;
    eventually(WAIT, "the action item list", || async {
        text_of(&browser, "main h1").await == "Action items"
    })
    .await;
    c.find(Locator::Css("select[name=status]"))
        .await
        .expect("status filter")
        .select_by_value("all")
        .await
        .expect("select");
    click(&browser, "form.filters button").await;
    eventually(WAIT, "the done item listed", || async {
        text_of(&browser, "ul.cards")
            .await
            .contains("Alert 14 days")
    })
    .await;
    browser.screenshot("action-items").await;

    // A viewer reads the postmortem and is offered nothing to change.
    click(&browser, "form.signout button").await;
    eventually(WAIT, "signed out", || async {
        c.current_url().await.is_ok_and(|u| u.path() == "/ui/login")
    })
    .await;
    let viewer = app.token(ADMIN, "viewer", None).await;
    browser.sign_in(&app.base, &viewer).await;
    c.goto(&format!("{}/ui/postmortems/INC-1", app.base))
        .await
        .expect("postmortem");
    eventually(WAIT, "the postmortem for the viewer", || async {
        browser.count("#section-summary").await == 1
    })
    .await;
    assert_eq!(
        browser.count("main form").await,
        0,
        "a viewer is offered a form"
    );
    assert_eq!(browser.count("main a.edit").await, 0);
    // The board is refreshed once its live stream opens: read it once it settles.
    eventually(WAIT, "the done item on the viewer's board", || async {
        text_of(&browser, "#column-done")
            .await
            .contains("Alert 14 days")
    })
    .await;
    browser.screenshot("postmortem-viewer").await;
    browser.close().await;
}

/// The board is live: with the page open, an action item created and moved through the
/// API and a section edited through the API appear without a reload; an SSE stream of
/// an incident the viewer may not read is a 404.
#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_postmortem_board_shows_changes_made_elsewhere_without_a_reload(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.resolved_incident("Checkout is down").await;
    let pm = app.draft(&incident).await;
    let pm_id = pm["id"].as_str().expect("id").to_owned();

    // The stream of another workspace's postmortem page is a 404, before any stream opens.
    let other = app.other_workspace("acme").await;
    let stranger = incident_testkit::web::Page::sign_in(&app, &other).await;
    let (status, _, _) = stranger.get("/ui/postmortems/INC-1/events").await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);

    let Some(browser) = Browser::start().await else {
        return;
    };
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;
    c.goto(&format!("{}/ui/postmortems/INC-1", app.base))
        .await
        .expect("postmortem");
    eventually(WAIT, "the board", || async {
        browser.count("#column-open").await == 1
    })
    .await;
    // A marker the page keeps only if it is not reloaded.
    c.execute("window.notReloaded = true;", vec![])
        .await
        .expect("marker");
    // Let the stream open before changing anything (it starts with a refresh anyway).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (status, item) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{pm_id}/action-items"),
            json!({ "description": "Rotate the gateway certificate automatically" }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{item}");
    eventually(WAIT, "the new item in the open column", || async {
        text_of(&browser, "#column-open")
            .await
            .contains("Rotate the gateway certificate")
    })
    .await;
    let item_id = item["id"].as_str().expect("id").to_owned();
    let (status, body) = app
        .patch(
            ADMIN,
            &format!("/api/v1/action-items/{item_id}"),
            json!({ "status": "IN_PROGRESS" }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    eventually(WAIT, "the item moved to in progress", || async {
        text_of(&browser, "#column-in-progress")
            .await
            .contains("Rotate the gateway certificate")
            && !text_of(&browser, "#column-open")
                .await
                .contains("Rotate the gateway certificate")
    })
    .await;
    let (status, body) = app
        .patch(
            ADMIN,
            &format!("/api/v1/postmortems/{pm_id}"),
            json!({ "summary": "Edited elsewhere: the certificate expired." }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    eventually(WAIT, "the section edited elsewhere", || async {
        text_of(&browser, "#section-summary .md")
            .await
            .contains("Edited elsewhere")
    })
    .await;
    let kept = c
        .execute("return window.notReloaded === true;", vec![])
        .await
        .expect("marker");
    assert_eq!(kept, json!(true), "the page was reloaded");
    browser.screenshot("postmortem-live").await;
    browser.close().await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_changes_the_draft_trigger_and_saves_a_template_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;

    // From the main navigation's "Settings" to the settings' own navigation.
    c.goto(&format!("{}/ui/postmortems", app.base))
        .await
        .expect("postmortems");
    eventually(WAIT, "the settings entry", || async {
        browser
            .count("header nav a[href='/ui/settings/status-page']")
            .await
            == 1
    })
    .await;
    c.goto(&format!("{}/ui/settings/postmortems", app.base))
        .await
        .expect("settings");
    eventually(WAIT, "the settings page", || async {
        browser
            .count("nav.subnav a[href='/ui/settings/postmortems'][aria-current='page']")
            .await
            == 1
    })
    .await;

    // The draft trigger: only on request.
    click(&browser, "#trigger-ON_REQUEST").await;
    click(&browser, "#settings button[type=submit]").await;
    eventually(WAIT, "the settings saved", || async {
        text_of(&browser, "#saved")
            .await
            .contains("Draft and LLM settings saved")
    })
    .await;
    let (_, settings) = app.get(ADMIN, "/api/v1/postmortem/settings").await;
    assert_eq!(settings["draft_trigger"], "ON_REQUEST");

    // A template that does not compile is refused beside the field; then a good one.
    let field = c.find(Locator::Id("field-template")).await.expect("field");
    field.clear().await.expect("clear");
    field
        .send_keys("# {{ incident.title }\n")
        .await
        .expect("type");
    click(&browser, "#template button[type=submit]").await;
    eventually(WAIT, "the template refused", || async {
        browser.count("#template-error").await == 1
    })
    .await;
    let (_, template) = app.get(ADMIN, "/api/v1/postmortem/template").await;
    assert_eq!(template["is_default"], true, "nothing stored");
    let field = c.find(Locator::Id("field-template")).await.expect("field");
    field.clear().await.expect("clear");
    field
        .send_keys("# {{ incident.title }}\n\n## Summary\n\n{{ postmortem.summary }}\n")
        .await
        .expect("type");
    click(&browser, "#template button[type=submit]").await;
    eventually(WAIT, "the template saved", || async {
        text_of(&browser, "#saved").await.contains("Template saved")
    })
    .await;
    let (_, template) = app.get(ADMIN, "/api/v1/postmortem/template").await;
    assert_eq!(template["is_default"], false);
    assert_eq!(
        template["template"],
        "# {{ incident.title }}\n\n## Summary\n\n{{ postmortem.summary }}\n"
    );
    let checked = c
        .execute(
            "return document.getElementById('trigger-ON_REQUEST').checked;",
            vec![],
        )
        .await
        .expect("checked");
    assert_eq!(checked, json!(true));
    c.execute("window.scrollTo(0, 0);", vec![])
        .await
        .expect("scroll");
    browser.screenshot("postmortem-settings").await;

    // On a phone's width the settings' navigation wraps inside the page, and each of
    // its links is reachable by the keyboard.
    c.set_window_size(390, 844).await.expect("phone width");
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .expect("overflow");
    assert_eq!(overflow, json!(false), "nothing wider than the phone");
    let focusable = c
        .execute(
            "return [...document.querySelectorAll('nav.subnav a')].every(a => { a.focus(); return document.activeElement === a; });",
            vec![],
        )
        .await
        .expect("focus");
    assert_eq!(focusable, json!(true));
    browser.screenshot("postmortem-settings-phone").await;
    browser.close().await;
}
