//! A drill run's effects and its end: synthetic alerts as Alertmanager notifications for
//! ingestion's front, the declare of a script without alerts, the incident learnt from
//! core's rows, and the run ended and scored once when its incident resolves, against the
//! run before.

use incident_sla_watchdog::drill::{ending, runner, store};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

const ALERTING: &str = r#"
title = "Payments primary lost"
severity = "SEV2"
timeout = "10m"

[[steps]]
at = "0s"
alert = { labels = { alertname = "PgPrimaryDown", service = "payments-db" }, annotations = { summary = "primary down" } }

[[steps]]
at = "0s"
resolve_alert = "PgPrimaryDown"

[expect]
acknowledged_within = "5m"
"#;

const QUIET: &str = r#"
title = "Checkout latency"
severity = "SEV3"
description = "p99 above 2 s"
services = ["checkout"]
timeout = "10m"

[[steps]]
at = "0s"
hint = "look at the deploy"

[expect]
acknowledged_within = "5m"
first_public_update_within = "1m"
resolved_within = "30m"
"#;

async fn integration(pool: &PgPool, workspace_id: Uuid) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'alertmanager', 'prometheus', sha256('secret'::bytea)) RETURNING id",
    )
    .bind(workspace_id)
    .fetch_one(pool)
    .await
    .expect("integration")
}

