//! The warroom's tables: per-workspace settings and the per-incident record of what was
//! done in Slack. Record writes go through the pool, outside the consumer's transaction,
//! so what Slack has done stays recorded even when the delivery is retried.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Which incidents get a war room, per workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Severities that get a channel (`SEV1`...).
    pub severities: Vec<String>,
    /// Whether drills of those severities get one.
    pub drills: bool,
    /// Whether closing archives the channel.
    pub archive_on_close: bool,
    /// The Slack channel id the weekly digest is posted to; none: not posted.
    #[serde(default)]
    pub announcement_channel: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            severities: vec!["SEV1".to_owned(), "SEV2".to_owned()],
            drills: true,
            archive_on_close: true,
            announcement_channel: None,
        }
    }
}

/// The workspace's settings (the defaults when none are stored).
pub async fn settings(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Settings, sqlx::Error> {
    let row: Option<(Vec<String>, bool, bool, Option<String>)> = sqlx::query_as(
        "SELECT severities::text[], drills, archive_on_close, announcement_channel
         FROM warroom_settings WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map_or_else(
        Settings::default,
        |(severities, drills, archive_on_close, announcement_channel)| Settings {
            severities,
            drills,
            archive_on_close,
            announcement_channel,
        },
    ))
}

/// Stores the workspace's settings.
pub async fn put_settings(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    settings: &Settings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_settings (workspace_id, severities, drills, archive_on_close,
             announcement_channel)
         VALUES ($1, $2::text[]::incident_severity[], $3, $4, $5)
         ON CONFLICT (workspace_id) DO UPDATE SET severities = EXCLUDED.severities,
             drills = EXCLUDED.drills, archive_on_close = EXCLUDED.archive_on_close,
             announcement_channel = EXCLUDED.announcement_channel, updated_at = now()",
    )
    .bind(workspace_id)
    .bind(&settings.severities)
    .bind(settings.drills)
    .bind(settings.archive_on_close)
    .bind(&settings.announcement_channel)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the announcement of event `event_id` was posted.
pub async fn announced(db: impl PgExecutor<'_>, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM warroom_announcements WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(db)
        .await
}

/// Records that event `event_id` was posted as message `ts` in `channel_id`.
pub async fn record_announcement(
    db: impl PgExecutor<'_>,
    event_id: Uuid,
    workspace_id: Uuid,
    channel_id: &str,
    ts: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_announcements (event_id, workspace_id, channel_id, ts)
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(workspace_id)
    .bind(channel_id)
    .bind(ts)
    .execute(db)
    .await?;
    Ok(())
}

/// A row of `warroom_rooms`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Room {
    /// The incident.
    pub incident_id: Uuid,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The name being (or last) created.
    pub channel_name: Option<String>,
    /// How many `name_taken` suffixes were tried.
    pub name_attempt: i32,
    /// The channel.
    pub channel_id: Option<String>,
    /// Its link.
    pub channel_url: Option<String>,
    /// Whether the incident row and `incident.warroom_opened` carry it.
    pub announced: bool,
    /// Hash of the topic last set.
    pub topic_hash: Option<String>,
    /// Slack users invited.
    pub invited: Vec<String>,
    /// The commander last briefed by DM.
    pub briefed_commander: Option<Uuid>,
    /// The summary message.
    pub summary_ts: Option<String>,
    /// Hash of the summary last posted.
    pub summary_hash: Option<String>,
    /// Whether the summary is pinned.
    pub pinned: bool,
    /// The highest incident version applied.
    pub applied_version: i64,
    /// Whether the channel is archived.
    pub archived: bool,
    /// The last permanent Slack failure.
    pub last_error: Option<String>,
}

/// The room of `incident_id`, if any.
pub async fn room(db: impl PgExecutor<'_>, incident_id: Uuid) -> Result<Option<Room>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM warroom_rooms WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_optional(db)
        .await
}

/// The room whose channel is `channel_id`.
pub async fn room_by_channel(
    db: impl PgExecutor<'_>,
    channel_id: &str,
) -> Result<Option<Room>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM warroom_rooms WHERE channel_id = $1")
        .bind(channel_id)
        .fetch_optional(db)
        .await
}

