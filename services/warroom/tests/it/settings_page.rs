//! The war room's settings page (`/ui/settings/war-room`), served with core's pages on
//! one port as the stack serves them: an admin reads and saves the settings (the API's
//! validation, a refusal shown with the form as sent), sees the workspace's Slack
//! installation and installs the app from the page's link with the browser's session;
//! a non-admin is refused; a form without the CSRF token is refused; a failed install
//! (cancelled, a bad state, Slack refusing the code) brings a browser back to the page,
//! which says so and offers to install again, while an API client still gets
//! problem+json. The page rendered
//! from fixed data, as a snapshot; the announcement channel set in a real Chromium.

use std::time::Duration;

use askama::Template;
use fantoccini::Locator;
use figment::providers::Serialized;
use incident_bus::testing::TestVhost;
use incident_schema::AccessRole;
use incident_testkit::browser::Browser;
use incident_testkit::web::Page;
use incident_warroom::ui::pages::{SettingsPage, SlackState, When};
use incident_web::Shell;
use incident_web::assets::ASSETS;
use incident_web::shell::{Section, Viewer};
use incident_web::view::Choice;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::fake_slack::FakeSlack;
use crate::support::{ADMIN, config_with};

const CLIENT_ID: &str = "1111.2222";
const CLIENT_SECRET: &str = "fake-client-secret-0123";
/// base64 of the 32 bytes `0123456789abcdef0123456789abcdef`.
const SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Core and the war room started as the stack starts them, their routers merged on one
/// port, with the install flow configured against the fake Slack.
struct OnePort {
    base: String,
    fake: FakeSlack,
    pool: PgPool,
    shutdown: CancellationToken,
    _vhost: TestVhost,
    _components: Vec<incident_runtime::host::Component>,
}

impl Drop for OnePort {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(pool: PgPool) -> OnePort {
    let fake = FakeSlack::start().await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let config = config_with(&vhost, &fake, false, |figment, fake| {
        figment
            .merge(Serialized::default("slack_client_id", CLIENT_ID))
            .merge(Serialized::default("slack_client_secret", CLIENT_SECRET))
            .merge(Serialized::default("secrets_key", SECRETS_KEY))
            .merge(Serialized::default("public_url", "http://incident.test"))
            .merge(Serialized::default(
                "slack_oauth_url",
                format!("{}/oauth/v2/authorize", fake.base),
            ))
    });
    fake.oauth_app(CLIENT_ID, CLIENT_SECRET);
    let core = incident_core::start(config.clone(), pool.clone(), shutdown.clone())
        .await
        .expect("core");
    let warroom = incident_warroom::start(config, pool.clone(), shutdown.clone())
        .await
        .expect("warroom");
    let router = core.router.clone().merge(warroom.router.clone());
    let base = incident_testkit::http::serve(router, shutdown.clone()).await;
    OnePort {
        base,
        fake,
        pool,
        shutdown,
        _vhost: vhost,
        _components: vec![core, warroom],
    }
}

async fn settings(app: &OnePort, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/v1/warroom/settings", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json")
}

