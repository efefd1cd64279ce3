//! A stateful fake Slack Web API for tests and the benchmark (reference §0–§3, §8).
//!
//! It serves `/api/<method>` on 127.0.0.1:0 and enforces the contract our client must
//! follow: bearer auth (`not_authed`, `invalid_auth`), JSON only where the method takes
//! it (`invalid_arguments` for JSON to `conversations.info`, `conversations.list`,
//! `users.info`, `users.lookupByEmail`; `missing_charset` warning), Slack's channel name
//! rules and errors, `name_taken` for archived names, private channels (`is_private` on
//! create, scope `groups:write`, listed only for `types` with `private_channel`, no
//! `conversations.join`), membership (`not_in_channel`,
//! `already_in_channel`), `is_archived`/`already_archived`, `already_pinned`,
//! `cant_update_message`, Block Kit limits (`invalid_blocks`), topics ≤ 250 (`too_long`),
//! single-use trigger ids valid 3 s, modals (`views.open`, `views.update` by `view_id`
//! with its `hash`: `not_found`, `hash_conflict`, `view_too_large`, a modal's limits),
//! and `ok:false` always with HTTP 200. Faults are
//! injected before a call is applied: 429 with `Retry-After` and 500, every n-th call or
//! queued for the next calls; and a method can be made to refuse a given user or channel
//! with a chosen code, every time ([`FakeSlack::refuse`]). Every call is recorded.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::naming::is_valid_name;
use crate::slack::blocks::validate_message_blocks;
use crate::slack::form;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-fake-token";
/// The bot's user id.
pub const BOT: &str = "UBOT0001";
/// The team.
pub const TEAM: &str = "TFAKE001";

const NO_JSON: &[&str] = &[
    "conversations.info",
    "conversations.list",
    "users.info",
    "users.lookupByEmail",
];

/// A channel as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeChannel {
    pub id: String,
    pub name: String,
    pub creator: String,
    pub archived: bool,
    pub is_private: bool,
    pub members: BTreeSet<String>,
    pub topic: String,
    pub bookmarks: Vec<(String, String)>,
}

/// A message.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub channel: String,
    pub ts: String,
    pub user: String,
    pub text: String,
    pub blocks: Option<Value>,
    pub updates: u32,
}

/// A recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub content_type: String,
    pub args: Value,
    /// `ok`, the error code, or `http_429` / `http_500` for injected faults.
    pub outcome: String,
    pub at: Instant,
}

/// An injected fault.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 with this `Retry-After` (seconds).
    RateLimited(u64),
    /// HTTP 500.
    ServerError,
}

#[derive(Default)]
struct Inner {
    channels: Vec<FakeChannel>,
    messages: Vec<FakeMessage>,
    ephemeral: Vec<(String, String, String)>,
    pins: BTreeSet<(String, String)>,
    users: Vec<(String, String, String)>,
    triggers: HashMap<String, (Instant, bool)>,
    views: Vec<Value>,
    calls: Vec<Call>,
    responses: Vec<(String, Value)>,
    seq: u64,
    api_calls: u64,
    rate_limit_every: Option<u64>,
    server_error_every: Option<u64>,
    retry_after: u64,
    queued: VecDeque<(Option<String>, Fault)>,
    revoked_scopes: BTreeSet<String>,
    refusals: Vec<(String, String, &'static str)>,
    people: People,
    /// This team's id and bot token (empty: the primary team, [`TEAM`] / [`TOKEN`]).
    team: String,
    token: String,
    /// An organisation-wide install's teams (an enterprise's state, [`FakeSlack::add_enterprise`]).
    org_teams: Option<BTreeSet<String>>,
    /// Open modals by view id: (hash, view) as last opened or updated.
    modals: HashMap<String, (String, Value)>,
    /// Each successful `views.update`: (view id, the new view).
    view_updates: Vec<(String, Value)>,
}

/// What the fake keeps for people and announcements (issue 17): bot users (a DM to one is
/// `cannot_dm_bot`), thread replies, bookmark ids.
#[derive(Default)]
struct People {
    bots: BTreeSet<String>,
    /// (channel, ts, thread_ts) of each reply.
    replies: Vec<(String, String, String)>,
    /// Bookmark id → (channel, index in the channel's bookmarks).
    bookmarks: HashMap<String, (String, usize)>,
}

/// The fake, serving until dropped.
#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: CancellationToken,
    /// Every team the fake serves besides the primary, and the OAuth flow's state.
    teams: Arc<Mutex<Teams>>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) <= 2 {
            self.stop.cancel();
        }
    }
}

fn ok(mut extra: Value) -> Response {
    extra["ok"] = json!(true);
    axum::Json(extra).into_response()
}

struct Args {
    map: Map<String, Value>,
}

impl Args {
    fn str(&self, key: &str) -> Option<String> {
        match self.map.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    fn json(&self, key: &str) -> Option<Value> {
        match self.map.get(key)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            other => Some(other.clone()),
        }
    }
}

