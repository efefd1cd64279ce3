//! The war room's lifecycle, end to end: core's API → events → warroom → fake Slack.

use serde_json::json;
use sqlx::PgPool;

use crate::fake_slack::{BOT, Fault};
use crate::support::{Stack, eventually};

fn id_of(incident: &serde_json::Value) -> String {
    incident["id"].as_str().expect("id").to_owned()
}

async fn sev1_flow(stack: &Stack) {
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let grace = stack
        .user("grace@example.com", "Grace", None, Some("UGRACE01"))
        .await;
    let incident = stack
        .declare(
            json!({ "title": "Checkout DB down", "severity": "SEV1", "commander_id": ada,
                         "description": "Primary unreachable",
                         "affected_services": [{ "name": "checkout", "impact": "TOTAL_OUTAGE" }] }),
        )
        .await;
    let id = id_of(&incident);
    let number = incident["number"].as_i64().expect("number");
    let room = stack.settled(&id, 1).await;
    let channel_id = room.channel_id.clone().expect("channel");

    let channels = stack.fake.channels();
    assert_eq!(channels.len(), 1, "exactly one channel");
    let channel = &channels[0];
    assert_eq!(channel.name, format!("inc-{number}-checkout-db-down"));
    assert_eq!(
        channel.topic,
        "🚨 [SEV1] Checkout DB down | Status: INVESTIGATING | IC: Ada"
    );
    assert!(channel.members.contains("UADA0001") && channel.members.contains(BOT));
    assert_eq!(stack.fake.pins(&channel_id).len(), 1, "one pinned summary");
    let summary = stack
        .fake
        .messages(&channel_id)
        .into_iter()
        .next()
        .expect("summary");
    assert_eq!(
        summary.blocks.as_ref().expect("blocks")[0]["text"]["text"],
        format!("🚨 INC-{number}: Checkout DB down")
    );
    assert!(
        summary
            .blocks
            .as_ref()
            .expect("blocks")
            .to_string()
            .contains("checkout (TOTAL_OUTAGE)")
    );
    assert_eq!(
        stack.fake.messages("UADA0001").len(),
        1,
        "the commander was briefed by DM"
    );

    // The incident carries the channel; the warroom said so.
    let stored = eventually("channel on the incident", || async {
        let row = stack.incident(&id).await;
        row["slack_channel_id"].is_string().then_some(row)
    })
    .await;
    assert_eq!(stored["slack_channel_id"], json!(channel_id));
    let opened: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE publisher = 'warroom' AND payload->>'type' = 'incident.warroom_opened'",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("outbox");
    assert_eq!(opened, 1);
    eventually("the war room note on the timeline", || async {
        stack
            .timeline(&id)
            .await
            .iter()
            .any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("War room opened"))
            })
            .then_some(())
    })
    .await;

    // A new role holder is invited (found by email).
    stack
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/incidents/{id}/roles/tech_lead"),
            Some(json!({ "user_id": grace })),
        )
        .await;
    eventually("grace invited", || async {
        stack
            .fake
            .channel(&channel_id)
            .filter(|c| c.members.contains("UGRACE01"))
    })
    .await;

    // Status changes: topic and summary follow, one post each.
    for status in ["IDENTIFIED", "MONITORING", "RESOLVED", "CLOSED"] {
        stack.status(&id, status).await;
        let version = stack.incident(&id).await["version"]
            .as_i64()
            .expect("version");
        stack.settled(&id, version).await;
    }
    let channel = stack.fake.channel(&channel_id).expect("channel");
    assert!(channel.archived, "closed → archived");
    assert_eq!(
        channel.topic, "🚨 [SEV1] Checkout DB down | Status: CLOSED | IC: Ada",
        "the topic of the last state, set before archiving"
    );
    let messages = stack.fake.messages(&channel_id);
    let status_posts: Vec<_> = messages
        .iter()
        .filter(|m| m.text.starts_with("🔄 Status"))
        .collect();
    assert_eq!(
        status_posts.len(),
        4,
        "one post per status change: {messages:#?}"
    );
    assert_eq!(stack.fake.pins(&channel_id).len(), 1, "still one pin");
    assert_eq!(stack.fake.channels().len(), 1, "still one channel");
    let summary = &messages[0];
    assert!(summary.updates >= 3);
    assert!(
        summary.text.contains("CLOSED") || summary.text.contains("RESOLVED"),
        "{}",
        summary.text
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_sev1_gets_one_channel_topic_members_and_pinned_summary_that_follow_it_until_archived(
    pool: PgPool,
) {
    let stack = Stack::spawn(pool).await;
    sev1_flow(&stack).await;
    let failures = stack
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.outcome != "ok" && c.outcome != "users_not_found")
        .map(|c| format!("{} {}", c.method, c.outcome))
        .collect::<Vec<_>>();
    assert!(failures.is_empty(), "no Slack call failed: {failures:?}");
    let content_types: Vec<(String, String)> = stack
        .fake
        .calls()
        .into_iter()
        .map(|c| (c.method, c.content_type))
        .collect();
    for (method, content_type) in content_types {
        if [
            "users.lookupByEmail",
            "conversations.info",
            "users.info",
            "conversations.list",
        ]
        .contains(&method.as_str())
        {
            assert_eq!(
                content_type, "application/x-www-form-urlencoded",
                "{method}"
            );
        } else {
            assert_eq!(content_type, "application/json; charset=utf-8", "{method}");
        }
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn rate_limits_and_server_errors_change_neither_the_end_state_nor_the_counts(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack.fake.faults_every(Some(3), Some(7), 0);
    sev1_flow(&stack).await;
    let calls = stack.fake.calls();
    assert!(calls.iter().any(|c| c.outcome == "http_429"));
    assert!(calls.iter().any(|c| c.outcome == "http_500"));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_broker_connection_closed_mid_flow_converges_without_duplicates(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let incident = stack
        .declare(json!({ "title": "Broker chaos", "severity": "SEV2" }))
        .await;
    let id = id_of(&incident);
    stack.vhost.close_all_connections();
    stack.status(&id, "IDENTIFIED").await;
    stack.vhost.close_all_connections();
    stack.status(&id, "MONITORING").await;
    let version = stack.incident(&id).await["version"]
        .as_i64()
        .expect("version");
    let room = stack.settled(&id, version).await;
    let channel = room.channel_id.expect("channel");
    assert_eq!(stack.fake.channels().len(), 1);
    assert_eq!(stack.fake.pins(&channel).len(), 1);
    let posts = stack
        .fake
        .messages(&channel)
        .into_iter()
        .filter(|m| m.text.starts_with("🔄"))
        .count();
    assert_eq!(posts, 2);
    assert!(
        stack
            .fake
            .channel(&channel)
            .expect("channel")
            .topic
            .contains("Status: MONITORING")
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn sev3_gets_no_channel_unless_configured_and_drills_get_drill_channels(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let quiet = stack
        .declare(json!({ "title": "Minor blip", "severity": "SEV3" }))
        .await;
    let drill = stack
        .declare(json!({ "title": "Game day", "severity": "SEV2", "is_drill": true }))
        .await;
    let drill_room = stack.settled(&id_of(&drill), 1).await;
    assert!(
        stack.room(&id_of(&quiet)).await.is_none(),
        "no room for a SEV3 by default"
    );
    let names: Vec<String> = stack.fake.channels().into_iter().map(|c| c.name).collect();
    assert_eq!(names, [format!("drill-inc-{}-game-day", drill["number"])]);
    assert!(drill_room.channel_id.is_some());

    let response = stack
        .http
        .put(format!("{}/api/v1/warroom/settings", stack.warroom))
        .bearer_auth(crate::support::ADMIN)
        .json(&json!({ "severities": ["SEV3", "SEV1", "SEV2"], "drills": true, "archive_on_close": true }))
        .send()
        .await
        .expect("put settings");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let anonymous = stack
        .http
        .put(format!("{}/api/v1/warroom/settings", stack.warroom))
        .json(&json!({ "severities": ["SEV4"], "drills": true, "archive_on_close": true }))
        .send()
        .await
        .expect("put settings");
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let now_configured = stack
        .declare(json!({ "title": "Minor blip again", "severity": "SEV3" }))
        .await;
    stack.settled(&id_of(&now_configured), 1).await;
    assert_eq!(stack.fake.channels().len(), 2);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_name_clash_with_an_archived_channel_gets_a_suffixed_name(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack.fake.add_archived_channel("inc-1-db-latency");
    let incident = stack
        .declare(json!({ "title": "DB latency", "severity": "SEV1" }))
        .await;
    assert_eq!(incident["number"], 1);
    let room = stack.settled(&id_of(&incident), 1).await;
    let channel = stack
        .fake
        .channel(&room.channel_id.expect("channel"))
        .expect("channel");
    assert_eq!(channel.name, "inc-1-db-latency-2");
    assert!(!channel.archived);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_permanent_slack_error_lands_on_the_timeline_with_its_code(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    stack.fake.revoke_scope("channels:manage");
    let incident = stack
        .declare(json!({ "title": "No scope", "severity": "SEV1" }))
        .await;
    let id = id_of(&incident);
    eventually("the failure on the timeline", || async {
        stack
            .timeline(&id)
            .await
            .iter()
            .any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("conversations.create failed with `missing_scope`"))
            })
            .then_some(())
    })
    .await;
    assert!(stack.fake.channels().is_empty());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn without_a_bot_token_the_service_starts_and_leaves_slack_alone(pool: PgPool) {
    let stack = Stack::spawn_with(pool, false).await;
    let incident = stack
        .declare(json!({ "title": "Quiet", "severity": "SEV1" }))
        .await;
    let id = id_of(&incident);
    // Once core has also applied a later change, the warroom has seen the declaration.
    stack.status(&id, "IDENTIFIED").await;
    let consumed = || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'warroom.events'")
                .fetch_one(&stack.pool)
                .await
                .unwrap_or(0);
        (n >= 2).then_some(())
    };
    eventually("the warroom consumed both events", consumed).await;
    assert!(stack.fake.calls().is_empty());
    assert!(stack.room(&id).await.is_none());
    let _ = Fault::ServerError;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_commander_whose_dm_slack_refuses_still_gets_a_full_war_room_and_the_refusal_is_recorded(
    pool: PgPool,
) {
    let stack = Stack::spawn(pool).await;
    stack
        .fake
        .refuse("chat.postMessage", "UADA0001", "cannot_dm_bot");
    stack
        .fake
        .refuse("conversations.invite", "UGRACE01", "user_not_found");
    let (ada, grace) = stack.ada_and_grace().await;
    let incident = stack
        .declare(json!({ "title": "DM refused", "severity": "SEV1", "commander_id": ada }))
        .await;
    let id = id_of(&incident);
    let room = stack.settled(&id, 1).await;
    let channel_id = room.channel_id.clone().expect("channel");

    let channel = stack.fake.channel(&channel_id).expect("channel");
    assert_eq!(
        channel.topic,
        "🚨 [SEV1] DM refused | Status: INVESTIGATING | IC: Ada"
    );
    assert!(
        channel.members.contains("UADA0001"),
        "the commander is invited"
    );
    assert_eq!(
        stack.fake.pins(&channel_id).len(),
        1,
        "the summary is pinned"
    );
    assert!(stack.fake.messages("UADA0001").is_empty(), "no DM went out");
    let stored = eventually("channel on the incident", || async {
        let row = stack.incident(&id).await;
        row["slack_channel_id"].is_string().then_some(row)
    })
    .await;
    assert_eq!(stored["slack_channel_id"], json!(channel_id));

    // A role holder Slack will not invite: recorded, and the room carries on.
    stack
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/incidents/{id}/roles/tech_lead"),
            Some(json!({ "user_id": grace })),
        )
        .await;
    for status in ["IDENTIFIED", "RESOLVED", "CLOSED"] {
        stack.status(&id, status).await;
        let version = stack.incident(&id).await["version"]
            .as_i64()
            .expect("version");
        stack.settled(&id, version).await;
    }
    let channel = stack.fake.channel(&channel_id).expect("channel");
    assert!(channel.archived, "closed → archived");
    let status_posts = stack
        .fake
        .messages(&channel_id)
        .into_iter()
        .filter(|m| m.text.starts_with("🔄 Status"))
        .count();
    assert_eq!(status_posts, 3, "one post per status change");
    let dm_attempts = stack
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage" && c.args["channel"] == "UADA0001")
        .count();
    assert_eq!(
        dm_attempts, 1,
        "a refused DM is not repeated on every event"
    );

    let failures: Vec<(String, String, String)> =
        incident_warroom::store::step_failures(&stack.pool, id.parse().expect("uuid"))
            .await
            .expect("failures")
            .into_iter()
            .map(|f| (f.step, f.method, f.code))
            .collect();
    assert!(
        failures.contains(&(
            format!("dm:{ada}"),
            "chat.postMessage".to_owned(),
            "cannot_dm_bot".to_owned()
        )),
        "{failures:?}"
    );
    assert!(
        failures.contains(&(
            "invite:UGRACE01".to_owned(),
            "conversations.invite".to_owned(),
            "user_not_found".to_owned()
        )),
        "{failures:?}"
    );
    for code in ["cannot_dm_bot", "user_not_found"] {
        let notes = eventually(&format!("{code} on the timeline"), || async {
            let n = stack
                .timeline(&id)
                .await
                .iter()
                .filter(|e| e["message"].as_str().is_some_and(|m| m.contains(code)))
                .count();
            (n > 0).then_some(n)
        })
        .await;
        assert_eq!(notes, 1, "{code} is noted once");
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_sev1_gets_a_private_untitled_channel_with_an_untitled_topic(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let incident = stack
        .declare(
            json!({ "title": "Acquisition of Initech", "severity": "SEV1",
                         "visibility": "PRIVATE", "commander_id": ada }),
        )
        .await;
    let drill = stack
        .declare(json!({ "title": "Secret game day", "severity": "SEV2",
                         "visibility": "PRIVATE", "is_drill": true }))
        .await;
    let id = id_of(&incident);
    let room = stack.settled(&id, 1).await;
    stack.settled(&id_of(&drill), 1).await;
    let channel_id = room.channel_id.clone().expect("channel");

    let channel = stack.fake.channel(&channel_id).expect("channel");
    assert!(channel.is_private, "a private channel");
    assert_eq!(channel.name, format!("inc-{}-private", incident["number"]));
    assert_eq!(
        channel.topic,
        "🔒 [SEV1] Private incident | Status: INVESTIGATING | IC: Ada"
    );
    assert!(channel.members.contains("UADA0001"));
    let names: Vec<(String, bool)> = stack
        .fake
        .channels()
        .into_iter()
        .map(|c| (c.name, c.is_private))
        .collect();
    assert!(
        names.contains(&(format!("drill-inc-{}-private", drill["number"]), true)),
        "{names:?}"
    );
    // The summary inside may show the title: only members see it.
    assert_eq!(stack.fake.pins(&channel_id).len(), 1);
    let summary = &stack.fake.messages(&channel_id)[0];
    assert!(summary.text.contains("Acquisition of Initech"));

    stack.status(&id, "IDENTIFIED").await;
    let version = stack.incident(&id).await["version"]
        .as_i64()
        .expect("version");
    stack.settled(&id, version).await;
    let public_facing: Vec<_> = stack
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method.starts_with("conversations."))
        .collect();
    assert!(
        public_facing
            .iter()
            .filter(|c| c.method == "conversations.create")
            .all(|c| c.args["is_private"] == json!(true))
    );
    for call in &public_facing {
        let args = call.args.to_string();
        assert!(
            !args.contains("Initech") && !args.contains("Secret"),
            "{} carries a title: {args}",
            call.method
        );
    }
    assert!(
        stack
            .fake
            .channel(&channel_id)
            .expect("channel")
            .topic
            .starts_with("🔒 [SEV1] Private incident | Status: IDENTIFIED")
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_title_that_would_ping_everyone_is_escaped_wherever_slack_reads_mrkdwn(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let ada = stack
        .user(
            "ada@example.com",
            "Ada <!here>",
            Some("UADA0001"),
            Some("UADA0001"),
        )
        .await;
    let incident = stack
        .declare(
            json!({ "title": "<!channel> checkout & co", "severity": "SEV1",
                         "description": "see <https://evil.example|this>",
                         "commander_id": ada }),
        )
        .await;
    let id = id_of(&incident);
    stack.settled(&id, 1).await;
    stack
        .post(
            &format!("/api/v1/incidents/{id}/timeline"),
            json!({ "kind": "UPDATE", "message": "<!everyone> we are on it" }),
        )
        .await;
    stack.status(&id, "IDENTIFIED").await;
    let version = stack.incident(&id).await["version"]
        .as_i64()
        .expect("version");
    let room = stack.settled(&id, version).await;
    let channel_id = room.channel_id.expect("channel");
    eventually("the update posted", || async {
        stack
            .fake
            .messages(&channel_id)
            .into_iter()
            .find(|m| m.text.starts_with("📣"))
    })
    .await;

    let channel = stack.fake.channel(&channel_id).expect("channel");
    assert_eq!(
        channel.topic,
        "🚨 [SEV1] &lt;!channel&gt; checkout &amp; co | Status: IDENTIFIED | IC: Ada &lt;!here&gt;"
    );
    let mut rendered = Vec::new();
    for message in stack
        .fake
        .messages(&channel_id)
        .into_iter()
        .chain(stack.fake.messages("UADA0001"))
    {
        rendered.push(message.text.clone());
        for block in message
            .blocks
            .iter()
            .flat_map(|b| b.as_array().cloned().unwrap_or_default())
        {
            // mrkdwn objects anywhere in the block (plain_text headers are not parsed).
            let mut stack_of = vec![block];
            while let Some(value) = stack_of.pop() {
                match value {
                    serde_json::Value::Object(map) => {
                        if map.get("type") == Some(&json!("mrkdwn")) {
                            rendered.push(map["text"].as_str().unwrap_or_default().to_owned());
                        }
                        stack_of.extend(map.into_iter().map(|(_, v)| v));
                    }
                    serde_json::Value::Array(items) => stack_of.extend(items),
                    _ => {}
                }
            }
        }
    }
    assert!(
        rendered
            .iter()
            .any(|t| t.contains("&lt;!channel&gt; checkout &amp; co")),
        "{rendered:#?}"
    );
    assert!(
        rendered
            .iter()
            .any(|t| t.contains("&lt;!everyone&gt; we are on it"))
    );
    assert!(
        rendered
            .iter()
            .any(|t| t.contains("&lt;https://evil.example|this&gt;"))
    );
    for text in &rendered {
        for control in ["<!channel>", "<!here>", "<!everyone>", "<https://evil"] {
            assert!(!text.contains(control), "{control} unescaped in {text:?}");
        }
    }
}
