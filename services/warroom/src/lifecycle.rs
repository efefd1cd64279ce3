//! The war room's lifecycle, driven by events on `incidents.events` (queue
//! `warroom.events`).
//!
//! Every incident event carries the incident as it stood after the change, so the
//! handler converges Slack onto that snapshot, one recorded step at a time:
//! channel (created once, `name_taken` resolved by finding our own channel or adding a
//! suffix), topic, invites, the commander's DM, the pinned summary (`chat.update` when it
//! changes), the event's own post, and the archive on close. Each step is recorded in
//! `warroom_rooms` / `warroom_posts` through the pool right after its Slack call, so a
//! redelivered event repeats nothing that was done. A snapshot older than the applied
//! version changes neither topic nor summary.
//!
//! A PRIVATE incident (its `visibility`, from the snapshot, else from its row) gets a
//! private channel (`is_private`), named `inc-42-private` and with a topic without the
//! title; the pinned summary inside may show the title, since only members see it. User
//! text is escaped wherever it is rendered into mrkdwn ([`crate::slack::mrkdwn`]).
//!
//! Once the channel exists, the handler's transaction writes it onto the incident
//! (`slack_channel_id`, `slack_channel_url`), emits `incident.warroom_opened` and asks
//! core for a timeline note (`incident.add_update`, kind `NOTE`, internal).
//!
//! Steps fail on their own. The channel, topic, summary (and its pin), the event's post
//! and the archive are the war room; the rest is optional and best effort: the commander's
//! DM, the invite of each role holder, the email lookup of a user. Slack failures:
//!
//! - transient ones (429 past the client's retries, 5xx, timeouts) fail the delivery
//!   transiently so the runner retries it, whichever step they hit: nothing is lost;
//! - a permanent refusal of an optional step (`cannot_dm_bot`, `user_not_found`,
//!   `not_allowed_token_type`, any other `ok:false`) is logged at WARN, recorded in
//!   `warroom_step_failures`, put on the incident's timeline once per step and code, and
//!   skipped: the other steps carry on;
//! - a permanent refusal of a war room step (`channel_not_found`, `missing_scope`, ...) is
//!   logged with its code, recorded, and put on the incident's timeline once per code, and
//!   the delivery is acknowledged.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, OutgoingMessage, QueueSpec, outbox};
use incident_schema::contract::{AddUpdate, IncidentWarroomOpened, Message};
use incident_schema::{IncidentStatus, TimelineKind, Visibility, event};
use serde::Deserialize as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::SERVICE;
use crate::naming;
use crate::slack::blocks::Summary;
use crate::slack::client::Identity;
use crate::slack::mrkdwn::escape;
use crate::slack::{SlackClient, SlackError};
use crate::store::{self, Room};

/// The queue the warroom consumes events from.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::WARROOM_EVENTS)
}

/// The incident the war room reads from `data.incident`: the contract's snapshot.
pub use incident_schema::contract::IncidentSnapshot as Snapshot;

/// Slack, when a bot token is configured.
pub struct Slack {
    /// The Web API client.
    pub client: SlackClient,
    identity: OnceCell<Identity>,
}

impl Slack {
    /// Wraps a client.
    pub fn new(client: SlackClient) -> Self {
        Self {
            client,
            identity: OnceCell::new(),
        }
    }

    /// Who the bot is (`auth.test`, asked once).
    pub async fn identity(&self) -> Result<&Identity, SlackError> {
        self.identity
            .get_or_try_init(|| self.client.auth_test())
            .await
    }
}

/// The event consumer.
#[derive(Clone)]
pub struct WarRoom {
    pool: PgPool,
    slack: Option<Arc<Slack>>,
}

impl WarRoom {
    /// A consumer on `pool`, doing nothing Slack-wise without `slack`.
    pub fn new(pool: PgPool, slack: Option<Arc<Slack>>) -> Self {
        Self { pool, slack }
    }
}

