//! The service's OpenAPI fragment: served where core's document will merge it from, and
//! snapshotted so a change to the API shows in review.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_openapi_fragment_is_served_and_describes_every_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (code, served) = app.get(ADMIN, "/api/v1/postmortem/openapi.json").await;
    assert_eq!(code, StatusCode::OK);
    let doc = serde_json::to_value(incident_postmortem::http::openapi()).expect("json");
    assert_eq!(served, doc);
    let mut paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/v1/action-items",
            "/api/v1/action-items/{id}",
            "/api/v1/action-items/{id}/export",
            "/api/v1/incidents/{id}/postmortem",
            "/api/v1/postmortem/settings",
            "/api/v1/postmortem/template",
            "/api/v1/postmortem/tracker",
            "/api/v1/postmortems",
            "/api/v1/postmortems/{id}",
            "/api/v1/postmortems/{id}.md",
            "/api/v1/postmortems/{id}/action-items",
            "/api/v1/postmortems/{id}/publish",
        ]
    );
    insta::assert_json_snapshot!("openapi", doc);
}