impl FakeSlack {
    /// Starts the fake on 127.0.0.1:0.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            retry_after: 1,
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake slack");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let fake = Self {
            inner: inner.clone(),
            base,
            stop: stop.clone(),
            teams: Arc::new(Mutex::new(Teams::default())),
        };
        let app = Router::new()
            .route("/oauth/v2/authorize", axum::routing::get(authorize))
            .route("/api/{method}", any(api))
            .route("/response/{id}", post(response_url))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("serve fake slack");
        });
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake slack state")
    }

    /// The Web API base URL (`…/api`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// Adds a Slack user.
    pub fn add_user(&self, id: &str, email: &str, name: &str) {
        self.lock()
            .users
            .push((id.to_owned(), email.to_owned(), name.to_owned()));
    }

    /// Adds an archived channel named `name`, created by someone else.
    pub fn add_archived_channel(&self, name: &str) -> String {
        let mut inner = self.lock();
        inner.seq += 1;
        let id = format!("CARCH{:05}", inner.seq);
        inner.channels.push(FakeChannel {
            id: id.clone(),
            name: name.to_owned(),
            creator: "UOTHER01".to_owned(),
            archived: true,
            is_private: false,
            members: BTreeSet::new(),
            topic: String::new(),
            bookmarks: Vec::new(),
        });
        id
    }

    /// Answers 429 to every `n`th Web API call and 500 to every `m`th.
    pub fn faults_every(
        &self,
        rate_limit: Option<u64>,
        server_error: Option<u64>,
        retry_after: u64,
    ) {
        let mut inner = self.lock();
        inner.rate_limit_every = rate_limit;
        inner.server_error_every = server_error;
        inner.retry_after = retry_after;
    }

    /// Queues a fault for the next call of `method` (any method when `None`).
    pub fn inject(&self, method: Option<&str>, fault: Fault) {
        self.lock()
            .queued
            .push_back((method.map(str::to_owned), fault));
    }

    /// Makes every later call of `method` whose `channel`, `channel_id`, `user`, `users`
    /// or `email` argument names `target` answer `ok:false` with `code` (applying nothing),
    /// as Slack does for `cannot_dm_bot`, `user_not_found`, `not_allowed_token_type`, ...
    pub fn refuse(&self, method: &str, target: &str, code: &'static str) {
        self.lock()
            .refusals
            .push((method.to_owned(), target.to_owned(), code));
    }

    /// Takes a scope away from the token (its methods answer `missing_scope`).
    pub fn revoke_scope(&self, scope: &str) {
        self.lock().revoked_scopes.insert(scope.to_owned());
    }

    /// A fresh trigger id, valid 3 s and usable once.
    pub fn trigger_id(&self) -> String {
        let mut inner = self.lock();
        inner.seq += 1;
        let id = format!("{}.{}.abcdef{}", 1000 + inner.seq, 7890123, inner.seq);
        inner.triggers.insert(id.clone(), (Instant::now(), false));
        id
    }

    /// A response_url hosted by the fake.
    pub fn response_url(&self) -> String {
        let mut inner = self.lock();
        inner.seq += 1;
        format!("{}/response/{}", self.base, inner.seq)
    }

    /// Every recorded call.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The recorded calls of `method` that succeeded.
    pub fn ok_calls(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.outcome == "ok")
            .collect()
    }

    /// The channels.
    pub fn channels(&self) -> Vec<FakeChannel> {
        self.lock().channels.clone()
    }

    /// The channel with `id`.
    pub fn channel(&self, id: &str) -> Option<FakeChannel> {
        self.lock().channels.iter().find(|c| c.id == id).cloned()
    }

    /// The messages of `channel` (a channel id, or a user id for DMs), oldest first.
    pub fn messages(&self, channel: &str) -> Vec<FakeMessage> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// The pinned message timestamps of `channel`.
    pub fn pins(&self, channel: &str) -> Vec<String> {
        self.lock()
            .pins
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, ts)| ts.clone())
            .collect()
    }

    /// Ephemeral messages: (channel, user, text).
    pub fn ephemeral(&self) -> Vec<(String, String, String)> {
        self.lock().ephemeral.clone()
    }

    /// Opened views.
    pub fn views(&self) -> Vec<Value> {
        self.lock().views.clone()
    }

    /// What was posted to response_urls.
    pub fn responses(&self) -> Vec<(String, Value)> {
        self.lock().responses.clone()
    }
}

async fn response_url(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.lock().responses.push((id, value));
    ok(json!({}))
}

fn scope_of(method: &str) -> &'static str {
    match method {
        "conversations.create" | "conversations.archive" | "conversations.unarchive" => {
            "channels:manage"
        }
        "conversations.setTopic" => "channels:write.topic",
        "conversations.invite" => "channels:write.invites",
        "conversations.info" | "conversations.list" => "channels:read",
        "conversations.join" => "channels:join",
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => "chat:write",
        "pins.add" => "pins:write",
        "bookmarks.add" | "bookmarks.edit" => "bookmarks:write",
        "users.lookupByEmail" => "users:read.email",
        "users.info" => "users:read",
        _ => "",
    }
}

