//! The OpenAPI document: served at `/api/v1/ingestion/openapi.json`, describing every
//! route, snapshotted so changes to the API are reviewed.

use serde_json::Value;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_openapi_document_is_served_and_describes_every_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .client
        .get(format!("{}/api/v1/ingestion/openapi.json", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.expect("json");
    let document = serde_json::to_value(incident_ingestion::http::openapi()).expect("json");
    assert_eq!(served, document);
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/webhooks/alertmanager/{integration}",
        "/webhooks/grafana/{integration}",
        "/webhooks/generic/{integration}",
        "/webhooks/pagerduty/{integration}",
        "/webhooks/pagerduty/v2/enqueue",
        "/webhooks/grafana_oncall/{integration}",
        "/webhooks/opsgenie/{integration}/v2/alerts",
        "/webhooks/opsgenie/{integration}/v2/alerts/{identifier}/close",
        "/webhooks/opsgenie/v2/alerts",
        "/webhooks/opsgenie/v2/alerts/{identifier}/close",
        "/api/v1/integrations",
        "/api/v1/integrations/{id}",
        "/api/v1/integrations/{id}/rotate-secret",
        "/api/v1/integrations/{id}/dry-run",
        "/api/v1/alert-groups",
        "/api/v1/alert-groups/{id}",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    insta::assert_json_snapshot!("openapi", document);
}
