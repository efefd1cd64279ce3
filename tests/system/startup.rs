//! Start-up, readiness and shutdown of the whole stack.

use std::time::Duration;

use incident_bus::testing::TestVhost;
use incident_system_tests::{Running, TestStack, config_for};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn the_stack_migrates_an_empty_database_and_becomes_ready(pool: PgPool) {
    let stack = TestStack::spawn(&pool).await;

    let (status, body) = stack.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for service in ["core", "ingestion", "sla-watchdog", "warroom", "postmortem"] {
        assert_eq!(
            body["checks"][format!("{service}.broker")],
            "up",
            "{service}: {body}"
        );
    }
    assert_eq!(body["checks"]["database"], "up");
    let (status, body) = stack.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("migrations table");
    assert_eq!(applied as usize, incident_schema::MIGRATOR.iter().count());

    stack.stop().await.expect("clean shutdown");
}

#[sqlx::test(migrations = false)]
async fn readiness_reports_the_broker_down_while_its_connections_are_cut(pool: PgPool) {
    let stack = TestStack::spawn(&pool).await;
    let (_, metrics) = stack.get("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains("incident_bus_connected"),
        "metrics: {metrics}"
    );

    // Cut repeatedly until a probe lands inside the reconnect window.
    let mut saw_down = false;
    for _ in 0..20 {
        stack.vhost.close_all_connections();
        let (status, body) = stack.get("/readyz").await;
        if status == 503 {
            assert_eq!(body["status"], "not_ready");
            assert!(
                body["checks"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(k, v)| k.ends_with(".broker") && v == "down"),
                "{body}"
            );
            saw_down = true;
            break;
        }
    }
    assert!(saw_down, "readiness never reported the cut");
    stack.wait_ready(Duration::from_secs(30)).await;
    let (status, _) = stack.get("/healthz").await;
    assert_eq!(status, 200, "the process stayed alive throughout");
    stack.stop().await.expect("clean shutdown");
}

#[sqlx::test(migrations = false)]
async fn two_services_starting_at_once_on_an_empty_database_both_succeed(pool: PgPool) {
    let vhost = TestVhost::create();
    // Both migrate, declare and start at the same moment; each waits until it is ready.
    let (core, ingestion) = tokio::join!(
        Running::start(
            config_for(&pool, &vhost, &[]),
            &incident_stack::SERVICES[0..1]
        ),
        Running::start(
            config_for(&pool, &vhost, &[]),
            &incident_stack::SERVICES[1..2]
        ),
    );
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("migrations table");
    assert_eq!(
        applied as usize,
        incident_schema::MIGRATOR.iter().count(),
        "each migration applied once"
    );
    core.stop().await.expect("clean exit");
    ingestion.stop().await.expect("clean exit");
}