/// Records the name about to be created (creating the record on first use).
pub async fn begin_create(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    workspace_id: Uuid,
    name: &str,
    attempt: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_rooms (incident_id, workspace_id, channel_name, name_attempt)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (incident_id) DO UPDATE SET channel_name = EXCLUDED.channel_name,
             name_attempt = EXCLUDED.name_attempt",
    )
    .bind(incident_id)
    .bind(workspace_id)
    .bind(name)
    .bind(attempt)
    .execute(db)
    .await?;
    Ok(())
}

/// Records the created channel.
pub async fn set_channel(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    channel_id: &str,
    url: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE warroom_rooms SET channel_id = $2, channel_url = $3 WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(channel_id)
    .bind(url)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether another incident's room has `channel_id`.
pub async fn channel_claimed(
    db: impl PgExecutor<'_>,
    channel_id: &str,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM warroom_rooms WHERE channel_id = $1 AND incident_id <> $2)",
    )
    .bind(channel_id)
    .bind(incident_id)
    .fetch_one(db)
    .await
}

/// Sets one column of the record (the column name is one of ours, never input).
pub async fn set<T>(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    column: &'static str,
    value: T,
) -> Result<(), sqlx::Error>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE warroom_rooms SET {column} = $2 WHERE incident_id = $1"
    )))
    .bind(incident_id)
    .bind(value)
    .execute(db)
    .await?;
    Ok(())
}

/// Adds a Slack user to the invited set.
pub async fn add_invited(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    slack_user: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE warroom_rooms SET invited = array_append(invited, $2)
         WHERE incident_id = $1 AND NOT ($2 = ANY (invited))",
    )
    .bind(incident_id)
    .bind(slack_user)
    .execute(db)
    .await?;
    Ok(())
}

/// Raises the applied version (never lowers it).
pub async fn raise_version(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE warroom_rooms SET applied_version = GREATEST(applied_version, $2) WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(version)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether event `event_id` was posted into the room.
pub async fn posted(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    event_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM warroom_posts WHERE incident_id = $1 AND event_id = $2)",
    )
    .bind(incident_id)
    .bind(event_id)
    .fetch_one(db)
    .await
}

/// Records that event `event_id` was posted as `ts`.
pub async fn record_post(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    event_id: Uuid,
    ts: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_posts (incident_id, event_id, ts) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(incident_id)
    .bind(event_id)
    .bind(ts)
    .execute(db)
    .await?;
    Ok(())
}

/// A workspace user as the war room needs them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    /// The user id.
    pub id: Uuid,
    /// Their workspace.
    pub workspace_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// Their Slack id, when known.
    pub slack_user_id: Option<String>,
}

/// The user `id` of `workspace_id`.
pub async fn person(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, workspace_id, email, display_name, slack_user_id FROM users
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The users with Slack id `slack_user_id` (one per workspace at most), optionally in one
/// workspace.
pub async fn people_by_slack_id(
    db: impl PgExecutor<'_>,
    slack_user_id: &str,
    workspace_id: Option<Uuid>,
) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, workspace_id, email, display_name, slack_user_id FROM users
         WHERE slack_user_id = $1 AND ($2::uuid IS NULL OR workspace_id = $2)",
    )
    .bind(slack_user_id)
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

/// The users with address `email`, optionally in one workspace.
pub async fn people_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
    workspace_id: Option<Uuid>,
) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, workspace_id, email, display_name, slack_user_id FROM users
         WHERE lower(email) = lower($1) AND ($2::uuid IS NULL OR workspace_id = $2)",
    )
    .bind(email)
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

