//! The alert group pages (`/ui/alerts`), served beside core's pages as the stack serves
//! them, over HTTP as a browser without JavaScript reads them: the list with state and
//! alert counts, a group with its alerts and why it grouped; a group linked to a private
//! incident hidden from a non-member, another workspace's group a 404, strangers sent to
//! sign in. And both pages rendered from fixed data, as snapshots.

use askama::Template;
use incident_ingestion::ui::pages::{AlertRow, GroupPage, GroupRow, GroupsPage, When};
use incident_schema::AccessRole;
use incident_testkit::app::Api;
use incident_testkit::fixtures;
use incident_testkit::web::Page;
use incident_web::Shell;
use incident_web::assets::ASSETS;
use incident_web::shell::{Section, Viewer};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::ADMIN;

pub(crate) async fn app(pool: PgPool) -> Api {
    let secret = secrecy::SecretString::from(ADMIN.to_owned());
    incident_core::access::bootstrap::bootstrap(&pool, &secret)
        .await
        .expect("bootstrap");
    Api::start(pool, "ingestion-pages", false, |pool, bus| {
        incident_core::router(incident_core::AppState {
            pool: pool.clone(),
            bus: bus.clone(),
            tokens: Default::default(),
        })
        .merge(incident_ingestion::router(incident_ingestion::AppState {
            pool: pool.clone(),
            public_url: None,
        }))
    })
    .await
}

