//! Slack installed per workspace (issue 17): two of our workspaces installed into two fake
//! Slack teams through the OAuth flow, their requests and work kept apart, an uninstall,
//! the OAuth state's single use, and one team's 429 storm leaving the other's work
//! flowing.

use figment::providers::Serialized;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fake_slack::FakeSlack;
use crate::support::{ADMIN, Stack, eventually, now};

const CLIENT_ID: &str = "1111.2222";
const CLIENT_SECRET: &str = "fake-client-secret-0123";
/// base64 of the 32 bytes `0123456789abcdef0123456789abcdef`.
const SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const TEAM_A: &str = "TALPHA001";
const TEAM_B: &str = "TBRAVO001";

/// A stack with the install flow configured and no single bot token.
async fn stack(pool: PgPool) -> Stack {
    stack_with(pool, false).await
}

/// A stack with the install flow configured, and the single bot token when `single`.
async fn stack_with(pool: PgPool, single: bool) -> Stack {
    let stack = Stack::spawn_configured(pool, single, |figment, fake| {
        figment
            .merge(Serialized::default("slack_client_id", CLIENT_ID))
            .merge(Serialized::default("slack_client_secret", CLIENT_SECRET))
            .merge(Serialized::default("secrets_key", SECRETS_KEY))
            .merge(Serialized::default("public_url", "http://incident.test"))
            .merge(Serialized::default(
                "slack_oauth_url",
                format!("{}/oauth/v2/authorize", fake.base),
            ))
    })
    .await;
    stack.fake.oauth_app(CLIENT_ID, CLIENT_SECRET);
    stack
}

/// A client that does not follow redirects.
fn manual() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

