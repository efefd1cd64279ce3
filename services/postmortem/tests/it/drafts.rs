//! Drafts: exactly one per incident however it is asked for (events delivered twice, two
//! replicas, concurrent requests), the frozen timeline and computed impact matching the
//! incident, regeneration, and the workspace's draft trigger.

use futures_util::future::join_all;
use incident_bus::{Envelope, Handler, HandlerError, OutgoingMessage};
use incident_postmortem::triggers::Drafts;
use incident_schema::Visibility;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp, fixture};

const COUNT_DRAFTS: &str = "SELECT count(*) FROM postmortems WHERE incident_id = $1";

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn resolving_drafts_exactly_one_postmortem_despite_redeliveries_and_two_replicas(
    pool: PgPool,
) {
    let app = TestApp::spawn_with_broker(pool).await;
    // Core relays its events; two replicas of the postmortem service consume them.
    let _core = incident_core::start(app.config(), app.pool.clone(), app.shutdown.clone())
        .await
        .expect("core starts");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            incident_postmortem::start(app.config(), app.pool.clone(), app.shutdown.clone())
                .await
                .expect("postmortem starts"),
        );
    }
    app.wait_until_settled("postmortem.events").await;

    let id = app.resolved_incident("Payments are failing").await;
    let incident_id: Uuid = id.parse().expect("uuid");
    app.wait_for(COUNT_DRAFTS, incident_id, 1).await;

    // The same event delivered twice more, and an equivalent one under a new id (a second
    // resolve, say): still one draft.
    let resolved: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE message_type = 'incident.status_changed'
           AND payload->'data'->'incident'->>'id' = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("core's event");
    let event: Envelope = serde_json::from_value(resolved).expect("envelope");
    let mut again = event.clone();
    again.id = Uuid::now_v7();
    app.bus
        .wait_connected(&app.shutdown)
        .await
        .expect("the test's bus connects");
    for message in [event.clone(), event.clone(), again.clone()] {
        app.bus
            .publish(&OutgoingMessage::event(message))
            .await
            .expect("published");
    }
    app.wait_for(
        "SELECT count(*) FROM inbox WHERE consumer = 'postmortem.events' AND message_id = $1::text",
        again.id,
        1,
    )
    .await;
    app.wait_until_settled("postmortem.events").await;

    let drafts: i64 = sqlx::query_scalar(COUNT_DRAFTS)
        .bind(incident_id)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(drafts, 1);
    let drafted = app.events("postmortem.drafted").await;
    assert_eq!(drafted.len(), 1, "{drafted:?}");
    assert_eq!(drafted[0]["data"]["trigger"], "incident.status_changed");
    assert_eq!(drafted[0]["causation_id"], json!(event.id));
    assert_eq!(drafted[0]["correlation_id"], json!(event.correlation_id));
    assert_eq!(drafted[0]["data"]["incident"]["id"], json!(id));
    assert_eq!(drafted[0]["data"]["incident"]["reference"], "INC-1");
    assert_eq!(drafted[0]["data"]["regenerated"], false);
    drop(replicas);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_draft_freezes_the_timeline_and_computes_the_impact_from_the_incident(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    let pm = app.draft(&f.incident_id.to_string()).await;

    // The timeline is the incident's, entry for entry, with authors' names.
    let (_, timeline) = app
        .get(
            ADMIN,
            &format!("/api/v1/incidents/{}/timeline", f.incident_id),
        )
        .await;
    let timeline = timeline.as_array().expect("timeline").clone();
    let frozen = pm["timeline"].as_array().expect("frozen").clone();
    assert_eq!(frozen.len(), 7);
    assert_eq!(frozen.len(), timeline.len());
    for (copy, entry) in frozen.iter().zip(&timeline) {
        assert_eq!(copy["entry_id"], entry["id"]);
        assert_eq!(copy["event"], entry["message"]);
        assert_eq!(copy["kind"], entry["kind"]);
        assert_eq!(copy["is_public"], entry["is_public"]);
        let (a, b) = (
            copy["at"].as_str().expect("at"),
            entry["occurred_at"].as_str().expect("occurred_at"),
        );
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(a).expect("time"),
            chrono::DateTime::parse_from_rfc3339(b).expect("time")
        );
    }
    assert_eq!(frozen[0]["author"], "Dana Responder");
    assert_eq!(frozen[0]["author_id"], json!(f.author_id));
    assert_eq!(
        frozen[1]["author"],
        Value::Null,
        "system entries have no author"
    );

    // Durations: detected 10:00, acknowledged 10:05, mitigated 10:20, resolved 10:42.
    let impact = &pm["impact"];
    let stages: Vec<(String, i64, Option<i64>)> = impact["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().expect("stage").to_owned(),
                s["since_detection_secs"].as_i64().expect("secs"),
                s["since_previous_secs"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("DETECTED".into(), 0, None),
            ("ACKNOWLEDGED".into(), 300, Some(300)),
            ("MITIGATED".into(), 1200, Some(900)),
            ("RESOLVED".into(), 2520, Some(1320)),
        ]
    );
    assert_eq!(impact["time_to_acknowledge_secs"], 300);
    assert_eq!(impact["time_to_mitigate_secs"], 1200);
    assert_eq!(impact["time_to_resolve_secs"], 2520);
    assert_eq!(impact["sla"]["severity"], "SEV2");
    assert_eq!(impact["sla"]["acknowledge"]["status"], "MET");
    assert_eq!(impact["sla"]["acknowledge"]["target_minutes"], 30);
    assert_eq!(impact["sla"]["resolve"]["status"], "MET");
    assert_eq!(impact["sla"]["resolve"]["took_secs"], 2520);
    assert_eq!(impact["sla"]["missed_updates"], 1);
    assert_eq!(
        impact["services"],
        json!([{ "name": "payments", "impact": "PARTIAL_OUTAGE" }, { "name": "web", "impact": "DEGRADED" }])
    );
    assert_eq!(impact["alert_groups"][0]["title"], "Checkout 5xx | card");
    assert_eq!(impact["alert_groups"][0]["alerts"], 3);
    assert_eq!(impact["alerts_total"], 3);

    // The template's text says the same, and how each section was made.
    let summary = pm["summary"].as_str().expect("summary");
    assert!(summary.contains("resolved 42m later"), "{summary}");
    assert!(
        summary.contains("payments (partial outage), web (degraded)"),
        "{summary}"
    );
    assert!(
        pm["why_it_happened"]
            .as_str()
            .expect("why")
            .contains("expired TLS certificate")
    );
    assert!(
        pm["what_went_poorly"]
            .as_str()
            .expect("poorly")
            .contains("1 stakeholder update(s) were overdue")
    );
    assert_eq!(pm["generation"]["summary"], "template");
    assert_eq!(pm["generation"]["what_happened"], "template");
    assert_eq!(pm["generation"]["llm"]["outcome"], "not_configured");
    assert_eq!(pm["status"], "DRAFT");
    assert_eq!(pm["incident_reference"], "INC-1");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_late_acknowledgement_is_reported_as_a_breached_target(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    // SEV1: acknowledge within 15 minutes; it took 20.
    sqlx::query(
        "UPDATE incidents SET severity = 'SEV1', acknowledged_at = detected_at + interval '20 minutes',
                sla_deadline = detected_at + interval '15 minutes',
                sla_resolve_deadline = detected_at + interval '4 hours'
         WHERE id = $1",
    )
    .bind(f.incident_id)
    .execute(&app.pool)
    .await
    .expect("update");
    let pm = app.draft(&f.incident_id.to_string()).await;
    let sla = &pm["impact"]["sla"];
    assert_eq!(sla["acknowledge"]["status"], "BREACHED");
    assert_eq!(sla["acknowledge"]["took_secs"], 1200);
    assert_eq!(sla["acknowledge"]["target_minutes"], 15);
    assert_eq!(sla["resolve"]["status"], "MET");
    let poorly = pm["what_went_poorly"].as_str().expect("poorly");
    assert!(
        poorly.contains("The acknowledge target was breached (20m against 15m)."),
        "{poorly}"
    );
    let summary = pm["summary"].as_str().expect("summary");
    assert!(
        summary
            .contains("SLA: The acknowledge target was breached and the resolve target was met."),
        "{summary}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn concurrent_requests_draft_once_and_later_requests_return_the_same_postmortem(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let id = app.resolved_incident("Search is slow").await;
    let path = format!("/api/v1/incidents/{id}/postmortem");
    let answers = join_all((0..6).map(|_| app.post(ADMIN, &path, json!({})))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, b)| (*s == StatusCode::CREATED || *s == StatusCode::OK)
                && b["id"] == answers[0].1["id"]),
        "{answers:?}"
    );
    // By reference, with no body at all, it is still the same one.
    let response = app
        .client
        .post(format!("{}/api/v1/incidents/INC-1/postmortem", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let again: Value = response.json().await.expect("json");
    assert_eq!(again["id"], answers[0].1["id"]);
    let (code, read) = app.get(ADMIN, &path).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(read["id"], answers[0].1["id"]);
    assert_eq!(app.events("postmortem.drafted").await.len(), 1);
    assert_eq!(
        app.events("postmortem.drafted").await[0]["data"]["trigger"],
        "request"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn regenerating_rewrites_an_unedited_draft_and_is_refused_once_a_person_edited_it(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let id = app.resolved_incident("Queue backlog").await;
    let first = app.draft(&id).await;
    let entries = first["timeline"].as_array().expect("timeline").len();
    let (code, _) = app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{id}/timeline"),
            json!({ "kind": "NOTE", "message": "Backlog drained at 11:02" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let path = format!("/api/v1/incidents/{id}/postmortem");

    let (code, plain) = app.post(ADMIN, &path, json!({})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        plain["timeline"].as_array().expect("timeline").len(),
        entries
    );

    let (code, regenerated) = app.post(ADMIN, &path, json!({ "regenerate": true })).await;
    assert_eq!(code, StatusCode::OK, "{regenerated}");
    assert_eq!(regenerated["id"], first["id"]);
    assert_eq!(
        regenerated["timeline"].as_array().expect("timeline").len(),
        entries + 1
    );
    let drafted = app.events("postmortem.drafted").await;
    assert_eq!(drafted.len(), 2);
    assert_eq!(drafted[1]["data"]["regenerated"], true);

    let pm = first["id"].as_str().expect("id");
    let (code, _) = app
        .patch(
            ADMIN,
            &format!("/api/v1/postmortems/{pm}"),
            json!({ "summary": "Written by a person." }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, problem) = app.post(ADMIN, &path, json!({ "regenerate": true })).await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/postmortem-edited"
    );
    let (_, kept) = app.get(ADMIN, &format!("/api/v1/postmortems/{pm}")).await;
    assert_eq!(kept["summary"], "Written by a person.");
    assert_eq!(app.events("postmortem.drafted").await.len(), 2);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_open_or_unknown_incident_is_not_drafted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let open = app
        .declare(
            ADMIN,
            json!({ "title": "Still burning", "severity": "SEV1" }),
        )
        .await;
    let (code, problem) = app
        .post(
            ADMIN,
            &format!(
                "/api/v1/incidents/{}/postmortem",
                open["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "https://incident.dev/problems/incident-open"
    );
    let (code, _) = app
        .post(ADMIN, "/api/v1/incidents/INC-99/postmortem", json!({}))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, problem) = app
        .post(
            ADMIN,
            &format!(
                "/api/v1/incidents/{}/postmortem",
                open["id"].as_str().expect("id")
            ),
            json!({ "regenerate": "yes" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "regenerate");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM postmortems")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

async fn deliver(pool: &PgPool, drafts: &Drafts, message: &Envelope) -> Result<(), HandlerError> {
    let mut tx = pool.begin().await.expect("tx");
    drafts.handle(&mut tx, message).await?;
    tx.commit().await.expect("commit");
    Ok(())
}

async fn drafted(pool: &PgPool, incident_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM postmortems WHERE incident_id = $1)")
        .bind(incident_id)
        .fetch_one(pool)
        .await
        .expect("exists")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_workspace_setting_decides_which_status_change_drafts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let drafts = Drafts::new(None);
    // (setting, the incident's status now, the event's `to`, drafted?)
    let cases = [
        ("ON_RESOLVE", "RESOLVED", "RESOLVED", true),
        ("ON_RESOLVE", "CLOSED", "CLOSED", true),
        ("ON_RESOLVE", "MONITORING", "MONITORING", false),
        ("ON_RESOLVE", "INVESTIGATING", "RESOLVED", false), // reopened since
        ("ON_CLOSE", "RESOLVED", "RESOLVED", false),
        ("ON_CLOSE", "CLOSED", "CLOSED", true),
        ("ON_REQUEST", "RESOLVED", "RESOLVED", false),
        ("ON_REQUEST", "CLOSED", "CLOSED", false),
    ];
    for (setting, now, to, expected) in cases {
        let (code, body) = app
            .call(
                ADMIN,
                reqwest::Method::PUT,
                "/api/v1/postmortem/settings",
                Some(json!({ "draft_trigger": setting })),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
        sqlx::query(
            "UPDATE incidents SET status = $2::incident_status,
                    closed_at = CASE WHEN $2 = 'CLOSED' THEN resolved_at END
             WHERE id = $1",
        )
        .bind(f.incident_id)
        .bind(now)
        .execute(&app.pool)
        .await
        .expect("status");
        let event = Envelope::new(
            "incident.status_changed",
            app.workspace_id,
            json!({ "incident": { "id": f.incident_id }, "from": "MONITORING", "to": to }),
        )
        .expect("envelope");
        deliver(&app.pool, &drafts, &event).await.expect("applied");
        assert_eq!(
            drafted(&app.pool, f.incident_id).await,
            expected,
            "{setting}, now {now}, event to {to}"
        );
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_generate_command_drafts_and_dead_letters_what_it_cannot_apply(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let drafts = Drafts::new(None);
    let command = |data: Value| {
        Envelope::new("postmortem.generate", app.workspace_id, data).expect("envelope")
    };
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    let generate = command(json!({ "incident_id": f.incident_id }));
    deliver(&app.pool, &drafts, &generate)
        .await
        .expect("applied");
    assert!(drafted(&app.pool, f.incident_id).await);
    let events = app.events("postmortem.drafted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["trigger"], "postmortem.generate");
    assert_eq!(events[0]["causation_id"], json!(generate.id));

    // An edited draft is not regenerated: acknowledged without effect.
    sqlx::query("UPDATE postmortems SET edited_by_human = true WHERE incident_id = $1")
        .bind(f.incident_id)
        .execute(&app.pool)
        .await
        .expect("edit");
    deliver(
        &app.pool,
        &drafts,
        &command(json!({ "incident_id": f.incident_id, "regenerate": true })),
    )
    .await
    .expect("acknowledged");
    assert_eq!(app.events("postmortem.drafted").await.len(), 1);

    // Contract violations go to the dead-letter queue.
    let open = app
        .declare(ADMIN, json!({ "title": "Open", "severity": "SEV3" }))
        .await;
    for bad in [
        command(json!({ "incident_id": Uuid::new_v4() })),
        command(json!({ "incident_id": open["id"] })),
        command(json!({ "incident": "missing" })),
        command(json!({})).with_type("postmortem.unknown"),
    ] {
        let result = deliver(&app.pool, &drafts, &bad).await;
        assert!(
            matches!(result, Err(HandlerError::Permanent(_))),
            "{}: {result:?}",
            bad.data
        );
    }
}

trait WithType {
    fn with_type(self, message_type: &str) -> Self;
}

impl WithType for Envelope {
    fn with_type(mut self, message_type: &str) -> Self {
        self.message_type = message_type.to_owned();
        self
    }
}
