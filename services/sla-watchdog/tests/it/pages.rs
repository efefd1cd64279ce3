//! The drill pages (`/ui/drills`), served beside core's pages as the stack serves them,
//! over HTTP as a browser without JavaScript reads them: the scenarios and runs, a run
//! started from its form (CSRF required, a viewer refused and offered no button, a form
//! sent twice starting one run), the run's page and its cancel form, another workspace's
//! run a 404. Both pages rendered from fixed data, as snapshots. And in a real headless
//! Chromium: sign in, start a run from the page, land on the run's page.

use std::time::Duration;

use askama::Template;
use fantoccini::Locator;
use incident_schema::AccessRole;
use incident_sla_watchdog::drill::scenario;
use incident_sla_watchdog::ui::pages::{
    DrillsPage, ExpectationItem, RunItem, RunPage, ScenarioItem, StepItem, When,
};
use incident_testkit::app::{ADMIN, Api};
use incident_testkit::browser::Browser;
use incident_testkit::fixtures;
use incident_testkit::web::Page;
use incident_web::Shell;
use incident_web::assets::ASSETS;
use incident_web::shell::{Section, Viewer};
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::eventually;

const SCENARIO: &str = r#"
title = "Checkout latency"
severity = "SEV3"
timeout = "2h"

[[steps]]
at = "0s"
hint = "look at the deploy"

[[steps]]
at = "1h"
severity = "SEV2"

[expect]
acknowledged_within = "5m"
"#;

async fn app(pool: PgPool) -> Api {
    let secret = secrecy::SecretString::from(ADMIN.to_owned());
    incident_core::access::bootstrap::bootstrap(&pool, &secret)
        .await
        .expect("bootstrap");
    Api::start(pool, "sla-watchdog-pages", false, |pool, bus| {
        incident_core::router(incident_core::AppState {
            pool: pool.clone(),
            bus: bus.clone(),
            tokens: Default::default(),
        })
        .merge(incident_sla_watchdog::router(
            incident_sla_watchdog::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
            },
        ))
    })
    .await
}

/// Stores `SCENARIO` as `name` in workspace `slug`.
async fn stored(pool: &PgPool, slug: &str, name: &str) -> Uuid {
    let ws = fixtures::workspace_id(pool, slug).await;
    let mut conn = pool.acquire().await.expect("connection");
    scenario::create(&mut conn, ws, name, SCENARIO, Some("0 0 9 * * Mon"))
        .await
        .expect("stored")
        .id
}