/// Runs the install flow for the workspace of `token` into `team`, step by step as a
/// browser does: our install route, Slack's authorize page, our callback (reached on the
/// warroom's real address instead of the public URL). Returns the callback's URL (to
/// replay) and its answer.
async fn install(stack: &Stack, token: &str, workspace: Uuid, team: &FakeSlack) -> (String, Value) {
    let (callback, status, body) = install_flow(stack, token, workspace, team, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (callback, body)
}

/// [`install`] with `query` added to the install route's, answering whatever the
/// callback answers.
async fn install_flow(
    stack: &Stack,
    token: &str,
    workspace: Uuid,
    team: &FakeSlack,
    query: &str,
) -> (String, StatusCode, Value) {
    team.sign_in();
    let http = manual();
    let started = http
        .get(format!(
            "{}/slack/install?workspace={workspace}{query}",
            stack.warroom
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("install");
    assert_eq!(started.status(), StatusCode::FOUND);
    let authorize = location(&started);
    assert!(authorize.starts_with(&format!("{}/oauth/v2/authorize?", stack.fake.base)));
    assert!(
        authorize.contains("redirect_uri=http%3A%2F%2Fincident.test%2Fslack%2Foauth%2Fcallback")
    );
    assert!(authorize.contains("chat%3Awrite"), "{authorize}");
    if let Some(team) = query.strip_prefix("&team=") {
        // Slack's page preselects the team chosen.
        assert!(authorize.contains(&format!("&team={team}")), "{authorize}");
    }
    let approved = http.get(&authorize).send().await.expect("authorize");
    assert_eq!(approved.status(), StatusCode::FOUND);
    let callback = location(&approved).replace("http://incident.test", &stack.warroom);
    let done = http.get(&callback).send().await.expect("callback");
    let status = done.status();
    (callback, status, done.json().await.expect("json"))
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_browser_finishing_the_install_is_sent_back_to_the_war_room_settings(pool: PgPool) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let ws_a = default_workspace(&pool).await;
    team_a.sign_in();
    let http = manual();
    let started = http
        .get(format!("{}/slack/install?workspace={ws_a}", stack.warroom))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("install");
    let approved = http
        .get(location(&started))
        .send()
        .await
        .expect("authorize");
    let callback = location(&approved).replace("http://incident.test", &stack.warroom);
    let done = http
        .get(&callback)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("callback");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/ui/settings/war-room");
    let team: Option<String> =
        sqlx::query_scalar("SELECT team_id FROM slack_installations WHERE workspace_id = $1")
            .bind(ws_a)
            .fetch_one(&pool)
            .await
            .expect("installed");
    assert_eq!(team.as_deref(), Some(TEAM_A));
}

async fn default_workspace(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
        .fetch_one(pool)
        .await
        .expect("default workspace")
}

/// A second workspace of ours and its admin token.
async fn second_workspace(stack: &Stack) -> (Uuid, String) {
    let created = stack
        .post(
            "/api/v1/workspaces",
            json!({ "slug": "bravo", "name": "Bravo" }),
        )
        .await;
    (
        created["id"].as_str().expect("id").parse().expect("uuid"),
        created["admin_token"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

async fn post_as(stack: &Stack, token: &str, path: &str, body: Value) -> Value {
    let (status, body) = stack
        .api
        .json(token, reqwest::Method::POST, path, Some(body))
        .await;
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn room_channel(stack: &Stack, incident: &Value) -> String {
    let id = incident["id"].as_str().expect("id");
    stack.settled(id, 1).await.channel_id.expect("channel")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn two_workspaces_installed_into_two_teams_keep_commands_buttons_and_channels_apart(
    pool: PgPool,
) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let team_b = stack.fake.add_team(TEAM_B);
    let ws_a = default_workspace(&pool).await;
    let (ws_b, token_b) = second_workspace(&stack).await;
    let (_, installed_a) = install(&stack, ADMIN, ws_a, &team_a).await;
    assert_eq!(installed_a["team_id"], TEAM_A);
    let (_, installed_b) = install(&stack, &token_b, ws_b, &team_b).await;
    assert_eq!(installed_b["team_id"], TEAM_B);

    // The token is stored sealed: not in clear anywhere in the row.
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT bot_token_sealed FROM slack_installations WHERE workspace_id = $1",
    )
    .bind(ws_a)
    .fetch_one(&pool)
    .await
    .expect("installation");
    let token_a = team_a.token();
    assert!(
        !sealed
            .windows(token_a.len())
            .any(|w| w == token_a.as_bytes())
    );

    // One person in each workspace, each in their own team.
    team_a.add_user("UADA00001", "ada@example.com", "Ada");
    team_b.add_user("UBOB00001", "bob@example.com", "Bob");
    let ada = stack
        .post("/api/v1/users", json!({ "email": "ada@example.com", "display_name": "Ada", "slack_user_id": "UADA00001" }))
        .await;
    let bob = post_as(
        &stack,
        &token_b,
        "/api/v1/users",
        json!({ "email": "bob@example.com", "display_name": "Bob", "slack_user_id": "UBOB00001" }),
    )
    .await;

    let a = stack
        .declare(json!({ "title": "Alpha checkout down", "severity": "SEV1", "commander_id": ada["id"] }))
        .await;
    let b = post_as(
        &stack,
        &token_b,
        "/api/v1/incidents",
        json!({ "title": "Bravo search down", "severity": "SEV1", "commander_id": bob["id"] }),
    )
    .await;
    let channel_a = room_channel(&stack, &a).await;
    let channel_b = room_channel(&stack, &b).await;

    // Each war room is in its own team, made with its own token; none in the primary.
    assert_eq!(team_a.channels().len(), 1);
    assert_eq!(team_a.channels()[0].id, channel_a);
    assert_eq!(team_b.channels().len(), 1);
    assert_eq!(team_b.channels()[0].id, channel_b);
    assert!(stack.fake.channels().is_empty());
    assert_eq!(
        team_a.messages("UADA00001").len(),
        1,
        "Ada briefed in team A"
    );
    assert_eq!(
        team_b.messages("UBOB00001").len(),
        1,
        "Bob briefed in team B"
    );

    // A slash command from team B in B's channel sees B's incident...
    let body = stack.slash_body_from(TEAM_B, "UBOB00001", &channel_b, "status");
    let (status, text) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("Bravo search down"), "{text}");
    // ...and one claiming to come from team A in B's channel sees nothing of it.
    let body = stack.slash_body_from(TEAM_A, "UBOB00001", &channel_b, "status");
    let (status, text) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains("Bravo"), "{text}");

    // A button on B's incident pressed from team A changes nothing...
    let b_id = b["id"].as_str().expect("id");
    let body = stack.button_body_from(TEAM_A, "UADA00001", &channel_b, "incident_resolve", b_id);
    let (status, _) = stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // ...pressed from team B by B's person, it resolves B.
    let body = stack.button_body_from(TEAM_B, "UBOB00001", &channel_b, "incident_resolve", b_id);
    let (status, _) = stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("B resolved from team B", || async {
        let (_, row) = stack
            .api
            .json(
                &token_b,
                reqwest::Method::GET,
                &format!("/api/v1/incidents/{b_id}"),
                None,
            )
            .await;
        (row["status"] == "RESOLVED").then_some(())
    })
    .await;
    // The resolution was by Bob (team B's button), not by the team A press before it.
    let (_, timeline) = stack
        .api
        .json(
            &token_b,
            reqwest::Method::GET,
            &format!("/api/v1/incidents/{b_id}/timeline"),
            None,
        )
        .await;
    let resolved: Vec<&Value> = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("Marked resolved from Slack"))
        })
        .collect();
    assert_eq!(resolved.len(), 1, "{timeline}");
    assert!(
        resolved[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Bob"))
    );
    // Team A's incident is untouched.
    assert_eq!(
        stack.incident(a["id"].as_str().expect("id")).await["status"],
        "INVESTIGATING"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_uninstall_stops_posting_to_that_team_and_is_recorded(pool: PgPool) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let ws_a = default_workspace(&pool).await;
    install(&stack, ADMIN, ws_a, &team_a).await;
    let incident = stack
        .declare(json!({ "title": "Before the uninstall", "severity": "SEV1" }))
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    room_channel(&stack, &incident).await;

    team_a.uninstall();
    let event = json!({ "type": "event_callback", "team_id": TEAM_A, "api_app_id": "AFAKE001",
                        "event": { "type": "app_uninstalled" }, "event_id": "Ev1", "event_time": now() });
    let (status, _) = stack
        .slack_post(
            "/slack/events",
            "application/json",
            &event.to_string(),
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (at, reason): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) = sqlx::query_as(
        "SELECT uninstalled_at, uninstall_reason FROM slack_installations WHERE workspace_id = $1",
    )
    .bind(ws_a)
    .fetch_one(&pool)
    .await
    .expect("installation");
    assert!(at.is_some(), "the uninstall is recorded with its time");
    assert_eq!(reason.as_deref(), Some("app_uninstalled"));
    let calls_at_uninstall = team_a.calls().len();

    // Later work for that team is given up with the reason, not retried, not posted.
    stack.status(&id, "IDENTIFIED").await;
    let dead: String = eventually("the job given up with its reason", || async {
        sqlx::query_scalar::<_, String>(
            "SELECT dead_reason FROM warroom_jobs WHERE workspace_id = $1 AND dead_reason IS NOT NULL
             AND envelope->>'type' = 'incident.status_changed'",
        )
        .bind(ws_a)
        .fetch_optional(&pool)
        .await
        .expect("jobs")
    })
    .await;
    assert!(
        dead.contains("no longer installed in team TALPHA001"),
        "{dead}"
    );
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM warroom_jobs WHERE workspace_id = $1 AND dead_reason IS NULL",
    )
    .bind(ws_a)
    .fetch_one(&pool)
    .await
    .expect("jobs");
    assert_eq!(live, 0, "nothing left to retry");
    assert_eq!(
        team_a.calls().len(),
        calls_at_uninstall,
        "nothing more was sent to the team"
    );

    // Its requests reach no workspace any more.
    let channel = stack
        .room(&id)
        .await
        .and_then(|r| r.channel_id)
        .expect("channel");
    let body = stack.slash_body_from(TEAM_A, "UADA00001", &channel, "status");
    let (_, text) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert!(!text.contains("Before the uninstall"), "{text}");
}

async fn problem(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{status}");
    (status, response.json().await.expect("problem"))
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_oauth_state_reused_or_unknown_is_refused_and_another_workspace_is_not_found(
    pool: PgPool,
) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let ws_a = default_workspace(&pool).await;
    let http = manual();

    let unknown = http
        .get(format!(
            "{}/slack/oauth/callback?code=x&state=never-issued",
            stack.warroom
        ))
        .send()
        .await
        .expect("callback");
    let (status, body) = problem(unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "https://incident.dev/problems/bad-request");
    assert_eq!(body["field"], "state");

    let (callback, _) = install(&stack, ADMIN, ws_a, &team_a).await;
    let replayed = http.get(&callback).send().await.expect("replay");
    let (status, body) = problem(replayed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "state");

    // Another workspace's install answers 404; no token answers 401.
    let (ws_b, _) = second_workspace(&stack).await;
    let other = http
        .get(format!("{}/slack/install?workspace={ws_b}", stack.warroom))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("install");
    let (status, body) = problem(other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["type"], "https://incident.dev/problems/not-found");
    let anonymous = http
        .get(format!("{}/slack/install?workspace={ws_a}", stack.warroom))
        .send()
        .await
        .expect("install");
    assert_eq!(problem(anonymous).await.0, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_429_storm_on_one_team_leaves_another_teams_war_room_flowing(pool: PgPool) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let team_b = stack.fake.add_team(TEAM_B);
    let ws_a = default_workspace(&pool).await;
    let (ws_b, token_b) = second_workspace(&stack).await;
    install(&stack, ADMIN, ws_a, &team_a).await;
    install(&stack, &token_b, ws_b, &team_b).await;
    // Team B's war-room latency (declared → room with its summary), calm everywhere.
    let b_room_latency = |title: &'static str| {
        let (stack, token_b) = (&stack, token_b.clone());
        async move {
            let started = std::time::Instant::now();
            let b = post_as(
                stack,
                &token_b,
                "/api/v1/incidents",
                json!({ "title": title, "severity": "SEV1" }),
            )
            .await;
            room_channel(stack, &b).await;
            started.elapsed()
        }
    };
    let calm = b_room_latency("Bravo before the storm").await;

    // Every call to team A answers 429, Retry-After 5 s.
    team_a.faults_every(Some(1), None, 5);
    let a = stack
        .declare(json!({ "title": "Alpha under a storm", "severity": "SEV1" }))
        .await;
    eventually("team A rate limited and paused", || async {
        let paused: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM warroom_team_pacing WHERE team = $1 AND not_before > now())",
        )
        .bind(TEAM_A)
        .fetch_one(&pool)
        .await
        .expect("pacing");
        (paused && team_a.calls().iter().any(|c| c.outcome == "http_429")).then_some(())
    })
    .await;

    // Team B's war room is made while team A is still throttled, as fast as in the calm:
    // within the calm latency plus 1.5 s (each waits on the same 1 s outbox poll at
    // worst), far below team A's 5 s Retry-After it would wait behind if it queued.
    let storm = b_room_latency("Bravo in the storm").await;
    eprintln!("team B war room: {calm:?} calm, {storm:?} during team A's 429 storm");
    assert!(
        storm <= calm + std::time::Duration::from_millis(1500),
        "team B's war room took {storm:?} during team A's storm, {calm:?} before"
    );
    assert!(storm < std::time::Duration::from_secs(5), "{storm:?}");
    assert_eq!(team_b.channels().len(), 2);
    assert!(
        team_a.channels().is_empty(),
        "team A got nothing through the storm"
    );
    assert!(team_a.calls().iter().all(|c| c.outcome == "http_429"));
    let (live, last_error): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), max(last_error) FROM warroom_jobs WHERE workspace_id = $1 AND dead_reason IS NULL",
    )
    .bind(ws_a)
    .fetch_one(&pool)
    .await
    .expect("jobs");
    assert_eq!(live, 1, "team A's job is deferred, not lost");
    assert!(last_error.is_some_and(|e| e.contains("rate limited")));
    assert!(!team_b.calls().iter().any(|c| c.outcome == "http_429"));

    // When the storm ends, team A's war room follows: nothing was lost.
    team_a.faults_every(None, None, 1);
    let id_a = a["id"].as_str().expect("id");
    stack.settled(id_a, 1).await;
    assert_eq!(team_a.channels().len(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_single_token_serves_only_workspaces_without_an_installation_of_their_own(
    pool: PgPool,
) {
    let stack = stack_with(pool.clone(), true).await;
    let team_b = stack.fake.add_team(TEAM_B);
    let (ws_b, token_b) = second_workspace(&stack).await;
    install(&stack, &token_b, ws_b, &team_b).await;
    team_b.add_user("UBOB00001", "bob@example.com", "Bob");
    post_as(
        &stack,
        &token_b,
        "/api/v1/users",
        json!({ "email": "bob@example.com", "display_name": "Bob", "slack_user_id": "UBOB00001" }),
    )
    .await;

    // The default workspace has no installation: its war room is the single token's team.
    let a = stack
        .declare(json!({ "title": "Alpha on the single token", "severity": "SEV1" }))
        .await;
    let b = post_as(
        &stack,
        &token_b,
        "/api/v1/incidents",
        json!({ "title": "Bravo installed", "severity": "SEV1" }),
    )
    .await;
    let channel_a = room_channel(&stack, &a).await;
    let channel_b = room_channel(&stack, &b).await;
    assert_eq!(stack.fake.channels().len(), 1);
    assert_eq!(stack.fake.channels()[0].id, channel_a);
    assert_eq!(team_b.channels()[0].id, channel_b);

    // A request from the single token's team reaches neither B's channel nor B's people.
    let body = stack.slash_body_from(crate::fake_slack::TEAM, "UBOB00001", &channel_b, "status");
    let (status, text) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains("Bravo"), "{text}");
    let b_id = b["id"].as_str().expect("id");
    // The button handler writes its command before answering: none was written.
    let body = stack.button_body_from(
        crate::fake_slack::TEAM,
        "UBOB00001",
        &channel_b,
        "incident_acknowledge",
        b_id,
    );
    let (status, _) = stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let acknowledges = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM outbox WHERE publisher = 'warroom'
             AND payload->>'type' = 'incident.acknowledge' AND payload->'data'->>'incident_id' = $1",
        )
        .bind(b_id)
        .fetch_one(&pool)
        .await
        .expect("outbox")
    };
    assert_eq!(
        acknowledges().await,
        0,
        "the single token's team acknowledged nothing"
    );
    // From B's own team the same person is known, and the same button acknowledges.
    let body = stack.slash_body_from(TEAM_B, "UBOB00001", &channel_b, "status");
    let (_, text) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert!(text.contains("Bravo installed"), "{text}");
    let body = stack.button_body_from(
        TEAM_B,
        "UBOB00001",
        &channel_b,
        "incident_acknowledge",
        b_id,
    );
    stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(acknowledges().await, 1);
}

