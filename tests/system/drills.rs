//! A drill end to end, every service of the stack in process against the fake Slack:
//! the scenario is uploaded, a run started; its synthetic alert goes through ingestion's
//! AMQP front and declares the drill incident, whose war room opens; the hint is posted
//! to the channel on time; the test acknowledges and resolves on cue; the run ends scored
//! (one expectation met, one missed on purpose) and its report is posted once.

use std::time::Duration;

use incident_system_tests::{Client, TestStack};
use incident_testkit::eventually_some;
use incident_warroom::testing::fake_slack::{self, FakeSlack};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

const TOKEN: &str = "drills-bootstrap-token";

const SCENARIO: &str = r#"
title = "Payments primary lost"
severity = "SEV2"
timeout = "5m"

[[steps]]
at = "0s"
alert = { labels = { alertname = "PgPrimaryDown", severity = "critical", service = "payments-db" }, annotations = { summary = "payments-db primary is not answering" } }

[[steps]]
at = "2s"
hint = "The replica's lag is zero: promoting it is safe."

[expect]
acknowledged_within = "2m"
first_public_update_within = "1m"
"#;

#[sqlx::test(migrations = false)]
async fn a_drill_runs_through_ingestion_and_the_war_room_and_is_scored_and_reported_once(
    pool: PgPool,
) {
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let stack = TestStack::spawn_with(
        &pool,
        &[
            ("bootstrap_token", TOKEN),
            ("slack_bot_token", fake_slack::TOKEN),
            ("slack_signing_secret", "drills-signing-secret"),
            ("slack_api_url", api_url.as_str()),
        ],
    )
    .await;
    let api = Client::for_base(stack.url(""));
    let integration = api
        .send(
            Method::POST,
            "/api/v1/integrations",
            TOKEN,
            &json!({ "kind": "alertmanager", "name": "prometheus" }),
        )
        .await;
    assert_eq!(integration.status, 201, "{}", integration.text);
    let uploaded = api
        .send(
            Method::POST,
            "/api/v1/drills/scenarios",
            TOKEN,
            &json!({ "source": SCENARIO, "name": "payments" }),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    let scenario_id = uploaded.json()["id"].as_str().expect("id").to_owned();
    let started = api
        .send(
            Method::POST,
            "/api/v1/drills/runs",
            TOKEN,
            &json!({ "scenario_id": scenario_id }),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let run_id = started.json()["id"].as_str().expect("run id").to_owned();
    let run_path = format!("/api/v1/drills/runs/{run_id}");

    // The alert went through ingestion, which declared a drill incident the run learnt.
    let incident_id: String = eventually_some(
        Duration::from_secs(30),
        "the run learns its drill incident",
        || async {
            let run = api.get(&run_path, TOKEN).await.json();
            run["incident_id"].as_str().map(str::to_owned)
        },
    )
    .await;
    let incident = api
        .get(&format!("/api/v1/incidents/{incident_id}"), TOKEN)
        .await
        .json();
    assert_eq!(incident["is_drill"], json!(true), "{incident}");
    assert_eq!(
        incident["severity"],
        json!("SEV2"),
        "the scenario's severity"
    );
    let (from_alert, groups): (bool, i64) = sqlx::query_as(
        "SELECT i.idempotency_key = g.id::text, count(*) OVER ()
         FROM incidents i JOIN alert_groups g ON g.workspace_id = i.workspace_id
         WHERE i.id = $1::uuid",
    )
    .bind(&incident_id)
    .fetch_one(&pool)
    .await
    .expect("group");
    assert!(from_alert, "declared by the alert's group");
    assert_eq!(groups, 1);

    // The war room opened as a drill's, and the hint reached it.
    let channel: String = eventually_some(
        Duration::from_secs(30),
        "the hint is posted in the drill's channel",
        || async {
            let id: Option<String> =
                sqlx::query_scalar("SELECT slack_channel_id FROM incidents WHERE id = $1::uuid")
                    .bind(&incident_id)
                    .fetch_one(&pool)
                    .await
                    .expect("incident");
            let id = id?;
            slack
                .messages(&id)
                .iter()
                .any(|m| m.text.contains("[DRILL] Hint: The replica's lag is zero"))
                .then_some(id)
        },
    )
    .await;
    let room = slack.channel(&channel).expect("channel");
    assert!(room.name.starts_with("drill-"), "{}", room.name);

    // The team acknowledges on cue, posts no public update (missed on purpose), resolves.
    let acked = api
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{incident_id}/acknowledge"),
            TOKEN,
            &json!({}),
        )
        .await;
    assert!(acked.status < 300, "{}", acked.text);
    let resolved = api
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{incident_id}/status"),
            TOKEN,
            &json!({ "status": "RESOLVED" }),
        )
        .await;
    assert!(resolved.status < 300, "{}", resolved.text);

    let run: Value = eventually_some(Duration::from_secs(30), "the run completes", || async {
        let run = api.get(&run_path, TOKEN).await.json();
        (run["state"] == json!("completed")).then_some(run)
    })
    .await;
    let score = &run["score"];
    let verdicts: Vec<(String, bool)> = score["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .map(|e| {
            (
                e["expectation"].as_str().unwrap_or_default().to_owned(),
                e["met"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("acknowledged".to_owned(), true),
            ("first_public_update".to_owned(), false),
        ],
        "{score}"
    );
    assert_eq!(
        (score["met"].clone(), score["total"].clone()),
        (json!(1), json!(2))
    );
    assert!(
        score["expectations"][0]["measured_seconds"]
            .as_u64()
            .is_some()
    );
    assert!(
        score["expectations"][0]["sla_target_seconds"]
            .as_u64()
            .is_some()
    );
    assert_eq!(score["expectations"][1]["measured_seconds"], Value::Null);

    let reports = || {
        slack
            .messages(&channel)
            .into_iter()
            .filter(|m| m.text.contains("[DRILL] payments completed: 1 of 2"))
            .count()
    };
    eventually_some(Duration::from_secs(30), "the report is posted", || async {
        (reports() > 0).then_some(())
    })
    .await;
    // Redeliveries and further rounds post nothing again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reports(), 1, "the report is posted once");
    stack.stop().await.expect("stopped");
}

#[sqlx::test(migrations = false)]
async fn incident_drill_in_slack_starts_one_run_through_the_bus_and_the_pages_share_the_port(
    pool: PgPool,
) {
    use incident_warroom::slack::{form, signature};

    const SECRET: &str = "drills-signing-secret";
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let stack = TestStack::spawn_with(
        &pool,
        &[
            ("bootstrap_token", TOKEN),
            ("slack_bot_token", fake_slack::TOKEN),
            ("slack_signing_secret", SECRET),
            ("slack_api_url", api_url.as_str()),
        ],
    )
    .await;
    let api = Client::for_base(stack.url(""));
    let uploaded = api
        .send(
            Method::POST,
            "/api/v1/drills/scenarios",
            TOKEN,
            &json!({ "source": SCENARIO, "name": "payments" }),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    let user = api
        .send(
            Method::POST,
            "/api/v1/users",
            TOKEN,
            &json!({ "email": "ada@example.com", "display_name": "Ada",
                     "slack_user_id": "UADA0001" }),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text);

    // One slash command, delivered twice (signed each time): one run.
    let body = form::encode([
        ("team_id", fake_slack::TEAM),
        ("channel_id", "CGENERAL1"),
        ("user_id", "UADA0001"),
        ("command", "/incident"),
        ("text", "drill Payments"),
        ("response_url", ""),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for _ in 0..2 {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            .to_string();
        let answer = http
            .post(stack.url("/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header(
                "x-slack-signature",
                signature::sign(SECRET, &ts, body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .expect("slash command");
        assert_eq!(answer.status(), 200);
        let answer: Value = answer.json().await.expect("json");
        assert!(
            answer["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Starting the drill *payments*"),
            "{answer}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let runs = eventually_some(
        Duration::from_secs(30),
        "the watchdog starts the run",
        || async {
            let runs = api.get("/api/v1/drills/runs", TOKEN).await.json();
            runs.as_array().filter(|r| !r.is_empty()).cloned()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = api.get("/api/v1/drills/runs", TOKEN).await.json();
    assert_eq!(again.as_array().map(Vec::len), Some(1), "{again}");
    assert_eq!(
        runs[0]["idempotency_key"],
        json!("slack:drill:13345224609.738474920.8088930838d88f008e0")
    );

    // The drill pages are served on the stack's one port (to sign in first).
    let page = http
        .get(stack.url(&format!(
            "/ui/drills/runs/{}",
            runs[0]["id"].as_str().expect("id")
        )))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 303);
    assert!(
        page.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/ui/login"),
        "{:?}",
        page.headers()
    );
    stack.stop().await.expect("stopped");
}
