//! Commands on `incidents.commands`: applied like the HTTP calls, idempotent, and
//! dead-lettered with nothing changed when invalid.

use std::time::Duration;

use incident_bus::testing::collect;
use incident_bus::topology::DEAD_LETTER_QUEUE;
use incident_bus::{BusBuilder, Envelope, OutgoingMessage, RetryPolicy};
use incident_core::commands::{Commands, queue};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::TestApp;

async fn workspace(app: &TestApp) -> Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
        .fetch_one(&app.pool)
        .await
        .expect("workspace")
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

async fn wait_for(app: &TestApp, sql: &'static str, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while count(app, sql).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {sql} = {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn commands_declare_once_per_key_and_drive_the_lifecycle(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&app.vhost().url, "core")
        .consume(queue(), app.pool.clone(), Commands)
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");

    let declare = |key: &str| {
        Envelope::new("incident.declare", ws, json!({ "idempotency_key": key, "incident": { "title": "High error rate", "severity": "SEV2" } })).expect("envelope")
    };
    // Two different messages with the same key (a retried command) and one redelivery.
    let first = declare("group-1");
    bus.publish(&OutgoingMessage::command(first.clone()))
        .await
        .expect("routed");
    bus.publish(&OutgoingMessage::command(first))
        .await
        .expect("routed");
    bus.publish(&OutgoingMessage::command(declare("group-1")))
        .await
        .expect("routed");
    wait_for(
        &app,
        "SELECT count(*) FROM inbox WHERE consumer = 'core.commands'",
        2,
    )
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM incidents").await, 1);
    let incident_id: Uuid = sqlx::query_scalar("SELECT id FROM incidents")
        .fetch_one(&app.pool)
        .await
        .expect("id");

    let status = Envelope::new(
        "incident.change_status",
        ws,
        json!({ "incident_id": incident_id, "status": "RESOLVED", "message": "rolled back" }),
    )
    .expect("envelope");
    bus.publish(&OutgoingMessage::command(status))
        .await
        .expect("routed");
    wait_for(
        &app,
        "SELECT count(*) FROM incidents WHERE status = 'RESOLVED'",
        1,
    )
    .await;
    let declared_events = count(
        &app,
        "SELECT count(*) FROM outbox WHERE message_type = 'incident.declared'",
    )
    .await;
    assert_eq!(declared_events, 1);
    let caused: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_type = 'incident.status_changed' AND payload->>'causation_id' IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(caused, 1, "events name the command that caused them");

    shutdown.cancel();
    task.await.expect("ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_invalid_command_is_dead_lettered_and_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let incident = app.declare(crate::support::ADMIN, "stable").await;
    let incident_id = incident["id"].as_str().expect("id");
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&app.vhost().url, "core")
        .retry_policy(RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_retries: 1,
        })
        .consume(queue(), app.pool.clone(), Commands)
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");
    let outbox_before = count(&app, "SELECT count(*) FROM outbox").await;

    let bad = [
        json!({ "incident_id": incident_id, "status": "EXPLODED" }),
        json!({ "incident_id": incident_id, "status": "INVESTIGATING", "message": "same status" }),
        json!({ "incident_id": Uuid::now_v7(), "status": "RESOLVED" }),
        json!({ "status": "RESOLVED" }),
    ];
    for data in &bad {
        let e = Envelope::new("incident.change_status", ws, data).expect("envelope");
        bus.publish(&OutgoingMessage::command(e))
            .await
            .expect("routed");
    }
    let declare_bad = Envelope::new(
        "incident.declare",
        ws,
        json!({ "incident": { "title": "", "severity": "SEV1" } }),
    )
    .expect("envelope");
    bus.publish(&OutgoingMessage::command(declare_bad))
        .await
        .expect("routed");

    let (_c, channel) = app.vhost().channel_with(&[]).await;
    let dead = collect(
        &channel,
        DEAD_LETTER_QUEUE,
        bad.len() + 1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        dead.len(),
        bad.len() + 1,
        "every invalid command was dead-lettered"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM outbox").await,
        outbox_before,
        "no events"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM incidents").await,
        1,
        "nothing declared"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM inbox").await,
        0,
        "no inbox rows for rejected commands"
    );
    let (_, after) = app
        .get(
            crate::support::ADMIN,
            &format!("/api/v1/incidents/{incident_id}"),
        )
        .await;
    assert_eq!(after["version"], incident["version"]);

    shutdown.cancel();
    task.await.expect("ends");
}

