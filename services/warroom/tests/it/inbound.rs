//! Slack → incident: signed slash commands, buttons, modals and events, end to end.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{SECRET, Stack, eventually, now};

const FORM: &str = "application/x-www-form-urlencoded";

async fn war_room(stack: &Stack) -> (String, String) {
    stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let incident = stack
        .declare(json!({ "title": "Payments failing", "severity": "SEV1" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let room = stack.settled(&id, 1).await;
    (id, room.channel_id.expect("channel"))
}

async fn status_of(stack: &Stack, id: &str) -> String {
    stack.incident(id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_resolve_button_click_resolves_the_incident_and_updates_the_summary(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    let body = stack.button_body("UADA0001", &channel, "incident_resolve", &id);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("resolved", || async {
        (status_of(&stack, &id).await == "RESOLVED").then_some(())
    })
    .await;
    let version = stack.incident(&id).await["version"]
        .as_i64()
        .expect("version");
    stack.settled(&id, version).await;
    let summary = stack
        .fake
        .messages(&channel)
        .into_iter()
        .next()
        .expect("summary");
    assert!(summary.text.contains("RESOLVED"), "{}", summary.text);
    let timeline = stack.timeline(&id).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "STATUS_CHANGE"
            && e["message"].as_str().is_some_and(|m| m.contains("Ada"))
            || e["actor_id"].is_string()),
        "{timeline:#?}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn bad_signatures_stale_timestamps_and_replays_are_refused_and_change_nothing(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    let body = stack.button_body("UADA0001", &channel, "incident_resolve", &id);

    let ts = now().to_string();
    let mut wrong =
        incident_warroom::slack::signature::sign("not-the-secret", &ts, body.as_bytes());
    let (status, text) = stack
        .slack_post_signed("/slack/interactions", FORM, &body, &ts, &wrong)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::UNAUTHORIZED, ""));
    wrong = incident_warroom::slack::signature::sign(SECRET, &ts, format!("{body}x").as_bytes());
    let (status, _) = stack
        .slack_post_signed("/slack/interactions", FORM, &body, &ts, &wrong)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now() - 301)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A valid acknowledge, then the same bytes again.
    let ack = stack.button_body("UADA0001", &channel, "incident_acknowledge", &id);
    let ts = now().to_string();
    let sig = incident_warroom::slack::signature::sign(SECRET, &ts, ack.as_bytes());
    let (status, _) = stack
        .slack_post_signed("/slack/interactions", FORM, &ack, &ts, &sig)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stack
        .slack_post_signed("/slack/interactions", FORM, &ack, &ts, &sig)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    eventually("acknowledged", || async {
        stack.incident(&id).await["acknowledged_at"]
            .is_string()
            .then_some(())
    })
    .await;
    let commands: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'type' FROM outbox WHERE publisher = 'warroom' AND payload->>'type' LIKE 'incident.%' \
         AND payload->>'type' NOT IN ('incident.warroom_opened') ORDER BY id",
    )
    .fetch_all(&stack.pool)
    .await
    .expect("outbox");
    assert_eq!(
        commands,
        ["incident.add_update", "incident.acknowledge"],
        "only the war room note and one acknowledge"
    );
    assert_eq!(status_of(&stack, &id).await, "INVESTIGATING");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn slash_commands_declare_update_and_answer_usage(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;

    let (status, text) = stack
        .slack_post(
            "/slack/commands",
            FORM,
            &stack.slash_body("UADA0001", "CRANDOM", "declare Search is slow sev1"),
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("Declaring"), "{text}");
    eventually("the declared incident's war room", || async {
        stack
            .fake
            .channels()
            .into_iter()
            .find(|c| c.name.ends_with("-search-is-slow"))
    })
    .await;

    let (_, text) = stack
        .slack_post(
            "/slack/commands",
            FORM,
            &stack.slash_body("UADA0001", &channel, "update rolled back the deploy"),
            now(),
        )
        .await;
    assert!(text.contains("Update added"), "{text}");
    eventually("the update on the timeline", || async {
        stack
            .timeline(&id)
            .await
            .iter()
            .any(|e| e["message"] == "rolled back the deploy")
            .then_some(())
    })
    .await;

    let (_, text) = stack
        .slack_post(
            "/slack/commands",
            FORM,
            &stack.slash_body("UADA0001", &channel, "dance"),
            now(),
        )
        .await;
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["response_type"], "ephemeral");
    let usage = answer["text"].as_str().expect("text");
    assert!(
        usage.starts_with("*/incident*") && usage.contains("`declare`"),
        "an unknown subcommand answers the help: {usage}"
    );

    let (_, text) = stack
        .slack_post(
            "/slack/commands",
            FORM,
            &stack.slash_body("UADA0001", &channel, "status"),
            now(),
        )
        .await;
    assert!(text.contains("Payments failing"), "{text}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_unknown_slack_user_gets_an_explanation_and_nothing_changes(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    let body = stack.button_body("USTRANGER", &channel, "incident_resolve", &id);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    let responses = eventually("the explanation", || async {
        let r = stack.fake.responses();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert!(
        responses[0].1["text"]
            .as_str()
            .is_some_and(|t| t.contains("can't match"))
    );
    assert_eq!(status_of(&stack, &id).await, "INVESTIGATING");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn add_update_opens_a_modal_whose_submission_adds_a_public_update(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    let body = stack.button_body("UADA0001", &channel, "incident_add_update", &id);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    let view = eventually("the modal", || async {
        stack.fake.views().into_iter().next()
    })
    .await;
    assert_eq!(view["private_metadata"], json!(id));

    let payload = json!({
        "type": "view_submission", "user": { "id": "UADA0001" },
        "view": { "callback_id": "incident_add_update", "private_metadata": id, "state": { "values": {
            "message": { "value": { "type": "plain_text_input", "value": "Failover complete" } },
            "visibility": { "value": { "type": "static_select", "selected_option": { "value": "public" } } },
            "status": { "value": { "type": "static_select", "selected_option": null } }
        }}}
    });
    let body = incident_warroom::slack::form::encode([("payload", payload.to_string().as_str())]);
    let (status, text) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, ""));
    let entry = eventually("the public update", || async {
        stack
            .timeline(&id)
            .await
            .into_iter()
            .find(|e| e["message"] == "Failover complete")
    })
    .await;
    assert_eq!(entry["is_public"], true);
    eventually("the update posted in the channel", || async {
        stack
            .fake
            .messages(&channel)
            .into_iter()
            .find(|m| m.text.contains("Public update: Failover complete"))
    })
    .await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn events_answer_the_challenge_and_a_pushpin_adds_the_message_to_the_timeline_once(
    pool: PgPool,
) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    let challenge =
        json!({ "type": "url_verification", "challenge": "abc123", "token": "x" }).to_string();
    let (status, text) = stack
        .slack_post("/slack/events", "application/json", &challenge, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("json")["challenge"],
        "abc123"
    );

    for n in 0..2 {
        let event = json!({ "type": "event_callback", "event_id": format!("Ev{n}"), "event": {
            "type": "reaction_added", "user": "UADA0001", "reaction": "pushpin",
            "item": { "type": "message", "channel": channel, "ts": "1700000000.000777" } } })
        .to_string();
        let (status, _) = stack
            .slack_post("/slack/events", "application/json", &event, now())
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    eventually("the pinned message on the timeline", || async {
        stack
            .timeline(&id)
            .await
            .iter()
            .any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("p1700000000000777"))
            })
            .then_some(())
    })
    .await;
    let pinned = stack
        .timeline(&id)
        .await
        .iter()
        .filter(|e| e["message"].as_str().is_some_and(|m| m.starts_with("📌")))
        .count();
    assert_eq!(pinned, 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_slack_user_without_a_stored_id_is_matched_by_email(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let (id, channel) = war_room(&stack).await;
    stack
        .user("grace@example.com", "Grace", None, Some("UGRACE01"))
        .await;
    let body = stack.button_body("UGRACE01", &channel, "incident_acknowledge", &id);
    let (status, _) = stack
        .slack_post("/slack/interactions", FORM, &body, now())
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("acknowledged by grace", || async {
        stack.incident(&id).await["acknowledged_at"]
            .is_string()
            .then_some(())
    })
    .await;
    assert!(
        stack.fake.responses().is_empty(),
        "no explanation was needed"
    );
}
