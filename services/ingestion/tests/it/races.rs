//! Decisions under concurrency, without a workspace-wide lock: new groups of one service
//! racing each other still declare once; groups of other services decide while one
//! service's decision is held; the storm guard still caps declares; and core's
//! confirmation of a declare racing a later alert (a new group of the same service, or
//! the declaring group resolving) leaves every group linked once and every resolution
//! noted once, whichever commits first.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use incident_ingestion::integration::{self, NewIntegration};
use incident_ingestion::{ingest, links, source};
use incident_schema::incident::{NewIncident, insert_incident};
use incident_schema::workspace::next_incident_number;
use incident_schema::{IncidentNumber, IntegrationKind, Severity, Visibility};
use incident_testkit::fixtures;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::support::{Created, TestApp, am_alert, am_notification};

const T0: &str = "2026-11-27T10:00:00Z";
/// How long a decision that should be waiting is given to (wrongly) finish.
const HELD: Duration = Duration::from_millis(400);
/// How long anything that should not wait may take, at most.
const PROMPT: Duration = Duration::from_secs(20);

/// A notification opening the group `name` with one critical alert of `service`.
fn new_group(name: &str, service: &str) -> Value {
    am_notification(
        &format!("{{}}:{{alertname=\"{name}\"}}"),
        vec![am_alert(
            name,
            "firing",
            json!({ "alertname": name, "severity": "critical", "service": service }),
            T0,
            None,
        )],
    )
}

/// The same alert, resolved.
fn resolved(name: &str, service: &str) -> Value {
    am_notification(
        &format!("{{}}:{{alertname=\"{name}\"}}"),
        vec![am_alert(
            name,
            "resolved",
            json!({ "alertname": name, "severity": "critical", "service": service }),
            T0,
            Some("2026-11-27T10:05:00Z"),
        )],
    )
}

/// Sends every body at once (one task each), each to its integration; all must be
/// accepted.
async fn send_at_once(app: &Arc<TestApp>, bodies: Vec<(Created, Value)>) -> Vec<Value> {
    let mut tasks = JoinSet::new();
    for (integration, body) in bodies {
        let app = app.clone();
        tasks.spawn(async move { app.accepted("alertmanager", &integration, &body).await });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.expect("client"));
    }
    answers
}

/// The only group of an answer: its id and decision.
fn group_of(answer: &Value) -> (Uuid, String) {
    let group = &answer["alert_groups"][0];
    (
        group["id"].as_str().expect("id").parse().expect("uuid"),
        group["decision"].as_str().expect("decision").to_owned(),
    )
}

/// Runs the pipeline on `body` for `integration` in `conn`'s transaction (left open).
async fn ingest_in(conn: &mut PgConnection, integration: Uuid, body: &Value) -> Value {
    let integration = integration::store::find(conn, integration)
        .await
        .expect("find")
        .expect("integration");
    let notification =
        source::parse_value(IntegrationKind::Alertmanager, body, Utc::now()).expect("parses");
    let outcome = ingest::ingest(conn, &integration, &notification, None)
        .await
        .expect("ingests");
    serde_json::to_value(outcome).expect("json")
}

/// An open incident covering `service`, as core records a group's declare (its id as
/// idempotency key), in `conn`'s transaction: numbered by the workspace's counter, or
/// `number` (so that concurrent ones do not queue on the counter).
async fn incident_in(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    group: Uuid,
    service: &str,
    number: Option<i32>,
) -> Uuid {
    let number = match number {
        Some(n) => IncidentNumber(n),
        None => next_incident_number(conn, workspace_id)
            .await
            .expect("number"),
    };
    let key = group.to_string();
    let incident = insert_incident(
        conn,
        &NewIncident {
            workspace_id,
            number,
            title: "Checkout degraded",
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
            idempotency_key: Some(&key),
        },
    )
    .await
    .expect("incident");
    sqlx::query(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact) VALUES ($1, $2, $3, 'DEGRADED')",
    )
    .bind(incident.id)
    .bind(workspace_id)
    .bind(service)
    .execute(&mut *conn)
    .await
    .expect("service");
    incident.id
}

