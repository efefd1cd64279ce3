//! The AMQP front: alerts published to `alerts.ingest` are validated and grouped like
//! webhook alerts, a redelivered message changes nothing, and a malformed one is
//! dead-lettered with nothing stored.

use std::time::Duration;

use incident_bus::testing::{TestVhost, collect};
use incident_bus::topology::{ALERTS_INGEST, DEAD_LETTER_QUEUE};
use incident_bus::{Bus, BusBuilder, Envelope, OutgoingMessage, RetryPolicy};
use incident_ingestion::front::{AlertsFront, queue};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{TestApp, wait_for};

async fn front(app: &TestApp, vhost: &TestVhost, shutdown: &CancellationToken) -> Bus {
    let (bus, _task) = BusBuilder::new(&vhost.url, "ingestion")
        .retry_policy(RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retries: 2,
        })
        .consume(queue(), app.pool.clone(), AlertsFront)
        .start(shutdown.clone());
    bus.wait_connected(shutdown).await.expect("connects");
    bus
}

fn alerts_message(workspace_id: Uuid, data: Value) -> OutgoingMessage {
    OutgoingMessage {
        exchange: ALERTS_INGEST.into(),
        routing_key: "alert.nagios".into(),
        mandatory: true,
        envelope: Envelope::new("alert.ingest", workspace_id, data).expect("envelope"),
        trace_context: None,
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn alerts_published_to_alerts_ingest_are_grouped_like_webhook_alerts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "generic", "name": "nagios" }))
        .await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let bus = front(&app, &vhost, &shutdown).await;

    let message = alerts_message(
        app.workspace_id,
        json!({
            "integration_id": integration.id,
            "alerts": [
                { "title": "Disk full on db-1", "severity": "critical", "dedup_key": "db-1/disk", "group_key": "db", "service": "db" },
                { "title": "Disk full on db-2", "severity": "critical", "dedup_key": "db-2/disk", "group_key": "db", "service": "db" },
            ]
        }),
    );
    bus.publish(&message).await.expect("routed");
    // The same message again (a redelivery): absorbed by the inbox.
    bus.publish(&message).await.expect("routed");
    wait_for(
        &app.pool,
        "SELECT count(*) FROM inbox WHERE consumer = 'ingestion.alerts'",
        1,
        Duration::from_secs(15),
    )
    .await;
    // A later message with one of the alerts again: one more notification of it.
    bus.publish(&alerts_message(
        app.workspace_id,
        json!({ "integration_id": integration.id, "title": "Disk full on db-1", "severity": "critical", "dedup_key": "db-1/disk", "group_key": "db" }),
    ))
    .await
    .expect("routed");
    wait_for(
        &app.pool,
        "SELECT count(*) FROM inbox WHERE consumer = 'ingestion.alerts'",
        2,
        Duration::from_secs(15),
    )
    .await;

    assert_eq!(app.count("SELECT count(*) FROM alerts").await, 2);
    assert_eq!(
        app.count("SELECT sum(notification_count) FROM alerts")
            .await,
        3,
        "the redelivery counted nothing"
    );
    assert_eq!(app.count("SELECT count(*) FROM alert_groups").await, 1);
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 1);
    assert_eq!(declares[0]["data"]["incident"]["severity"], "SEV1");
    assert_eq!(
        declares[0]["causation_id"],
        json!(message.envelope.id),
        "the command continues the alert message's chain"
    );
    assert_eq!(
        declares[0]["correlation_id"],
        json!(message.envelope.correlation_id)
    );
    shutdown.cancel();
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_malformed_amqp_alert_is_dead_lettered_and_stores_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "generic", "name": "nagios" }))
        .await;
    let other_workspace = Uuid::now_v7();
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let bus = front(&app, &vhost, &shutdown).await;

    let bad = [
        json!({ "alerts": [{ "title": "no integration" }] }),
        json!({ "integration_id": integration.id, "alerts": [{ "severity": "critical" }] }),
        json!({ "integration_id": integration.id, "alerts": [] }),
        json!({ "integration_id": Uuid::now_v7(), "title": "unknown integration" }),
        json!("not an object"),
    ];
    for data in &bad {
        bus.publish(&alerts_message(app.workspace_id, data.clone()))
            .await
            .expect("routed");
    }
    bus.publish(&alerts_message(
        other_workspace,
        json!({ "integration_id": integration.id, "title": "another workspace's message" }),
    ))
    .await
    .expect("routed");
    let (_connection, channel) = vhost.channel_with(&[]).await;
    channel
        .basic_publish(
            ALERTS_INGEST.into(),
            "alert.raw".into(),
            BasicPublishOptions::default(),
            b"{ this is not an envelope",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");

    let dead = collect(
        &channel,
        DEAD_LETTER_QUEUE,
        bad.len() + 2,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        dead.len(),
        bad.len() + 2,
        "every malformed message was dead-lettered"
    );
    for table in ["alerts", "alert_groups", "outbox", "inbox"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    shutdown.cancel();
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_drills_alertmanager_alert_groups_apart_from_real_alerts_and_declares_a_drill(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    // Grouped by service: a real alert and the drill's share one, and must not share a group.
    sqlx::query("UPDATE integrations SET grouping_key = 'service' WHERE id = $1")
        .bind(integration.id)
        .execute(&app.pool)
        .await
        .expect("grouping");
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let bus = front(&app, &vhost, &shutdown).await;
    bus.publish(&alerts_message(
        app.workspace_id,
        json!({ "integration_id": integration.id, "title": "Payments DB down", "severity": "critical",
                "dedup_key": "real", "service": "payments-db" }),
    ))
    .await
    .expect("routed");
    let run = Uuid::now_v7();
    let labels = json!({ "alertname": "PgPrimaryDown", "severity": "info", "service": "payments-db",
                         "incident_drill_run": run, "incident_drill_severity": "SEV2" });
    bus.publish(&alerts_message(
        app.workspace_id,
        json!({
            "integration_id": integration.id, "source": "alertmanager", "version": "4",
            "groupKey": format!("drill:{run}"), "status": "firing",
            "alerts": [{ "status": "firing", "labels": labels,
                         "annotations": { "summary": "drill: primary down" },
                         "startsAt": "2026-12-03T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z" }],
        }),
    ))
    .await
    .expect("routed");
    wait_for(
        &app.pool,
        "SELECT count(*) FROM inbox WHERE consumer = 'ingestion.alerts'",
        2,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups").await,
        2,
        "the drill's alert has a group of its own"
    );
    let declares = app.outbox("incident.declare").await;
    let drill: Vec<&Value> = declares
        .iter()
        .filter(|d| d["data"]["incident"]["is_drill"] == json!(true))
        .collect();
    assert_eq!(drill.len(), 1, "{declares:?}");
    let incident = &drill[0]["data"]["incident"];
    assert_eq!(
        incident["severity"], "SEV2",
        "the drill's severity, not the rules'"
    );
    assert_eq!(incident["title"], "drill: primary down");
    assert!(
        app.outbox("incident.link_alert_group").await.is_empty(),
        "the drill joined nothing"
    );
    shutdown.cancel();
}
