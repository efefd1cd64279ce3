//! The whole API's OpenAPI document: core serves the committed merge of every service's
//! part, which must be what the parts merge to now, and each service still serves its
//! own part.

use incident_system_tests::TestStack;
use serde_json::Value;
use sqlx::PgPool;

/// The committed document, from the workspace root.
fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../services/core/openapi.json");
    std::fs::read_to_string(path).expect("services/core/openapi.json")
}

#[test]
fn the_committed_whole_document_is_the_merge_of_the_parts() {
    let merged = incident_stack::openapi::whole_json()
        .unwrap_or_else(|problems| panic!("the parts disagree:\n  {}", problems.join("\n  ")));
    assert!(
        committed() == merged,
        "services/core/openapi.json is stale: run \
         `cargo run -p incident-stack --example openapi -- --write` and commit it"
    );
    assert_eq!(
        incident_core::http::WHOLE_OPENAPI,
        committed(),
        "core embeds the file"
    );
}

#[test]
fn every_route_of_every_part_is_in_the_whole_document_once() {
    let whole: Value = serde_json::from_str(&committed()).expect("json");
    let mut operation_ids = Vec::new();
    let mut count = 0;
    for (name, part) in incident_stack::openapi::parts() {
        let part = serde_json::to_value(part).expect("json");
        for (path, item) in part["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                assert_eq!(
                    &whole["paths"][path][method], op,
                    "{method} {path} of {name} in the whole document"
                );
                operation_ids.push(op["operationId"].as_str().expect("operationId").to_owned());
                count += 1;
            }
        }
    }
    let in_whole: usize = whole["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().expect("item").len())
        .sum();
    assert_eq!(
        in_whole, count,
        "the whole document has nothing the parts lack"
    );
    let n = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(
        operation_ids.len(),
        n,
        "operationIds are unique across the API"
    );
}

#[sqlx::test(migrations = false)]
async fn core_serves_the_whole_document_and_each_service_its_part(pool: PgPool) {
    let stack = TestStack::spawn(&pool).await;
    let (status, served) = stack.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(
        served,
        serde_json::from_str::<Value>(&committed()).expect("json")
    );
    assert_eq!(served["openapi"], "3.1.0");
    for ((name, part), path) in incident_stack::openapi::parts().into_iter().zip([
        "/api/v1/core/openapi.json",
        "/api/v1/ingestion/openapi.json",
        "/api/v1/postmortem/openapi.json",
        "/api/v1/drills/openapi.json",
    ]) {
        let (status, served) = stack.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            served,
            serde_json::to_value(part).expect("json"),
            "{name} at {path}"
        );
    }
    stack.stop().await.expect("clean shutdown");
}
