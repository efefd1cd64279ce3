//! People and announcements (issue 17): the incident's one message in the announcement
//! channel, role holders told once per assignment (a mention when the DM is refused),
//! action-item assignees told when assigned and once when overdue, channel care (unarchive
//! on reopen, bookmarks). Core and the war room as the stack runs them, the fake Slack.

use std::sync::Arc;

use chrono::NaiveDate;
use incident_bus::{Envelope, Handler, OutgoingMessage, outbox};
use incident_schema::contract::{ActionItemCreated, ActionItemOverdue, IncidentSnapshot};
use incident_warroom::lifecycle::{Slack, WarRoom};
use incident_warroom::notify::store as notify_store;
use incident_warroom::slack::SlackClient;
use incident_warroom::slack::blocks::action;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fake_slack;
use crate::support::{ADMIN, PUBLIC_URL, Stack, eventually, now};

fn client(stack: &Stack) -> SlackClient {
    SlackClient::new(
        &stack.fake.api_url(),
        SecretString::from(fake_slack::TOKEN.to_owned()),
    )
    .expect("client")
}

/// An announcement channel, set in the war-room settings (war rooms for SEV1 and SEV2).
async fn announcement_channel(stack: &Stack) -> String {
    let channel = client(stack)
        .create_channel("incidents")
        .await
        .expect("channel")
        .id;
    let response = stack
        .http
        .request(
            Method::PUT,
            format!("{}/api/v1/warroom/settings", stack.warroom),
        )
        .bearer_auth(ADMIN)
        .json(
            &json!({ "severities": ["SEV1", "SEV2"], "drills": true, "archive_on_close": true,
                       "announcement_channel": channel }),
        )
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), StatusCode::OK);
    channel
}

/// The envelopes core published of `kind` about incident `id`, oldest first.
async fn published(pool: &PgPool, kind: &str, id: &str) -> Vec<Envelope> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE payload->>'type' = $1
         AND payload->'data'->'incident'->>'id' = $2 ORDER BY created_at",
    )
    .bind(kind)
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("outbox");
    rows.into_iter()
        .map(|p| serde_json::from_value(p).expect("envelope"))
        .collect()
}

/// Delivers `envelope` again, straight to a war room consumer (a redelivery).
async fn redeliver(stack: &Stack, envelope: &Envelope) {
    // A pool of its own, as another replica has: the running consumer's deliveries wait
    // on the incident's lock this one holds, and must not starve it of connections.
    let options = stack.pool.connect_options().as_ref().clone();
    let pool = PgPool::connect_with(options).await.expect("pool");
    let handler = WarRoom::new(pool.clone(), Some(Arc::new(Slack::new(client(stack)))))
        .with_public_url(Some(PUBLIC_URL.to_owned()));
    let mut tx = pool.begin().await.expect("tx");
    handler.handle(&mut tx, envelope).await.expect("handled");
    tx.commit().await.expect("commit");
}