async fn workspace(pool: &PgPool, slug: &str) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("workspace")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_saves_the_war_room_settings_and_installs_slack_from_the_page(pool: PgPool) {
    let app = start(pool.clone()).await;
    let admin = Page::sign_in_at(&app.base, ADMIN, false)
        .await
        .expect("signed in");
    let csrf = admin.csrf();
    let (status, _, page) = admin.get("/ui/settings/war-room").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"value="SEV1" checked"#),
        "the defaults: {page}"
    );
    assert!(page.contains("Not installed"), "{page}");
    let workspace_id = workspace(&pool, "default").await;
    let install = format!("/slack/install?workspace={workspace_id}");
    assert!(page.contains(&install), "the install link: {page}");
    assert!(
        page.contains(r#"href="/ui/settings/war-room" aria-current="page""#),
        "{page}"
    );

    // A channel name instead of an id is refused as the API refuses it; nothing saved.
    let (status, _, refused) = admin
        .submit(
            "/ui/settings/war-room",
            &[
                ("_csrf", &csrf),
                ("severities", "SEV1"),
                ("announcement_channel", "#incidents"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.contains("a Slack channel id such as C0123ABCD"),
        "{refused}"
    );
    assert!(
        refused.contains(r##"value="#incidents""##),
        "the form as sent: {refused}"
    );
    assert_eq!(
        settings(&app, ADMIN).await["announcement_channel"],
        Value::Null
    );

    let (status, location) = admin
        .post(
            "/ui/settings/war-room",
            &[
                ("_csrf", &csrf),
                ("severities", "SEV3"),
                ("severities", "SEV1"),
                ("drills", "on"),
                ("announcement_channel", " C0ANNOUNCE "),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/settings/war-room?saved=1"));
    assert_eq!(
        settings(&app, ADMIN).await,
        json!({ "severities": ["SEV1", "SEV3"], "drills": true, "archive_on_close": false,
                "announcement_channel": "C0ANNOUNCE" })
    );

    // Install to Slack with the browser's session (no bearer token): to Slack's consent
    // page, back through the callback, and the page shows the team.
    let team = app.fake.add_team("TALPHA001");
    team.sign_in();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let started = http
        .get(format!("{}{install}", app.base))
        .header("cookie", format!("incident_session={}", admin.secret))
        .send()
        .await
        .expect("install");
    assert_eq!(started.status(), StatusCode::FOUND);
    let authorize = started.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        authorize.starts_with(&format!("{}/oauth/v2/authorize?", app.fake.base)),
        "{authorize}"
    );
    let approved = http.get(&authorize).send().await.expect("authorize");
    let callback = approved.headers()["location"]
        .to_str()
        .expect("location")
        .replace("http://incident.test", &app.base);
    let done = http.get(&callback).send().await.expect("callback");
    let status = done.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        done.text().await.unwrap_or_default()
    );
    let (_, _, page) = admin.get("/ui/settings/war-room").await;
    assert!(
        page.contains("Installed in Slack team <code>TALPHA001</code>"),
        "{page}"
    );
    assert!(page.contains("Reinstall to Slack"), "{page}");

    // Without a session or a token, the install is still refused.
    let anonymous = http
        .get(format!("{}{install}", app.base))
        .send()
        .await
        .expect("install");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_settings_page_is_for_admins_and_its_form_needs_the_csrf_token(pool: PgPool) {
    let app = start(pool.clone()).await;
    let viewer = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({ "name": "viewer", "role": "viewer" }))
        .send()
        .await
        .expect("token")
        .json::<Value>()
        .await
        .expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let page = Page::sign_in_at(&app.base, &viewer, false)
        .await
        .expect("signed in");
    let (status, _, html) = page.get("/ui/settings/war-room").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("announcement_channel"), "{html}");
    let (_, _, incidents) = page.get("/ui/incidents").await;
    assert!(
        !incidents.contains("/ui/settings/war-room"),
        "a viewer's navigation offers it"
    );
    let (status, _) = page
        .post(
            "/ui/settings/war-room",
            &[
                ("_csrf", &page.csrf()),
                ("announcement_channel", "C0VIEWER"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let admin = Page::sign_in_at(&app.base, ADMIN, false)
        .await
        .expect("signed in");
    for fields in [
        vec![("announcement_channel", "C0FORGED")],
        vec![("_csrf", "0000"), ("announcement_channel", "C0FORGED")],
    ] {
        let (status, _) = admin.post("/ui/settings/war-room", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        settings(&app, ADMIN).await["announcement_channel"],
        Value::Null
    );

    // Another workspace's admin sees and changes only their own.
    let created: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/workspaces", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({ "slug": "acme", "name": "Acme" }))
        .send()
        .await
        .expect("workspace")
        .json()
        .await
        .expect("json");
    let theirs = created["admin_token"]["secret"].as_str().expect("secret");
    let stranger = Page::sign_in_at(&app.base, theirs, false)
        .await
        .expect("signed in");
    let (status, _) = stranger
        .post(
            "/ui/settings/war-room",
            &[
                ("_csrf", &stranger.csrf()),
                ("announcement_channel", "C0ACME"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        settings(&app, theirs).await["announcement_channel"],
        "C0ACME"
    );
    assert_eq!(
        settings(&app, ADMIN).await["announcement_channel"],
        Value::Null
    );
    let (_, _, their_page) = stranger.get("/ui/settings/war-room").await;
    let default = workspace(&app.pool, "default").await;
    assert!(!their_page.contains(&default.to_string()), "{their_page}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_sets_the_announcement_channel_in_a_real_browser(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = start(pool).await;
    let wait = Duration::from_secs(15);
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;
    c.goto(&format!("{}/ui/incidents", app.base))
        .await
        .expect("incidents");
    // The main navigation's one "Settings" entry, then the settings' own navigation.
    incident_testkit::eventually(wait, "the navigation", || async {
        browser
            .count("header nav a[href='/ui/settings/status-page']")
            .await
            == 1
    })
    .await;
    c.find(Locator::Css(
        "header nav a[href='/ui/settings/status-page']",
    ))
    .await
    .expect("nav")
    .click()
    .await
    .expect("click");
    incident_testkit::eventually(wait, "the settings navigation", || async {
        browser
            .count("nav.subnav a[href='/ui/settings/war-room']")
            .await
            == 1
    })
    .await;
    c.find(Locator::Css("nav.subnav a[href='/ui/settings/war-room']"))
        .await
        .expect("settings nav")
        .click()
        .await
        .expect("click");
    incident_testkit::eventually(wait, "the settings form", || async {
        browser.count("#announcement-channel").await == 1
    })
    .await;
    let field = c
        .find(Locator::Id("announcement-channel"))
        .await
        .expect("field");
    field.clear().await.expect("clear");
    field.send_keys("C0BROWSER").await.expect("type");
    c.find(Locator::Css("#settings button[type=submit]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("click");
    incident_testkit::eventually(wait, "saved", || async {
        browser.count("#saved").await == 1
    })
    .await;
    let value = c
        .execute(
            "return document.getElementById('announcement-channel').value;",
            vec![],
        )
        .await
        .expect("value");
    assert_eq!(value, json!("C0BROWSER"));
    assert_eq!(
        settings(&app, ADMIN).await["announcement_channel"],
        "C0BROWSER"
    );
    browser.screenshot("war-room-settings").await;
    browser.close().await;
}

#[test]
fn the_war_room_settings_page() {
    let page = SettingsPage {
        shell: Shell {
            title: "War room".to_owned(),
            viewer: Some(Viewer::new("Alice".to_owned(), AccessRole::Admin)),
            csrf: "CSRF".to_owned(),
            section: Section::WarRoomSettings,
            assets: &ASSETS,
        },
        slack: SlackState::Installed {
            team_id: "TFAKE001".to_owned(),
            bot_user_id: "UBOT".to_owned(),
            installed: When {
                iso: "2026-12-02T04:00:00Z".to_owned(),
                label: "2026-12-02 04:00 UTC".to_owned(),
            },
        },
        install_url: Some(
            "/slack/install?workspace=00000000-0000-0000-0000-000000000001".to_owned(),
        ),
        severities: Choice::of(&["SEV1", "SEV2", "SEV3", "SEV4"], "SEV1"),
        drills: true,
        archive_on_close: false,
        announcement_channel: "C0ANNOUNCE".to_owned(),
        saved: false,
        install_error: None,
        error: Some("a Slack channel id such as C0123ABCD (not its #name)".to_owned()),
    };
    let html = page
        .render()
        .expect("renders")
        .replace(&ASSETS.css, "/ui/assets/app-HASH.css")
        .replace(&ASSETS.js, "/ui/assets/app-HASH.js");
    insta::assert_snapshot!("web_war_room_settings", html);
    let off = SettingsPage {
        slack: SlackState::None,
        install_url: None,
        error: None,
        ..page
    };
    let html = off.render().expect("renders");
    assert!(html.contains("Installing per workspace is off"), "{html}");
    assert!(!html.contains("Install to Slack"), "{html}");
    assert!(!html.contains("install-error"), "{html}");
}

/// Starts an install with `admin`'s session and answers Slack's redirect back to us as
/// Slack would, with `back` (`code=…` or `error=…`) beside the state: the callback's URL.
async fn callback_url(app: &OnePort, admin: &Page, http: &reqwest::Client, back: &str) -> String {
    let workspace_id = workspace(&app.pool, "default").await;
    let started = http
        .get(format!(
            "{}/slack/install?workspace={workspace_id}",
            app.base
        ))
        .header("cookie", format!("incident_session={}", admin.secret))
        .send()
        .await
        .expect("install");
    assert_eq!(started.status(), StatusCode::FOUND);
    let authorize = started.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let state = authorize
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("state="))
        .expect("a state")
        .to_owned();
    format!("{}/slack/oauth/callback?{back}&state={state}", app.base)
}

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_failed_install_sends_a_browser_to_the_settings_page_and_an_api_client_gets_a_problem(
    pool: PgPool,
) {
    let app = start(pool.clone()).await;
    let admin = Page::sign_in_at(&app.base, ADMIN, false)
        .await
        .expect("signed in");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let workspace_id = workspace(&pool, "default").await;
    let again = format!("/slack/install?workspace={workspace_id}");

    let cases = [
        // Cancelled on Slack's consent page.
        ("error=access_denied", "denied", "cancelled in Slack"),
        // A code Slack does not know.
        ("code=never-issued", "slack", "Slack refused the install"),
    ];
    for (back, code, says) in cases {
        let url = callback_url(&app, &admin, &http, back).await;
        let answer = http
            .get(&url)
            .header("accept", BROWSER_ACCEPT)
            .send()
            .await
            .expect("callback");
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{back}");
        let location = answer.headers()["location"].to_str().expect("location");
        assert_eq!(
            location,
            format!("/ui/settings/war-room?install_error={code}")
        );
        let (status, _, page) = admin.get(location).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"id="install-error""#), "{page}");
        assert!(page.contains(says), "{back}: {page}");
        assert!(
            page.contains(&format!(r#"id="install-again" href="{again}""#)),
            "{page}"
        );
    }

    // A state that was never issued (or was used, or expired), from a browser.
    let answer = http
        .get(format!(
            "{}/slack/oauth/callback?code=x&state=never-issued",
            app.base
        ))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().expect("location");
    assert_eq!(location, "/ui/settings/war-room?install_error=state");
    let (_, _, page) = admin.get(location).await;
    assert!(page.contains("expired or was already used"), "{page}");

    // An API client gets problem+json for each, as before.
    for back in ["error=access_denied", "code=never-issued"] {
        let url = callback_url(&app, &admin, &http, back).await;
        let answer = http
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .expect("callback");
        let status = answer.status();
        let kind = answer.headers()["content-type"]
            .to_str()
            .expect("content type")
            .to_owned();
        assert_eq!(kind, "application/problem+json", "{back}");
        let body: Value = answer.json().await.expect("problem");
        match back {
            "error=access_denied" => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(body["type"], "https://incident.dev/problems/bad-request");
            }
            _ => assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}"),
        }
    }
    let unknown = http
        .get(format!(
            "{}/slack/oauth/callback?code=x&state=never-issued",
            app.base
        ))
        .send()
        .await
        .expect("callback");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // A code the page does not know still says the install failed; nothing is repeated
    // from the URL.
    let (_, _, page) = admin
        .get("/ui/settings/war-room?install_error=%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert!(page.contains("The install failed on our side"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    let installed: i64 = sqlx::query_scalar("SELECT count(*) FROM slack_installations")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(installed, 0, "nothing was installed");
}