/// A method's answer before it becomes HTTP.
enum Answer {
    Ok(Value),
    Err(&'static str, Value),
}

fn fail(code: &'static str) -> Answer {
    Answer::Err(code, json!({}))
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_json = content_type.starts_with("application/json");
    let mut map = Map::new();
    let mut warning = None;
    let mut shape_error = None;
    if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => map = m,
            Ok(_) => shape_error = Some("json_not_object"),
            Err(_) => shape_error = Some("invalid_json"),
        }
        if !content_type.contains("charset=utf-8") {
            warning = Some("missing_charset");
        }
    } else {
        let text = String::from_utf8_lossy(&body);
        for (k, v) in form::decode(&text)
            .into_iter()
            .chain(form::decode(query.as_deref().unwrap_or_default()))
        {
            map.insert(k, Value::String(v));
        }
        if content_type.contains("charset") {
            warning = Some("superfluous_charset");
        }
    }
    let args_value = Value::Object(map.clone());
    if method == "oauth.v2.access" {
        return oauth_access(&fake, &map);
    }
    // The team whose token this is (the primary team's for any other).
    let fake = fake.team_of_token(&headers, &map);

    // Injected faults come first: nothing is applied.
    let fault = {
        let mut inner = fake.lock();
        inner.api_calls += 1;
        let n = inner.api_calls;
        let queued = inner
            .queued
            .iter()
            .position(|(m, _)| m.as_deref().is_none_or(|m| m == method));
        if let Some(i) = queued {
            inner.queued.remove(i).map(|(_, f)| f)
        } else if inner.rate_limit_every.is_some_and(|k| n % k == 0) {
            Some(Fault::RateLimited(inner.retry_after))
        } else if inner.server_error_every.is_some_and(|k| n % k == 0) {
            Some(Fault::ServerError)
        } else {
            None
        }
    };
    match fault {
        Some(Fault::RateLimited(secs)) => {
            fake.record(&method, &content_type, args_value, "http_429");
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                axum::Json(json!({ "ok": false, "error": "ratelimited" })),
            )
                .into_response();
        }
        Some(Fault::ServerError) => {
            fake.record(&method, &content_type, args_value, "http_500");
            return (StatusCode::INTERNAL_SERVER_ERROR, "<html>oops</html>").into_response();
        }
        None => {}
    }

    // Auth: the header, or a `token` form field.
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer.or_else(|| {
        if is_json {
            None
        } else {
            map.get("token").and_then(Value::as_str).map(str::to_owned)
        }
    });
    let answer = match (token, shape_error) {
        (None, _) => fail("not_authed"),
        (Some(t), _) if !fake.accepts(&t) => fail(fake.refusal_of_token(&t)),
        (_, Some(code)) => fail(code),
        (Some(_), None) if is_json && NO_JSON.contains(&method.as_str()) => Answer::Err(
            "invalid_arguments",
            json!({ "response_metadata": { "messages": ["[ERROR] this method does not accept JSON"] } }),
        ),
        (Some(_), None) => {
            let args = Args { map: map.clone() };
            let private = args.str("is_private").as_deref() == Some("true");
            // Private channels need the `groups:*` scopes (reference §1).
            let scope = if method == "conversations.create" && private {
                "groups:write"
            } else {
                scope_of(&method)
            };
            let refused = fake.lock().refusal(&method, &args);
            if let Some(code) = refused {
                fail(code)
            } else if fake.lock().revoked_scopes.contains(scope) {
                Answer::Err("missing_scope", json!({ "needed": scope, "provided": "" }))
            } else {
                fake.lock().apply(&method, &Args { map })
            }
        }
    };
    let (outcome, mut body) = match answer {
        Answer::Ok(mut value) => {
            value["ok"] = json!(true);
            if let Some(w) = warning {
                value["warning"] = json!(w);
                value["response_metadata"] = json!({ "warnings": [w] });
            }
            ("ok".to_owned(), value)
        }
        Answer::Err(code, mut value) => {
            value["error"] = json!(code);
            (code.to_owned(), value)
        }
    };
    if body.get("ok").is_none() {
        body["ok"] = json!(false);
    }
    fake.record(&method, &content_type, args_value, &outcome);
    axum::Json(body).into_response()
}

impl FakeSlack {
    fn record(&self, method: &str, content_type: &str, args: Value, outcome: &str) {
        self.lock().calls.push(Call {
            method: method.to_owned(),
            content_type: content_type.to_owned(),
            args,
            outcome: outcome.to_owned(),
            at: Instant::now(),
        });
    }
}

fn channel_json(c: &FakeChannel) -> Value {
    json!({
        "id": c.id, "name": c.name, "name_normalized": c.name, "is_channel": true,
        "is_private": c.is_private, "is_archived": c.archived, "is_member": c.members.contains(BOT),
        "creator": c.creator, "created": 1_700_000_000,
        "topic": { "value": c.topic, "creator": BOT, "last_set": 0 },
        "purpose": { "value": "", "creator": "", "last_set": 0 }, "previous_names": [],
    })
}

/// A modal's limits (reference §6): type `modal`, at most 100 blocks, title ≤ 24,
/// `private_metadata` ≤ 3000, the whole ≤ 250 kB (`view_too_large`); others
/// `invalid_arguments`.
fn modal_checked(view: &Value) -> Result<(), &'static str> {
    if view.to_string().len() > 250_000 {
        return Err("view_too_large");
    }
    let len = |p: &str| {
        view.pointer(p)
            .and_then(Value::as_str)
            .map_or(0, |s| s.chars().count())
    };
    let blocks = view.get("blocks").and_then(Value::as_array);
    if view["type"] != "modal"
        || blocks.is_none_or(|b| b.len() > 100)
        || !(1..=24).contains(&len("/title/text"))
        || len("/private_metadata") > 3000
    {
        return Err("invalid_arguments");
    }
    Ok(())
}

fn user_json(team: &str, id: &str, email: &str, name: &str) -> Value {
    json!({ "id": id, "team_id": team, "name": name, "real_name": name, "deleted": false,
            "is_bot": false, "tz": "UTC",
            "profile": { "email": email, "display_name": name, "real_name": name } })
}