fn action_ids(blocks: &Value) -> Vec<String> {
    blocks
        .as_array()
        .expect("blocks")
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_owned))
        .collect()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_declared_sev3_is_announced_once_and_its_message_follows_it_to_resolved(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let channel = announcement_channel(&stack).await;
    let (ada, grace) = stack.ada_and_grace().await;
    let incident = stack
        .declare(json!({ "title": "Search is slow", "severity": "SEV3", "commander_id": ada }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let reference = format!("INC-{}", incident["number"]);

    let posted = eventually("the announcement", || async {
        let messages = stack.fake.messages(&channel);
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(posted.len(), 1);
    let blocks = posted[0].blocks.clone().expect("blocks");
    assert_eq!(
        blocks[0]["text"]["text"],
        format!("🚨 {reference}: Search is slow")
    );
    let shown = blocks.to_string();
    assert!(
        shown.contains("SEV3") && shown.contains("INVESTIGATING") && shown.contains("<@UADA0001>"),
        "{shown}"
    );
    assert_eq!(
        action_ids(&blocks),
        [action::JOIN, action::OPEN_PAGE],
        "no war room: a Join button, and the incident's page"
    );
    assert!(shown.contains(&format!(
        "https://incident.example.com/ui/incidents/{reference}"
    )));
    assert!(
        stack.fake.channels().iter().all(|c| c.id == channel),
        "a SEV3 gets no war room channel"
    );

    // Redelivered: nothing is posted again.
    let declared = published(&pool, "incident.declared", &id).await;
    assert_eq!(declared.len(), 1);
    redeliver(&stack, &declared[0]).await;
    assert_eq!(stack.fake.messages(&channel).len(), 1);

    // "Join" makes the person a member of the incident.
    let body = stack.button_body("UGRACE01", &channel, action::JOIN, &id);
    let (status, _) = stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("grace is a member", || async {
        let (_, members) = stack
            .call(
                Method::GET,
                &format!("/api/v1/incidents/{id}/members"),
                None,
            )
            .await;
        members
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["user_id"] == json!(grace)))
            .then_some(())
    })
    .await;

    // Severity and status changes update the one message in place.
    let (status, body) = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({ "severity": "SEV4" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (status, shown) in [("IDENTIFIED", "IDENTIFIED"), ("RESOLVED", "RESOLVED")] {
        stack.status(&id, status).await;
        eventually(&format!("the announcement shows {shown}"), || async {
            let messages = stack.fake.messages(&channel);
            messages.first().filter(|m| m.text.contains(shown)).cloned()
        })
        .await;
    }
    let messages = stack.fake.messages(&channel);
    assert_eq!(messages.len(), 1, "one message per incident");
    let message = &messages[0];
    assert_eq!(message.ts, posted[0].ts, "updated in place");
    assert!(message.updates >= 2, "{} updates", message.updates);
    let blocks = message.blocks.clone().expect("blocks");
    assert_eq!(
        blocks[0]["text"]["text"],
        format!("✅ {reference}: Search is slow")
    );
    assert!(blocks.to_string().contains("SEV4"), "{blocks}");
    assert_eq!(
        action_ids(&blocks),
        [action::OPEN_PAGE],
        "a resolved incident has nothing to join"
    );
    assert_eq!(
        stack
            .fake
            .ok_calls("chat.postMessage")
            .iter()
            .filter(|c| c.args["channel"] == json!(channel))
            .count(),
        1,
        "posted once, then only updated"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn drills_and_private_incidents_are_not_announced(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let channel = announcement_channel(&stack).await;
    let drill = stack
        .declare(json!({ "title": "Game day", "severity": "SEV3", "is_drill": true }))
        .await;
    let private = stack
        .declare(json!({ "title": "Acquisition", "severity": "SEV3", "visibility": "PRIVATE" }))
        .await;
    let public = stack
        .declare(json!({ "title": "Public one", "severity": "SEV3" }))
        .await;
    eventually("the public incident's announcement", || async {
        (!stack.fake.messages(&channel).is_empty()).then_some(())
    })
    .await;
    // The war room consumed the drill's and the private incident's declares.
    let pool = stack.pool.clone();
    let mut declares = Vec::new();
    for incident in [&drill, &private] {
        let id = incident["id"].as_str().expect("id");
        declares.push(
            published(&pool, "incident.declared", id).await[0]
                .id
                .to_string(),
        );
    }
    eventually("both declares consumed", || async {
        let consumed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM inbox WHERE consumer = 'warroom.events' AND message_id = ANY($1)",
        )
        .bind(&declares)
        .fetch_one(&pool)
        .await
        .expect("inbox");
        (consumed == 2).then_some(())
    })
    .await;
    let ids =
        [&drill, &private].map(|i| i["id"].as_str().expect("id").parse::<Uuid>().expect("uuid"));
    for id in ids {
        assert_eq!(
            notify_store::announcement(&stack.pool, id)
                .await
                .expect("read"),
            None
        );
    }
    let messages = stack.fake.messages(&channel);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].text.contains("Public one"),
        "{}",
        messages[0].text
    );
    let _ = public;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn assigning_each_role_tells_each_holder_exactly_once(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    // Ada has a stored Slack id; Grace is found by email; Bob is a bot account in Slack
    // (found by email too): Slack refuses his DM, so he is mentioned in the war room.
    let ada = stack
        .user("ada@example.com", "Ada", Some("UADA0001"), Some("UADA0001"))
        .await;
    let grace = stack
        .user("grace@example.com", "Grace", None, Some("UGRACE01"))
        .await;
    let bob = stack.user("bob@example.com", "Bob", None, None).await;
    stack
        .fake
        .add_bot_user("UBOB0001", "bob@example.com", "Bob");
    let incident = stack
        .declare(json!({ "title": "Checkout down", "severity": "SEV1", "commander_id": ada }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let room = stack.settled(&id, 1).await;
    let channel = room.channel_id.clone().expect("channel");
    for (role, user) in [("tech_lead", grace), ("comms_lead", bob)] {
        let (status, body) = stack
            .call(
                Method::PUT,
                &format!("/api/v1/incidents/{id}/roles/{role}"),
                Some(json!({ "user_id": user })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let incident_id: Uuid = id.parse().expect("uuid");
    let told = eventually("three holders told", || async {
        let told = notify_store::notifications(&stack.pool, incident_id)
            .await
            .expect("notifications");
        (told.len() == 3).then_some(told)
    })
    .await;
    let by_user = |user: Uuid| {
        told.iter().find(|n| n.user_id == user).map(|n| {
            (
                n.delivery.clone(),
                n.slack_user_id.clone(),
                n.refusal.clone(),
            )
        })
    };
    assert_eq!(
        by_user(ada),
        Some(("dm".into(), Some("UADA0001".into()), None))
    );
    assert_eq!(
        by_user(grace),
        Some(("dm".into(), Some("UGRACE01".into()), None))
    );
    assert_eq!(
        by_user(bob),
        Some((
            "mention".into(),
            Some("UBOB0001".into()),
            Some("cannot_dm_bot".into())
        ))
    );

    let ada_dms = stack.fake.messages("UADA0001");
    assert_eq!(ada_dms.len(), 1);
    assert!(
        ada_dms[0].text.contains("You are the Incident Commander"),
        "{}",
        ada_dms[0].text
    );
    assert!(
        ada_dms[0].text.contains(&format!("<#{channel}>")),
        "the DM links the war room"
    );
    let grace_dms = stack.fake.messages("UGRACE01");
    assert_eq!(grace_dms.len(), 1);
    assert!(
        grace_dms[0].text.contains("You are the Tech Lead"),
        "{}",
        grace_dms[0].text
    );
    assert!(
        stack.fake.messages("UBOB0001").is_empty(),
        "a bot gets no DM"
    );
    let mentions: Vec<_> = stack
        .fake
        .messages(&channel)
        .into_iter()
        .filter(|m| m.text.starts_with("<@UBOB0001> You are the Comms Lead"))
        .collect();
    assert_eq!(
        mentions.len(),
        1,
        "Bob is mentioned in the war room instead"
    );

    // Every event delivered again: nobody is told twice.
    let mut events = published(&pool, "incident.declared", &id).await;
    events.extend(published(&pool, "incident.role_assigned", &id).await);
    assert_eq!(events.len(), 3);
    for event in &events {
        redeliver(&stack, event).await;
    }
    assert_eq!(stack.fake.messages("UADA0001").len(), 1);
    assert_eq!(stack.fake.messages("UGRACE01").len(), 1);
    let dm_calls = stack
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage" && c.args["channel"] == "UBOB0001")
        .count();
    assert_eq!(dm_calls, 1, "a refused DM is not tried again");
    assert_eq!(
        notify_store::notifications(&stack.pool, incident_id)
            .await
            .expect("notifications")
            .len(),
        3
    );

    // The posts and the timeline name people: mentions found by email, display names.
    let posts: Vec<String> = stack
        .fake
        .messages(&channel)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(
        posts
            .iter()
            .any(|t| t == "👤 <@UGRACE01> is now the Tech Lead"),
        "{posts:?}"
    );
    assert!(
        posts
            .iter()
            .any(|t| t == "👤 <@UBOB0001> is now the Comms Lead"),
        "{posts:?}"
    );
    let timeline = stack.timeline(&id).await;
    let entries: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        entries.contains(&"Tech Lead assigned to Grace"),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"Comms Lead assigned to Bob"),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.contains("assigned to user")),
        "{entries:?}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_refused_dm_without_a_war_room_is_a_mention_in_the_announcements_thread(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let channel = announcement_channel(&stack).await;
    let bob = stack.user("bob@example.com", "Bob", None, None).await;
    stack
        .fake
        .add_bot_user("UBOB0001", "bob@example.com", "Bob");
    let incident = stack
        .declare(json!({ "title": "Slow exports", "severity": "SEV4", "commander_id": bob }))
        .await;
    let id: Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
    let told = eventually("bob told", || async {
        notify_store::notifications(&stack.pool, id)
            .await
            .expect("read")
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(told.delivery, "mention");
    assert_eq!(told.channel_id.as_deref(), Some(channel.as_str()));
    let announcement = notify_store::announcement(&stack.pool, id)
        .await
        .expect("read")
        .expect("announced");
    let replies = stack.fake.replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(
        (replies[0].0.as_str(), replies[0].2.as_str()),
        (channel.as_str(), announcement.ts.as_str())
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn action_item_assignees_are_told_when_assigned_and_once_when_overdue(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let grace = stack
        .user(
            "grace@example.com",
            "Grace",
            Some("UGRACE01"),
            Some("UGRACE01"),
        )
        .await;
    let incident = stack
        .declare(json!({ "title": "Cache stampede", "severity": "SEV4" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let declared = published(&pool, "incident.declared", &id).await;
    let snapshot: IncidentSnapshot =
        serde_json::from_value(declared[0].data["incident"].clone()).expect("snapshot");
    let ws = snapshot.workspace_id;
    let item = Uuid::now_v7();
    let created = OutgoingMessage::of(
        ws,
        &ActionItemCreated {
            incident: snapshot.clone(),
            action_item: json!({ "id": item, "description": "Add jitter to cache expiry",
                                 "assignee_id": grace, "due_date": "2026-12-01" }),
            actor_id: None,
        },
    )
    .expect("message");
    let overdue = |occurrence: u32| {
        let _ = occurrence;
        OutgoingMessage::of(
            ws,
            &ActionItemOverdue {
                action_item_id: item,
                postmortem_id: Uuid::now_v7(),
                incident_id: snapshot.id,
                description: "Add jitter to cache expiry".into(),
                assignee_id: Some(grace),
                due_date: NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
                is_drill: false,
            },
        )
        .expect("message")
    };
    // Through the bus, as postmortem and the watchdog publish them (relayed here by the
    // war room's own relay): the contract routes them to the war room's queue. The
    // overdue event twice, as two messages (a second flagging must not tell again).
    let (first, second) = (overdue(1), overdue(2));
    let created_envelope = created.envelope.clone();
    let overdue_envelope = first.envelope.clone();
    let mut conn = pool.acquire().await.expect("conn");
    outbox::enqueue(
        &mut conn,
        incident_warroom::SERVICE,
        &[created, first, second],
    )
    .await
    .expect("enqueue");
    drop(conn);
    let dms = eventually("two DMs", || async {
        let dms = stack.fake.messages("UGRACE01");
        (dms.len() >= 2).then_some(dms)
    })
    .await;
    assert!(
        dms[0].text.starts_with("📋 You have an action item"),
        "{}",
        dms[0].text
    );
    assert!(dms[0].text.contains("Cache stampede") && dms[0].text.contains("2026-12-01"));
    assert!(
        dms[1].text.starts_with("⏰ Your action item"),
        "{}",
        dms[1].text
    );
    assert!(dms[1].text.contains("is overdue"), "{}", dms[1].text);

    // Delivered again, both: nothing more.
    redeliver(&stack, &created_envelope).await;
    redeliver(&stack, &overdue_envelope).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(stack.fake.messages("UGRACE01").len(), 2, "told once each");
    let keys: Vec<String> = notify_store::notifications(&stack.pool, snapshot.id)
        .await
        .expect("read")
        .into_iter()
        .map(|n| n.key)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&format!("overdue:{item}")), "{keys:?}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_drills_action_items_tell_only_assignees_who_take_part_in_the_drill(pool: PgPool) {
    let stack = Stack::spawn(pool.clone()).await;
    let (ada, grace) = stack.ada_and_grace().await;
    let incident = stack
        .declare(
            json!({ "title": "Fire drill", "severity": "SEV4", "is_drill": true,
                         "commander_id": ada }),
        )
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let declared = published(&pool, "incident.declared", &id).await;
    let snapshot: IncidentSnapshot =
        serde_json::from_value(declared[0].data["incident"].clone()).expect("snapshot");
    assert!(snapshot.is_drill);
    let ws = snapshot.workspace_id;
    let created = |assignee: Uuid| {
        OutgoingMessage::of(
            ws,
            &ActionItemCreated {
                incident: snapshot.clone(),
                action_item: json!({ "id": Uuid::now_v7(), "description": "Practise the failover",
                                     "assignee_id": assignee }),
                actor_id: None,
            },
        )
        .expect("message")
        .envelope
    };
    let overdue = |assignee: Uuid| {
        OutgoingMessage::of(
            ws,
            &ActionItemOverdue {
                action_item_id: Uuid::now_v7(),
                postmortem_id: Uuid::now_v7(),
                incident_id: snapshot.id,
                description: "Practise the failover".into(),
                assignee_id: Some(assignee),
                due_date: NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
                is_drill: true,
            },
        )
        .expect("message")
        .envelope
    };
    let items_told = |slack_user: &'static str| {
        let stack = &stack;
        async move {
            stack
                .fake
                .messages(slack_user)
                .into_iter()
                .filter(|m| m.text.contains("action item"))
                .count()
        }
    };

    // Grace takes no part: neither assigned nor overdue tells her. Ada, its commander, is told.
    redeliver(&stack, &created(grace)).await;
    redeliver(&stack, &overdue(grace)).await;
    redeliver(&stack, &created(ada)).await;
    assert_eq!(items_told("UADA0001").await, 1, "the commander is told");
    assert_eq!(items_told("UGRACE01").await, 0, "nobody outside the drill");

    // Once a member of the drill, she is.
    let (status, body) = stack
        .call(
            Method::PUT,
            &format!("/api/v1/incidents/{id}/members/{grace}"),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    redeliver(&stack, &overdue(grace)).await;
    assert_eq!(items_told("UGRACE01").await, 1, "a member takes part");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn reopening_an_incident_whose_channel_was_archived_unarchives_it(pool: PgPool) {
    let stack = Stack::spawn(pool).await;
    let incident = stack
        .declare(json!({ "title": "Queue backlog", "severity": "SEV2" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let reference = format!("INC-{}", incident["number"]);
    let room = stack.settled(&id, 1).await;
    let channel = room.channel_id.clone().expect("channel");
    let bookmarks = stack.fake.channel(&channel).expect("channel").bookmarks;
    assert_eq!(
        bookmarks,
        [(
            format!("Incident page ({reference})"),
            format!("https://incident.example.com/ui/incidents/{reference}")
        )],
        "the incident's page is bookmarked"
    );

    stack.status(&id, "RESOLVED").await;
    let version = stack.incident(&id).await["version"]
        .as_i64()
        .expect("version");
    stack.settled(&id, version).await;
    // Someone archives the resolved incident's channel in Slack.
    stack.fake.archive_by_person(&channel);
    stack.status(&id, "INVESTIGATING").await;
    let reopened = eventually("the reopen posted in the channel", || async {
        stack.fake.messages(&channel).into_iter().find(|m| {
            m.text
                .starts_with("🔄 Status: *RESOLVED* → *INVESTIGATING*")
        })
    })
    .await;
    let _ = reopened;
    assert!(
        !stack.fake.channel(&channel).expect("channel").archived,
        "unarchived"
    );
    assert_eq!(stack.fake.ok_calls("conversations.unarchive").len(), 1);
    assert_eq!(
        stack
            .fake
            .channel(&channel)
            .expect("channel")
            .bookmarks
            .len(),
        1,
        "bookmarked once, however many events"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_published_postmortem_is_announced_once_and_bookmarked_in_its_war_room(pool: PgPool) {
    use incident_schema::contract::PostmortemPublished;

    let stack = Stack::spawn(pool.clone()).await;
    let announcements = announcement_channel(&stack).await;
    let incident = stack
        .declare(json!({ "title": "Disk full", "severity": "SEV2" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let reference = format!("INC-{}", incident["number"]);
    let channel = stack.settled(&id, 1).await.channel_id.expect("channel");
    // The postmortem service publishes the incident as it is then: the war room has opened
    // (core stored the channel, a newer version) and the room has applied that version,
    // so the publication's snapshot is the newest one, as it is in real life.
    let version = eventually("the war room's channel stored on the incident", || async {
        let incident = stack.incident(&id).await;
        incident["version"].as_i64().filter(|v| *v > 1)
    })
    .await;
    stack.settled(&id, version).await;
    let declared = published(&pool, "incident.declared", &id).await;
    let mut snapshot: IncidentSnapshot =
        serde_json::from_value(declared[0].data["incident"].clone()).expect("snapshot");
    snapshot.version = version;
    let postmortem = Uuid::now_v7();
    let url = format!("https://incident.example.com/ui/postmortems/{postmortem}");
    let message = OutgoingMessage::of(
        snapshot.workspace_id,
        &PostmortemPublished {
            incident: snapshot,
            postmortem_id: postmortem,
            summary: "Logs filled the disk".into(),
            link: format!("/api/v1/postmortems/{postmortem}"),
            markdown_link: format!("/api/v1/postmortems/{postmortem}/markdown"),
            url: Some(url.clone()),
            published_at: None,
            actor_id: None,
        },
    )
    .expect("message");
    let envelope = message.envelope.clone();
    let mut conn = pool.acquire().await.expect("conn");
    outbox::enqueue(&mut conn, incident_warroom::SERVICE, &[message])
        .await
        .expect("enqueue");
    drop(conn);
    let announced = |stack: &Stack| {
        stack
            .fake
            .messages(&announcements)
            .into_iter()
            .filter(|m| m.text.starts_with("📝 The postmortem of"))
            .collect::<Vec<_>>()
    };
    let posted = eventually("the postmortem announced", || async {
        announced(&stack).into_iter().next()
    })
    .await;
    assert!(
        posted.text.contains(&reference)
            && posted.text.contains("Disk full")
            && posted.text.contains(&url),
        "{}",
        posted.text
    );
    assert!(
        posted
            .blocks
            .as_ref()
            .is_some_and(|b| b.to_string().contains("Logs filled the disk")),
        "the summary is quoted"
    );
    eventually("the postmortem bookmarked in the war room", || async {
        stack
            .fake
            .channel(&channel)
            .expect("channel")
            .bookmarks
            .contains(&("Postmortem".to_owned(), url.clone()))
            .then_some(())
    })
    .await;

    // Delivered again: announced once, bookmarked once.
    redeliver(&stack, &envelope).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(announced(&stack).len(), 1);
    assert_eq!(
        stack
            .fake
            .channel(&channel)
            .expect("channel")
            .bookmarks
            .len(),
        2,
        "the incident's page and the postmortem"
    );
}
