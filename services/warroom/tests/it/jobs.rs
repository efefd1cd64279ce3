//! The war room's work queue: given-up jobs stay for their retention, then are purged.

use std::time::Duration;

use incident_warroom::jobs;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::eventually;

/// A job given up `days_ago` days ago (`None`: a live job).
async fn job(pool: &PgPool, given_up_days_ago: Option<i32>) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO warroom_jobs (message_id, workspace_id, team, lane, envelope, dead_reason, dead_at)
         VALUES ($1, $2, 'TFAKE001', 'lane', '{}',
                 CASE WHEN $3::int IS NULL THEN NULL ELSE 'permanent: channel_not_found' END,
                 CASE WHEN $3::int IS NULL THEN NULL ELSE now() - make_interval(days => $3) END)
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .bind(given_up_days_ago)
    .fetch_one(pool)
    .await
    .expect("job")
}

async fn ids(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM warroom_jobs ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("ids")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn given_up_jobs_are_kept_for_their_retention_then_purged_in_batches(pool: PgPool) {
    let retention = Duration::from_secs(14 * 86_400);
    let live = job(&pool, None).await;
    let recent = job(&pool, Some(13)).await;
    let old = job(&pool, Some(15)).await;
    // More than one batch of old ones.
    let batch = usize::try_from(jobs::PURGE_BATCH).expect("batch");
    sqlx::query(
        "INSERT INTO warroom_jobs (message_id, workspace_id, team, lane, envelope, dead_reason, dead_at)
         SELECT gen_random_uuid(), gen_random_uuid(), 'TFAKE001', 'lane', '{}', 'attempts',
                now() - interval '30 days'
         FROM generate_series(1, $1)",
    )
    .bind(i32::try_from(batch * 2 + 7).expect("count"))
    .execute(&pool)
    .await
    .expect("old jobs");

    let purged = jobs::purge_given_up(&pool, retention).await.expect("purge");
    assert_eq!(purged, u64::try_from(batch * 2 + 8).expect("count"));
    assert_eq!(
        ids(&pool).await,
        [live, recent],
        "{old} purged, the others kept"
    );
    // Again: nothing more.
    assert_eq!(
        jobs::purge_given_up(&pool, retention).await.expect("purge"),
        0
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_periodic_purge_removes_a_job_once_its_retention_is_over(pool: PgPool) {
    let live = job(&pool, None).await;
    let given_up = job(&pool, Some(0)).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = jobs::spawn_purge(
        pool.clone(),
        Duration::from_secs(2),
        Duration::from_millis(100),
        shutdown.clone(),
    );
    // Kept while its retention lasts (the first runs see it younger than 2 s)...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ids(&pool).await, [live, given_up]);
    // ...then purged; the live job is never touched.
    eventually("the given-up job purged", || async {
        (ids(&pool).await == [live]).then_some(())
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the purge stops on shutdown")
        .expect("task");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_429_defers_a_channels_posts_without_reordering_them(pool: PgPool) {
    use serde_json::json;

    use crate::fake_slack::Fault;
    use crate::support::Stack;

    let stack = Stack::spawn(pool).await;
    let incident = stack
        .declare(json!({ "title": "Ordered posts", "severity": "SEV1" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let channel = stack.settled(&id, 1).await.channel_id.expect("channel");
    // The next post is answered 429 (Retry-After 1 s): the team is paused, and the
    // later updates of the same lane must wait for it, not overtake it.
    stack
        .fake
        .inject(Some("chat.postMessage"), Fault::RateLimited(1));
    for step in 1..=3 {
        stack
            .post(
                &format!("/api/v1/incidents/{id}/timeline"),
                json!({ "kind": "UPDATE", "message": format!("step {step}") }),
            )
            .await;
    }
    let posted = eventually("the three updates posted", || async {
        let texts: Vec<String> = stack
            .fake
            .messages(&channel)
            .into_iter()
            .map(|m| m.text)
            .filter(|t| t.starts_with("📣"))
            .collect();
        (texts.len() >= 3).then_some(texts)
    })
    .await;
    assert_eq!(
        posted,
        [
            "📣 Internal update: step 1",
            "📣 Internal update: step 2",
            "📣 Internal update: step 3"
        ]
    );
    assert!(
        stack
            .fake
            .calls()
            .iter()
            .any(|c| c.method == "chat.postMessage" && c.outcome == "http_429"),
        "the 429 happened"
    );
}
