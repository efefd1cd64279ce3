//! `/incident` subcommands and the message shortcut, each through a signed request.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Stack, eventually, now};
use incident_warroom::slack::form;

const FORM: &str = "application/x-www-form-urlencoded";

async fn slash(stack: &Stack, user: &str, channel: &str, text: &str) -> Value {
    let body = stack.slash_body(user, channel, text);
    let (status, answer) = stack
        .slack_post("/slack/commands", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK, "{text}: {answer}");
    serde_json::from_str(&answer).unwrap_or(Value::Null)
}

fn text(answer: &Value) -> &str {
    answer["text"].as_str().unwrap_or_default()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn help_lists_every_subcommand(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let answer = slash(&stack, "UADA0001", "CGENERAL1", "help").await;
    assert_eq!(answer["response_type"], "ephemeral");
    for sub in [
        "declare", "list", "status", "update", "assign", "resolve", "severity", "drill", "help",
    ] {
        assert!(
            text(&answer).contains(&format!("`{sub}")),
            "{sub}: {}",
            text(&answer)
        );
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn declare_opens_the_modal_whose_submission_declares_a_private_drill_with_services_once(
    pool: PgPool,
) {
    let stack = Stack::spawn(pool.clone()).await;
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    slash(&stack, "UADA0001", "CGENERAL1", "declare").await;
    let view = eventually("the declare modal opened", || async {
        stack.fake.views().into_iter().next()
    })
    .await;
    assert_eq!(view["callback_id"], "incident_declare");
    assert_eq!(view["private_metadata"], "CGENERAL1");

    let submission = json!({
        "type": "view_submission", "user": { "id": "UADA0001" }, "team": { "id": "TFAKE001" },
        "view": { "id": "V0DECLARE1", "callback_id": "incident_declare", "private_metadata": "CGENERAL1",
          "state": { "values": {
            "title": { "value": { "type": "plain_text_input", "value": "Drill: search down" } },
            "severity": { "value": { "type": "static_select", "selected_option": { "value": "SEV3" } } },
            "description": { "value": { "type": "plain_text_input", "value": "Practice run" } },
            "services": { "value": { "type": "plain_text_input", "value": "search, api" } },
            "options": { "value": { "type": "checkboxes",
              "selected_options": [{ "value": "drill" }, { "value": "private" }] } } } } }
    });
    let body = form::encode([("payload", submission.to_string().as_str())]);
    for at in [now(), now() + 1] {
        // Delivered twice (a retry after a lost answer), signed each time.
        let (status, answer) = stack
            .slack_post("/slack/interactions", FORM, &body, at)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let row: (String, String, bool, String, Option<uuid::Uuid>, String) =
        eventually("the incident declared", || async {
            sqlx::query_as(
                "SELECT title, severity::text, is_drill, visibility::text, commander_id, description
                 FROM incidents WHERE title = 'Drill: search down'",
            )
            .fetch_optional(&pool)
            .await
            .expect("incident")
        })
        .await;
    assert_eq!(
        row,
        (
            "Drill: search down".to_owned(),
            "SEV3".to_owned(),
            true,
            "PRIVATE".to_owned(),
            Some(ada),
            "Practice run".to_owned()
        )
    );
    let services: Vec<String> = sqlx::query_scalar(
        "SELECT s.service_name FROM affected_services s JOIN incidents i ON i.id = s.incident_id
         WHERE i.title = 'Drill: search down' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("services");
    assert_eq!(services, ["api", "search"]);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let declared: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(declared, 1, "one incident per submitted view");

    // An unknown Slack user is told in the modal and nothing is declared.
    let mut stranger = submission.clone();
    stranger["user"]["id"] = json!("USTRANGER");
    stranger["view"]["id"] = json!("V0DECLARE2");
    let body = form::encode([("payload", stranger.to_string().as_str())]);
    let (status, answer) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["response_action"], "errors");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn in_a_war_room_the_subcommands_act_on_its_incident(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (_, grace) = stack.ada_and_grace().await;
    let incident = stack
        .declare(json!({ "title": "Payments failing", "severity": "SEV1" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let number = incident["number"].as_i64().expect("number");
    let channel = stack.settled(&id, 1).await.channel_id.expect("channel");

    let answer = slash(&stack, "UADA0001", "CGENERAL1", "list").await;
    assert!(
        text(&answer).contains(&format!(
            "INC-{number}: Payments failing — SEV1, INVESTIGATING <#{channel}>"
        )),
        "{}",
        text(&answer)
    );
    let answer = slash(&stack, "UADA0001", &channel, "status").await;
    assert!(text(&answer).contains("INVESTIGATING"), "{}", text(&answer));

    slash(&stack, "UADA0001", &channel, "status monitoring").await;
    eventually("monitoring", || async {
        (stack.incident(&id).await["status"] == "MONITORING").then_some(())
    })
    .await;

    let answer = slash(
        &stack,
        "UADA0001",
        &channel,
        "assign tech_lead <@UGRACE01|grace>",
    )
    .await;
    assert_eq!(text(&answer), "Grace is now the Tech Lead.");
    eventually("grace is the tech lead", || async {
        (stack.incident(&id).await["tech_lead_id"] == json!(grace)).then_some(())
    })
    .await;
    let answer = slash(&stack, "UADA0001", &channel, "ic <@UGRACE01|grace>").await;
    assert_eq!(text(&answer), "Grace is now the Incident Commander.");
    eventually("grace is the commander", || async {
        (stack.incident(&id).await["commander_id"] == json!(grace)).then_some(())
    })
    .await;

    slash(&stack, "UADA0001", &channel, "update").await;
    let view = eventually("the update modal opened", || async {
        stack.fake.views().into_iter().next()
    })
    .await;
    assert_eq!(view["callback_id"], "incident_add_update");
    assert_eq!(view["private_metadata"], json!(id));

    // The message shortcut: a message of the channel onto the timeline.
    let shortcut = json!({
        "type": "message_action", "callback_id": "add_to_timeline", "trigger_id": stack.fake.trigger_id(),
        "response_url": stack.fake.response_url(), "user": { "id": "UADA0001" },
        "channel": { "id": channel }, "team": { "id": "TFAKE001" },
        "message": { "type": "message", "ts": "1700000000.000100", "text": "rolled back the deploy" }
    });
    let body = form::encode([("payload", shortcut.to_string().as_str())]);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the message on the timeline", || async {
        stack
            .timeline(&id)
            .await
            .iter()
            .any(|e| {
                e["kind"] == "NOTE"
                    && e["message"].as_str().is_some_and(|m| {
                        m.starts_with("💬 From Slack") && m.ends_with(": rolled back the deploy")
                    })
            })
            .then_some(())
    })
    .await;

    slash(&stack, "UADA0001", &channel, "resolve").await;
    eventually("resolved", || async {
        (stack.incident(&id).await["status"] == "RESOLVED").then_some(())
    })
    .await;
    let answer = slash(&stack, "UADA0001", "CGENERAL1", "list").await;
    assert_eq!(text(&answer), "No open incidents.");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn severity_changes_the_war_rooms_incident_or_outside_one_the_incident_named(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let incident = stack
        .declare(json!({ "title": "Search slow", "severity": "SEV1" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let number = incident["number"].as_i64().expect("number");
    let channel = stack.settled(&id, 1).await.channel_id.expect("channel");
    let severity_is = |level: &'static str| {
        let (stack, id) = (&stack, id.clone());
        async move {
            eventually(level, || async {
                (stack.incident(&id).await["severity"] == level).then_some(())
            })
            .await;
        }
    };

    // In the war room the incident is implied.
    let answer = slash(&stack, "UADA0001", &channel, "severity sev2").await;
    assert_eq!(text(&answer), format!("Changing INC-{number} to SEV2."));
    severity_is("SEV2").await;

    // Elsewhere it is named.
    let answer = slash(
        &stack,
        "UADA0001",
        "CGENERAL1",
        &format!("severity inc-{number} SEV3"),
    )
    .await;
    assert_eq!(text(&answer), format!("Changing INC-{number} to SEV3."));
    severity_is("SEV3").await;
    let answer = slash(&stack, "UADA0001", "CGENERAL1", "severity sev1").await;
    assert!(
        text(&answer).contains("name the incident"),
        "{}",
        text(&answer)
    );

    // An incident the person may not read (PRIVATE, not theirs) is as absent as none.
    let private = stack
        .declare(json!({ "title": "Acquisition", "severity": "SEV3", "visibility": "PRIVATE" }))
        .await;
    let hidden = private["number"].as_i64().expect("number");
    for n in [hidden, 9999] {
        let answer = slash(
            &stack,
            "UADA0001",
            "CGENERAL1",
            &format!("severity INC-{n} sev1"),
        )
        .await;
        assert_eq!(text(&answer), format!("No incident INC-{n} here."));
    }
    // A malformed level is the usage, nothing is sent.
    let answer = slash(&stack, "UADA0001", &channel, "severity sev9").await;
    assert!(text(&answer).contains("`severity"), "{}", text(&answer));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(stack.incident(&id).await["severity"], "SEV3");
    let private_id = private["id"].as_str().expect("id");
    assert_eq!(stack.incident(private_id).await["severity"], "SEV3");
}

/// A change of the declare modal's options, as Slack sends it from the modal at `hash`.
async fn choose(stack: &Stack, view_id: &str, hash: &str, chosen: &[&str]) {
    let selected: Vec<Value> = chosen.iter().map(|c| json!({ "value": c })).collect();
    let payload = json!({
        "type": "block_actions", "user": { "id": "UADA0001" }, "team": { "id": "TFAKE001" },
        "trigger_id": stack.fake.trigger_id(), "container": { "type": "view", "view_id": view_id },
        "view": { "id": view_id, "hash": hash, "callback_id": "incident_declare",
                  "private_metadata": "CGENERAL1", "state": { "values": {} } },
        "actions": [{ "type": "checkboxes", "block_id": "options", "action_id": "value",
                      "selected_options": selected }],
    });
    let body = form::encode([("payload", payload.to_string().as_str())]);
    let (status, answer) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

fn note(view: &Value) -> String {
    view["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["block_id"] == "options_note"))
        .and_then(|b| b.pointer("/elements/0/text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn ticking_drill_or_private_updates_the_declare_modal_with_what_it_means(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    slash(&stack, "UADA0001", "CGENERAL1", "declare").await;
    let (id, (opened_hash, view)) = eventually("the declare modal opened", || async {
        stack.fake.modals().into_iter().next()
    })
    .await;
    assert_eq!(note(&view), "", "no note before a choice");

    choose(&stack, &id, &opened_hash, &["drill"]).await;
    let (updated_id, updated) = eventually("the modal updated", || async {
        stack.fake.view_updates().into_iter().next()
    })
    .await;
    assert_eq!(updated_id, id);
    assert!(
        note(&updated).contains("`drill-inc-<number>…`"),
        "{updated}"
    );
    assert!(!note(&updated).contains("Private"));
    let options = updated["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["block_id"] == "options"))
        .cloned()
        .expect("options");
    assert_eq!(options["element"]["initial_options"][0]["value"], "drill");
    assert_eq!(updated["callback_id"], "incident_declare");
    assert_eq!(updated["private_metadata"], "CGENERAL1");

    // A change sent from the modal as it was before (its old hash) loses to the newer one.
    choose(&stack, &id, &opened_hash, &["private"]).await;
    eventually("the stale update refused", || async {
        stack
            .fake
            .calls()
            .iter()
            .any(|c| c.method == "views.update" && c.outcome == "hash_conflict")
            .then_some(())
    })
    .await;
    assert_eq!(stack.fake.view_updates().len(), 1);
    // From the modal as it is now, both.
    let (current, _) = stack.fake.modals()[&id].clone();
    choose(&stack, &id, &current, &["drill", "private"]).await;
    let both = eventually("the modal updated again", || async {
        stack.fake.view_updates().get(1).map(|(_, v)| v.clone())
    })
    .await;
    assert!(
        note(&both).contains("drill-inc-") && note(&both).contains("-private`"),
        "{both}"
    );
}

/// A drill scenario of `user`'s workspace, stored as the watchdog stores one (its table).
async fn drill_scenario(pool: &PgPool, user: uuid::Uuid, name: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO drill_scenarios (id, workspace_id, name, source, parsed)
         SELECT $1, workspace_id, $2, 'title = \"x\"', '{}' FROM users WHERE id = $3",
    )
    .bind(id)
    .bind(name)
    .bind(user)
    .execute(pool)
    .await
    .expect("scenario");
    id
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn drill_sends_start_run_to_the_watchdog_and_lists_scenarios_without_a_name(pool: PgPool) {
    use incident_bus::testing::collect;
    use incident_bus::topology::SLA_WATCHDOG_COMMANDS;

    let stack = Stack::spawn(pool.clone()).await;
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let failover = drill_scenario(&pool, ada, "DB failover").await;
    drill_scenario(&pool, ada, "Queue backlog").await;

    let answer = slash(&stack, "UADA0001", "CGENERAL1", "drill").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        text(&answer).contains("• DB failover\n• Queue backlog"),
        "{}",
        text(&answer)
    );

    let body = stack.slash_body("UADA0001", "CGENERAL1", "drill db failover");
    let trigger = form::decode(&body)
        .into_iter()
        .find(|(k, _)| k == "trigger_id")
        .map(|(_, v)| v)
        .expect("trigger");
    let (status, answer) = stack
        .slack_post("/slack/commands", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        text(&answer).starts_with("Starting the drill *DB failover*"),
        "{answer}"
    );

    // Published (from the outbox) to the watchdog's queue, which the contract declares.
    let (_connection, channel) = stack.vhost.channel_with(&[]).await;
    let delivered = collect(
        &channel,
        SLA_WATCHDOG_COMMANDS,
        1,
        std::time::Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        delivered.len(),
        1,
        "drill.start_run reached sla-watchdog.commands"
    );
    let envelope: Value = serde_json::from_slice(&delivered[0].data).expect("envelope");
    assert_eq!(envelope["type"], "drill.start_run");
    assert_eq!(
        envelope["data"],
        json!({ "scenario_id": failover, "actor_id": ada,
                "idempotency_key": format!("slack:drill:{trigger}") })
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn drill_of_an_unknown_scenario_answers_with_the_list_and_sends_nothing(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let answer = slash(&stack, "UADA0001", "CGENERAL1", "drill DB failover").await;
    assert!(
        text(&answer).contains("No drill scenario is named *DB failover*; nothing was started.")
            && text(&answer).contains("no drill scenarios yet"),
        "{}",
        text(&answer)
    );
    drill_scenario(&pool, ada, "Queue backlog").await;
    let answer = slash(&stack, "UADA0001", "CGENERAL1", "drill DB failover").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        text(&answer).contains("No drill scenario is named *DB failover*")
            && text(&answer).contains("• Queue backlog"),
        "{}",
        text(&answer)
    );
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_type = 'drill.start_run'")
            .fetch_one(&pool)
            .await
            .expect("outbox");
    assert_eq!(sent, 0, "nothing is sent for an unknown scenario");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM drill_runs")
        .fetch_one(&pool)
        .await
        .expect("runs");
    assert_eq!(runs, 0);
}
