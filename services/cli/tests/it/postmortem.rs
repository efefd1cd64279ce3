//! `postmortem export`: the Markdown the postmortem service renders, to stdout or a file.

use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestStack};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_postmortem_of_a_resolved_incident_exports_as_markdown(pool: PgPool) {
    let stack = TestStack::spawn(pool).await;
    stack
        .cli(&[
            "declare",
            "--title",
            "Checkout is down",
            "--severity",
            "SEV1",
        ])
        .await
        .ok();

    // None drafted yet: not found.
    let early = stack.cli(&["postmortem", "export", "INC-1"]).await;
    assert_eq!(early.code, 3, "{early:#?}");

    stack.cli(&["resolve", "INC-1"]).await.ok();
    let (status, drafted) = stack
        .post(ADMIN, "/api/v1/incidents/INC-1/postmortem", json!({}))
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{drafted}");

    let markdown = stack.cli(&["postmortem", "export", "INC-1"]).await;
    let text = markdown.ok();
    assert!(text.contains("Checkout is down"), "{text}");
    let response = stack
        .client
        .get(format!(
            "{}/api/v1/postmortems/{}.md",
            stack.base,
            drafted["id"].as_str().expect("id")
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("export");
    assert_eq!(text, response.text().await.expect("markdown"));

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("INC-1.md");
    let written = stack
        .cli(&[
            "postmortem",
            "export",
            "INC-1",
            "-o",
            file.to_str().expect("path"),
            "--json",
        ])
        .await
        .json();
    assert_eq!(std::fs::read_to_string(&file).expect("file"), text);
    assert_eq!(written["incident"], "INC-1");
    assert_eq!(written["postmortem_id"], drafted["id"]);
    assert_eq!(written["template"], "default");
}
