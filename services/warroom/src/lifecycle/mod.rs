//! The war room's lifecycle, driven by events on `incidents.events` (queue
//! `warroom.events`).
//!
//! Every incident event carries the incident as it stood after the change, so the
//! handler converges Slack onto that snapshot, one recorded step at a time:
//! channel (created once, `name_taken` resolved by finding our own channel or adding a
//! suffix), topic, invites, the pinned summary (`chat.update` when it changes), the
//! bookmarks, the event's own post, and the archive on close. Then, with or without a war
//! room, the announcement channel and the role holders are told ([`crate::notify`]). Each step is recorded in
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
//! and the archive are the war room; the rest is optional and best effort: a role holder's
//! DM, the invite of each role holder, the email lookup of a user, a bookmark, unarchiving.
//! Slack failures:
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
//!
//! - `channel`: the channel, created once (`name_taken` resolved);
//! - `converge`: the steps on an existing channel, in order: topic, invites, the pinned
//!   summary, the bookmarks, the event's own post;
//! - `posts`: what each event says in the channel;
//! - `failures`: optional steps refused for good, recorded and put on the timeline;
//! - `care`: the channel unarchived when its incident is reopened, its bookmarks (the
//!   incident's page, the published postmortem);
//! - `announcement`: the incident's one message in the workspace's announcement channel,
//!   updated in place, and the postmortem's publication there;
//! - `roles`: each role holder told what the role asks of them, once per assignment.

mod announcement;
mod care;
mod channel;
mod converge;
mod failures;
mod posts;
mod roles;

use failures::note_failures;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, OutgoingMessage, QueueSpec, outbox};
use incident_schema::contract::{
    ActionItemCreated, ActionItemOverdue, ActionItemUpdated, AddUpdate, DrillRunCompleted,
    IncidentWarroomOpened, Message, WebhookSubscriptionDisabled, WorkspaceWeeklyDigest,
};
use incident_schema::{IncidentStatus, TimelineKind, Visibility};
use serde::Deserialize as _;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::SERVICE;
use crate::slack::client::Identity;
use crate::slack::{SlackClient, SlackError};
use crate::store;

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
    public_url: Option<String>,
}

impl WarRoom {
    /// A consumer on `pool`, doing nothing Slack-wise without `slack`.
    pub fn new(pool: PgPool, slack: Option<Arc<Slack>>) -> Self {
        Self {
            pool,
            slack,
            public_url: None,
        }
    }

    /// Links to the incident's page under `public_url` (`INCIDENT_PUBLIC_URL`): the war
    /// room's bookmark and the announcement's button.
    pub fn with_public_url(mut self, public_url: Option<String>) -> Self {
        self.public_url = public_url;
        self
    }
}

/// Why a step stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
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
    /// `INCIDENT_PUBLIC_URL`, for links to the incident's page.
    public_url: Option<&'a str>,
}

impl Run<'_> {
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
}

fn eligible(settings: &store::Settings, snap: &Snapshot) -> bool {
    settings
        .severities
        .iter()
        .any(|s| s == snap.severity.as_str())
        && (!snap.is_drill || settings.drills)
        // A status this build does not know opens no room: it may well be a final one.
        && snap
            .status
            .known()
            .is_some_and(|s| !matches!(s, IncidentStatus::Resolved | IncidentStatus::Closed))
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
    if message.message_type == WorkspaceWeeklyDigest::TYPE {
        return crate::announce::weekly_digest(&war_room.pool, slack, message).await;
    }
    if message.message_type == WebhookSubscriptionDisabled::TYPE {
        return crate::announce::webhook_disabled(&war_room.pool, slack, message).await;
    }
    if message.message_type == DrillRunCompleted::TYPE {
        return crate::drill_report::post(&war_room.pool, slack, message).await;
    }
    if [
        <ActionItemCreated>::TYPE,
        <ActionItemUpdated>::TYPE,
        ActionItemOverdue::TYPE,
    ]
    .contains(&message.message_type.as_str())
    {
        return crate::notify::action_items::handle(&war_room.pool, slack, conn, message).await;
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
    let visibility = match &snap.visibility {
        // One this build does not know is kept private.
        Some(v) => Some(v.known().unwrap_or(Visibility::Private)),
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
        public_url: war_room.public_url.as_deref(),
    };
    let room = step(&run, conn).await;
    match &room {
        Err(StepError::Slack(e)) if e.is_transient() => {
            return Err(HandlerError::transient(e.clone()));
        }
        Err(StepError::Db(_)) | Ok(()) | Err(StepError::Slack(_)) => {}
    }
    if let Err(StepError::Db(e)) = room {
        return Err(e.into());
    }
    // The announcement channel and the people, whatever the war room did: the
    // announcement first, so a role holder whose DM is refused can be mentioned in its
    // thread when there is no war room.
    match run.tell_everyone().await {
        Ok(()) => {}
        Err(StepError::Db(e)) => return Err(e.into()),
        Err(StepError::Slack(e)) if e.is_transient() => {
            return Err(HandlerError::transient(e));
        }
        Err(StepError::Slack(e)) => {
            tracing::warn!(incident = %snap.reference, method = e.method(), error = %e,
                "slack refused the incident's announcement for good; not posted");
        }
    }
    match room {
        Ok(()) => note_failures(conn, &snap, message).await,
        Err(StepError::Slack(e)) => refused(war_room, conn, &snap, message, e).await,
        Err(StepError::Db(e)) => Err(e.into()),
    }
}

/// A war room step Slack refused for good: logged with its code, put on the timeline once
/// per code, and the delivery acknowledged.
async fn refused(
    war_room: &WarRoom,
    conn: &mut PgConnection,
    snap: &Snapshot,
    message: &Envelope,
    e: SlackError,
) -> Result<(), HandlerError> {
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
    note_failures(conn, snap, message).await
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
    let newest = snap.version >= room.applied_version;
    let room = run.reopen(room, &channel, newest).await?;
    if room.archived {
        return Ok(());
    }
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
        announce(run, conn, &room, &channel, &url).await?;
    }
    Ok(())
}

/// Writes the channel onto the incident, emits `incident.warroom_opened` and asks core for
/// the timeline note, in the delivery's transaction `conn`.
async fn announce(
    run: &Run<'_>,
    conn: &mut PgConnection,
    room: &store::Room,
    channel: &str,
    url: &str,
) -> Result<(), StepError> {
    let snap = run.snap;
    store::announce(conn, snap.id, channel, url).await?;
    let mut incident = snap.clone();
    incident.slack_channel_id = Some(channel.to_owned());
    incident.slack_channel_url = Some(url.to_owned());
    let name = room.channel_name.clone().unwrap_or_default();
    let text = format!("War room opened in Slack: #{name} ({url})");
    let opened = IncidentWarroomOpened {
        incident,
        channel_id: channel.to_owned(),
        channel_url: url.to_owned(),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_note_is_the_internal_note_sent_before_the_contract() {
        let id = Uuid::from_u128(7);
        let data = serde_json::to_value(note(id, "War room opened".to_owned())).expect("encodes");
        assert_eq!(
            data,
            json!({
                "incident_id": id,
                "message": "War room opened",
                "is_public": false,
                "kind": "NOTE",
            })
        );
    }
}