impl Inner {
    /// The code of a [`FakeSlack::refuse`] rule matching this call, if any.
    fn refusal(&self, method: &str, args: &Args) -> Option<&'static str> {
        let targets: Vec<String> = ["channel", "channel_id", "user", "users", "email"]
            .iter()
            .filter_map(|key| args.str(key))
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        self.refusals
            .iter()
            .find(|(m, target, _)| m == method && targets.contains(target))
            .map(|(_, _, code)| *code)
    }

    fn next_ts(&mut self) -> String {
        self.seq += 1;
        format!(
            "{}.{:06}",
            1_700_000_000 + self.seq / 1_000_000,
            self.seq % 1_000_000
        )
    }

    /// The channel `id` for a write by the bot: exists, not archived, bot a member.
    fn writable(&self, id: Option<&str>) -> Result<usize, &'static str> {
        let id = id.ok_or("channel_not_found")?;
        let i = self
            .channels
            .iter()
            .position(|c| c.id == id)
            .ok_or("channel_not_found")?;
        if self.channels[i].archived {
            return Err("is_archived");
        }
        if !self.channels[i].members.contains(BOT) {
            return Err("not_in_channel");
        }
        Ok(i)
    }

    fn user_exists(&self, id: &str) -> bool {
        self.users.iter().any(|(u, _, _)| u == id) || id == BOT
    }

    fn apply(&mut self, method: &str, args: &Args) -> Answer {
        // An org token must name the team (reference: conversations.create's `team_id`,
        // "required if org token is used").
        if let Some(teams) = &self.org_teams
            && matches!(method, "conversations.create" | "conversations.list")
        {
            match args.str("team_id") {
                None => {
                    return Answer::Err(
                        "missing_argument",
                        json!({ "response_metadata": { "messages": ["[ERROR] team_id is required for an org-wide token"] } }),
                    );
                }
                Some(team) if !teams.contains(&team) => return fail("team_access_not_granted"),
                Some(_) => {}
            }
        }
        let result = match self.apply_people(method, args) {
            Some(result) => result,
            None => self.try_apply(method, args),
        };
        if let Ok(value) = &result {
            self.after_people(method, args, value);
        }
        match result {
            Ok(value) => Answer::Ok(value),
            Err(code) => fail(code),
        }
    }

    fn try_apply(&mut self, method: &str, args: &Args) -> Result<Value, &'static str> {
        match method {
            "auth.test" => {
                let mut identity = json!({ "url": format!("https://{}.fake.slack.com/", self.team_id().to_lowercase()),
                        "team": "Fake", "user": "incident-bot",
                        "team_id": self.team_id(), "user_id": BOT, "bot_id": "BFAKE001" });
                if self.org_teams.is_some() {
                    // An org token: the organisation, no one team.
                    identity["enterprise_id"] = json!(self.team_id());
                    identity["is_enterprise_install"] = json!(true);
                }
                Ok(identity)
            }
            "conversations.create" => {
                let name = args.str("name").unwrap_or_default();
                if name.is_empty() {
                    return Err("invalid_name_required");
                }
                if name.chars().count() > 80 {
                    return Err("invalid_name_maxlength");
                }
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
                {
                    return Err("invalid_name_specials");
                }
                if !is_valid_name(&name) {
                    return Err("invalid_name_punctuation");
                }
                if self.channels.iter().any(|c| c.name == name) {
                    return Err("name_taken");
                }
                self.seq += 1;
                let channel = FakeChannel {
                    id: format!("C{:08}", self.seq),
                    name,
                    creator: BOT.to_owned(),
                    archived: false,
                    is_private: args.str("is_private").as_deref() == Some("true"),
                    members: BTreeSet::from([BOT.to_owned()]),
                    topic: String::new(),
                    bookmarks: Vec::new(),
                };
                let value = channel_json(&channel);
                self.channels.push(channel);
                Ok(json!({ "channel": value }))
            }
            "conversations.list" => {
                let types = args
                    .str("types")
                    .unwrap_or_else(|| "public_channel".to_owned());
                let private = types.split(',').any(|t| t.trim() == "private_channel");
                let public = types.split(',').any(|t| t.trim() == "public_channel");
                let channels: Vec<Value> = self
                    .channels
                    .iter()
                    .filter(|c| {
                        if c.is_private {
                            private && c.members.contains(BOT)
                        } else {
                            public
                        }
                    })
                    .map(channel_json)
                    .collect();
                Ok(json!({ "channels": channels, "response_metadata": { "next_cursor": "" } }))
            }
            "conversations.info" => {
                let id = args.str("channel").ok_or("channel_not_found")?;
                let c = self
                    .channels
                    .iter()
                    .find(|c| c.id == id)
                    .ok_or("channel_not_found")?;
                Ok(json!({ "channel": channel_json(c) }))
            }
            "conversations.setTopic" => {
                let i = self.writable(args.str("channel").as_deref())?;
                let topic = args.str("topic").ok_or("invalid_arguments")?;
                if topic.chars().count() > 250 {
                    return Err("too_long");
                }
                self.channels[i].topic = topic;
                Ok(json!({ "channel": channel_json(&self.channels[i]) }))
            }
            "conversations.invite" => {
                let i = self.writable(args.str("channel").as_deref())?;
                let users: Vec<String> = args
                    .str("users")
                    .unwrap_or_default()
                    .split(',')
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty())
                    .collect();
                if users.is_empty() {
                    return Err("no_user");
                }
                if users.iter().any(|u| u == BOT) {
                    return Err("cant_invite_self");
                }
                if users.iter().any(|u| !self.user_exists(u)) {
                    return Err("user_not_found");
                }
                if users.iter().all(|u| self.channels[i].members.contains(u)) {
                    return Err("already_in_channel");
                }
                for u in users {
                    self.channels[i].members.insert(u);
                }
                Ok(json!({ "channel": channel_json(&self.channels[i]) }))
            }
            "conversations.join" => {
                let id = args.str("channel").ok_or("channel_not_found")?;
                let c = self
                    .channels
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or("channel_not_found")?;
                if c.archived {
                    return Err("is_archived");
                }
                if c.is_private {
                    return Err("method_not_supported_for_channel_type");
                }
                c.members.insert(BOT.to_owned());
                Ok(json!({ "channel": channel_json(c) }))
            }
            "conversations.archive" => {
                let id = args.str("channel").ok_or("channel_not_found")?;
                let i = self
                    .channels
                    .iter()
                    .position(|c| c.id == id)
                    .ok_or("channel_not_found")?;
                if self.channels[i].archived {
                    return Err("already_archived");
                }
                if !self.channels[i].members.contains(BOT) {
                    return Err("not_in_channel");
                }
                self.channels[i].archived = true;
                Ok(json!({}))
            }
            "chat.postMessage" => {
                let channel = args.str("channel").ok_or("channel_not_found")?;
                if !(channel.starts_with('U') && self.user_exists(&channel)) {
                    self.writable(Some(&channel))?;
                }
                let text = args.str("text").unwrap_or_default();
                let blocks = args.json("blocks");
                if text.is_empty() && blocks.is_none() {
                    return Err("no_text");
                }
                if let Some(b) = &blocks
                    && validate_message_blocks(b).is_err()
                {
                    return Err("invalid_blocks");
                }
                let ts = self.next_ts();
                self.messages.push(FakeMessage {
                    channel: channel.clone(),
                    ts: ts.clone(),
                    user: BOT.to_owned(),
                    text: text.clone(),
                    blocks: blocks.clone(),
                    updates: 0,
                });
                Ok(json!({ "channel": channel, "ts": ts,
                           "message": { "type": "message", "subtype": "bot_message", "text": text,
                                        "bot_id": "BFAKE001", "ts": ts, "blocks": blocks } }))
            }
            "chat.update" => {
                let channel = args.str("channel").ok_or("channel_not_found")?;
                self.writable(Some(&channel))?;
                let ts = args.str("ts").ok_or("message_not_found")?;
                let blocks = args.json("blocks");
                if let Some(b) = &blocks
                    && validate_message_blocks(b).is_err()
                {
                    return Err("invalid_blocks");
                }
                let m = self
                    .messages
                    .iter_mut()
                    .find(|m| m.channel == channel && m.ts == ts)
                    .ok_or("message_not_found")?;
                if m.user != BOT {
                    return Err("cant_update_message");
                }
                if let Some(text) = args.str("text") {
                    m.text = text;
                }
                if blocks.is_some() {
                    m.blocks = blocks;
                }
                m.updates += 1;
                Ok(json!({ "channel": channel, "ts": ts, "text": m.text }))
            }
            "chat.postEphemeral" => {
                let channel = args.str("channel").ok_or("channel_not_found")?;
                let i = self.writable(Some(&channel))?;
                let user = args.str("user").ok_or("user_not_in_channel")?;
                if !self.channels[i].members.contains(&user) {
                    return Err("user_not_in_channel");
                }
                let text = args.str("text").ok_or("no_text")?;
                self.ephemeral.push((channel, user, text));
                let ts = self.next_ts();
                Ok(json!({ "message_ts": ts }))
            }
            "pins.add" => {
                let channel = args.str("channel").ok_or("channel_not_found")?;
                self.writable(Some(&channel))?;
                let ts = args.str("timestamp").ok_or("no_item_specified")?;
                if !self
                    .messages
                    .iter()
                    .any(|m| m.channel == channel && m.ts == ts)
                {
                    return Err("message_not_found");
                }
                if !self.pins.insert((channel, ts)) {
                    return Err("already_pinned");
                }
                Ok(json!({}))
            }
            "bookmarks.add" => {
                let channel = args.str("channel_id").ok_or("channel_not_found")?;
                let i = self.writable(Some(&channel))?;
                if args.str("type").as_deref() != Some("link") {
                    return Err("invalid_bookmark_type");
                }
                let link = args.str("link").unwrap_or_default();
                if !(link.starts_with("http://") || link.starts_with("https://")) {
                    return Err("invalid_link");
                }
                let title = args.str("title").unwrap_or_default();
                self.seq += 1;
                self.channels[i]
                    .bookmarks
                    .push((title.clone(), link.clone()));
                Ok(
                    json!({ "bookmark": { "id": format!("Bk{}", self.seq), "channel_id": channel,
                                         "title": title, "link": link, "type": "link" } }),
                )
            }
            "users.lookupByEmail" => {
                let email = args.str("email").unwrap_or_default().to_lowercase();
                let (id, email, name) = self
                    .users
                    .iter()
                    .find(|(_, e, _)| e.to_lowercase() == email)
                    .ok_or("users_not_found")?;
                Ok(json!({ "user": user_json(self.team_id(), id, email, name) }))
            }
            "users.info" => {
                let user = args.str("user").unwrap_or_default();
                let (id, email, name) = self
                    .users
                    .iter()
                    .find(|(u, _, _)| *u == user)
                    .ok_or("user_not_found")?;
                Ok(json!({ "user": user_json(self.team_id(), id, email, name) }))
            }
            "views.open" => {
                let trigger = args.str("trigger_id").ok_or("invalid_trigger_id")?;
                let view = args.json("view").ok_or("invalid_arguments")?;
                let (issued, used) = self
                    .triggers
                    .get_mut(&trigger)
                    .ok_or("invalid_trigger_id")?;
                if *used {
                    return Err("exchanged_trigger_id");
                }
                if issued.elapsed() > Duration::from_secs(3) {
                    return Err("expired_trigger_id");
                }
                *used = true;
                modal_checked(&view)?;
                self.views.push(view.clone());
                self.seq += 1;
                let id = format!("V{:010}", self.seq);
                let hash = format!("{}.h{}", 1_700_000_000 + self.seq, self.seq);
                self.modals.insert(id.clone(), (hash.clone(), view.clone()));
                Ok(json!({ "view": { "id": id, "type": "modal", "hash": hash,
                                     "team_id": self.team_id(),
                                     "callback_id": view["callback_id"],
                                     "private_metadata": view["private_metadata"] } }))
            }
            // views.update: `view_id` (or `external_id`, which we never set) of an open
            // modal, else `not_found`; with `hash`, only the latest (`hash_conflict`).
            "views.update" => {
                let view = args.json("view").ok_or("invalid_arguments")?;
                let id = args.str("view_id").ok_or("invalid_arguments")?;
                modal_checked(&view)?;
                let (hash, _) = self.modals.get(&id).ok_or("not_found")?.clone();
                if args.str("hash").is_some_and(|h| h != hash) {
                    return Err("hash_conflict");
                }
                self.seq += 1;
                let hash = format!("{}.h{}", 1_700_000_000 + self.seq, self.seq);
                self.modals.insert(id.clone(), (hash.clone(), view.clone()));
                self.view_updates.push((id.clone(), view.clone()));
                Ok(json!({ "view": { "id": id, "type": "modal", "hash": hash,
                                     "team_id": self.team_id(),
                                     "callback_id": view["callback_id"],
                                     "private_metadata": view["private_metadata"] } }))
            }
            _ => Err("unknown_method"),
        }
    }
}