/// Why a step stopped.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tolerate(result: Result<(), SlackError>, codes: &[&str]) -> Result<(), SlackError> {
    match result {
        Err(e) if codes.iter().any(|c| e.is(c)) => Ok(()),
        other => other,
    }
}

/// Puts a command to core into the outbox, in `conn`'s transaction.
pub async fn send_command<M: Message>(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    command: &M,
    cause: Option<&Envelope>,
) -> Result<(), HandlerError> {
    let message = OutgoingMessage::of(workspace_id, command)
        .map_err(|e| HandlerError::permanent(format!("encoding {}: {e}", M::TYPE)))?
        .caused_by(cause);
    outbox::enqueue(conn, SERVICE, &[message]).await?;
    Ok(())
}

/// An internal timeline note from the war room.
fn note(incident_id: Uuid, message: String) -> AddUpdate {
    AddUpdate {
        incident_id,
        actor_id: None,
        message,
        is_public: false,
        kind: Some(TimelineKind::Note),
    }
}

struct Run<'a> {
    pool: &'a PgPool,
    slack: &'a Slack,
    message: &'a Envelope,
    snap: &'a Snapshot,
    /// Whether the incident is PRIVATE.
    private: bool,
}

impl Run<'_> {
    /// The result of an optional step: its value, `None` when Slack refused it for good
    /// (recorded and skipped), or the transient failure that retries the delivery.
    async fn optional<T>(
        &self,
        step: &str,
        result: Result<T, SlackError>,
    ) -> Result<Option<T>, StepError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                let code = refusal_code(&e);
                tracing::warn!(
                    incident = %self.snap.reference, step, method = e.method(), code = %code, error = %e,
                    "slack refused an optional war room step; carrying on without it"
                );
                store::record_failure(self.pool, self.snap.id, step, e.method(), &code).await?;
                Ok(None)
            }
        }
    }

    async fn slack_id(&self, user: Uuid) -> Result<Option<(String, String)>, StepError> {
        let Some(person) = store::person(self.pool, self.snap.workspace_id, user).await? else {
            return Ok(None);
        };
        if let Some(id) = person.slack_user_id {
            return Ok(Some((id, person.display_name)));
        }
        let found = match self.slack.client.lookup_by_email(&person.email).await {
            Err(e) if e.is("users_not_found") => {
                tracing::info!(user = %user, "no Slack account for this user's email; not invited");
                return Ok(None);
            }
            other => other,
        };
        Ok(self
            .optional(&format!("lookup:{user}"), found)
            .await?
            .map(|found| (found.id, person.display_name)))
    }

    async fn display_name(&self, user: Option<Uuid>) -> Result<Option<String>, StepError> {
        let Some(user) = user else { return Ok(None) };
        Ok(store::person(self.pool, self.snap.workspace_id, user)
            .await?
            .map(|p| p.display_name))
    }

    /// Creates the channel once; returns the room with its channel.
    async fn ensure_channel(&self, room: Option<Room>) -> Result<Room, StepError> {
        let snap = self.snap;
        let identity = self.slack.identity().await?.clone();
        let (mut attempt, mut name) = match &room {
            Some(r) => (r.name_attempt, r.channel_name.clone()),
            None => (0, None),
        };
        for _ in 0..50 {
            let current = name.take().unwrap_or_else(|| {
                let attempt = u32::try_from(attempt).unwrap_or(0);
                if self.private {
                    naming::private_channel_name(number(snap), snap.is_drill, attempt)
                } else {
                    naming::channel_name(number(snap), &snap.title, snap.is_drill, attempt)
                }
            });
            store::begin_create(self.pool, snap.id, snap.workspace_id, &current, attempt).await?;
            let created = self
                .slack
                .client
                .create_conversation(&current, self.private)
                .await;
            let channel = match created {
                Ok(channel) => Some(channel),
                Err(e) if e.is("name_taken") => self.find_own(&current, &identity).await?,
                Err(e) => return Err(e.into()),
            };
            if let Some(channel) = channel {
                let url = channel_url(&identity, &channel.id);
                store::set_channel(self.pool, snap.id, &channel.id, &url).await?;
                tracing::info!(incident = %snap.reference, channel = %channel.id, name = %current, "war room channel created");
                return store::room(self.pool, snap.id)
                    .await?
                    .ok_or_else(|| sqlx::Error::RowNotFound.into());
            }
            attempt += 1;
        }
        Err(SlackError::Api {
            method: "conversations.create",
            code: "name_taken".to_owned(),
            needed: None,
        }
        .into())
    }

    /// Our own unarchived channel named `name` that no other incident has: the one a
    /// previous attempt created before its id could be stored.
    async fn find_own(
        &self,
        name: &str,
        identity: &Identity,
    ) -> Result<Option<crate::slack::client::Channel>, StepError> {
        let mut cursor = String::new();
        loop {
            let (channels, next) = self
                .slack
                .client
                .list_conversations(&cursor, self.private)
                .await?;
            for channel in channels {
                if channel.name == name
                    && channel.is_private == self.private
                    && !channel.is_archived
                    && channel.creator.as_deref() == Some(identity.user_id.as_str())
                    && !store::channel_claimed(self.pool, &channel.id, self.snap.id).await?
                {
                    return Ok(Some(channel));
                }
            }
            if next.is_empty() {
                return Ok(None);
            }
            cursor = next;
        }
    }

    async fn converge(&self, room: &Room, channel: &str, newest: bool) -> Result<(), StepError> {
        let snap = self.snap;
        let client = &self.slack.client;
        if newest {
            // Topic.
            let commander = self.display_name(snap.commander_id).await?;
            let topic = naming::topic(
                snap.severity.as_str(),
                (!self.private).then_some(snap.title.as_str()),
                snap.status.as_str(),
                commander.as_deref(),
                snap.is_drill,
            );
            let topic_hash = hash(&topic);
            if room.topic_hash.as_deref() != Some(topic_hash.as_str()) {
                client.set_topic(channel, &topic).await?;
                store::set(self.pool, snap.id, "topic_hash", topic_hash).await?;
            }

            // Invites of the role holders.
            let mut holders = Vec::new();
            for user in [snap.commander_id, snap.tech_lead_id, snap.comms_lead_id]
                .into_iter()
                .flatten()
            {
                if !holders.contains(&user) {
                    holders.push(user);
                }
            }
            for user in holders {
                let Some((slack_user, _)) = self.slack_id(user).await? else {
                    continue;
                };
                if room.invited.contains(&slack_user) {
                    continue;
                }
                let invited = tolerate(
                    client
                        .invite(channel, std::slice::from_ref(&slack_user))
                        .await,
                    &["already_in_channel"],
                );
                // A refused invite is tried again on a later event (the account may be
                // fixed by then); its refusal reaches the timeline once.
                if self
                    .optional(&format!("invite:{slack_user}"), invited)
                    .await?
                    .is_some()
                {
                    store::add_invited(self.pool, snap.id, &slack_user).await?;
                }
            }

            // The commander's briefing.
            if let Some(commander) = snap.commander_id
                && room.briefed_commander != Some(commander)
            {
                if let Some((slack_user, _)) = self.slack_id(commander).await? {
                    let text = format!(
                        "You are the Incident Commander of *{}: {}* ({}). Join <#{channel}>, acknowledge, \
                         set the status as it moves, post an update at least every 30 minutes, \
                         and hand over explicitly if you step away.",
                        snap.reference,
                        escape(&snap.title),
                        snap.severity
                    );
                    let sent = client.post_message(&slack_user, &text, None).await;
                    // Refused or not, this commander's briefing is done: a refusal is
                    // recorded and not repeated on every later event.
                    self.optional(&format!("dm:{commander}"), sent).await?;
                }
                store::set(self.pool, snap.id, "briefed_commander", commander).await?;
            }

            // The summary.
            let commander_label = match snap.commander_id {
                Some(user) => self
                    .slack_id(user)
                    .await?
                    .map(|(id, _)| format!("<@{id}>"))
                    .or(commander.as_deref().map(escape)),
                None => None,
            };
            let services = store::services(self.pool, snap.id).await?;
            let summary = Summary {
                reference: &snap.reference,
                incident_id: snap.id.to_string(),
                title: &snap.title,
                description: &snap.description,
                severity: snap.severity.as_str(),
                status: snap.status.as_str(),
                commander: commander_label,
                detected_at: snap.detected_at.timestamp(),
                services,
                is_drill: snap.is_drill,
            };
            let blocks = summary.blocks();
            let text = summary.text();
            let summary_hash = hash(&format!("{text}\n{blocks}"));
            match &room.summary_ts {
                None => {
                    let ts = client.post_message(channel, &text, Some(&blocks)).await?;
                    store::set(self.pool, snap.id, "summary_ts", ts.clone()).await?;
                    store::set(self.pool, snap.id, "summary_hash", summary_hash).await?;
                    tolerate(client.pin(channel, &ts).await, &["already_pinned"])?;
                    store::set(self.pool, snap.id, "pinned", true).await?;
                }
                Some(ts) => {
                    if room.summary_hash.as_deref() != Some(summary_hash.as_str()) {
                        client
                            .update_message(channel, ts, &text, Some(&blocks))
                            .await?;
                        store::set(self.pool, snap.id, "summary_hash", summary_hash).await?;
                    }
                    if !room.pinned {
                        tolerate(client.pin(channel, ts).await, &["already_pinned"])?;
                        store::set(self.pool, snap.id, "pinned", true).await?;
                    }
                }
            }
        }

        // The event's own post.
        if let Some(text) = self.post_text().await?
            && !store::posted(self.pool, snap.id, self.message.id).await?
        {
            let ts = client.post_message(channel, &text, None).await?;
            store::record_post(self.pool, snap.id, self.message.id, &ts).await?;
        }
        Ok(())
    }

    async fn mention(&self, user: Option<Uuid>) -> Result<String, StepError> {
        let Some(user) = user else {
            return Ok("someone".to_owned());
        };
        let person = store::person(self.pool, self.snap.workspace_id, user).await?;
        Ok(match person {
            Some(p) => match p.slack_user_id {
                Some(id) => format!("<@{id}>"),
                None => escape(&p.display_name),
            },
            None => "someone".to_owned(),
        })
    }

    /// What this event says in the channel, if anything.
    async fn post_text(&self) -> Result<Option<String>, StepError> {
        let data = &self.message.data;
        let actor = || {
            data.get("actor_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        };
        let s = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(match self.message.message_type.as_str() {
            event::INCIDENT_ACKNOWLEDGED => Some(format!(
                "✅ Acknowledged by {}",
                self.mention(actor()).await?
            )),
            event::INCIDENT_STATUS_CHANGED => {
                let mut text = format!(
                    "🔄 Status: *{}* → *{}* (by {})",
                    s("from"),
                    s("to"),
                    self.mention(actor()).await?
                );
                let message = s("message");
                if !message.trim().is_empty() {
                    text.push_str(&format!(
                        "\n> {}",
                        naming::truncate(&escape(message.trim()), 3000)
                    ));
                }
                Some(text)
            }
            event::INCIDENT_SEVERITY_CHANGED => Some(format!(
                "📈 Severity: *{}* → *{}* (by {})",
                s("from"),
                s("to"),
                self.mention(actor()).await?
            )),
            event::INCIDENT_ROLE_ASSIGNED => {
                let role = s("role").replace('_', " ");
                let user = data
                    .get("user_id")
                    .and_then(Value::as_str)
                    .and_then(|u| u.parse().ok());
                Some(match user {
                    Some(user) => {
                        format!("👤 {} is now the {role}", self.mention(Some(user)).await?)
                    }
                    None => format!("👤 The {role} role is unassigned"),
                })
            }
            event::INCIDENT_TIMELINE_ENTRY_ADDED => {
                let entry = data.get("entry").cloned().unwrap_or_default();
                let kind = entry
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let public = entry
                    .get("is_public")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let message = entry
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (kind == "UPDATE").then(|| {
                    format!(
                        "📣 {} update: {}",
                        if public { "Public" } else { "Internal" },
                        naming::truncate(&escape(message), 3000)
                    )
                })
            }
            event::INCIDENT_SLA_WARNING => Some(format!(
                "⚠️ SLA warning: the {} deadline is {}",
                s("target").to_lowercase(),
                s("deadline")
            )),
            event::INCIDENT_SLA_BREACHED => Some(format!(
                "🔴 SLA breached: the {} deadline ({}) passed",
                s("target").to_lowercase(),
                s("deadline")
            )),
            event::INCIDENT_UPDATE_DUE => Some(format!(
                "⏰ An update is due (since {}). Use *Add update* on the pinned summary.",
                s("due_at")
            )),
            event::POSTMORTEM_PUBLISHED => Some("📝 The postmortem is published.".to_owned()),
            _ => None,
        })
    }
}

/// The code a refusal is recorded under: Slack's own, else what the answer was.
fn refusal_code(e: &SlackError) -> String {
    match e {
        SlackError::Http { status, .. } => format!("http_{status}"),
        other => other.code().unwrap_or("unexpected_answer").to_owned(),
    }
}

/// What an optional step's key means, for the timeline.
fn describe_step(step: &str) -> &'static str {
    match step.split_once(':').map_or(step, |(kind, _)| kind) {
        "dm" => "the Incident Commander's DM",
        "invite" => "the invite of a role holder",
        "lookup" => "the Slack lookup of a role holder",
        _ => "an optional step",
    }
}