/// A group of `workspace_id` titled `title` with `alerts` alerts (the first firing),
/// linked to `incident` if given; returns its id.
async fn group(
    pool: &PgPool,
    workspace_id: Uuid,
    title: &str,
    alerts: i32,
    incident: Option<Uuid>,
) -> Uuid {
    let integration: Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'alertmanager', 'prod-' || gen_random_uuid(), $2) RETURNING id",
    )
    .bind(workspace_id)
    .bind(&[0u8; 32][..])
    .fetch_one(pool)
    .await
    .expect("integration");
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title, incident_id,
                                   status, opened_at, alert_count, firing_count, labels, explanation)
         VALUES ($1, $2, 'alertname=' || $3, $3, $4, 'OPEN', now(), $5, 1,
                 '{\"alertname\": \"Checkout5xx\"}', '{\"grouping\": {\"by\": [\"alertname\"]}}')
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(integration)
    .bind(title)
    .bind(incident)
    .bind(alerts)
    .fetch_one(pool)
    .await
    .expect("group");
    for n in 0..alerts {
        sqlx::query(
            "INSERT INTO alerts (workspace_id, integration_id, alert_group_id, fingerprint,
                                 status, starts_at, labels)
             VALUES ($1, $2, $3, $4, $5::alert_status, now(), '{\"instance\": \"web-1\"}')",
        )
        .bind(workspace_id)
        .bind(integration)
        .bind(id)
        .bind(format!("fp-{title}-{n}"))
        .bind(if n == 0 { "FIRING" } else { "RESOLVED" })
        .execute(pool)
        .await
        .expect("alert");
    }
    id
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn alert_groups_are_listed_and_explained_to_whoever_may_read_them(pool: PgPool) {
    let app = app(pool.clone()).await;
    let workspace = fixtures::workspace_id(&pool, "default").await;
    let incident = app
        .create(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Checkout is down", "severity": "SEV1" }),
        )
        .await;
    let incident_id: Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
    let private = app
        .create(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Secret", "severity": "SEV1", "visibility": "PRIVATE" }),
        )
        .await;
    let private_id: Uuid = private["id"].as_str().expect("id").parse().expect("uuid");
    let linked = group(&pool, workspace, "Checkout5xx", 3, Some(incident_id)).await;
    let hidden = group(&pool, workspace, "VaultSealed", 1, Some(private_id)).await;
    group(&pool, workspace, "DiskAlmostFull", 2, None).await;

    let responder = app.token(ADMIN, "responder", None).await;
    let page = Page::sign_in(&app, &responder).await;
    let (status, _, html) = page.get("/ui/alerts").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Checkout5xx") && html.contains("DiskAlmostFull"),
        "{html}"
    );
    assert!(html.contains("1 firing of 3"), "{html}");
    assert!(html.contains(r#"href="/ui/incidents/INC-1""#), "{html}");
    assert!(
        !html.contains("VaultSealed"),
        "a private incident's group is listed: {html}"
    );

    let (status, _, html) = page.get(&format!("/ui/alerts/{linked}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alertname=Checkout5xx"), "{html}");
    assert!(
        html.contains("fp-Checkout5xx-2") && html.contains("instance=web-1"),
        "{html}"
    );
    assert!(
        html.contains("&#34;grouping&#34;") || html.contains("\"grouping\""),
        "{html}"
    );
    let (status, _, _) = page.get(&format!("/ui/alerts/{hidden}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page.get("/ui/alerts/not-a-group").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, open) = page.get("/ui/alerts?status=RESOLVED").await;
    assert!(!open.contains("Checkout5xx"), "{open}");

    // The admin may read the private incident's group.
    let admin = Page::sign_in(&app, ADMIN).await;
    let (status, _, _) = admin.get(&format!("/ui/alerts/{hidden}")).await;
    assert_eq!(status, StatusCode::OK);

    // Another workspace's.
    let other = app.other_workspace("acme").await;
    let stranger = Page::sign_in(&app, &other).await;
    let (status, _, _) = stranger.get(&format!("/ui/alerts/{linked}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, theirs) = stranger.get("/ui/alerts").await;
    assert!(!theirs.contains("Checkout5xx"), "{theirs}");

    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = anonymous
        .get(format!("{}/ui/alerts", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

fn at(minute: u32) -> When {
    When {
        iso: format!("2026-12-02T04:{minute:02}:00Z"),
        label: format!("2026-12-02 04:{minute:02} UTC"),
    }
}

fn html<T: Template>(page: &T) -> String {
    page.render()
        .expect("renders")
        .replace(&ASSETS.css, "/ui/assets/app-HASH.css")
        .replace(&ASSETS.js, "/ui/assets/app-HASH.js")
}

#[test]
fn the_alert_group_pages() {
    let shell = Shell {
        title: "Alert groups".to_owned(),
        viewer: Some(Viewer::new("Alice".to_owned(), AccessRole::Viewer)),
        csrf: "CSRF".to_owned(),
        section: Section::AlertGroups,
        assets: &ASSETS,
    };
    let row = GroupRow {
        id: "g1".to_owned(),
        title: "Checkout5xx <prod>".to_owned(),
        status: "OPEN".to_owned(),
        decision: "DECLARE".to_owned(),
        severity: Some("SEV1".to_owned()),
        service: Some("payments".to_owned()),
        firing: 1,
        alerts: 3,
        incident: Some("INC-42".to_owned()),
        opened: at(1),
        last_alert: at(9),
    };
    let list = GroupsPage {
        shell: shell.clone(),
        statuses: incident_web::view::Choice::of(&["OPEN", "RESOLVED"], "OPEN"),
        rows: vec![row.clone()],
        next: Some("/ui/alerts?before=g1".to_owned()),
    };
    insta::assert_snapshot!("web_alert_groups", html(&list));
    let one = GroupPage {
        shell,
        group: row,
        group_key: "alertname=Checkout5xx".to_owned(),
        labels: "alertname=Checkout5xx".to_owned(),
        explanation: "{\n  \"grouping\": {}\n}".to_owned(),
        alerts: vec![AlertRow {
            fingerprint: "fp1".to_owned(),
            status: "FIRING".to_owned(),
            labels: "instance=web-1".to_owned(),
            starts: at(1),
            last_seen: at(9),
            notifications: 4,
        }],
    };
    insta::assert_snapshot!("web_alert_group", html(&one));
}