async fn alerts_sent(pool: &PgPool) -> Vec<(String, String, Value)> {
    sqlx::query_as(
        "SELECT exchange, routing_key, payload -> 'data' FROM outbox
         WHERE message_type = 'alert.ingest' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("outbox")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn alert_steps_send_alertmanager_notifications_labelled_with_the_run_through_its_integration(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let integration = integration(&pool, ws.id).await;
    let (_, run) = drill_run(&pool, ws.id, "payments", ALERTING, None).await;
    assert_eq!(run.integration_id, Some(integration));
    let mut conn = pool.acquire().await.expect("connection");
    let round = runner::play_due(&mut conn).await.expect("round");
    assert_eq!(round.played, 2, "alerts need no incident: {round:?}");
    let sent = alerts_sent(&pool).await;
    assert_eq!(sent.len(), 2);
    let (exchange, key, firing) = &sent[0];
    assert_eq!(
        (exchange.as_str(), key.as_str()),
        ("alerts.ingest", "alert.drill")
    );
    assert_eq!(firing["integration_id"], integration.to_string());
    assert_eq!(firing["source"], "alertmanager");
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["groupKey"], format!("drill:{}", run.id));
    let alert = &firing["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "PgPrimaryDown");
    assert_eq!(alert["labels"]["incident_drill_run"], run.id.to_string());
    assert_eq!(alert["labels"]["incident_drill_severity"], "SEV2");
    assert_eq!(alert["annotations"]["summary"], "primary down");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    let resolved = &sent[1].2["alerts"][0];
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["labels"], alert["labels"],
        "the same labels, so the same fingerprint"
    );
    assert_ne!(resolved["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        outbox_events(&pool, "incident.declare").await.is_empty(),
        "the alerts declare, not the run"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_script_without_alerts_declares_its_drill_incident_through_core_when_it_starts(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let (_, run) = drill_run(&pool, ws.id, "latency", QUIET, None).await;
    let declares = outbox_events(&pool, "incident.declare").await;
    assert_eq!(declares.len(), 1);
    let declare = &declares[0].data;
    assert_eq!(declare["idempotency_key"], run.idempotency_key);
    assert_eq!(declare["incident"]["is_drill"], true);
    assert_eq!(declare["incident"]["title"], "Checkout latency");
    assert_eq!(declare["incident"]["severity"], "SEV3");
    assert_eq!(
        declare["incident"]["affected_services"][0]["name"],
        "checkout"
    );
}

/// Core's side of a declare: the drill incident with the run's key.
async fn declared_for(pool: &PgPool, workspace_id: Uuid, key: &str) -> incident_schema::Incident {
    let incident = drill_incident(pool, workspace_id).await;
    sqlx::query("UPDATE incidents SET idempotency_key = $2 WHERE id = $1")
        .bind(incident.id)
        .bind(key)
        .execute(pool)
        .await
        .expect("key");
    incident
}

async fn score_of(pool: &PgPool, run_id: Uuid) -> (String, Value) {
    sqlx::query_as("SELECT state::text, score FROM drill_runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(pool)
        .await
        .expect("run")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_run_learns_its_incident_ends_once_it_resolves_scored_against_the_run_before(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let (scenario, first) = drill_run(&pool, ws.id, "latency", QUIET, None).await;
    let incident = declared_for(&pool, ws.id, &first.idempotency_key).await;
    let mut conn = pool.acquire().await.expect("connection");
    assert_eq!(ending::learn_due(&mut conn).await.expect("learn"), 1);
    let run = store::run(&mut conn, ws.id, first.id)
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(run.incident_id, Some(incident.id));
    assert_eq!(
        ending::end_due(&mut conn).await.expect("end"),
        0,
        "open: the run goes on"
    );
    acknowledge(&pool, incident.id, 3).await;
    resolve(&pool, incident.id, 20).await;
    assert_eq!(ending::end_due(&mut conn).await.expect("end"), 1);
    assert_eq!(
        ending::end_due(&mut conn).await.expect("end"),
        0,
        "ended once"
    );
    let (state, score) = score_of(&pool, first.id).await;
    assert_eq!(state, "completed");
    let e = &score["expectations"];
    assert_eq!(e[0]["expectation"], "acknowledged");
    assert_eq!(
        (e[0]["met"].clone(), e[0]["measured_seconds"].clone()),
        (true.into(), 180.into())
    );
    assert_eq!(
        e[0]["sla_target_seconds"],
        120 * 60,
        "the workspace's SEV3 target"
    );
    assert_eq!(e[1]["expectation"], "first_public_update");
    assert_eq!(
        (e[1]["met"].clone(), e[1]["measured_seconds"].clone()),
        (false.into(), Value::Null)
    );
    assert_eq!(e[2]["expectation"], "resolved");
    assert_eq!(e[2]["met"], true);
    assert_eq!(
        (score["met"].clone(), score["total"].clone()),
        (2.into(), 3.into())
    );
    assert_eq!(score["previous_run_id"], Value::Null);
    let completed = outbox_events(&pool, "drill.run_completed").await;
    assert_eq!(completed.len(), 1, "one report");
    assert_eq!(completed[0].data["run_id"], first.id.to_string());
    assert_eq!(completed[0].data["incident_id"], incident.id.to_string());
    assert_eq!(completed[0].data["score"], score);

    // The next run of the scenario is faster to acknowledge, slower to resolve.
    let parsed = incident_schema::drill::parse(QUIET).expect("valid");
    let second = runner::start(&mut conn, &scenario, ws.id, &parsed, None)
        .await
        .expect("run")
        .expect("started");
    let incident = declared_for(&pool, ws.id, &second.idempotency_key).await;
    ending::learn_due(&mut conn).await.expect("learn");
    acknowledge(&pool, incident.id, 1).await;
    resolve(&pool, incident.id, 25).await;
    ending::end_due(&mut conn).await.expect("end");
    let (_, score) = score_of(&pool, second.id).await;
    assert_eq!(score["previous_run_id"], first.id.to_string());
    let e = &score["expectations"];
    assert_eq!(
        (e[0]["trend"].clone(), e[0]["previous_seconds"].clone()),
        ("faster".into(), 180.into())
    );
    assert_eq!(e[1]["trend"], Value::Null, "never measured");
    assert_eq!(e[2]["trend"], "slower");
    let view = store::runs(&mut conn, ws.id, Some(scenario.id), 10)
        .await
        .expect("history");
    assert_eq!(view.len(), 2, "both kept, each with its score");
    assert!(view.iter().all(|r| r.score.is_some()));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_run_past_its_deadline_times_out_scored_with_everything_missed(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let (_, run) = drill_run(&pool, ws.id, "latency", QUIET, None).await;
    sqlx::query("UPDATE drill_runs SET ends_at = now() - interval '1 second' WHERE id = $1")
        .bind(run.id)
        .execute(&pool)
        .await
        .expect("overdue");
    let mut conn = pool.acquire().await.expect("connection");
    assert_eq!(ending::end_due(&mut conn).await.expect("end"), 1);
    let (state, score) = score_of(&pool, run.id).await;
    assert_eq!(state, "timed_out");
    assert_eq!(
        (score["met"].clone(), score["total"].clone()),
        (0.into(), 3.into())
    );
    let completed = outbox_events(&pool, "drill.run_completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data["state"], "timed_out");
    assert_eq!(completed[0].data["incident_id"], Value::Null);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_crash_before_a_steps_commit_plays_it_after_the_restart_and_never_twice(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let incident = drill_incident(&pool, ws.id).await;
    let (_, run) = drill_run(&pool, ws.id, "latency", QUIET, Some(incident.id)).await;
    // A replica claims the step and dies before committing: its transaction rolls back.
    {
        let mut crashed = pool.begin().await.expect("begin");
        assert_eq!(
            store::claim_due_step(&mut crashed, run.id)
                .await
                .expect("claim"),
            Some(0)
        );
        store::mark_done(&mut crashed, run.id, 0)
            .await
            .expect("done");
        drop(crashed);
    }
    assert!(outbox_events(&pool, "incident.add_update").await.is_empty());
    let mut conn = pool.acquire().await.expect("connection");
    for _ in 0..3 {
        runner::play_due(&mut conn).await.expect("round");
    }
    assert_eq!(
        outbox_events(&pool, "incident.add_update").await.len(),
        1,
        "played once after the restart"
    );
}