/// The workspace of incident `id` (read from core's row; for Slack's buttons and modals,
/// which carry only the incident id).
pub async fn incident_workspace(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT workspace_id FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Incident `id` of `workspace_id` as `/incident status` shows it: (number, title,
/// severity, status).
pub async fn incident_line(
    db: impl PgExecutor<'_>,
    id: Uuid,
    workspace_id: Uuid,
) -> Result<Option<(i32, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT number, title, severity::text, status::text FROM incidents WHERE id = $1 AND workspace_id = $2",
    )
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// The per-workspace number of incident `id`.
pub async fn incident_number(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The incident `INC-<number>` of `workspace_id`, if `reader` may read it (a PRIVATE one
/// they may not read is as absent as one of another workspace).
pub async fn readable_incident_by_number(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    number: i32,
    reader: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT i.id FROM incidents i
         WHERE i.workspace_id = $1 AND i.number = $2 AND incident_readable(i, $3, false)",
    )
    .bind(workspace_id)
    .bind(number)
    .bind(reader)
    .fetch_optional(db)
    .await
}

/// The incident's affected services, as `name (IMPACT)`.
pub async fn services(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT service_name || ' (' || impact::text || ')' FROM affected_services
         WHERE incident_id = $1 ORDER BY service_name",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// Writes the channel onto the incident (the two columns the warroom owns) and marks the
/// room announced, in the caller's transaction.
pub async fn announce(
    conn: &mut PgConnection,
    incident_id: Uuid,
    channel_id: &str,
    url: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE incidents SET slack_channel_id = $2, slack_channel_url = $3 WHERE id = $1")
        .bind(incident_id)
        .bind(channel_id)
        .bind(url)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE warroom_rooms SET announced = true WHERE incident_id = $1")
        .bind(incident_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a served request signature; false when it was already served (a replay).
pub async fn first_use_of_signature(
    db: impl PgExecutor<'_>,
    signature: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "WITH pruned AS (DELETE FROM warroom_slack_requests WHERE received_at < now() - interval '10 minutes')
         INSERT INTO warroom_slack_requests (signature) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(signature)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Records a message added to the timeline by :pushpin:; false when it already was.
pub async fn first_pin_of(
    db: impl PgExecutor<'_>,
    channel_id: &str,
    message_ts: &str,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO warroom_pinned_messages (channel_id, message_ts, incident_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(channel_id)
    .bind(message_ts)
    .bind(incident_id)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A permanent Slack refusal of an optional war room step (`warroom_step_failures`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepFailure {
    /// Which step: `dm:<user id>`, `invite:<slack user id>`, `lookup:<user id>`.
    pub step: String,
    /// The Web API method Slack refused.
    pub method: String,
    /// Slack's error code.
    pub code: String,
    /// How many times Slack refused it.
    pub attempts: i32,
    /// Whether the timeline note was asked for.
    pub noted: bool,
}

/// Records that Slack refused `step` with `code` (counting repeats).
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    step: &str,
    method: &str,
    code: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO warroom_step_failures (incident_id, step, method, code) VALUES ($1, $2, $3, $4)
         ON CONFLICT (incident_id, step, code) DO UPDATE
         SET attempts = warroom_step_failures.attempts + 1, last_at = now()",
    )
    .bind(incident_id)
    .bind(step)
    .bind(method)
    .bind(code)
    .execute(db)
    .await?;
    Ok(())
}

/// The incident's recorded step failures, oldest first.
pub async fn step_failures(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<StepFailure>, sqlx::Error> {
    sqlx::query_as(
        "SELECT step, method, code, attempts, noted FROM warroom_step_failures
         WHERE incident_id = $1 ORDER BY first_at, step, code",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// Marks the failures not yet on the timeline as noted and returns them, in the caller's
/// transaction (which also holds the notes' commands).
pub async fn take_unnoted_failures(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Vec<StepFailure>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE warroom_step_failures SET noted = true
         WHERE incident_id = $1 AND NOT noted
         RETURNING step, method, code, attempts, noted",
    )
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// The incident's visibility (`PUBLIC` / `PRIVATE`), for snapshots that do not carry it.
pub async fn visibility(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT visibility::text FROM incidents WHERE id = $1")
        .bind(incident_id)
        .fetch_optional(db)
        .await
}

/// The workspace's drill scenarios (the watchdog's table, read here for `/incident
/// drill`): id and name, by name.
pub async fn drill_scenarios(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM drill_scenarios WHERE workspace_id = $1 ORDER BY name, id")
        .bind(workspace_id)
        .fetch_all(db)
        .await
}