/// Asks core for one timeline note per optional step refused since the last delivery, in
/// the delivery's transaction.
async fn note_failures(
    conn: &mut PgConnection,
    snap: &Snapshot,
    message: &Envelope,
) -> Result<(), HandlerError> {
    for failure in store::take_unnoted_failures(conn, snap.id).await? {
        let text = format!(
            "Slack war room: {} ({}) failed with `{}`; the war room carries on without it",
            describe_step(&failure.step),
            failure.method,
            failure.code
        );
        send_command(conn, snap.workspace_id, &note(snap.id, text), Some(message)).await?;
    }
    Ok(())
}

fn channel_url(identity: &Identity, channel: &str) -> String {
    match &identity.url {
        Some(url) => format!("{}/archives/{channel}", url.trim_end_matches('/')),
        None => format!(
            "https://app.slack.com/client/{}/{channel}",
            identity.team_id
        ),
    }
}

fn eligible(settings: &store::Settings, snap: &Snapshot) -> bool {
    settings
        .severities
        .iter()
        .any(|s| s == snap.severity.as_str())
        && (!snap.is_drill || settings.drills)
        && !matches!(
            snap.status,
            IncidentStatus::Resolved | IncidentStatus::Closed
        )
}

/// The incident's number, as the channel names take it.
fn number(snap: &Snapshot) -> i64 {
    i64::from(snap.number.get())
}