/// People and announcements (issue 17): DMs Slack refuses, thread replies, unarchiving
/// and bookmark edits.
///
/// - `chat.postMessage` to a user id is a DM (the app's messages tab); to a bot user
///   ([`FakeSlack::add_bot_user`]) it is `cannot_dm_bot`, to an unknown user
///   `channel_not_found`, as Slack answers; with `thread_ts` it is a reply, kept with its
///   parent ([`FakeSlack::replies`]), and the parent must exist (`thread_not_found`).
/// - `conversations.unarchive` (`channels:manage`): `channel_not_found`, `not_archived`;
///   unarchiving adds the caller to the channel. Slack documents that bot tokens cannot
///   currently unarchive; tests that want that refusal say so with [`FakeSlack::refuse`].
/// - `bookmarks.add` answers the bookmark's id, `bookmarks.edit` (`bookmarks:write`)
///   changes its title and link (`not_found` for an id not of that channel, `invalid_link`
///   as for add).
impl FakeSlack {
    /// Adds a bot user (a DM to it is refused with `cannot_dm_bot`).
    pub fn add_bot_user(&self, id: &str, email: &str, name: &str) {
        let mut inner = self.lock();
        inner
            .users
            .push((id.to_owned(), email.to_owned(), name.to_owned()));
        inner.people.bots.insert(id.to_owned());
    }

