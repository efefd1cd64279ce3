//! The analytics page over HTTP: the API's numbers for the session's workspace with
//! charts drawn as inline SVG, the filters as a GET form (a bad one shown again with why,
//! 422), the weekly CSV download, any role reading, another workspace's incidents never
//! counted, and strangers sent to sign in.

use incident_testkit::web::Page;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

/// The value of the headline figure `label` on the page.
fn figure(html: &str, label: &str) -> Option<String> {
    let rest = html.split(&format!("<dt>{label}</dt><dd>")).nth(1)?;
    Some(rest.split("</dd>").next()?.to_owned())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_analytics_page_charts_the_workspaces_numbers_and_downloads_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (title, severity) in [("Checkout is down", "SEV1"), ("Search is slow", "SEV2")] {
        let incident = app
            .create(
                ADMIN,
                "/api/v1/incidents",
                json!({ "title": title, "severity": severity }),
            )
            .await;
        let id = incident["id"].as_str().expect("id").to_owned();
        let (status, body) = app
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{id}/status"),
                json!({ "status": "RESOLVED" }),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    app.create(
        ADMIN,
        "/api/v1/incidents",
        json!({ "title": "Game day", "severity": "SEV3", "is_drill": true }),
    )
    .await;
    // Another workspace's incident is never counted here.
    let other = app.other_workspace("acme").await;
    app.create(
        &other,
        "/api/v1/incidents",
        json!({ "title": "Theirs", "severity": "SEV1" }),
    )
    .await;

    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, html) = page.get("/ui/analytics").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(figure(&html, "Incidents").as_deref(), Some("2"), "{html}");
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 4, "{html}");
    assert!(
        html.contains(">SEV1</text>") && html.contains(">SEV2</text>"),
        "{html}"
    );
    assert!(html.contains("<circle"), "no point drawn: {html}");
    assert!(!html.contains("<script>"), "charts need no script");
    let weeks = html.split("<tbody>").nth(1).unwrap_or_default();
    assert!(weeks.contains("<td>2</td>"), "{weeks}");

    // The filters: drills only, and severities.
    let (_, _, drills) = page.get("/ui/analytics?drill=true").await;
    assert_eq!(
        figure(&drills, "Incidents").as_deref(),
        Some("1"),
        "{drills}"
    );
    let (_, _, sev1) = page.get("/ui/analytics?severity=SEV1&from=&to=").await;
    assert_eq!(figure(&sev1, "Incidents").as_deref(), Some("1"), "{sev1}");
    assert!(sev1.contains(r#"name="severity" value="SEV1""#), "{sev1}");

    // A refused filter shows the form again with why.
    let (status, _, refused) = page.get("/ui/analytics?from=yesterday-ish").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.contains(r#"role="alert""#) && refused.contains("from"),
        "{refused}"
    );
    assert!(refused.contains(r#"value="yesterday-ish""#), "{refused}");

    // The CSV download of the same numbers.
    let r = app
        .client
        .get(format!(
            "{}/ui/analytics/export.csv?severity=SEV1",
            app.base
        ))
        .header("cookie", format!("incident_session={}", page.secret))
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/csv"))
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .is_ok_and(|d| d.starts_with("attachment"))
    );
    let csv = r.text().await.expect("body");
    let header = csv.lines().next().unwrap_or_default();
    assert!(header.contains("incidents"), "{csv}");
    assert!(csv.lines().count() >= 2, "{csv}");

    // A viewer reads it too; the other workspace sees only its own.
    let viewer = app.token(ADMIN, "viewer").await;
    let (status, _, html) = Page::sign_in(&app, &viewer)
        .await
        .get("/ui/analytics")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(figure(&html, "Incidents").as_deref(), Some("2"));
    let (_, _, theirs) = Page::sign_in(&app, &other).await.get("/ui/analytics").await;
    assert_eq!(
        figure(&theirs, "Incidents").as_deref(),
        Some("1"),
        "{theirs}"
    );

    // Strangers are sent to sign in.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in ["/ui/analytics", "/ui/analytics/export.csv"] {
        let r = anonymous
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
}