const ORG: &str = "EORG00001";
const ORG_TEAM_1: &str = "TORGONE01";
const ORG_TEAM_2: &str = "TORGTWO01";

async fn event(stack: &Stack, event: &Value) {
    let (status, _) = stack
        .slack_post(
            "/slack/events",
            "application/json",
            &event.to_string(),
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// `/incident <text>` from `team` of organisation `enterprise`.
async fn slash_in(
    stack: &Stack,
    team: &str,
    enterprise: &str,
    channel: &str,
    text: &str,
) -> String {
    let body = format!(
        "{}&enterprise_id={enterprise}",
        stack.slash_body_from(team, "UADA00001", channel, text)
    );
    let (status, answer) = stack
        .slack_post(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    answer
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_organisation_wide_install_serves_every_team_of_its_enterprise_until_it_is_uninstalled(
    pool: PgPool,
) {
    let stack = stack(pool.clone()).await;
    let org = stack.fake.add_enterprise(ORG, &[ORG_TEAM_1, ORG_TEAM_2]);
    let ws = default_workspace(&pool).await;
    let installs = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM slack_installations")
            .fetch_one(&pool)
            .await
            .expect("count")
    };

    // A team that is not a Slack team id is refused before Slack is asked.
    let bad = manual()
        .get(format!(
            "{}/slack/install?workspace={ws}&team=x%3Bdrop",
            stack.warroom
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("install");
    let (status, refused) = problem(bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["field"], "team");

    // Without the team its war rooms are created in, an org install is refused.
    let (_, status, problem) = install_flow(&stack, ADMIN, ws, &org, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "team");
    assert_eq!(installs().await, 0, "nothing stored");
    // With it, the org install is stored for the enterprise, with no team.
    let (_, status, installed) =
        install_flow(&stack, ADMIN, ws, &org, &format!("&team={ORG_TEAM_1}")).await;
    assert_eq!(status, StatusCode::OK, "{installed}");
    assert_eq!(installed["team_id"], Value::Null);
    assert_eq!(installed["enterprise_id"], ORG);
    assert_eq!(installed["is_enterprise_install"], true);
    assert_eq!(installed["channel_team_id"], ORG_TEAM_1);
    let row: (Option<String>, Option<String>, bool) = sqlx::query_as(
        "SELECT team_id, enterprise_id, is_enterprise_install FROM slack_installations WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_one(&pool)
    .await
    .expect("installation");
    assert_eq!(row, (None, Some(ORG.to_owned()), true));

    // Its war rooms are made with the org token, in the chosen team.
    org.add_user("UADA00001", "ada@example.com", "Ada");
    let ada = stack
        .post("/api/v1/users", json!({ "email": "ada@example.com", "display_name": "Ada", "slack_user_id": "UADA00001" }))
        .await;
    let incident = stack
        .declare(
            json!({ "title": "Org checkout down", "severity": "SEV1", "commander_id": ada["id"] }),
        )
        .await;
    let id = incident["id"].as_str().expect("id").to_owned();
    let channel = room_channel(&stack, &incident).await;
    let created = org.ok_calls("conversations.create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].args["team_id"], ORG_TEAM_1);
    assert!(
        stack.fake.channels().is_empty(),
        "nothing in the primary team"
    );

    // A command from either team of the enterprise reaches the workspace...
    for team in [ORG_TEAM_1, ORG_TEAM_2] {
        let answer = slash_in(&stack, team, ORG, &channel, "status").await;
        assert!(answer.contains("Org checkout down"), "{team}: {answer}");
    }
    // ...one from a team outside it, or claiming another enterprise, does not.
    let answer = slash_in(&stack, "TOUTSIDE1", "EOTHER001", &channel, "status").await;
    assert!(!answer.contains("Org checkout down"), "{answer}");
    // A button from the second team acts on the incident.
    let payload = json!({
        "type": "block_actions", "user": { "id": "UADA00001", "team_id": ORG_TEAM_2 },
        "team": { "id": ORG_TEAM_2 }, "enterprise": { "id": ORG }, "is_enterprise_install": true,
        "trigger_id": stack.fake.trigger_id(), "response_url": stack.fake.response_url(),
        "channel": { "id": channel },
        "actions": [{ "type": "button", "action_id": "incident_resolve", "value": id }],
    });
    let body = incident_warroom::slack::form::encode([("payload", payload.to_string().as_str())]);
    let (status, _) = stack
        .slack_post(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &body,
            now(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resolved = eventually("resolved from the second team", || async {
        let incident = stack.incident(&id).await;
        (incident["status"] == "RESOLVED").then(|| incident["version"].as_i64().expect("version"))
    })
    .await;
    // The war room has applied the resolve (its posts are sent) before the app goes: what
    // is counted below as sent to the organisation is then all that was.
    stack.settled(&id, resolved).await;

    // One team removing the app is not the organisation's uninstall...
    event(&stack, &json!({ "type": "event_callback", "team_id": ORG_TEAM_2, "enterprise_id": ORG,
                           "event": { "type": "app_uninstalled" }, "event_id": "Ev1", "event_time": now() })).await;
    assert_eq!(
        sqlx::query_scalar::<_, Option<String>>("SELECT uninstall_reason FROM slack_installations")
            .fetch_one(&pool)
            .await
            .expect("row"),
        None
    );
    // ...the org-wide one is, and nothing more is posted to the organisation.
    org.uninstall();
    event(
        &stack,
        &json!({ "type": "event_callback", "team_id": ORG_TEAM_1, "enterprise_id": ORG,
                           "is_enterprise_install": true, "event": { "type": "app_uninstalled" },
                           "event_id": "Ev2", "event_time": now() }),
    )
    .await;
    assert_eq!(
        sqlx::query_scalar::<_, Option<String>>("SELECT uninstall_reason FROM slack_installations")
            .fetch_one(&pool)
            .await
            .expect("row")
            .as_deref(),
        Some("app_uninstalled")
    );
    let calls = org.calls().len();
    stack
        .declare(json!({ "title": "After the org uninstall", "severity": "SEV1" }))
        .await;
    let dead: String = eventually("the new incident's job given up", || async {
        sqlx::query_scalar::<_, String>(
            "SELECT dead_reason FROM warroom_jobs WHERE envelope->>'type' = 'incident.declared'
               AND envelope->'data'->'incident'->>'title' = 'After the org uninstall'",
        )
        .fetch_optional(&pool)
        .await
        .expect("jobs")
    })
    .await;
    assert!(
        dead.contains("no longer installed in team EORG00001"),
        "{dead}"
    );
    assert_eq!(org.calls().len(), calls, "nothing more sent");
    let answer = slash_in(&stack, ORG_TEAM_2, ORG, &channel, "status").await;
    assert!(!answer.contains("Org checkout down"), "{answer}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_revoked_bot_token_uninstalls_and_a_reinstall_makes_the_team_live_again(pool: PgPool) {
    let stack = stack(pool.clone()).await;
    let team_a = stack.fake.add_team(TEAM_A);
    let ws_a = default_workspace(&pool).await;
    install(&stack, ADMIN, ws_a, &team_a).await;
    let reason = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT uninstall_reason FROM slack_installations WHERE workspace_id = $1",
        )
        .bind(ws_a)
        .fetch_one(&pool)
        .await
        .expect("installation")
    };
    let revoked = |tokens: Value| {
        json!({ "type": "event_callback", "team_id": TEAM_A, "event_time": now(),
                "event_id": format!("Ev{}", uuid::Uuid::new_v4().simple()),
                "event": { "type": "tokens_revoked", "tokens": tokens } })
    };
    // Only user tokens revoked: not ours, nothing changes.
    event(&stack, &revoked(json!({ "oauth": ["UADA00001"] }))).await;
    assert_eq!(reason().await, None);
    // The bot's token revoked: uninstalled, with the reason.
    team_a.uninstall();
    event(&stack, &revoked(json!({ "bot": ["UBOT0001"] }))).await;
    assert_eq!(reason().await.as_deref(), Some("tokens_revoked"));
    let declared = stack
        .declare(json!({ "title": "While revoked", "severity": "SEV1" }))
        .await;
    let dead: String = eventually("its job given up", || async {
        sqlx::query_scalar::<_, String>(
            "SELECT dead_reason FROM warroom_jobs WHERE dead_reason IS NOT NULL
               AND envelope->>'type' = 'incident.declared'",
        )
        .fetch_optional(&pool)
        .await
        .expect("jobs")
    })
    .await;
    assert!(dead.contains("tokens_revoked"), "{dead}");

    // Reinstalled: live again, the token replaced, and new work reaches the team.
    let (_, installed) = install(&stack, ADMIN, ws_a, &team_a).await;
    assert_eq!(installed["team_id"], TEAM_A);
    assert_eq!(reason().await, None);
    let after = stack
        .declare(json!({ "title": "After the reinstall", "severity": "SEV1" }))
        .await;
    let channel = room_channel(&stack, &after).await;
    assert!(team_a.channel(&channel).is_some(), "made in team A");
    assert!(
        stack
            .room(declared["id"].as_str().expect("id"))
            .await
            .and_then(|r| r.channel_id)
            .is_none(),
        "work given up while revoked is not replayed"
    );
}
