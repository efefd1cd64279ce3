//! Filing action items in the workspace's tracker, and following them there.
//!
//! - [`request`]: asks for an item to be filed (the API's export, or `auto_export` in the
//!   transaction creating the item); the link row is the durable request.
//! - [`file_due`]: files due links: claims them (the attempt committed first), looks for
//!   the marker when an earlier attempt may have filed the issue, creates it otherwise,
//!   records the remote key and URL and, when the item had no link of its own, sets its
//!   `external_url` (through [`tracking::update`], so `action_item.updated` is emitted).
//!   A failure is recorded and retried with back-off; nothing is filed twice.
//! - [`poll_due`]: reads filed issues of open items; one the tracker counts as done marks
//!   the item DONE (a Linear issue canceled: WONT_DO with the reason), once: an item that
//!   is no longer open is not polled, and the move happens under the item's row lock.
//! - [`run`]: both on a timer, the filer also woken in memory by a request.

use std::time::Duration;

use incident_schema::{ActionItemStatus, Visibility};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::client::{NewIssue, RemoteState};
use super::store::{self, Claimed, Polled};
use super::{TrackerKind, Trackers};
use crate::Actor;
use crate::action_item::tracking::{self, ActionItemPatch};
use crate::action_item::{self, ActionItemView};
use crate::error::{DomainError, DomainResult};

/// Links filed or polled per round.
const BATCH: i64 = 20;
/// How often the filer looks for due links without being woken.
const FILE_EVERY: Duration = Duration::from_secs(2);
/// Longest issue title (Jira's summary takes 255 characters).
const MAX_TITLE: usize = 250;

/// Asks for item `item_id` to be filed in the workspace's tracker; false when it already
/// was. Fails when the workspace has no tracker.
pub async fn request(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    item_id: Uuid,
) -> DomainResult<bool> {
    let Some(row) = store::settings(conn, workspace_id).await? else {
        return Err(DomainError::NotConfigured(
            "this workspace has no issue tracker: an admin sets one with PUT /api/v1/postmortem/tracker".into(),
        ));
    };
    Ok(store::request(conn, workspace_id, item_id, &row.kind).await?)
}

/// Asks for a new item to be filed when the workspace files every new item; in the
/// creating transaction.
pub async fn request_on_creation(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    item_id: Uuid,
) -> Result<bool, sqlx::Error> {
    match store::auto_export_kind(conn, workspace_id).await? {
        Some(kind) => store::request(conn, workspace_id, item_id, &kind).await,
        None => Ok(false),
    }
}

/// Files the due links (only `only`'s, if given); how many were filed.
pub async fn file_due(
    pool: &PgPool,
    trackers: &Trackers,
    only: Option<Uuid>,
) -> DomainResult<usize> {
    let claimed = {
        let mut conn = pool.acquire().await?;
        store::claim_pending(&mut conn, only, BATCH).await?
    };
    let mut filed = 0;
    for link in claimed {
        let result = file_one(pool, trackers, &link).await;
        filed += settle(pool, link.action_item_id, result, "filing an action item").await?;
    }
    Ok(filed)
}

/// Counts a link's success, or records why it failed (the claim already scheduled the
/// next attempt).
async fn settle(
    pool: &PgPool,
    item_id: Uuid,
    result: DomainResult<bool>,
    what: &str,
) -> DomainResult<usize> {
    match result {
        Ok(done) => Ok(usize::from(done)),
        Err(e) => {
            tracing::warn!(action_item_id = %item_id, error = %e, "{what} failed; it is retried");
            let mut conn = pool.acquire().await?;
            store::record_error(&mut conn, item_id, &e.to_string()).await?;
            Ok(0)
        }
    }
}

/// What the issue says about its item.
async fn new_issue(
    conn: &mut PgConnection,
    trackers: &Trackers,
    item: &ActionItemView,
    marker: &str,
) -> DomainResult<NewIssue> {
    let (number, title, visibility): (i32, String, Visibility) =
        sqlx::query_as("SELECT number, title, visibility FROM incidents WHERE id = $1")
            .bind(item.incident_id)
            .fetch_one(&mut *conn)
            .await?;
    // A PRIVATE incident's title stays with those who may read it.
    let about = match visibility {
        Visibility::Private => format!("INC-{number} (a private incident)"),
        _ => format!("INC-{number}: {title}"),
    };
    let mut body = format!(
        "Action item from the postmortem of {about}.\n\n{}\n\nPriority: {}",
        item.description, item.priority
    );
    if let Some(due) = item.due_date {
        body.push_str(&format!(" · due {due}"));
    }
    if let Some(base) = &trackers.public_url {
        body.push_str(&format!(
            "\n\n{}/ui/incidents/{number}",
            base.trim_end_matches('/')
        ));
    }
    let mut title: String = item.description.chars().take(MAX_TITLE).collect();
    if item.description.chars().count() > MAX_TITLE {
        title.push('…');
    }
    Ok(NewIssue {
        title,
        body,
        marker: marker.to_owned(),
        priority: match item.priority {
            incident_schema::ActionItemPriority::P1 => 1,
            incident_schema::ActionItemPriority::P2 => 2,
            incident_schema::ActionItemPriority::P3 => 3,
            incident_schema::ActionItemPriority::P4 => 4,
        },
        due_date: item.due_date.map(|d| d.to_string()),
    })
}