async fn run_ids(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM drill_runs ORDER BY started_at")
        .fetch_all(pool)
        .await
        .expect("runs")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_responder_starts_a_run_from_the_drills_page_and_lands_on_it(pool: PgPool) {
    let app = app(pool.clone()).await;
    let scenario = stored(&pool, "default", "Checkout latency").await;
    let grace = app.user(ADMIN, "grace@example.com", "Grace").await;
    let responder = app.token(ADMIN, "responder", Some(grace)).await;
    let page = Page::sign_in(&app, &responder).await;
    let (status, _, html) = page.get("/ui/drills").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Checkout latency") && html.contains("0 0 9 * * Mon"));
    assert!(html.contains(r#"<a href="/ui/drills" aria-current="page">Drills</a>"#));
    assert!(
        html.contains("Start run"),
        "a responder is offered the button"
    );
    assert!(html.contains("No runs yet."));

    // Without the CSRF token: refused, nothing started.
    let scenario_id = scenario.to_string();
    let (status, _) = page
        .post("/ui/drills/runs", &[("scenario_id", scenario_id.as_str())])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        run_ids(&pool).await.is_empty(),
        "nothing started without CSRF"
    );

    // With it, twice with the page's key (a double submit): one run, shown.
    let csrf = page.csrf();
    let form = [
        ("_csrf", csrf.as_str()),
        ("scenario_id", scenario_id.as_str()),
        ("key", "k0123-1"),
    ];
    let (status, location) = page.post("/ui/drills/runs", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, again) = page.post("/ui/drills/runs", &form).await;
    let runs = run_ids(&pool).await;
    assert_eq!(runs.len(), 1, "one run per form key");
    let at = format!("/ui/drills/runs/{}", runs[0]);
    assert_eq!(location.as_deref(), Some(at.as_str()));
    assert_eq!(again, location);

    let (status, _, html) = page.get(&at).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="run-state">running<"#), "{html}");
    assert!(
        html.contains(r#"by <span id="run-started-by">Grace</span>"#),
        "{html}"
    );
    assert!(html.contains("Hint: look at the deploy") && html.contains("Severity becomes SEV2"));
    assert!(html.contains("Cancel run"));
    let (_, _, list_html) = page.get("/ui/drills").await;
    assert!(list_html.contains(&at), "the run is listed");

    // Cancelled from its page: no cancel button after, and a second cancel is a 409.
    let cancel = format!("{at}/cancel");
    let (status, _) = page.post(&cancel, &[]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "cancel needs the CSRF token too"
    );
    let (status, location) = page.post(&cancel, &[("_csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(at.as_str()));
    let (_, _, html) = page.get(&at).await;
    assert!(html.contains(r#"id="run-state">cancelled<"#) && !html.contains("Cancel run"));
    let (status, _) = page.post(&cancel, &[("_csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_viewer_sees_drills_without_buttons_and_is_refused_a_start(pool: PgPool) {
    let app = app(pool.clone()).await;
    let scenario = stored(&pool, "default", "Checkout latency").await;
    let viewer = app.token(ADMIN, "viewer", None).await;
    let page = Page::sign_in(&app, &viewer).await;
    let (status, _, html) = page.get("/ui/drills").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Checkout latency"));
    assert!(!html.contains("Start run"), "a viewer is offered no button");
    let csrf = page.csrf();
    let scenario_id = scenario.to_string();
    let (status, _) = page
        .post(
            "/ui/drills/runs",
            &[
                ("_csrf", csrf.as_str()),
                ("scenario_id", scenario_id.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(run_ids(&pool).await.is_empty());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_run_and_scenario_answer_404(pool: PgPool) {
    let app = app(pool.clone()).await;
    let other_admin = app.other_workspace("globex").await;
    let theirs = stored(&pool, "globex", "Their drill").await;
    let other = Page::sign_in(&app, &other_admin).await;
    let csrf = other.csrf();
    let theirs_id = theirs.to_string();
    let (status, location) = other
        .post(
            "/ui/drills/runs",
            &[
                ("_csrf", csrf.as_str()),
                ("scenario_id", theirs_id.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let at = location.expect("their run");

    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, html) = page.get(&at).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("Their drill"));
    let (_, _, list) = page.get("/ui/drills").await;
    assert!(!list.contains("Their drill"), "not listed");
    let csrf = page.csrf();
    let (status, _) = page
        .post(&format!("{at}/cancel"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page
        .post(
            "/ui/drills/runs",
            &[
                ("_csrf", csrf.as_str()),
                ("scenario_id", theirs_id.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page.get("/ui/drills/runs/not-a-run").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let state: String = sqlx::query_scalar("SELECT state::text FROM drill_runs")
        .fetch_one(&pool)
        .await
        .expect("their run");
    assert_eq!(state, "running", "still theirs, untouched");
}

fn at(minute: u32) -> When {
    When {
        iso: format!("2026-12-02T04:{minute:02}:00Z"),
        label: format!("2026-12-02 04:{minute:02} UTC"),
    }
}

fn shell(role: AccessRole, title: &str) -> Shell {
    Shell {
        title: title.to_owned(),
        viewer: Some(Viewer::new("Alice".to_owned(), role)),
        csrf: "CSRF".to_owned(),
        section: Section::Drills,
        assets: &ASSETS,
    }
}

fn html<T: Template>(page: &T) -> String {
    page.render()
        .expect("renders")
        .replace(&ASSETS.css, "/ui/assets/app-HASH.css")
        .replace(&ASSETS.js, "/ui/assets/app-HASH.js")
        .replace(&ASSETS.htmx, "/ui/assets/htmx-HASH.js")
}

fn runs() -> Vec<RunItem> {
    vec![
        RunItem {
            id: "run-2".into(),
            scenario: "Checkout latency".into(),
            state: "running".into(),
            started: at(30),
            ended: None,
            score: None,
            incident: None,
        },
        RunItem {
            id: "run-1".into(),
            scenario: "Checkout latency".into(),
            state: "completed".into(),
            started: at(0),
            ended: Some(at(20)),
            score: Some("1 of 2 met (50 %)".into()),
            incident: Some("INC-7".into()),
        },
    ]
}

fn drills_page(role: AccessRole) -> DrillsPage {
    DrillsPage {
        shell: shell(role, "Drills"),
        scenarios: vec![
            ScenarioItem {
                id: "sc-1".into(),
                name: "Checkout latency".into(),
                story: "SEV3 · Checkout latency".into(),
                schedule: Some("0 0 9 * * Mon".into()),
                last_score: Some(("run-1".into(), "1 of 2 met (50 %)".into())),
            },
            ScenarioItem {
                id: "sc-2".into(),
                name: "DB <failover>".into(),
                story: "SEV1 · Primary lost".into(),
                schedule: None,
                last_score: None,
            },
        ],
        runs: runs(),
        start_key: "KEY".into(),
    }
}

#[test]
fn web_drills_page_for_a_responder_and_a_viewer() {
    insta::assert_snapshot!(
        "web_drills_responder",
        html(&drills_page(AccessRole::Responder))
    );
    let viewer = html(&drills_page(AccessRole::Viewer));
    assert!(!viewer.contains("Start run"));
    insta::assert_snapshot!("web_drills_viewer", viewer);
}

#[test]
fn web_drill_run_pages_scored_and_running() {
    let scored = RunPage {
        shell: shell(AccessRole::Responder, "Drill run Checkout latency"),
        run: runs().remove(1),
        deadline: at(59),
        started_by: Some("Ada <Lovelace>".into()),
        steps: vec![
            StepItem {
                number: 1,
                what: "Alert CheckoutSlow fires".into(),
                state: "played".into(),
                due: at(0),
                done: Some(at(0)),
                failure: None,
            },
            StepItem {
                number: 2,
                what: "Hint: look at the deploy".into(),
                state: "failed".into(),
                due: at(5),
                done: Some(at(5)),
                failure: Some("no integration".into()),
            },
        ],
        expectations: vec![
            ExpectationItem {
                name: "Acknowledged".into(),
                outcome: "met".into(),
                measured: "2m 05s".into(),
                target: "within 5m 00s".into(),
                sla: Some("30m 00s (met)".into()),
                compared: Some("faster than 4m 10s".into()),
            },
            ExpectationItem {
                name: "Resolved".into(),
                outcome: "missed".into(),
                measured: "did not happen".into(),
                target: "within 15m 00s".into(),
                sla: None,
                compared: None,
            },
        ],
        previous_run: Some("run-0".into()),
        can_cancel: false,
    };
    insta::assert_snapshot!("web_drill_run_scored", html(&scored));
    let running = RunPage {
        shell: shell(AccessRole::Responder, "Drill run Checkout latency"),
        run: runs().remove(0),
        deadline: at(59),
        started_by: None,
        steps: vec![StepItem {
            number: 1,
            what: "Hint: look at the deploy".into(),
            state: "pending".into(),
            due: at(35),
            done: None,
            failure: None,
        }],
        expectations: vec![],
        previous_run: None,
        can_cancel: true,
    };
    insta::assert_snapshot!("web_drill_run_running", html(&running));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn in_a_real_browser_a_responder_starts_a_run_and_lands_on_its_page(pool: PgPool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app(pool.clone()).await;
    stored(&pool, "default", "Checkout latency").await;
    let c = &browser.client;
    browser.sign_in(&app.base, ADMIN).await;
    let wait = Duration::from_secs(15);

    c.find(Locator::Css("header.top nav a[href='/ui/drills']"))
        .await
        .expect("the Drills entry of the navigation")
        .click()
        .await
        .expect("click");
    eventually(wait, "the drills page", || async {
        browser.text("main h1").await.as_deref() == Some("Drills")
    })
    .await;
    c.find(Locator::Css("button.start-run"))
        .await
        .expect("Start run")
        .click()
        .await
        .expect("click");
    eventually(wait, "the run's page", || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.path().starts_with("/ui/drills/runs/"))
            && browser.text("#run-state").await.as_deref() == Some("running")
    })
    .await;
    let runs = run_ids(&pool).await;
    assert_eq!(runs.len(), 1);
    let url = c.current_url().await.expect("url");
    assert_eq!(url.path(), format!("/ui/drills/runs/{}", runs[0]));
    assert!(
        browser
            .text("#steps")
            .await
            .unwrap_or_default()
            .contains("Hint: look at the deploy")
    );
    browser.screenshot("drill-run").await;
    browser.close().await;
}
