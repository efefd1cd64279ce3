//! Numbers: gap-free and unique under concurrency, per workspace; idempotent declares.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_hundred_concurrent_declares_are_numbered_one_to_a_hundred(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other = app.other_workspace("other").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let client = app.client.clone();
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(ADMIN)
                .json(&json!({ "title": format!("storm {i}"), "severity": "SEV3" }))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<serde_json::Value>().await.expect("json")["number"]
                .as_i64()
                .expect("number")
        }));
    }
    let mut numbers = BTreeSet::new();
    for t in tasks {
        assert!(
            numbers.insert(t.await.expect("task")),
            "a number was given twice"
        );
    }
    assert_eq!(numbers, (1..=100).collect::<BTreeSet<i64>>());

    let first_other = app.declare(&other, "elsewhere").await;
    assert_eq!(first_other["number"], 1, "another workspace numbers from 1");
    assert_eq!(first_other["reference"], "INC-1");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_same_idempotency_key_declares_one_incident_even_concurrently(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = app.client.clone();
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(ADMIN)
                .header("Idempotency-Key", "alert-group-7")
                .json(&json!({ "title": "disk full", "severity": "SEV1" }))
                .send()
                .await
                .expect("request");
            let status = r.status();
            (status, r.json::<serde_json::Value>().await.expect("json"))
        }));
    }
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}: {body}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "one incident for one key");
    assert_eq!(created, 1, "exactly one answer says created");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
    // No number was lost to the retries.
    let next = app.declare(ADMIN, "next").await;
    assert_eq!(next["number"], 2);
}
