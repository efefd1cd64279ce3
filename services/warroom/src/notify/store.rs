//! The tables of what people were told (migration 0112): the incident's announcement
//! message, one row per notification, the war room channel's bookmarks. Written through
//! the pool right after each Slack call, like the rest of the war room's record.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The incident's message in the announcement channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Announcement {
    /// The announcement channel it was posted to.
    pub channel_id: String,
    /// The message.
    pub ts: String,
    /// Hash of the text and blocks last posted.
    pub content_hash: String,
    /// The highest incident version shown.
    pub applied_version: i64,
}

/// The announcement of incident `incident_id`, if it was posted.
pub async fn announcement(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Option<Announcement>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel_id, ts, content_hash, applied_version
         FROM warroom_incident_announcements WHERE incident_id = $1",
    )
    .bind(incident_id)
    .fetch_optional(db)
    .await
}

/// Records the announcement as posted or updated to `hash` at `version`.
pub async fn record_announcement(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    workspace_id: Uuid,
    channel_id: &str,
    ts: &str,
    hash: &str,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_incident_announcements
             (incident_id, workspace_id, channel_id, ts, content_hash, applied_version)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (incident_id) DO UPDATE SET content_hash = EXCLUDED.content_hash,
             applied_version = GREATEST(warroom_incident_announcements.applied_version,
                                        EXCLUDED.applied_version)",
    )
    .bind(incident_id)
    .bind(workspace_id)
    .bind(channel_id)
    .bind(ts)
    .bind(hash)
    .bind(version)
    .execute(db)
    .await?;
    Ok(())
}

/// How a person was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// By DM.
    Dm,
    /// The DM was refused: mentioned in a channel instead.
    Mention,
    /// No Slack account, or nowhere to mention them.
    Unreachable,
}

impl Delivery {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dm => "dm",
            Self::Mention => "mention",
            Self::Unreachable => "unreachable",
        }
    }
}

/// A row of `warroom_notifications`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    /// What it was about (`role:<event>:<role>`, `action_item:<event>`, `overdue:<item>`).
    pub key: String,
    /// Who was told.
    pub user_id: Uuid,
    /// `dm`, `mention` or `unreachable`.
    pub delivery: String,
    /// Their Slack id, when one was found.
    pub slack_user_id: Option<String>,
    /// Where it was posted.
    pub channel_id: Option<String>,
    /// Slack's code for what was refused.
    pub refusal: Option<String>,
}

/// Whether the notification `key` was given.
pub async fn notified(db: impl PgExecutor<'_>, key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM warroom_notifications WHERE key = $1)")
        .bind(key)
        .fetch_one(db)
        .await
}

/// What was recorded of one notification.
#[derive(Debug, Clone)]
pub struct Told<'a> {
    /// What it was about.
    pub key: &'a str,
    /// The workspace.
    pub workspace_id: Uuid,
    /// The incident, when it is about one.
    pub incident_id: Option<Uuid>,
    /// Who was told.
    pub user_id: Uuid,
    /// How.
    pub delivery: Delivery,
    /// Their Slack id.
    pub slack_user_id: Option<&'a str>,
    /// Where (the user id for a DM, the channel for a mention).
    pub channel_id: Option<&'a str>,
    /// The message.
    pub ts: Option<&'a str>,
    /// Slack's code for what was refused.
    pub refusal: Option<&'a str>,
}

/// Records notification `told` (once: a repeat changes nothing).
pub async fn record_notification(
    db: impl PgExecutor<'_>,
    told: &Told<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_notifications
             (key, workspace_id, incident_id, user_id, delivery, slack_user_id, channel_id, ts, refusal)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING",
    )
    .bind(told.key)
    .bind(told.workspace_id)
    .bind(told.incident_id)
    .bind(told.user_id)
    .bind(told.delivery.as_str())
    .bind(told.slack_user_id)
    .bind(told.channel_id)
    .bind(told.ts)
    .bind(told.refusal)
    .execute(db)
    .await?;
    Ok(())
}

/// The notifications about incident `incident_id`, oldest first.
pub async fn notifications(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<Notification>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, user_id, delivery, slack_user_id, channel_id, refusal
         FROM warroom_notifications WHERE incident_id = $1 ORDER BY created_at, key",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// The room's bookmarks (`{"incident": {"id", "link"}, ...}`).
pub async fn bookmarks(db: impl PgExecutor<'_>, incident_id: Uuid) -> Result<Value, sqlx::Error> {
    let found: Option<Value> =
        sqlx::query_scalar("SELECT bookmarks FROM warroom_rooms WHERE incident_id = $1")
            .bind(incident_id)
            .fetch_optional(db)
            .await?;
    Ok(found.unwrap_or_else(|| Value::Object(Default::default())))
}

/// Records bookmark `name` of the room as `id` linking to `link`.
pub async fn set_bookmark(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    name: &str,
    id: &str,
    link: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE warroom_rooms SET bookmarks = bookmarks || jsonb_build_object($2::text,
             jsonb_build_object('id', $3::text, 'link', $4::text))
         WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(name)
    .bind(id)
    .bind(link)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether `user_id` takes part in incident `incident_id` of `workspace_id`: one of its
/// role holders (commander, tech lead, comms lead) or a member (`incident_members`). A
/// drill notifies only them.
pub async fn is_participant(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    incident_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM incidents i
             WHERE i.workspace_id = $1 AND i.id = $2
               AND ($3 IN (i.commander_id, i.tech_lead_id, i.comms_lead_id)
                    OR EXISTS (SELECT 1 FROM incident_members m
                               WHERE m.incident_id = i.id AND m.user_id = $3)))",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Incident `incident_id` of `workspace_id` as an action item's DM names it: (number,
/// title, is_drill, visibility).
pub async fn incident_of_item(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Option<(i32, String, bool, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT number, title, is_drill, visibility::text FROM incidents
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_optional(db)
    .await
}