    /// Archives `channel` as a person in Slack would (not through the bot).
    pub fn archive_by_person(&self, channel: &str) {
        if let Some(c) = self.lock().channels.iter_mut().find(|c| c.id == channel) {
            c.archived = true;
        }
    }

    /// The open modals: view id → (hash, view), as last opened or updated.
    pub fn modals(&self) -> HashMap<String, (String, Value)> {
        self.lock().modals.clone()
    }

    /// Each successful `views.update`: (view id, the view it set).
    pub fn view_updates(&self) -> Vec<(String, Value)> {
        self.lock().view_updates.clone()
    }

    /// The replies in threads: (channel, ts, thread_ts).
    pub fn replies(&self) -> Vec<(String, String, String)> {
        self.lock().people.replies.clone()
    }
}

impl Inner {
    /// The methods (or the cases of one) that people and announcements added, applied
    /// before the others; `None` for everything else.
    fn apply_people(&mut self, method: &str, args: &Args) -> Option<Result<Value, &'static str>> {
        match method {
            "chat.postMessage" => {
                let channel = args.str("channel").unwrap_or_default();
                if self.people.bots.contains(&channel) {
                    return Some(Err("cannot_dm_bot"));
                }
                let thread = args.str("thread_ts")?;
                if !self
                    .messages
                    .iter()
                    .any(|m| m.channel == channel && m.ts == thread)
                {
                    return Some(Err("thread_not_found"));
                }
                None
            }
            "conversations.unarchive" => Some((|| {
                let id = args.str("channel").ok_or("channel_not_found")?;
                let c = self
                    .channels
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or("channel_not_found")?;
                if !c.archived {
                    return Err("not_archived");
                }
                c.archived = false;
                c.members.insert(BOT.to_owned());
                Ok(json!({}))
            })()),
            "bookmarks.edit" => Some((|| {
                let channel = args.str("channel_id").ok_or("channel_not_found")?;
                let i = self.writable(Some(&channel))?;
                let id = args.str("bookmark_id").ok_or("not_found")?;
                let (at, index) = self.people.bookmarks.get(&id).ok_or("not_found")?.clone();
                if at != channel {
                    return Err("not_found");
                }
                let link = args.str("link").unwrap_or_default();
                if !(link.starts_with("http://") || link.starts_with("https://")) {
                    return Err("invalid_link");
                }
                let title = args.str("title").unwrap_or_default();
                self.channels[i].bookmarks[index] = (title.clone(), link.clone());
                Ok(
                    json!({ "bookmark": { "id": id, "channel_id": channel, "title": title,
                                         "link": link, "type": "link" } }),
                )
            })()),
            _ => None,
        }
    }

    /// What a successful call of the others leaves for people and announcements: a
    /// reply's thread, a bookmark's id.
    fn after_people(&mut self, method: &str, args: &Args, value: &Value) {
        match method {
            "chat.postMessage" => {
                if let (Some(thread), Some(ts)) = (args.str("thread_ts"), value["ts"].as_str()) {
                    let channel = args.str("channel").unwrap_or_default();
                    self.people.replies.push((channel, ts.to_owned(), thread));
                }
            }
            "bookmarks.add" => {
                let channel = args.str("channel_id").unwrap_or_default();
                let id = value
                    .pointer("/bookmark/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(c) = self.channels.iter().find(|c| c.id == channel) {
                    let index = c.bookmarks.len() - 1;
                    self.people.bookmarks.insert(id, (channel, index));
                }
            }
            _ => {}
        }
    }
}
// ---------------------------------------------------------------------------------------
// Several Slack teams and the OAuth v2 install flow (issue 17).
//
// Besides the primary team ([`TEAM`], token [`TOKEN`]) the fake serves any number of
// teams added with [`FakeSlack::add_team`], each with its own state (channels, messages,
// faults, calls) and bot token, on the same server: a call is applied to the team whose
// token it carries. The install flow: the app's client id and secret are set with
// [`FakeSlack::oauth_app`]; `GET /oauth/v2/authorize` stands for the user approving the
// install in the team they signed in to ([`FakeSlack::sign_in`]) and redirects to the
// `redirect_uri` with a single-use code (valid 10 minutes) and the `state`; `oauth.v2.access`
// exchanges the code (client id and secret checked) for that team's bot token. An
// uninstalled team's token answers `token_revoked` ([`FakeSlack::uninstall`]).