async fn handle(
    war_room: &WarRoom,
    conn: &mut PgConnection,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let Some(slack) = war_room.slack.as_deref() else {
        return Ok(());
    };
    if message.message_type == <IncidentWarroomOpened>::TYPE {
        return Ok(());
    }
    let Some(incident) = message.data.get("incident") else {
        return Ok(());
    };
    let snap = Snapshot::deserialize(incident).map_err(|e| {
        HandlerError::permanent(format!("{}: data.incident: {e}", message.message_type))
    })?;
    // One delivery per incident at a time, across replicas.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 6))")
        .bind(snap.id.to_string())
        .execute(&mut *conn)
        .await?;
    let visibility = match snap.visibility {
        Some(v) => Some(v),
        None => store::visibility(&war_room.pool, snap.id)
            .await?
            .and_then(|v| v.parse::<Visibility>().ok()),
    };
    let run = Run {
        pool: &war_room.pool,
        slack,
        message,
        snap: &snap,
        private: visibility == Some(Visibility::Private),
    };
    match step(&run, conn).await {
        Ok(()) => note_failures(conn, &snap, message).await,
        Err(StepError::Db(e)) => Err(e.into()),
        Err(StepError::Slack(e)) if e.is_transient() => Err(HandlerError::transient(e)),
        Err(StepError::Slack(e)) => {
            let code = e.code().unwrap_or("unexpected_answer").to_owned();
            tracing::error!(incident = %snap.reference, method = e.method(), code = %code, error = %e, "slack refused a war room step");
            let label = format!("{}: {code}", e.method());
            let room = store::room(&war_room.pool, snap.id).await?;
            if let Some(room) = room
                && room.last_error.as_deref() != Some(label.as_str())
            {
                store::set(&war_room.pool, snap.id, "last_error", label.clone()).await?;
                let text = format!("Slack war room: {} failed with `{code}`", e.method());
                send_command(conn, snap.workspace_id, &note(snap.id, text), Some(message)).await?;
            }
            note_failures(conn, &snap, message).await
        }
    }
}

