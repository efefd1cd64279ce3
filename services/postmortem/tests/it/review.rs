//! Review: DRAFT → IN_REVIEW → PUBLISHED, publishing once with its event, edits
//! attributed and marked human, amendments after publishing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

async fn drafted(app: &TestApp) -> (String, Value) {
    let incident = app.resolved_incident("Login errors").await;
    let pm = app.draft(&incident).await;
    (pm["id"].as_str().expect("id").to_owned(), pm)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_postmortem_goes_from_draft_to_review_to_published_and_publishing_emits_once(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (id, _) = drafted(&app).await;
    let path = format!("/api/v1/postmortems/{id}");

    let (code, pm) = app
        .patch(ADMIN, &path, json!({ "status": "IN_REVIEW" }))
        .await;
    assert_eq!(code, StatusCode::OK, "{pm}");
    assert_eq!(pm["status"], "IN_REVIEW");
    assert_eq!(
        pm["edited_by_human"], false,
        "a status move edits no section"
    );

    let (code, problem) = app
        .patch(ADMIN, &path, json!({ "status": "PUBLISHED" }))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "status");

    let (code, published) = app.post(ADMIN, &format!("{path}/publish"), json!({})).await;
    assert_eq!(code, StatusCode::OK, "{published}");
    assert_eq!(published["status"], "PUBLISHED");
    assert!(published["published_at"].is_string());
    let (code, again) = app.post(ADMIN, &format!("{path}/publish"), json!({})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(again["published_at"], published["published_at"]);

    let (code, problem) = app.patch(ADMIN, &path, json!({ "status": "DRAFT" })).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/illegal-transition"
    );
    assert_eq!(problem["allowed"], json!([]));

    let events = app.events("postmortem.published").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["summary"], published["summary"]);
    insta::assert_json_snapshot!("published_event", events[0], {
        ".id" => "[id]", ".correlation_id" => "[id]", ".occurred_at" => "[time]", ".workspace_id" => "[id]",
        ".data.postmortem_id" => "[id]", ".data.link" => "[link]", ".data.markdown_link" => "[link]", ".data.url" => "[url]",
        ".data.published_at" => "[time]", ".data.summary" => "[summary]", ".data.actor_id" => "[id]",
        ".data.incident.declared_by" => "[id]",
        ".data.incident.id" => "[id]", ".data.incident.workspace_id" => "[id]",
        ".data.incident.detected_at" => "[time]", ".data.incident.acknowledged_at" => "[time]",
        ".data.incident.resolved_at" => "[time]", ".data.incident.created_at" => "[time]",
        ".data.incident.updated_at" => "[time]", ".data.incident.sla_deadline" => "[time]",
        ".data.incident.sla_resolve_deadline" => "[time]",
    });
    assert_eq!(
        events[0]["data"]["url"],
        format!("https://incidents.example.com/api/v1/postmortems/{id}.md")
    );
    assert_eq!(
        events[0]["data"]["markdown_link"],
        format!("/api/v1/postmortems/{id}.md")
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn edits_are_attributed_marked_human_and_amend_a_published_postmortem(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let erin = app.user(ADMIN, "erin@example.com", "Erin Editor").await;
    let editor = app.token(ADMIN, "responder", Some(erin)).await;
    let (id, draft) = drafted(&app).await;
    let path = format!("/api/v1/postmortems/{id}");

    let (code, pm) = app
        .patch(
            &editor,
            &path,
            json!({ "why_it_happened": "  A retry storm after the deploy.  ", "where_we_got_lucky": null }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{pm}");
    assert_eq!(pm["why_it_happened"], "A retry storm after the deploy.");
    assert_eq!(pm["where_we_got_lucky"], Value::Null);
    assert_eq!(pm["updated_by"], json!(erin));
    assert_eq!(pm["edited_by_human"], true);
    assert_eq!(pm["generation"]["why_it_happened"], "human");
    assert_eq!(pm["generation"]["where_we_got_lucky"], "human");
    assert_eq!(pm["generation"]["summary"], "template");
    assert_eq!(pm["summary"], draft["summary"]);
    assert_eq!(pm["amended_at"], Value::Null, "not published: no amendment");

    let (code, published) = app
        .post(&editor, &format!("{path}/publish"), json!({}))
        .await;
    assert_eq!(code, StatusCode::OK);
    // The same text again changes nothing; a new text amends.
    let (_, same) = app
        .patch(
            &editor,
            &path,
            json!({ "why_it_happened": "A retry storm after the deploy." }),
        )
        .await;
    assert_eq!(same["amended_at"], Value::Null);
    let (code, amended) = app
        .patch(
            &editor,
            &path,
            json!({ "what_went_well": "Rollback took two minutes." }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{amended}");
    assert_eq!(amended["status"], "PUBLISHED");
    assert!(amended["amended_at"].is_string());
    assert_eq!(amended["published_at"], published["published_at"]);
    assert_eq!(amended["what_went_well"], "Rollback took two minutes.");

    let (code, problem) = app
        .patch(&editor, &path, json!({ "summary": "x", "owner": "nobody" }))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (code, problem) = app
        .patch(&editor, &path, json!({ "summary": "y".repeat(100_001) }))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "summary");
}