/// The teams besides the primary, and the OAuth app.
#[derive(Default)]
struct Teams {
    teams: Vec<TeamEntry>,
    client: Option<(String, String)>,
    signed_in: Option<String>,
    codes: HashMap<String, (String, String, Instant, bool)>,
    seq: u64,
}

struct TeamEntry {
    team: String,
    token: String,
    inner: Arc<Mutex<Inner>>,
    revoked: bool,
    /// An Enterprise Grid organisation installed org-wide (`team` is its `E…` id).
    org: bool,
}

impl Inner {
    /// This team's id.
    fn team_id(&self) -> &str {
        if self.team.is_empty() {
            TEAM
        } else {
            &self.team
        }
    }
}

impl FakeSlack {
    fn teams(&self) -> MutexGuard<'_, Teams> {
        self.teams.lock().expect("fake slack teams")
    }

    /// Adds Slack team `team_id` with its own state and bot token; the handle reads and
    /// steers that team (its channels, messages, faults, calls).
    pub fn add_team(&self, team_id: &str) -> FakeSlack {
        let mut teams = self.teams();
        let n = teams.teams.len() as u64 + 1;
        let inner = Arc::new(Mutex::new(Inner {
            retry_after: 1,
            // Ids unique across teams, as Slack's are.
            seq: n * 1_000_000,
            team: team_id.to_owned(),
            token: format!("xoxb-{}-bot-token", team_id.to_lowercase()),
            ..Inner::default()
        }));
        teams.teams.push(TeamEntry {
            team: team_id.to_owned(),
            token: format!("xoxb-{}-bot-token", team_id.to_lowercase()),
            inner: inner.clone(),
            revoked: false,
            org: false,
        });
        FakeSlack {
            inner,
            base: self.base.clone(),
            // Dropping a team's handle stops nothing.
            stop: CancellationToken::new(),
            teams: self.teams.clone(),
        }
    }

    /// Adds Enterprise Grid organisation `enterprise_id` with the teams `teams`, installed
    /// organisation-wide: one org token for all of them (`xoxb-<e>-org-token`), one
    /// state standing for the organisation's channels and messages. Its install answers
    /// `team: null`, `enterprise`, `is_enterprise_install: true`; `conversations.create`
    /// and `conversations.list` with its token need `team_id`, one of `teams`
    /// (`missing_argument`, `team_access_not_granted`).
    pub fn add_enterprise(&self, enterprise_id: &str, teams: &[&str]) -> FakeSlack {
        let handle = self.add_team(enterprise_id);
        handle.lock().org_teams = Some(teams.iter().map(|t| (*t).to_owned()).collect());
        let token = format!("xoxb-{}-org-token", enterprise_id.to_lowercase());
        handle.lock().token = token.clone();
        if let Some(entry) = self
            .teams()
            .teams
            .iter_mut()
            .find(|e| e.team == enterprise_id)
        {
            entry.org = true;
            entry.token = token;
        }
        handle
    }

    /// This handle's team id.
    pub fn team_id(&self) -> String {
        self.lock().team_id().to_owned()
    }

    /// This team's bot token.
    pub fn token(&self) -> String {
        let inner = self.lock();
        if inner.token.is_empty() {
            TOKEN.to_owned()
        } else {
            inner.token.clone()
        }
    }

    /// The Slack app's client id and secret `oauth.v2.access` accepts.
    pub fn oauth_app(&self, client_id: &str, client_secret: &str) {
        self.teams().client = Some((client_id.to_owned(), client_secret.to_owned()));
    }

    /// The user approving installs is signed in to this handle's team.
    pub fn sign_in(&self) {
        let team = self.team_id();
        self.teams().signed_in = Some(team);
    }

    /// Uninstalls the app from this handle's team: its token answers `token_revoked`.
    pub fn uninstall(&self) {
        let team = self.team_id();
        for entry in self.teams().teams.iter_mut().filter(|e| e.team == team) {
            entry.revoked = true;
        }
    }

    /// The handle of the team whose bot token the call carries (the primary otherwise).
    fn team_of_token(&self, headers: &HeaderMap, map: &Map<String, Value>) -> FakeSlack {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| map.get("token").and_then(Value::as_str));
        let teams = self.teams();
        match teams.teams.iter().find(|e| Some(e.token.as_str()) == token) {
            Some(entry) => FakeSlack {
                inner: entry.inner.clone(),
                base: self.base.clone(),
                stop: CancellationToken::new(),
                teams: self.teams.clone(),
            },
            None => self.clone(),
        }
    }

    /// Whether `token` is this team's live bot token.
    fn accepts(&self, token: &str) -> bool {
        if token != self.token() {
            return false;
        }
        let team = self.team_id();
        !self
            .teams()
            .teams
            .iter()
            .any(|e| e.team == team && e.revoked)
    }

    /// What a token this team does not accept answers.
    fn refusal_of_token(&self, token: &str) -> &'static str {
        let revoked = self
            .teams()
            .teams
            .iter()
            .any(|e| e.token == token && e.revoked);
        if revoked {
            "token_revoked"
        } else {
            "invalid_auth"
        }
    }
}

