//! The web app in a real headless Chromium (WebDriver, `incident_testkit::browser`):
//! sign in with a token, declare from the form, watch a status change made through the
//! API arrive on the open page without a reload, add a public update and an internal
//! note, assign a commander, turn the status page on and read it, see a viewer
//! offered no write controls, and as an admin create an API token (its secret shown
//! once) and change the SEV1 acknowledge target. Screenshots of each page go to
//! `target/screenshots/`. Skipped, loudly, where Chromium is not installed.

use std::time::Duration;

use fantoccini::Locator;
use incident_testkit::browser::Browser;
use incident_testkit::eventually;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

const WAIT: Duration = Duration::from_secs(15);

async fn sign_in(browser: &Browser, app: &TestApp, token: &str) {
    browser.sign_in(&app.base, token).await;
}

async fn sign_out(browser: &Browser) {
    let c = &browser.client;
    c.find(Locator::Css("form.signout button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the sign-in page", || async {
        c.current_url().await.is_ok_and(|u| u.path() == "/ui/login")
    })
    .await;
}

/// After a boosted form post, the page htmx swapped in has an empty message box.
async fn fresh_entry_form(browser: &Browser) {
    eventually(WAIT, "the incident page after the post", || async {
        browser
            .client
            .execute("const m = document.getElementById('entry-message'); return m !== null && m.value === '';", vec![])
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
}

/// Picks the commander and assigns, as a person does: focus the select (the live region
/// then holds its refreshes until the focus leaves it), pick, press the button. A refresh
/// that landed before the focus did replaces the controls; then they are found again.
async fn assign_commander(browser: &Browser, user: &str) {
    let c = &browser.client;
    for _ in 0..10 {
        let attempt = async {
            let select = c.find(Locator::Id("role-commander")).await?;
            select.click().await?;
            select.select_by_value(user).await?;
            c.find(Locator::Css(
                "form[action$='/roles']:has(#role-commander) button",
            ))
            .await?
            .click()
            .await
        };
        match attempt.await {
            Ok(()) => return,
            Err(e) => {
                eprintln!("retrying the commander assignment: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    panic!("could not assign the commander");
}

async fn timeline_has(browser: &Browser, text: &str) -> bool {
    browser
        .text("#timeline")
        .await
        .is_some_and(|t| t.contains(text))
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_responder_works_an_incident_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let alice = app.user(ADMIN, "alice@example.com").await;
    let c = &browser.client;

    // Sign in with a token.
    c.goto(&format!("{}/ui/login", app.base))
        .await
        .expect("login");
    browser.screenshot("login").await;
    sign_in(&browser, &app, ADMIN).await;

    // Declare from the form and land on the incident page.
    c.find(Locator::LinkText("Declare"))
        .await
        .expect("declare link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the declare form", || async {
        browser.count("#title").await == 1
    })
    .await;
    c.find(Locator::Id("title"))
        .await
        .expect("title")
        .send_keys("Checkout is down")
        .await
        .expect("type");
    c.find(Locator::Id("description"))
        .await
        .expect("description")
        .send_keys("Payments answer 500")
        .await
        .expect("type");
    c.find(Locator::Id("severity"))
        .await
        .expect("severity")
        .select_by_value("SEV1")
        .await
        .expect("select");
    c.find(Locator::Id("service_0"))
        .await
        .expect("service")
        .send_keys("payments")
        .await
        .expect("type");
    c.find(Locator::Id("impact_0"))
        .await
        .expect("impact")
        .select_by_value("TOTAL_OUTAGE")
        .await
        .expect("select");
    browser.screenshot("declare").await;
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("declare")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the new incident's page", || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path() == "/ui/incidents/INC-1")
            && browser
                .text("main h1")
                .await
                .is_some_and(|h| h.contains("INC-1") && h.contains("Checkout is down"))
    })
    .await;

    // A status change through the API appears on the open page without a reload.
    c.execute("window.__sameDocument = true;", vec![])
        .await
        .expect("mark the document");
    // The page's event stream is open before the change is made.
    eventually(WAIT, "the live stream to be listening", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%incident_changed%'",
        )
        .fetch_one(&app.pool)
        .await
        .is_ok_and(|n| n > 0)
    })
    .await;
    let (status, body) = app
        .post(
            ADMIN,
            "/api/v1/incidents/INC-1/status",
            json!({ "status": "IDENTIFIED", "message": "a bad deploy of payments" }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    eventually(WAIT, "the status change on the open page", || async {
        timeline_has(&browser, "a bad deploy of payments").await
            && browser.text("#incident-status").await.as_deref() == Some("IDENTIFIED")
    })
    .await;
    let same = c
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .expect("script");
    assert_eq!(same, json!(true), "the page was reloaded");

    // A public update and an internal note from the page.
    c.find(Locator::Css("input[name=kind][value=public_update]"))
        .await
        .expect("radio")
        .click()
        .await
        .expect("click");
    c.find(Locator::Id("entry-message"))
        .await
        .expect("message")
        .send_keys("We are rolling back the payments deploy")
        .await
        .expect("type");
    c.find(Locator::Css("form[action$='/entries'] button"))
        .await
        .expect("add")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the public update on the timeline", || async {
        timeline_has(&browser, "We are rolling back the payments deploy").await
    })
    .await;
    fresh_entry_form(&browser).await;
    c.find(Locator::Id("entry-message"))
        .await
        .expect("message")
        .send_keys("db credentials rotated as a precaution")
        .await
        .expect("type");
    c.find(Locator::Css("form[action$='/entries'] button"))
        .await
        .expect("add")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the internal note on the timeline", || async {
        timeline_has(&browser, "db credentials rotated").await
    })
    .await;
    fresh_entry_form(&browser).await;
    assert_eq!(
        browser.count("ol.timeline li.public").await,
        1,
        "one public entry"
    );

    // Assign a commander.
    assign_commander(&browser, &alice.to_string()).await;
    eventually(WAIT, "the commander on the incident", || async {
        app.get(ADMIN, "/api/v1/incidents/INC-1").await.1["commander_id"] == json!(alice)
    })
    .await;
    eventually(WAIT, "the commander on the page", || async {
        timeline_has(&browser, "Incident Commander assigned to alice@example.com").await
            && browser
                .text("#role-commander option[selected]")
                .await
                .is_some_and(|t| t == "alice@example.com")
    })
    .await;
    let (_, incident) = app.get(ADMIN, "/api/v1/incidents/INC-1").await;
    assert_eq!(incident["commander_id"], json!(alice));
    browser.screenshot("incident").await;

    c.goto(&format!("{}/ui/incidents", app.base))
        .await
        .expect("list");
    eventually(WAIT, "the list", || async {
        browser.count("table.incidents tbody tr").await == 1
    })
    .await;
    browser.screenshot("incidents").await;

    // The analytics page draws its charts without a script library.
    c.find(Locator::LinkText("Analytics"))
        .await
        .expect("analytics link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the analytics charts", || async {
        browser.count("#chart-mttr svg.chart").await == 1
    })
    .await;
    browser.screenshot("analytics").await;
    c.goto(&format!("{}/ui/incidents", app.base))
        .await
        .expect("list");
    eventually(WAIT, "the list again", || async {
        browser.count("table.incidents tbody tr").await == 1
    })
    .await;

    // A private incident with a public update, which the status page must never show.
    app.post(
        ADMIN,
        "/api/v1/incidents",
        json!({ "title": "Secret breach", "severity": "SEV1", "visibility": "PRIVATE" }),
    )
    .await;
    app.post(
        ADMIN,
        "/api/v1/incidents/INC-2/timeline",
        json!({ "kind": "UPDATE", "message": "breach contained", "is_public": true }),
    )
    .await;
    // Declared through the API, it appears on the open list without a reload (the admin
    // may read it).
    eventually(WAIT, "the new incident on the open list", || async {
        browser.count("table.incidents tbody tr").await == 2
    })
    .await;

    // Turn the status page on and read it: the navigation's "Settings" opens it.
    c.find(Locator::LinkText("Settings"))
        .await
        .expect("settings link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the settings form", || async {
        browser.count("#page-name").await == 1
    })
    .await;
    c.find(Locator::Css("input[name=enabled]"))
        .await
        .expect("enabled")
        .click()
        .await
        .expect("click");
    c.find(Locator::Id("page-name"))
        .await
        .expect("name")
        .send_keys("Acme status")
        .await
        .expect("type");
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "saved", || async {
        browser.text("[role=status]").await.as_deref() == Some("Saved.")
    })
    .await;
    browser.screenshot("status-settings").await;
    c.goto(&format!("{}/status/default", app.base))
        .await
        .expect("status page");
    let page = browser.text("main").await.expect("status page text");
    assert!(
        page.contains("Acme status") && page.contains("Major outage"),
        "{page}"
    );
    assert!(
        page.contains("We are rolling back the payments deploy"),
        "{page}"
    );
    for hidden in [
        "db credentials rotated",
        "a bad deploy",
        "Secret breach",
        "breach contained",
    ] {
        assert!(
            !page.contains(hidden),
            "the status page shows {hidden:?}: {page}"
        );
    }
    browser.screenshot("status-page").await;

    // A viewer sees no write controls.
    c.goto(&format!("{}/ui/incidents", app.base))
        .await
        .expect("list");
    sign_out(&browser).await;
    let viewer = app.token(ADMIN, "viewer").await;
    sign_in(&browser, &app, &viewer).await;
    assert_eq!(browser.count("a[href='/ui/incidents/new']").await, 0);
    c.goto(&format!("{}/ui/incidents/INC-1", app.base))
        .await
        .expect("incident");
    eventually(WAIT, "the incident page", || async {
        browser.count("#timeline").await == 1
    })
    .await;
    assert_eq!(
        browser.count("main form").await,
        0,
        "a viewer is offered a form"
    );
    assert_eq!(
        browser
            .count("main select, main textarea, main button")
            .await,
        0
    );
    assert!(
        browser
            .text("#incident-head")
            .await
            .is_some_and(|h| h.contains("Incident Commander: alice@example.com"))
    );
    browser.screenshot("incident-viewer").await;
    browser.close().await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn signing_in_with_sso_in_a_real_browser_lands_on_the_incident_list(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut person = incident_testkit::idp::Person::new("sub-grace", "grace@example.com");
    person.name = "Grace Hopper".into();
    let idp = incident_testkit::idp::Idp::start(person).await;
    let policy = incident_core::access::sso::Policy {
        email_domain: Some("example.com".into()),
        default_role: incident_schema::AccessRole::Responder,
    };
    let app = TestApp::spawn_with_sso(pool, &idp, policy).await;
    let c = &browser.client;
    c.goto(&format!("{}/ui/login", app.base))
        .await
        .expect("login page");
    browser.screenshot("login-sso").await;
    c.find(Locator::Css("form.sso button[type=submit]"))
        .await
        .expect("the SSO button")
        .click()
        .await
        .expect("click");
    // The provider approves at once and sends the browser back through the callback.
    eventually(WAIT, "the incident list after single sign-on", || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path() == "/ui/incidents")
            && browser.text("main h1").await.as_deref() == Some("Incidents")
    })
    .await;
    let nav = browser.text("body").await.unwrap_or_default();
    assert!(nav.contains("Grace Hopper"), "{nav}");
    assert_eq!(idp.served().tokens, 1);
    sign_out(&browser).await;
    browser.close().await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_creates_a_token_and_changes_an_sla_target_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(pool).await;
    let c = &browser.client;
    sign_in(&browser, &app, ADMIN).await;

    // Create a token from the Tokens page (Settings, then the settings' own
    // navigation): its secret is on the answer, once.
    c.find(Locator::LinkText("Settings"))
        .await
        .expect("settings link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the settings navigation", || async {
        browser
            .count("nav.subnav a[href='/ui/settings/tokens']")
            .await
            == 1
    })
    .await;
    c.find(Locator::LinkText("Tokens"))
        .await
        .expect("tokens link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the tokens page", || async {
        browser.count("#token-name").await == 1
    })
    .await;
    c.find(Locator::Id("token-name"))
        .await
        .expect("name")
        .send_keys("deploy bot")
        .await
        .expect("type");
    c.find(Locator::Id("token-role"))
        .await
        .expect("role")
        .select_by_value("responder")
        .await
        .expect("select");
    c.find(Locator::Id("token-expires"))
        .await
        .expect("expiry")
        .select_by_value("90")
        .await
        .expect("select");
    c.find(Locator::Css(
        "form[action='/ui/settings/tokens'] button[type=submit]",
    ))
    .await
    .expect("create")
    .click()
    .await
    .expect("click");
    eventually(WAIT, "the secret shown once", || async {
        browser.count("#secret-value").await == 1
    })
    .await;
    let secret = c
        .find(Locator::Id("secret-value"))
        .await
        .expect("secret")
        .prop("value")
        .await
        .expect("value")
        .expect("a secret");
    assert!(secret.starts_with("inc_"), "{secret}");
    browser.screenshot("token-created").await;
    let (status, _) = app.get(&secret, "/api/v1/incidents").await;
    assert_eq!(status, reqwest::StatusCode::OK, "the new token works");
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let expires: chrono::DateTime<chrono::Utc> = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "deploy bot")
        .and_then(|t| t["expires_at"].as_str())
        .expect("an expiry")
        .parse()
        .expect("RFC 3339");
    let days = (expires - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "expires in 90 days: {expires}");
    // Back on the listing: its name, never its secret.
    c.goto(&format!("{}/ui/settings/tokens", app.base))
        .await
        .expect("tokens");
    let listing = browser.text("main").await.expect("listing");
    assert!(listing.contains("deploy bot"), "{listing}");
    assert_eq!(browser.count("#secret-value").await, 0);
    let html = c.source().await.expect("source");
    assert!(!html.contains(&secret), "the secret is shown again");

    // Change the SEV1 acknowledge target from the SLA page.
    c.find(Locator::LinkText("SLA"))
        .await
        .expect("SLA link")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "the SLA page", || async {
        browser.count("#SEV1-ack").await == 1
    })
    .await;
    let ack = c.find(Locator::Id("SEV1-ack")).await.expect("ack");
    ack.clear().await.expect("clear");
    ack.send_keys("3").await.expect("type");
    c.find(Locator::Css("#sla-SEV1 button[type=submit]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("click");
    eventually(WAIT, "saved", || async {
        browser.text("[role=status]").await.as_deref() == Some("SEV1 saved.")
    })
    .await;
    browser.screenshot("sla-settings").await;
    let (_, policies) = app.get(ADMIN, "/api/v1/sla-policies").await;
    let sev1 = policies
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["severity"] == "SEV1")
        .cloned()
        .expect("SEV1");
    assert_eq!(sev1["ack_target_minutes"], 3, "{sev1}");
    browser.close().await;
}
