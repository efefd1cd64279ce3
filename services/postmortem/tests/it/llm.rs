//! The optional LLM, faked with wiremock: a good answer fills the summary and what
//! happened; a timeout, a 500, invalid JSON and an empty answer each leave the template's
//! text and say why; private incidents and internal entries are not sent unless allowed.

use std::time::Duration;

use incident_postmortem::draft::llm::LlmClient;
use incident_postmortem::draft::{self, DraftRequest, Trigger};
use incident_schema::Visibility;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{ADMIN, TestApp, fixture};

fn client(server: &MockServer, timeout: Duration) -> LlmClient {
    LlmClient::new(
        &server.uri(),
        "test-model",
        Some(SecretString::from("sk-test".to_owned())),
        timeout,
    )
    .expect("client")
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }]
    })
}

fn answering(body: Value) -> Mock {
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
}

/// The prompt the fake received in its `n`-th request (the user message, parsed).
async fn prompt(server: &MockServer, n: usize) -> (Value, Value) {
    let requests = server.received_requests().await.expect("recorded");
    let body: Value = requests[n].body_json().expect("json body");
    let user = body["messages"][1]["content"].as_str().expect("content");
    let prompt = serde_json::from_str(user).expect("the prompt is JSON");
    (body, prompt)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_good_answer_fills_the_summary_and_what_happened_and_sends_no_names_or_internal_entries(
    pool: PgPool,
) {
    let server = MockServer::start().await;
    answering(completion(
        "```json\n{\"summary\": \"Card payments failed for 42 minutes.\", \"what_happened\": \"At 10:00 UTC checkouts began failing.\"}\n```",
    ))
    .expect(1)
    .mount(&server)
    .await;
    let app = TestApp::spawn_with(pool, Some(client(&server, Duration::from_secs(10)))).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    let pm = app.draft(&f.incident_id.to_string()).await;

    assert_eq!(pm["summary"], "Card payments failed for 42 minutes.");
    assert_eq!(pm["what_happened"], "At 10:00 UTC checkouts began failing.");
    assert_eq!(pm["generation"]["summary"], "llm");
    assert_eq!(pm["generation"]["what_happened"], "llm");
    assert_eq!(pm["generation"]["why_it_happened"], "template");
    assert_eq!(pm["generation"]["impact_assessment"], "template");
    assert_eq!(
        pm["generation"]["llm"],
        json!({ "outcome": "used", "model": "test-model" })
    );
    // The impact is still computed, never the model's.
    assert_eq!(pm["impact"]["time_to_resolve_secs"], 2520);

    let (body, prompt) = prompt(&server, 0).await;
    assert_eq!(body["model"], "test-model");
    let entries = prompt["timeline"].as_array().expect("timeline");
    assert_eq!(entries.len(), 1, "only the public update: {entries:?}");
    assert_eq!(entries[0]["kind"], "UPDATE");
    assert_eq!(prompt["timeline_entries_not_shown"], 6);
    assert_eq!(prompt["incident"]["reference"], "INC-1");
    assert_eq!(prompt["impact"]["sla"]["resolve"]["status"], "MET");
    let sent = body.to_string();
    assert!(!sent.contains("Dana Responder"), "no names: {sent}");
    assert!(!sent.contains("TLS handshake"), "no internal notes: {sent}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_timeout_a_500_invalid_json_and_an_empty_answer_each_fall_back_to_the_template(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let cases: [(&str, ResponseTemplate); 4] = [
        (
            "timeout",
            ResponseTemplate::new(200)
                .set_body_json(completion("{\"summary\": \"late\"}"))
                .set_delay(Duration::from_secs(10)),
        ),
        (
            "http_status",
            ResponseTemplate::new(500).set_body_string("boom"),
        ),
        (
            "invalid_json",
            ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
        ),
        (
            "empty",
            ResponseTemplate::new(200).set_body_json(completion("")),
        ),
    ];
    for (reason, response) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/chat/completions"))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let llm = client(&server, Duration::from_millis(300));
        let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
        let request = DraftRequest {
            workspace_id: app.workspace_id,
            incident_id: f.incident_id,
            regenerate: false,
            actor_id: None,
            trigger: Trigger::Request,
        };
        let mut tx = app.pool.begin().await.expect("tx");
        let outcome = draft::run(&mut tx, Some(&llm), &request, None)
            .await
            .expect("a draft despite the LLM");
        tx.commit().await.expect("commit");
        let p = &outcome.record().row;
        assert!(
            p.summary.starts_with("INC-") && p.summary.contains("resolved 42m later"),
            "{reason}: the template's summary, got {}",
            p.summary
        );
        assert!(p.what_happened.contains("Key moments (UTC)"), "{reason}");
        assert_eq!(p.generation["summary"], "template", "{reason}");
        assert_eq!(p.generation["what_happened"], "template", "{reason}");
        assert_eq!(p.generation["llm"]["outcome"], "fallback", "{reason}");
        assert_eq!(p.generation["llm"]["reason"], reason);
        assert!(
            p.generation["llm"]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{reason}: {}",
            p.generation
        );
        server.verify().await;
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_incident_sends_nothing_unless_the_workspace_allows_it(pool: PgPool) {
    let server = MockServer::start().await;
    let app = TestApp::spawn_with(pool, Some(client(&server, Duration::from_secs(10)))).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Private).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("{}")))
        .expect(0)
        .mount(&server)
        .await;
    let pm = app.draft(&f.incident_id.to_string()).await;
    assert_eq!(
        pm["generation"]["llm"],
        json!({ "outcome": "skipped", "reason": "private_incident" })
    );
    assert_eq!(pm["generation"]["summary"], "template");
    server.verify().await;
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );

    // Once the workspace allows private incidents and internal entries, all of it goes.
    server.reset().await;
    answering(completion(
        "{\"summary\": \"Private summary.\", \"what_happened\": \"\"}",
    ))
    .expect(1)
    .mount(&server)
    .await;
    let (code, settings) = app
        .call(
            ADMIN,
            Method::PUT,
            "/api/v1/postmortem/settings",
            Some(json!({ "llm_allow_private": true, "llm_allow_internal": true })),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{settings}");
    assert_eq!(settings["draft_trigger"], "ON_RESOLVE");
    let (code, pm) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{}/postmortem", f.incident_id),
            json!({ "regenerate": true }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{pm}");
    assert_eq!(pm["summary"], "Private summary.");
    assert_eq!(pm["generation"]["summary"], "llm");
    assert_eq!(pm["generation"]["what_happened"], "template");
    assert_eq!(pm["generation"]["llm"]["outcome"], "partial");
    assert_eq!(
        pm["generation"]["llm"]["template_sections"],
        json!(["what_happened"])
    );
    let (_, prompt) = prompt(&server, 0).await;
    assert_eq!(prompt["timeline"].as_array().expect("timeline").len(), 7);
    assert_eq!(prompt["timeline_entries_not_shown"], 0);
    server.verify().await;
}