/// `GET /oauth/v2/authorize`: the signed-in user approves; back to `redirect_uri` with a
/// code and the state.
async fn authorize(State(fake): State<FakeSlack>, RawQuery(query): RawQuery) -> Response {
    let pairs = form::decode(query.as_deref().unwrap_or_default());
    let field = |k: &str| form::get(&pairs, k).unwrap_or_default().to_owned();
    let (client_id, redirect_uri, state) =
        (field("client_id"), field("redirect_uri"), field("state"));
    let mut teams = fake.teams();
    if teams.client.as_ref().map(|(id, _)| id.as_str()) != Some(client_id.as_str()) {
        return (StatusCode::BAD_REQUEST, "invalid_client_id").into_response();
    }
    if !(redirect_uri.starts_with("http://") || redirect_uri.starts_with("https://")) {
        return (StatusCode::BAD_REQUEST, "bad_redirect_uri").into_response();
    }
    let Some(team) = teams.signed_in.clone() else {
        return (StatusCode::BAD_REQUEST, "nobody is signed in").into_response();
    };
    teams.seq += 1;
    let code = format!("code-{}-{}", team.to_lowercase(), teams.seq);
    teams.codes.insert(
        code.clone(),
        (team, redirect_uri.clone(), Instant::now(), false),
    );
    let location = format!(
        "{redirect_uri}?{}",
        form::encode([("code", code.as_str()), ("state", state.as_str())])
    );
    (StatusCode::FOUND, [("location", location)]).into_response()
}

/// `oauth.v2.access`: the code (single use, 10 minutes, for the same redirect URI) and
/// the app's credentials for the team's bot token.
fn oauth_access(fake: &FakeSlack, map: &Map<String, Value>) -> Response {
    let arg = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut teams = fake.teams();
    let answer = (|| {
        let (id, secret) = teams.client.clone().ok_or("invalid_client_id")?;
        if arg("client_id") != id {
            return Err("invalid_client_id");
        }
        if arg("client_secret") != secret {
            return Err("bad_client_secret");
        }
        let (team, redirect, issued, used) =
            teams.codes.get_mut(arg("code")).ok_or("invalid_code")?;
        if *used {
            return Err("code_already_used");
        }
        if issued.elapsed() > Duration::from_secs(600) {
            return Err("invalid_code");
        }
        if !arg("redirect_uri").is_empty() && arg("redirect_uri") != redirect.as_str() {
            return Err("bad_redirect_uri");
        }
        *used = true;
        let team = team.clone();
        let entry = teams
            .teams
            .iter_mut()
            .find(|e| e.team == team)
            .ok_or("invalid_code")?;
        // A reinstall brings the token back.
        entry.revoked = false;
        if entry.org {
            return Ok(json!({
                "ok": true, "access_token": entry.token, "token_type": "bot",
                "scope": "commands,chat:write,channels:manage,channels:read,users:read",
                "bot_user_id": BOT, "app_id": "AFAKE001", "team": null,
                "enterprise": { "id": entry.team, "name": format!("Org {}", entry.team) },
                "is_enterprise_install": true, "authed_user": { "id": "UINSTALL1" },
            }));
        }
        Ok(json!({
            "ok": true, "access_token": entry.token, "token_type": "bot",
            "scope": "commands,chat:write,channels:manage,channels:read,users:read",
            "bot_user_id": BOT, "app_id": "AFAKE001",
            "team": { "id": entry.team, "name": format!("Team {}", entry.team) },
            "enterprise": null, "is_enterprise_install": false,
            "authed_user": { "id": "UINSTALL1" },
        }))
    })();
    match answer {
        Ok(body) => axum::Json(body).into_response(),
        Err(code) => axum::Json(json!({ "ok": false, "error": code })).into_response(),
    }
}
