//! The drill API over HTTP: scenarios uploaded as TOML or JSON, refused with the line and
//! field, read, replaced and deleted (their runs kept); runs started, listed, shown and
//! cancelled; viewers read and cannot write; another workspace's scenario or run is 404.

use incident_schema::AccessRole;
use incident_sla_watchdog::drill::runner::{self, Played};
use incident_sla_watchdog::drill::store;
use incident_testkit::app::Api;
use incident_testkit::fixtures;
use incident_testkit::http::{Reply, content_type};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

const SCENARIO: &str = r#"
title = "Checkout latency"
severity = "SEV3"
timeout = "2h"

[[steps]]
at = "0s"
hint = "first"

[[steps]]
at = "1h"
hint = "much later"

[expect]
acknowledged_within = "5m"
"#;

/// The watchdog's router on a free port, a workspace with a token per role and another
/// workspace with its admin's token.
struct DrillApp {
    api: Api,
    workspace_id: Uuid,
    responder: String,
    viewer: String,
    admin: String,
    other: String,
}

impl DrillApp {
    async fn start(pool: PgPool) -> Self {
        let ws = workspace(&pool, "acme").await;
        let other = workspace(&pool, "other").await;
        let responder = fixtures::token(&pool, ws.id, AccessRole::Responder, None).await;
        let viewer = fixtures::token(&pool, ws.id, AccessRole::Viewer, None).await;
        let admin = fixtures::token(&pool, ws.id, AccessRole::Admin, None).await;
        let other = fixtures::token(&pool, other.id, AccessRole::Admin, None).await;
        let api = Api::start(pool, "sla-watchdog", false, |pool, bus| {
            incident_sla_watchdog::router(incident_sla_watchdog::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
            })
        })
        .await;
        Self {
            api,
            workspace_id: ws.id,
            responder,
            viewer,
            admin,
            other,
        }
    }

    fn pool(&self) -> &PgPool {
        &self.api.pool
    }

    /// Sends `body` as `media` (none: no body).
    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut request = self
            .api
            .client
            .request(method, format!("{}{path}", self.api.base))
            .bearer_auth(token);
        if let Some((media, body)) = body {
            request = request.header("content-type", media).body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = content_type(&response);
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            text,
        }
    }

    async fn json(&self, token: &str, method: Method, path: &str, body: Value) -> Reply {
        self.send(
            token,
            method,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(token, Method::GET, path, None).await
    }

    /// Uploads `SCENARIO` as a TOML file named `name`; returns it.
    async fn upload(&self, name: &str) -> Value {
        let reply = self
            .send(
                &self.responder,
                Method::POST,
                &format!("/api/v1/drills/scenarios?name={name}"),
                Some(("application/toml", SCENARIO.to_owned())),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    async fn start_run(&self, scenario_id: &Value) -> Value {
        let reply = self
            .json(
                &self.responder,
                Method::POST,
                "/api/v1/drills/runs",
                json!({ "scenario_id": scenario_id }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn scenarios_are_uploaded_as_toml_or_json_read_replaced_and_deleted(pool: PgPool) {
    let app = DrillApp::start(pool).await;
    let toml = app.upload("latency").await;
    assert_eq!(toml["name"], "latency");
    assert_eq!(toml["source"], SCENARIO);
    assert_eq!(toml["parsed"]["title"], "Checkout latency");
    assert_eq!(toml["schedule"], Value::Null);

    // As text/plain, named after its title by default.
    let plain = app
        .send(
            &app.admin,
            Method::POST,
            "/api/v1/drills/scenarios",
            Some(("text/plain; charset=utf-8", SCENARIO.to_owned())),
        )
        .await;
    assert_eq!(plain.status, 201, "{}", plain.text);
    assert_eq!(plain.json()["name"], "Checkout latency");

    // As JSON, with a schedule.
    let body = json!({ "source": SCENARIO, "name": "weekly", "schedule": "0 0 9 * * 1" });
    let weekly = app
        .json(
            &app.responder,
            Method::POST,
            "/api/v1/drills/scenarios",
            body.clone(),
        )
        .await;
    assert_eq!(weekly.status, 201, "{}", weekly.text);
    let weekly = weekly.json();
    assert_eq!(weekly["schedule"], "0 0 9 * * 1");

    // The name is unique in the workspace.
    app.json(
        &app.responder,
        Method::POST,
        "/api/v1/drills/scenarios",
        body,
    )
    .await
    .assert_problem(409, "conflict");
    // Neither TOML nor JSON.
    app.send(
        &app.responder,
        Method::POST,
        "/api/v1/drills/scenarios",
        Some(("application/xml", "<scenario/>".into())),
    )
    .await
    .assert_problem(415, "unsupported-media-type");

    let list = app.get(&app.viewer, "/api/v1/drills/scenarios").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let names: Vec<_> = list
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["Checkout latency", "latency", "weekly"]);

    let path = format!(
        "/api/v1/drills/scenarios/{}",
        weekly["id"].as_str().expect("id")
    );
    let read = app.get(&app.viewer, &path).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["id"], weekly["id"]);

    // Replaced: a new file, the schedule dropped, the name kept.
    let edited = SCENARIO.replace("much later", "an hour on");
    let replaced = app
        .send(
            &app.responder,
            Method::PUT,
            &path,
            Some(("application/toml", edited.clone())),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let replaced = replaced.json();
    assert_eq!(replaced["source"], edited.as_str());
    assert_eq!(replaced["schedule"], Value::Null);
    assert_eq!(replaced["name"], "weekly");
    assert_eq!(
        replaced["parsed"]["steps"][1]["action"]["text"],
        "an hour on"
    );

    let deleted = app.send(&app.responder, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    app.get(&app.viewer, &path)
        .await
        .assert_problem(404, "not-found");
    app.send(&app.responder, Method::DELETE, &path, None)
        .await
        .assert_problem(404, "not-found");
    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_scenarios").await,
        2
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_malformed_scenario_answers_422_naming_its_line_and_field_and_nothing_is_stored(
    pool: PgPool,
) {
    let app = DrillApp::start(pool).await;
    let bad = SCENARIO.replace("at = \"1h\"", "at = \"soon\"");
    let refused = app
        .send(
            &app.responder,
            Method::POST,
            "/api/v1/drills/scenarios?name=latency",
            Some(("text/plain", bad.clone())),
        )
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["field"], "steps[1].at", "{refused}");
    assert_eq!(refused["line"], 11, "{refused}");

    // The same file as JSON, and without a name (so its title cannot be read either).
    for body in [
        json!({ "source": bad, "name": "latency" }),
        json!({ "source": bad }),
    ] {
        let refused = app
            .json(
                &app.responder,
                Method::POST,
                "/api/v1/drills/scenarios",
                body,
            )
            .await
            .assert_problem(422, "validation");
        assert_eq!(
            (&refused["field"], &refused["line"]),
            (&json!("steps[1].at"), &json!(11)),
            "{refused}"
        );
    }
    // A TOML syntax error names its line too.
    let refused = app
        .send(
            &app.responder,
            Method::POST,
            "/api/v1/drills/scenarios?name=latency",
            Some(("application/toml", SCENARIO.replace("[expect]", "[expect"))),
        )
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["line"], 14, "{refused}");
    // A schedule that is not a 6-field cron expression.
    let refused = app
        .json(
            &app.responder,
            Method::POST,
            "/api/v1/drills/scenarios",
            json!({ "source": SCENARIO, "schedule": "daily" }),
        )
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["field"], "schedule", "{refused}");
    // A body that is not the expected JSON names its field.
    let refused = app
        .json(
            &app.responder,
            Method::POST,
            "/api/v1/drills/scenarios",
            json!({ "source": 7 }),
        )
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["field"], "source", "{refused}");
    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_scenarios").await,
        0,
        "nothing stored"
    );

    // A refused replacement changes nothing.
    let stored = app.upload("latency").await;
    let path = format!(
        "/api/v1/drills/scenarios/{}",
        stored["id"].as_str().expect("id")
    );
    let refused = app
        .send(
            &app.responder,
            Method::PUT,
            &path,
            Some(("application/toml", bad)),
        )
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["line"], 11, "{refused}");
    assert_eq!(app.get(&app.viewer, &path).await.json()["source"], SCENARIO);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_scenarios_and_runs_answer_404(pool: PgPool) {
    let app = DrillApp::start(pool).await;
    let scenario = app.upload("latency").await;
    let run = app.start_run(&scenario["id"]).await;
    let scenario_path = format!(
        "/api/v1/drills/scenarios/{}",
        scenario["id"].as_str().expect("id")
    );
    let run_path = format!("/api/v1/drills/runs/{}", run["id"].as_str().expect("id"));

    app.get(&app.other, &scenario_path)
        .await
        .assert_problem(404, "not-found");
    app.send(
        &app.other,
        Method::PUT,
        &scenario_path,
        Some(("application/toml", SCENARIO.into())),
    )
    .await
    .assert_problem(404, "not-found");
    // Even with a body that would be refused: the scenario is not there for them.
    app.send(
        &app.other,
        Method::PUT,
        &scenario_path,
        Some(("application/toml", "not toml".into())),
    )
    .await
    .assert_problem(404, "not-found");
    app.send(&app.other, Method::DELETE, &scenario_path, None)
        .await
        .assert_problem(404, "not-found");
    app.json(
        &app.other,
        Method::POST,
        "/api/v1/drills/runs",
        json!({ "scenario_id": scenario["id"] }),
    )
    .await
    .assert_problem(404, "not-found");
    app.get(&app.other, &run_path)
        .await
        .assert_problem(404, "not-found");
    app.send(
        &app.other,
        Method::POST,
        &format!("{run_path}/cancel"),
        None,
    )
    .await
    .assert_problem(404, "not-found");
    // A malformed id is as absent as another workspace's.
    app.get(&app.viewer, "/api/v1/drills/runs/not-a-run")
        .await
        .assert_problem(404, "not-found");

    assert_eq!(
        app.get(&app.other, "/api/v1/drills/scenarios").await.json(),
        json!([])
    );
    assert_eq!(
        app.get(&app.other, "/api/v1/drills/runs").await.json(),
        json!([])
    );
    let mut conn = app.pool().acquire().await.expect("connection");
    let kept = store::run(
        &mut conn,
        app.workspace_id,
        run["id"].as_str().expect("id").parse().expect("uuid"),
    )
    .await
    .expect("read")
    .expect("kept");
    assert_eq!(
        kept.state, "running",
        "the other workspace's cancel did nothing"
    );
    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_scenarios").await,
        1
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_viewer_reads_drills_but_is_refused_every_change(pool: PgPool) {
    let app = DrillApp::start(pool).await;
    let scenario = app.upload("latency").await;
    let run = app.start_run(&scenario["id"]).await;
    let scenario_path = format!(
        "/api/v1/drills/scenarios/{}",
        scenario["id"].as_str().expect("id")
    );
    let run_path = format!("/api/v1/drills/runs/{}", run["id"].as_str().expect("id"));
    for path in [
        "/api/v1/drills/scenarios",
        scenario_path.as_str(),
        "/api/v1/drills/runs",
        run_path.as_str(),
    ] {
        let read = app.get(&app.viewer, path).await;
        assert_eq!(read.status, 200, "{path}: {}", read.text);
    }
    // Refused before the body is read: a bad file answers 403 too, not 422.
    for body in [SCENARIO, "not toml"] {
        app.send(
            &app.viewer,
            Method::POST,
            "/api/v1/drills/scenarios?name=mine",
            Some(("application/toml", body.into())),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    app.send(
        &app.viewer,
        Method::PUT,
        &scenario_path,
        Some(("application/toml", SCENARIO.into())),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send(&app.viewer, Method::DELETE, &scenario_path, None)
        .await
        .assert_problem(403, "forbidden");
    app.json(
        &app.viewer,
        Method::POST,
        "/api/v1/drills/runs",
        json!({ "scenario_id": scenario["id"] }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send(
        &app.viewer,
        Method::POST,
        &format!("{run_path}/cancel"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    // No token at all.
    let anonymous = app
        .api
        .client
        .get(format!("{}/api/v1/drills/runs", app.api.base))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);

    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_scenarios").await,
        1
    );
    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_runs").await,
        1
    );
    assert_eq!(
        count(
            app.pool(),
            "SELECT count(*) FROM drill_runs WHERE state = 'running'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_run_is_started_listed_shown_and_cancelled_and_then_plays_no_further_step(pool: PgPool) {
    let app = DrillApp::start(pool).await;
    let first = app.upload("latency").await;
    let second = app.upload("other").await;
    let run = app.start_run(&first["id"]).await;
    assert_eq!(run["state"], "running");
    assert_eq!(run["scenario_id"], first["id"]);
    assert_eq!(run["scenario_name"], "latency");
    assert_eq!(run["scenario"]["source"], SCENARIO);
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["state"], "pending");
    assert_eq!(steps[0]["kind"], "hint");
    let due = |s: &Value| {
        s["due_at"]
            .as_str()
            .expect("due_at")
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("a time")
    };
    assert_eq!((due(&steps[1]) - due(&steps[0])).num_seconds(), 3600);
    let later = app.start_run(&first["id"]).await;
    let third = app.start_run(&second["id"]).await;
    // A scenario id that is no scenario.
    app.json(
        &app.responder,
        Method::POST,
        "/api/v1/drills/runs",
        json!({ "scenario_id": Uuid::now_v7() }),
    )
    .await
    .assert_problem(404, "not-found");
    app.json(
        &app.responder,
        Method::POST,
        "/api/v1/drills/runs",
        json!({ "scenario": first["id"] }),
    )
    .await
    .assert_problem(422, "validation");

    let ids = |reply: Reply| -> Vec<Value> {
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
            .json()
            .as_array()
            .expect("a list")
            .iter()
            .map(|r| r["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(app.get(&app.viewer, "/api/v1/drills/runs").await),
        [third["id"].clone(), later["id"].clone(), run["id"].clone()],
        "newest first"
    );
    assert_eq!(
        ids(app
            .get(
                &app.viewer,
                &format!(
                    "/api/v1/drills/runs?scenario_id={}",
                    first["id"].as_str().expect("id")
                )
            )
            .await),
        [later["id"].clone(), run["id"].clone()]
    );
    assert_eq!(
        ids(app.get(&app.viewer, "/api/v1/drills/runs?limit=1").await),
        [third["id"].clone()]
    );
    let refused = app
        .get(&app.viewer, "/api/v1/drills/runs?scenario_id=latency")
        .await
        .assert_problem(422, "validation");
    assert_eq!(refused["field"], "scenario_id");

    // The first step is played; the run shows when.
    let run_id: Uuid = run["id"].as_str().expect("id").parse().expect("uuid");
    let incident = drill_incident(app.pool(), app.workspace_id).await;
    let mut conn = app.pool().acquire().await.expect("connection");
    store::set_incident(&mut conn, run_id, incident.id)
        .await
        .expect("incident");
    assert_eq!(
        runner::play_next(&mut conn, run_id).await.expect("play"),
        Played::Step(0)
    );
    let run_path = format!("/api/v1/drills/runs/{run_id}");
    let shown = app.get(&app.viewer, &run_path).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let shown = shown.json();
    assert_eq!(shown["incident_id"], json!(incident.id));
    assert_eq!(shown["steps"][0]["state"], "played");
    assert!(shown["steps"][0]["done_at"].is_string(), "{shown}");
    assert_eq!(shown["steps"][1]["state"], "pending");
    assert_eq!(shown["steps"][1]["done_at"], Value::Null);

    let cancelled = app
        .send(
            &app.responder,
            Method::POST,
            &format!("{run_path}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let cancelled = cancelled.json();
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["ended_at"].is_string(), "{cancelled}");
    app.send(
        &app.admin,
        Method::POST,
        &format!("{run_path}/cancel"),
        None,
    )
    .await
    .assert_problem(409, "conflict");

    // The second step comes due: a cancelled run plays it no more.
    sqlx::query(
        "UPDATE drill_run_steps SET due_at = now() - interval '1 second' WHERE run_id = $1",
    )
    .bind(run_id)
    .execute(app.pool())
    .await
    .expect("due");
    assert_eq!(
        runner::play_next(&mut conn, run_id).await.expect("play"),
        Played::Nothing
    );
    let round = runner::play_due(&mut conn).await.expect("round");
    assert_eq!(round.played, 0, "{round:?}");
    assert_eq!(
        outbox_events(app.pool(), "incident.add_update").await.len(),
        1
    );
    let shown = app.get(&app.viewer, &run_path).await.json();
    assert_eq!(shown["state"], "cancelled");
    assert_eq!(shown["steps"][1]["state"], "pending");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn deleting_a_scenario_keeps_its_runs_and_their_history(pool: PgPool) {
    let app = DrillApp::start(pool).await;
    let scenario = app.upload("latency").await;
    let run = app.start_run(&scenario["id"]).await;
    let scenario_path = format!(
        "/api/v1/drills/scenarios/{}",
        scenario["id"].as_str().expect("id")
    );
    let deleted = app
        .send(&app.responder, Method::DELETE, &scenario_path, None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    let shown = app
        .get(
            &app.viewer,
            &format!("/api/v1/drills/runs/{}", run["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let shown = shown.json();
    assert_eq!(shown["scenario_id"], Value::Null);
    assert_eq!(shown["scenario_name"], "latency");
    assert_eq!(shown["scenario"]["source"], SCENARIO);
    assert_eq!(shown["steps"].as_array().expect("steps").len(), 2);
    let listed = app.get(&app.viewer, "/api/v1/drills/runs").await.json();
    assert_eq!(listed.as_array().expect("list").len(), 1);
    assert_eq!(
        count(app.pool(), "SELECT count(*) FROM drill_run_steps").await,
        2
    );
    // The name is free again; the new scenario's runs are its own.
    let again = app.upload("latency").await;
    assert_ne!(again["id"], scenario["id"]);
    let of_new = app
        .get(
            &app.viewer,
            &format!(
                "/api/v1/drills/runs?scenario_id={}",
                again["id"].as_str().expect("id")
            ),
        )
        .await
        .json();
    assert_eq!(of_new, json!([]));
}