/// The `incident.link_alert_group` commands for `group`, as (incident, group).
async fn links_of(app: &TestApp, group: Uuid) -> Vec<Value> {
    app.outbox("incident.link_alert_group")
        .await
        .into_iter()
        .map(|m| m["data"].clone())
        .filter(|d| d["alert_group_id"] == json!(group))
        .collect()
}

/// The resolution notes sent to `incident`.
async fn notes_for(app: &TestApp, incident: Uuid) -> usize {
    app.outbox("incident.add_update")
        .await
        .iter()
        .filter(|m| m["data"]["incident_id"] == json!(incident))
        .count()
}

/// Asserts `task` is still running after [`HELD`]: it waits for a lock.
async fn assert_waiting<T: std::fmt::Debug>(task: &mut tokio::task::JoinHandle<T>, what: &str) {
    let early = tokio::time::timeout(HELD, task).await;
    assert!(
        early.is_err(),
        "{what} should wait, but finished: {early:?}"
    );
}

async fn finish<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(PROMPT, task)
        .await
        .expect("finishes once the lock is released")
        .expect("task")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn many_new_groups_of_one_service_at_once_declare_one_incident_and_the_rest_wait_for_it(
    pool: PgPool,
) {
    const GROUPS: usize = 40;
    let app = Arc::new(TestApp::spawn(pool).await);
    // Two integrations of one workspace: joining by service is workspace-wide.
    let a = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus-a" }))
        .await;
    let b = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus-b" }))
        .await;
    // Another workspace's group of the same service decides on its own.
    let other_ws = fixtures::workspace(&app.pool, "other").await;
    let other = {
        let mut conn = app.pool.acquire().await.expect("conn");
        let created = integration::create(
            &mut conn,
            other_ws.id,
            &NewIntegration {
                kind: IntegrationKind::Alertmanager,
                name: "theirs".into(),
                rules: None,
                grouping_key: None,
                max_incidents_per_minute: None,
            },
            "http://test",
        )
        .await
        .expect("integration");
        Created {
            id: created.integration.id,
            secret: created.secret,
            body: Value::Null,
        }
    };

    let mut bodies: Vec<(Created, Value)> = (0..GROUPS)
        .map(|i| {
            let integration = if i % 2 == 0 { a.clone() } else { b.clone() };
            // The service's spelling varies: services match whatever their case.
            let service = if i % 3 == 0 { "Checkout" } else { "checkout" };
            (integration, new_group(&format!("Errors{i}"), service))
        })
        .collect();
    bodies.push((other, new_group("Theirs", "checkout")));
    let answers = send_at_once(&app, bodies).await;
    assert_eq!(answers.len(), GROUPS + 1);

    let ours = format!("workspace_id = '{}'", app.workspace_id);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM alert_groups WHERE {ours} AND decision = 'DECLARE'"
        ))
        .await,
        1,
        "one incident for the service"
    );
    let declaring: Uuid = sqlx::query_scalar(
        "SELECT id FROM alert_groups WHERE workspace_id = $1 AND decision = 'DECLARE'",
    )
    .bind(app.workspace_id)
    .fetch_one(&app.pool)
    .await
    .expect("the declaring group");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM alert_groups WHERE {ours} AND decision = 'JOIN' AND join_group_id = '{declaring}'"
        ))
        .await,
        GROUPS as i64 - 1,
        "every other group waits for the declaring group's incident"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM alert_groups WHERE workspace_id = '{}' AND decision = 'DECLARE'",
            other_ws.id
        ))
        .await,
        1,
        "the other workspace declares its own"
    );
    let declares = app.outbox("incident.declare").await;
    assert_eq!(declares.len(), 2, "one per workspace");
    assert!(
        declares
            .iter()
            .any(|d| d["data"]["idempotency_key"] == json!(declaring.to_string())),
        "{declares:?}"
    );
    assert!(app.outbox("incident.link_alert_group").await.is_empty());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn groups_of_other_services_decide_while_one_services_decision_is_held(pool: PgPool) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;

    // A declare for `checkout`, not committed yet: it holds that service's lock.
    let mut held = app.pool.begin().await.expect("tx");
    let first = ingest_in(&mut held, integration.id, &new_group("First", "checkout")).await;
    let (first_id, decision) = group_of(&first);
    assert_eq!(decision, "DECLARE");

    // Another service, and a group no rule makes join by service, decide meanwhile.
    let search = tokio::time::timeout(
        PROMPT,
        app.accepted("alertmanager", &integration, &new_group("Search", "search")),
    )
    .await
    .expect("another service does not wait");
    assert_eq!(group_of(&search).1, "DECLARE");
    let unlabelled = am_notification(
        "{}:{alertname=\"NoService\"}",
        vec![am_alert(
            "NoService",
            "firing",
            json!({ "alertname": "NoService", "severity": "critical" }),
            T0,
            None,
        )],
    );
    let unlabelled = tokio::time::timeout(
        PROMPT,
        app.accepted("alertmanager", &integration, &unlabelled),
    )
    .await
    .expect("a group without a service does not wait");
    assert_eq!(group_of(&unlabelled).1, "DECLARE");

    // The same service waits, then joins the first group once it committed.
    let mut second = tokio::spawn({
        let (app, integration) = (app.clone(), integration.clone());
        async move {
            app.accepted(
                "alertmanager",
                &integration,
                &new_group("Second", "checkout"),
            )
            .await
        }
    });
    assert_waiting(&mut second, "a group of the held service").await;
    held.commit().await.expect("commit");
    let second = finish(second).await;
    let (second_id, decision) = group_of(&second);
    assert_eq!(decision, "JOIN", "{second}");
    let waits_for: Option<Uuid> =
        sqlx::query_scalar("SELECT join_group_id FROM alert_groups WHERE id = $1")
            .bind(second_id)
            .fetch_one(&app.pool)
            .await
            .expect("group");
    assert_eq!(waits_for, Some(first_id));
    assert_eq!(app.outbox("incident.declare").await.len(), 3);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_storm_guard_caps_declares_of_concurrent_new_groups_of_many_services(pool: PgPool) {
    const GROUPS: usize = 40;
    const MAX: i64 = 4;
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus", "max_incidents_per_minute": MAX }))
        .await;
    // Every group its own service: only the storm guard serialises them.
    let bodies = (0..GROUPS)
        .map(|i| {
            (
                integration.clone(),
                new_group(&format!("Storm{i}"), &format!("svc-{i}")),
            )
        })
        .collect();
    send_at_once(&app, bodies).await;

    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups").await,
        GROUPS as i64
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE decision = 'DECLARE'")
            .await,
        MAX,
        "capped"
    );
    assert_eq!(app.outbox("incident.declare").await.len(), MAX as usize);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alert_groups g JOIN alert_groups d ON d.id = g.join_group_id
             WHERE g.decision = 'JOIN' AND d.decision = 'DECLARE'
               AND g.explanation -> 'throttle' ->> 'max_per_minute' = '4'"
        )
        .await,
        GROUPS as i64 - MAX,
        "the others wait for a declared group's incident, throttled"
    );
}