async fn file_one(pool: &PgPool, trackers: &Trackers, link: &Claimed) -> DomainResult<bool> {
    let ws = link.workspace_id;
    let mut conn = pool.acquire().await?;
    let Some(tracker) = trackers.open(&mut conn, ws).await? else {
        store::record_error(
            &mut conn,
            link.action_item_id,
            "the workspace has no issue tracker any more",
        )
        .await?;
        return Ok(false);
    };
    let Some(item) = action_item::store::view(&mut conn, ws, link.action_item_id).await? else {
        return Ok(false);
    };
    let issue = new_issue(&mut conn, trackers, &item, &link.marker).await?;
    drop(conn);
    // An earlier attempt may have filed it and died before recording it.
    let earlier = if link.attempts > 1 {
        tracker
            .find(&trackers.http, &link.marker)
            .await
            .map_err(DomainError::Tracker)?
    } else {
        None
    };
    let remote = match earlier {
        Some(found) => found,
        None => tracker
            .create(&trackers.http, &issue)
            .await
            .map_err(DomainError::Tracker)?,
    };
    let mut tx = pool.begin().await?;
    store::record_remote(&mut tx, link.action_item_id, &remote).await?;
    if item.external_url.is_none() {
        let patch = ActionItemPatch {
            external_url: Some(Some(remote.url.clone())),
            ..ActionItemPatch::default()
        };
        tracking::update(&mut tx, system(ws), item.id, &patch).await?;
    }
    tx.commit().await?;
    tracing::info!(action_item_id = %item.id, tracker = tracker.kind.as_str(), key = %remote.key, "action item filed");
    Ok(true)
}

/// Changes made on the tracker's word, by nobody in particular.
fn system(workspace_id: Uuid) -> Actor {
    Actor {
        workspace_id,
        user_id: None,
    }
}

/// Polls filed issues of open items not read for `every`; how many items it closed.
pub async fn poll_due(pool: &PgPool, trackers: &Trackers, every: Duration) -> DomainResult<usize> {
    let claimed = {
        let mut conn = pool.acquire().await?;
        store::claim_polls(&mut conn, every.as_secs_f64(), BATCH).await?
    };
    let mut closed = 0;
    for link in claimed {
        let result = poll_one(pool, trackers, &link).await;
        closed += settle(pool, link.action_item_id, result, "reading a filed issue").await?;
    }
    Ok(closed)
}

async fn poll_one(pool: &PgPool, trackers: &Trackers, link: &Polled) -> DomainResult<bool> {
    let ws = link.workspace_id;
    let tracker = {
        let mut conn = pool.acquire().await?;
        match trackers.open(&mut conn, ws).await? {
            Some(t) => t,
            None => return Ok(false),
        }
    };
    let remote = tracker
        .get(&trackers.http, &link.remote_id)
        .await
        .map_err(DomainError::Tracker)?;
    let mut tx = pool.begin().await?;
    store::record_remote(&mut tx, link.action_item_id, &remote).await?;
    let patch = match remote.state {
        RemoteState::Open => None,
        RemoteState::Done => Some(ActionItemPatch {
            status: Some(ActionItemStatus::Done),
            ..ActionItemPatch::default()
        }),
        RemoteState::Canceled => Some(ActionItemPatch {
            status: Some(ActionItemStatus::WontDo),
            wont_do_reason: Some(format!("{} was canceled in {}", remote.key, tracker.kind)),
            ..ActionItemPatch::default()
        }),
    };
    let mut moved = false;
    if let Some(patch) = patch {
        // Under the row lock: an item a person closed meanwhile is left as it is.
        let open = action_item::store::lock(&mut tx, ws, link.action_item_id)
            .await?
            .is_some_and(|item| {
                matches!(
                    item.status,
                    ActionItemStatus::Open | ActionItemStatus::InProgress
                )
            });
        if open {
            tracking::update(&mut tx, system(ws), link.action_item_id, &patch).await?;
            moved = true;
            tracing::info!(action_item_id = %link.action_item_id, tracker = TrackerKind::as_str(tracker.kind), key = %remote.key, "action item closed by its tracker");
        }
    }
    tx.commit().await?;
    Ok(moved)
}

/// Files and polls until `shutdown`: filing every [`FILE_EVERY`] or when woken, polling
/// every `poll_every`.
pub async fn run(
    pool: PgPool,
    trackers: Trackers,
    poll_every: Duration,
    shutdown: CancellationToken,
) {
    let mut file_tick = tokio::time::interval(FILE_EVERY);
    file_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll_tick = tokio::time::interval(poll_every);
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = trackers.wake.clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = file_tick.tick() => file_logged(&pool, &trackers).await,
            () = wake.notified() => file_logged(&pool, &trackers).await,
            _ = poll_tick.tick() => {
                if let Err(e) = poll_due(&pool, &trackers, poll_every).await {
                    tracing::warn!(error = %e, "polling the issue trackers failed");
                }
            }
        }
    }
}

async fn file_logged(pool: &PgPool, trackers: &Trackers) {
    if let Err(e) = file_due(pool, trackers, None).await {
        tracing::warn!(error = %e, "filing action items failed");
    }
}
