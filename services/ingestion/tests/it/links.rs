//! Core's confirmations (`incident.declared`, `incident.alert_group_linked`) set a group's
//! incident, link the groups waiting for it, and note on the timeline a group that had
//! already resolved; repeating a confirmation changes nothing.

use chrono::Utc;
use incident_bus::{Envelope, Handler};
use incident_ingestion::links::IncidentLinks;
use incident_schema::incident::{NewIncident, insert_incident};
use incident_schema::workspace::next_incident_number;
use incident_schema::{Severity, Visibility};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::TestApp;

async fn incident(app: &TestApp, key: &str) -> Uuid {
    let mut tx = app.pool.begin().await.expect("tx");
    let number = next_incident_number(&mut tx, app.workspace_id)
        .await
        .expect("number");
    let incident = insert_incident(
        &mut tx,
        &NewIncident {
            workspace_id: app.workspace_id,
            number,
            title: "Search down",
            description: "",
            severity: Severity::Sev1,
            impact: None,
            detected_at: Utc::now(),
            sla_deadline: None,
            sla_resolve_deadline: None,
            commander_id: None,
            is_drill: false,
            visibility: Visibility::Public,
            declared_by: None,
            idempotency_key: Some(key),
        },
    )
    .await
    .expect("incident");
    tx.commit().await.expect("commit");
    incident.id
}

async fn apply(app: &TestApp, message_type: &str, data: Value) {
    let envelope = Envelope::new(message_type, app.workspace_id, data).expect("envelope");
    let mut tx = app.pool.begin().await.expect("tx");
    IncidentLinks
        .handle(&mut tx, &envelope)
        .await
        .expect("applies");
    tx.commit().await.expect("commit");
}

async fn incident_of(app: &TestApp, group: &str) -> Option<Uuid> {
    sqlx::query_scalar("SELECT incident_id FROM alert_groups WHERE id = $1::uuid")
        .bind(group)
        .fetch_one(&app.pool)
        .await
        .expect("group")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_confirmed_declare_links_its_group_and_the_groups_waiting_for_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let integration = app
        .integration(json!({ "kind": "generic", "name": "search" }))
        .await;
    let alert = |title: &str, key: &str| json!({ "title": title, "group_key": key, "dedup_key": key, "service": "search", "severity": "critical" });
    let answer = app
        .accepted(
            "generic",
            &integration,
            &json!({ "alerts": [alert("Search 5xx", "a"), alert("Search latency", "b")] }),
        )
        .await;
    let groups = answer["alert_groups"].as_array().expect("groups");
    let declaring = groups
        .iter()
        .find(|g| g["decision"] == "DECLARE")
        .and_then(|g| g["id"].as_str())
        .expect("one declares")
        .to_owned();
    let waiting = groups
        .iter()
        .find(|g| g["decision"] == "JOIN")
        .and_then(|g| g["id"].as_str())
        .expect("one joins")
        .to_owned();
    assert_eq!(app.outbox("incident.declare").await.len(), 1);

    // The waiting group resolves before core confirms anything.
    app.accepted(
        "generic",
        &integration,
        &json!({ "title": "Search latency", "group_key": "b", "dedup_key": "b", "status": "resolved" }),
    )
    .await;
    assert!(app.outbox("incident.add_update").await.is_empty());

    let incident_id = incident(&app, &declaring).await;
    let declared = json!({ "incident": { "id": incident_id, "reference": "INC-1" }, "alert_group_ids": [declaring], "actor_id": null });
    apply(&app, "incident.declared", declared.clone()).await;
    assert_eq!(incident_of(&app, &declaring).await, Some(incident_id));
    let links = app.outbox("incident.link_alert_group").await;
    assert_eq!(links.len(), 1, "the waiting group is linked");
    assert_eq!(
        links[0]["data"],
        json!({ "incident_id": incident_id, "alert_group_id": waiting })
    );
    assert!(
        links[0]["causation_id"].is_string(),
        "caused by core's event"
    );

    // Core's second event about the same declare, and a redelivery: nothing new.
    apply(
        &app,
        "incident.alert_group_linked",
        json!({ "incident": { "id": incident_id }, "alert_group_id": declaring }),
    )
    .await;
    apply(&app, "incident.declared", declared).await;
    assert_eq!(app.outbox("incident.link_alert_group").await.len(), 1);

    // Core applies the link: the waiting group, already resolved, gets its note now.
    apply(
        &app,
        "incident.alert_group_linked",
        json!({ "incident": { "id": incident_id }, "alert_group_id": waiting }),
    )
    .await;
    assert_eq!(incident_of(&app, &waiting).await, Some(incident_id));
    let notes = app.outbox("incident.add_update").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["data"]["incident_id"], incident_id.to_string());
    assert_eq!(notes[0]["data"]["kind"], "NOTE");
    assert_eq!(notes[0]["data"]["is_public"], false);
    assert_eq!(
        notes[0]["data"]["message"],
        "Alert group \"Search latency\" resolved (1 alert)"
    );

    // The declaring group, linked, resolves: its note goes out with the resolution.
    app.accepted(
        "generic",
        &integration,
        &json!({ "title": "Search 5xx", "group_key": "a", "dedup_key": "a", "status": "resolved" }),
    )
    .await;
    let notes = app.outbox("incident.add_update").await;
    assert_eq!(notes.len(), 2);
    assert_eq!(
        notes[1]["data"]["message"],
        "Alert group \"Search 5xx\" resolved (1 alert)"
    );
    let resolved = app.outbox("alert_group.resolved").await;
    assert_eq!(
        resolved.last().map(|e| e["data"]["incident_id"].clone()),
        Some(json!(incident_id))
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn events_about_other_things_or_unknown_groups_change_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident_id = incident(&app, "manual").await;
    apply(
        &app,
        "incident.declared",
        json!({ "incident": { "id": incident_id }, "alert_group_ids": [Uuid::now_v7()] }),
    )
    .await;
    apply(
        &app,
        "incident.acknowledged",
        json!({ "incident": { "id": incident_id } }),
    )
    .await;
    apply(
        &app,
        "incident.declared",
        json!({ "incident": { "id": incident_id } }),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 0);
    let envelope = Envelope::new(
        "incident.alert_group_linked",
        app.workspace_id,
        json!({ "incident": {} }),
    )
    .expect("envelope");
    let mut tx = app.pool.begin().await.expect("tx");
    let refused = IncidentLinks.handle(&mut tx, &envelope).await;
    assert!(
        matches!(refused, Err(incident_bus::HandlerError::Permanent(_))),
        "a malformed event is dead-lettered: {refused:?}"
    );
}