async fn step(run: &Run<'_>, conn: &mut PgConnection) -> Result<(), StepError> {
    let snap = run.snap;
    let pool = run.pool;
    let mut room = store::room(pool, snap.id).await?;
    if room.as_ref().is_none_or(|r| r.channel_id.is_none()) {
        let settings = store::settings(pool, snap.workspace_id).await?;
        let newest = room
            .as_ref()
            .is_none_or(|r| snap.version >= r.applied_version);
        if !(eligible(&settings, snap) && newest) {
            return Ok(());
        }
        room = Some(run.ensure_channel(room).await?);
    }
    let Some(room) = room else { return Ok(()) };
    let (Some(channel), Some(url)) = (room.channel_id.clone(), room.channel_url.clone()) else {
        return Ok(());
    };
    if room.archived {
        return Ok(());
    }
    let newest = snap.version >= room.applied_version;
    run.converge(&room, &channel, newest).await?;

    if newest && snap.status == IncidentStatus::Closed {
        let settings = store::settings(pool, snap.workspace_id).await?;
        if settings.archive_on_close {
            tolerate(
                run.slack.client.archive(&channel).await,
                &["already_archived"],
            )?;
            store::set(pool, snap.id, "archived", true).await?;
        }
    }
    store::raise_version(pool, snap.id, snap.version).await?;

    // Last, in the delivery's transaction: the incident row, the event, the timeline note.
    if !room.announced {
        store::announce(conn, snap.id, &channel, &url).await?;
        let mut incident = snap.clone();
        incident.slack_channel_id = Some(channel.clone());
        incident.slack_channel_url = Some(url.clone());
        let name = room.channel_name.clone().unwrap_or_default();
        let text = format!("War room opened in Slack: #{name} ({url})");
        let opened = IncidentWarroomOpened {
            incident,
            channel_id: channel,
            channel_url: url,
        };
        let encoding = |e: serde_json::Error| sqlx::Error::Protocol(e.to_string());
        let cause = Some(run.message);
        let messages = [
            OutgoingMessage::of(snap.workspace_id, &opened)
                .map_err(encoding)?
                .caused_by(cause),
            OutgoingMessage::of(snap.workspace_id, &note(snap.id, text))
                .map_err(encoding)?
                .caused_by(cause),
        ];
        outbox::enqueue(conn, SERVICE, &messages).await?;
    }
    Ok(())
}

impl Handler for WarRoom {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(handle(self, tx, message))
    }
}