/// The id of a new group of `service` that declared (committed).
async fn declared(app: &TestApp, integration: &Created, name: &str, service: &str) -> Uuid {
    let answer = app
        .accepted("alertmanager", integration, &new_group(name, service))
        .await;
    let (id, decision) = group_of(&answer);
    assert_eq!(decision, "DECLARE");
    id
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_confirmation_committing_while_a_later_group_decides_makes_it_join_the_incident(
    pool: PgPool,
) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let first = declared(&app, &integration, "First", "checkout").await;

    // Core's incident and its confirmation, not committed: the later group does not see
    // the incident yet, sees the declare pending and must not wait for it unseen.
    let mut confirming = app.pool.begin().await.expect("tx");
    let incident = incident_in(&mut confirming, app.workspace_id, first, "checkout", None).await;
    let changed = links::link(&mut confirming, app.workspace_id, incident, &[first], None)
        .await
        .expect("links");
    assert_eq!(changed, vec![first]);

    let mut later = tokio::spawn({
        let (app, integration) = (app.clone(), integration.clone());
        async move {
            app.accepted(
                "alertmanager",
                &integration,
                &new_group("Later", "checkout"),
            )
            .await
        }
    });
    assert_waiting(
        &mut later,
        "a group about to wait for the declare being confirmed",
    )
    .await;
    confirming.commit().await.expect("commit");
    let later = finish(later).await;
    let (later_id, decision) = group_of(&later);
    assert_eq!(decision, "JOIN", "{later}");
    let explanation: Value =
        sqlx::query_scalar("SELECT explanation FROM alert_groups WHERE id = $1")
            .bind(later_id)
            .fetch_one(&app.pool)
            .await
            .expect("explanation");
    assert_eq!(
        explanation["join"]["incident_id"],
        json!(incident),
        "it joins the incident itself: {explanation}"
    );
    assert_eq!(
        links_of(&app, later_id).await,
        vec![json!({ "incident_id": incident, "alert_group_id": later_id })],
        "linked once"
    );
    assert_eq!(app.outbox("incident.declare").await.len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_confirmation_of_a_declare_a_deciding_group_waits_for_links_it_after_it_commits(
    pool: PgPool,
) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let first = declared(&app, &integration, "First", "checkout").await;

    // A later group decides to wait for the first one's incident, not committed yet.
    let mut deciding = app.pool.begin().await.expect("tx");
    let later = ingest_in(
        &mut deciding,
        integration.id,
        &new_group("Later", "checkout"),
    )
    .await;
    let (later_id, decision) = group_of(&later);
    assert_eq!(decision, "JOIN");
    assert_eq!(
        later["alert_groups"][0]["join_alert_group_id"],
        json!(first)
    );

    // Core declared meanwhile; its confirmation waits for the deciding transaction.
    let incident = {
        let mut tx = app.pool.begin().await.expect("tx");
        let incident = incident_in(&mut tx, app.workspace_id, first, "checkout", None).await;
        tx.commit().await.expect("commit");
        incident
    };
    let mut confirming = tokio::spawn({
        let (pool, workspace_id) = (app.pool.clone(), app.workspace_id);
        async move {
            let mut tx = pool.begin().await.expect("tx");
            let changed = links::link(&mut tx, workspace_id, incident, &[first], None)
                .await
                .expect("links");
            tx.commit().await.expect("commit");
            changed
        }
    });
    assert_waiting(
        &mut confirming,
        "the confirmation of the declare a group waits for",
    )
    .await;
    deciding.commit().await.expect("commit");
    assert_eq!(finish(confirming).await, vec![first]);
    assert_eq!(
        links_of(&app, later_id).await,
        vec![json!({ "incident_id": incident, "alert_group_id": later_id })],
        "the waiting group is linked once, by the confirmation"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn confirmations_racing_later_groups_link_every_group_exactly_once(pool: PgPool) {
    const ROUNDS: usize = 12;
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;
    let mut rounds = Vec::new();
    for r in 0..ROUNDS {
        let service = format!("svc-{r}");
        let first = declared(&app, &integration, &format!("First{r}"), &service).await;
        rounds.push((service, first));
    }
    // Each round: core's incident and confirmation (one transaction) against a later
    // group of the same service, all at once.
    let mut tasks = JoinSet::new();
    for (r, (service, first)) in rounds.iter().cloned().enumerate() {
        let (pool, workspace_id) = (app.pool.clone(), app.workspace_id);
        let s = service.clone();
        tasks.spawn(async move {
            let mut tx = pool.begin().await.expect("tx");
            let incident =
                incident_in(&mut tx, workspace_id, first, &s, Some(1000 + r as i32)).await;
            links::link(&mut tx, workspace_id, incident, &[first], None)
                .await
                .expect("links");
            tx.commit().await.expect("commit");
            (r, Some(incident), None)
        });
        let (app, integration) = (app.clone(), integration.clone());
        tasks.spawn(async move {
            let answer = app
                .accepted(
                    "alertmanager",
                    &integration,
                    &new_group(&format!("Later{r}"), &service),
                )
                .await;
            (r, None, Some(group_of(&answer)))
        });
    }
    let mut incidents = vec![None; ROUNDS];
    let mut later = vec![None; ROUNDS];
    while let Some(done) = tasks.join_next().await {
        let (r, incident, group) = done.expect("task");
        if let Some(incident) = incident {
            incidents[r] = Some(incident);
        }
        if let Some(group) = group {
            later[r] = Some(group);
        }
    }
    for r in 0..ROUNDS {
        let (incident, (group, decision)) = (
            incidents[r].expect("incident"),
            later[r].clone().expect("group"),
        );
        assert_eq!(decision, "JOIN", "round {r}");
        assert_eq!(
            links_of(&app, group).await,
            vec![json!({ "incident_id": incident, "alert_group_id": group })],
            "round {r}: linked to the incident exactly once"
        );
    }
    assert_eq!(app.outbox("incident.declare").await.len(), ROUNDS);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_group_resolving_while_its_declare_is_confirmed_is_noted_once_either_way(pool: PgPool) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let integration = app
        .integration(json!({ "kind": "alertmanager", "name": "prometheus" }))
        .await;

    // The confirmation first: the resolution waits for it, then sends the note.
    let first = declared(&app, &integration, "First", "checkout").await;
    let mut confirming = app.pool.begin().await.expect("tx");
    let incident = incident_in(&mut confirming, app.workspace_id, first, "checkout", None).await;
    links::link(&mut confirming, app.workspace_id, incident, &[first], None)
        .await
        .expect("links");
    let mut resolving = tokio::spawn({
        let (app, integration) = (app.clone(), integration.clone());
        async move {
            app.accepted("alertmanager", &integration, &resolved("First", "checkout"))
                .await
        }
    });
    assert_waiting(&mut resolving, "the resolution of a group being confirmed").await;
    confirming.commit().await.expect("commit");
    let answer = finish(resolving).await;
    assert_eq!(answer["alert_groups"][0]["resolved"], true, "{answer}");
    assert_eq!(
        notes_for(&app, incident).await,
        1,
        "noted by the resolution"
    );

    // The resolution first: the confirmation waits for it, then sends the note.
    let second = declared(&app, &integration, "Second", "search").await;
    let mut resolving = app.pool.begin().await.expect("tx");
    let answer = ingest_in(
        &mut resolving,
        integration.id,
        &resolved("Second", "search"),
    )
    .await;
    assert_eq!(answer["alert_groups"][0]["resolved"], true, "{answer}");
    let incident = {
        let mut tx = app.pool.begin().await.expect("tx");
        let incident = incident_in(&mut tx, app.workspace_id, second, "search", None).await;
        tx.commit().await.expect("commit");
        incident
    };
    let mut confirming = tokio::spawn({
        let (pool, workspace_id) = (app.pool.clone(), app.workspace_id);
        async move {
            let mut tx = pool.begin().await.expect("tx");
            links::link(&mut tx, workspace_id, incident, &[second], None)
                .await
                .expect("links");
            tx.commit().await.expect("commit");
        }
    });
    assert_waiting(&mut confirming, "the confirmation of a group resolving").await;
    resolving.commit().await.expect("commit");
    finish(confirming).await;
    assert_eq!(
        notes_for(&app, incident).await,
        1,
        "noted by the confirmation"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alert_groups WHERE status = 'RESOLVED' AND incident_id IS NOT NULL")
            .await,
        2
    );
    // A repeated confirmation changes nothing.
    let mut tx = app.pool.begin().await.expect("tx");
    let changed = links::link(&mut tx, app.workspace_id, incident, &[second], None)
        .await
        .expect("links");
    tx.commit().await.expect("commit");
    assert!(changed.is_empty());
    assert_eq!(notes_for(&app, incident).await, 1);
}