/// Applies `message` as the consumer would, in one committed transaction.
async fn apply(app: &TestApp, message: &Envelope) {
    use incident_bus::Handler as _;
    let mut tx = app.pool.begin().await.expect("begin");
    Commands.handle(&mut tx, message).await.expect("applied");
    tx.commit().await.expect("commit");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_re_sent_declare_command_is_absorbed_by_its_key_even_if_its_body_changed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let declare = |title: &str| {
        Envelope::new("incident.declare", ws, json!({ "idempotency_key": "group-7", "incident": { "title": title, "severity": "SEV2" } })).expect("envelope")
    };
    apply(&app, &declare("High error rate")).await;
    apply(&app, &declare("High error rate (3 alerts)")).await;
    let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM incidents")
        .fetch_all(&app.pool)
        .await
        .expect("titles");
    assert_eq!(titles, ["High error rate"]);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn commands_act_as_the_system_on_a_private_incident(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let (code, incident) = app
        .post(
            crate::support::ADMIN,
            "/api/v1/incidents",
            json!({ "title": "quiet", "severity": "SEV2", "visibility": "PRIVATE" }),
        )
        .await;
    assert_eq!(code, reqwest::StatusCode::CREATED, "{incident}");
    let id: Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
    apply(
        &app,
        &Envelope::new("incident.acknowledge", ws, json!({ "incident_id": id })).expect("envelope"),
    )
    .await;
    apply(
        &app,
        &Envelope::new(
            "incident.add_update",
            ws,
            json!({ "incident_id": id, "message": "from the war room", "kind": "NOTE" }),
        )
        .expect("envelope"),
    )
    .await;
    let kinds = app.timeline_kinds(&id.to_string()).await;
    assert!(
        kinds.ends_with(&["ACKNOWLEDGED".to_owned(), "NOTE".to_owned()]),
        "{kinds:?}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn commands_applied_side_by_side_apply_once_each_and_in_order_per_incident(pool: PgPool) {
    const INCIDENTS: usize = 24;
    const NOTES: usize = 4;
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&app.vhost().url, "core")
        .consume_in_lanes(queue(), app.pool.clone(), Commands, 8)
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");

    // Every declare sent twice (a re-sent command), from several publishers at once.
    let mut publishers = tokio::task::JoinSet::new();
    for i in 0..INCIDENTS {
        let bus = bus.clone();
        publishers.spawn(async move {
            let declare = || {
                Envelope::new(
                    "incident.declare",
                    ws,
                    json!({ "idempotency_key": format!("group-{i}"), "incident": { "title": format!("storm {i}"), "severity": "SEV2" } }),
                )
                .expect("envelope")
            };
            for e in [declare(), declare()] {
                bus.publish(&OutgoingMessage::command(e))
                    .await
                    .expect("routed");
            }
        });
    }
    while let Some(done) = publishers.join_next().await {
        done.expect("published");
    }
    wait_for(
        &app,
        "SELECT count(*) FROM inbox WHERE consumer = 'core.commands'",
        2 * INCIDENTS as i64,
    )
    .await;
    let (incidents, numbers, max): (i64, i64, i32) =
        sqlx::query_as("SELECT count(*), count(DISTINCT number), max(number) FROM incidents")
            .fetch_one(&app.pool)
            .await
            .expect("numbers");
    assert_eq!(incidents, INCIDENTS as i64, "one incident per key");
    assert_eq!(
        (numbers, i64::from(max)),
        (INCIDENTS as i64, INCIDENTS as i64),
        "numbers unique and gap-free"
    );
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM incidents")
        .fetch_all(&app.pool)
        .await
        .expect("ids");

    // Each incident's follow-ups in order, all incidents' at once and interleaved.
    for &id in &ids {
        let bus = bus.clone();
        publishers.spawn(async move {
            let mut commands: Vec<Envelope> = (0..NOTES)
                .map(|n| {
                    Envelope::new(
                        "incident.add_update",
                        ws,
                        json!({ "incident_id": id, "message": format!("note {n}") }),
                    )
                    .expect("envelope")
                })
                .collect();
            for status in ["IDENTIFIED", "MONITORING", "RESOLVED"] {
                commands.push(
                    Envelope::new(
                        "incident.change_status",
                        ws,
                        json!({ "incident_id": id, "status": status }),
                    )
                    .expect("envelope"),
                );
            }
            // One command redelivered right after itself is absorbed by the inbox.
            commands.insert(2, commands[1].clone());
            for e in commands {
                bus.publish(&OutgoingMessage::command(e))
                    .await
                    .expect("routed");
            }
        });
    }
    while let Some(done) = publishers.join_next().await {
        done.expect("published");
    }
    wait_for(
        &app,
        "SELECT count(*) FROM incidents WHERE status = 'RESOLVED'",
        INCIDENTS as i64,
    )
    .await;
    let expected: Vec<String> = ["DETECTED"]
        .into_iter()
        .map(str::to_owned)
        .chain((0..NOTES).map(|n| format!("UPDATE note {n}")))
        .chain(
            ["IDENTIFIED", "MONITORING", "RESOLVED"]
                .iter()
                .map(|s| format!("STATUS_CHANGE {s}")),
        )
        .collect();
    for id in &ids {
        let entries: Vec<String> = sqlx::query_scalar(
            "SELECT CASE kind::text
                 WHEN 'UPDATE' THEN 'UPDATE ' || message
                 WHEN 'STATUS_CHANGE' THEN 'STATUS_CHANGE ' || (data->>'to')
                 ELSE kind::text END
             FROM incident_timeline WHERE incident_id = $1 AND kind <> 'ACKNOWLEDGED'
             ORDER BY occurred_at, id",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .expect("timeline");
        assert_eq!(
            entries, expected,
            "incident {id}: each effect once, in order"
        );
        // Moving to IDENTIFIED acknowledges, in the same transaction.
        let acknowledged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM incident_timeline WHERE incident_id = $1 AND kind = 'ACKNOWLEDGED'",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("count");
        assert_eq!(acknowledged, 1, "incident {id}");
    }
    let status_events = count(
        &app,
        "SELECT count(*) FROM outbox WHERE message_type = 'incident.status_changed'",
    )
    .await;
    assert_eq!(status_events, 3 * INCIDENTS as i64, "one event per change");

    shutdown.cancel();
    task.await.expect("ends");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_severity_change_command_moves_the_severity_and_its_sla_deadlines(pool: PgPool) {
    use incident_schema::contract::ChangeSeverity;
    let app = TestApp::spawn(pool).await;
    let ws = workspace(&app).await;
    let (code, incident) = app
        .post(
            crate::support::ADMIN,
            "/api/v1/incidents",
            json!({ "title": "drill", "severity": "SEV3", "is_drill": true }),
        )
        .await;
    assert_eq!(code, reqwest::StatusCode::CREATED, "{incident}");
    let id: Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
    let before: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT sla_deadline FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("deadline");
    let change = ChangeSeverity {
        incident_id: id,
        actor_id: None,
        severity: incident_schema::Severity::Sev1,
    };
    apply(&app, &Envelope::of(ws, &change).expect("envelope")).await;
    let (severity, deadline): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT severity::text, sla_deadline FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("incident");
    assert_eq!(severity, "SEV1");
    assert!(deadline < before.0, "SEV1's acknowledge target is shorter");
    let kinds = app.timeline_kinds(&id.to_string()).await;
    assert!(kinds.contains(&"SEVERITY_CHANGED".to_owned()), "{kinds:?}");
}
