//! Telling people (issue 17): each role holder when assigned, each action-item assignee
//! when assigned and once when the item becomes overdue.
//!
//! [`tell`] reaches one person once per notification key: the person resolves to a Slack
//! user by their stored Slack id, else by `users.lookupByEmail`; they get a DM
//! (`chat.postMessage` to their user id). When Slack refuses the DM for good
//! (`cannot_dm_bot`, `channel_not_found` for a user it does not know, ...), they are
//! mentioned in a channel instead (the war room, or the thread of the incident's
//! announcement) when there is one. Whatever happened is recorded in
//! `warroom_notifications` right after Slack answered, so a redelivered event tells
//! nobody twice; a transient failure (429 past the client's retries, 5xx) fails the
//! delivery so it is retried.
//!
//! - `store`: the tables (migration 0112);
//! - `action_items`: `action_item.created`, `.updated` (a new assignee) and `.overdue`.

pub mod action_items;
pub mod store;

use sqlx::PgPool;
use uuid::Uuid;

use crate::lifecycle::StepError;
use crate::slack::{SlackClient, SlackError};
use store::{Delivery, Told};

/// Where a person is mentioned when their DM is refused: a channel, or a thread in one.
#[derive(Debug, Clone, Copy)]
pub struct Fallback<'a> {
    /// The channel.
    pub channel: &'a str,
    /// The message whose thread the mention goes in, if any.
    pub thread_ts: Option<&'a str>,
}

/// One notification.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// What it is about, unique per notification (`role:<event id>:<role>`, ...).
    pub key: &'a str,
    /// The workspace.
    pub workspace_id: Uuid,
    /// The incident, when it is about one.
    pub incident_id: Option<Uuid>,
    /// Who is told.
    pub user_id: Uuid,
    /// The message (mrkdwn, user text escaped).
    pub text: &'a str,
    /// Where to mention them if the DM is refused.
    pub fallback: Option<Fallback<'a>>,
}

/// What [`tell`] did: how the person was told, and Slack's refusal on the way, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How.
    pub delivery: Delivery,
    /// The method and code Slack refused with.
    pub refusal: Option<(&'static str, String)>,
}

/// A refusal for good (anything but a transient failure), or the transient failure.
fn permanent(e: SlackError) -> Result<(&'static str, String), StepError> {
    if e.is_transient() {
        return Err(e.into());
    }
    let code = match &e {
        SlackError::Http { status, .. } => format!("http_{status}"),
        other => other.code().unwrap_or("unexpected_answer").to_owned(),
    };
    Ok((e.method(), code))
}

/// The person's Slack id (stored, else by email), or Slack's refusal of the lookup.
pub(crate) async fn slack_user(
    pool: &PgPool,
    client: &SlackClient,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Result<String, (&'static str, String)>, StepError> {
    let Some(person) = crate::store::person(pool, workspace_id, user_id).await? else {
        return Ok(Err(("users", "no_such_user".to_owned())));
    };
    if let Some(id) = person.slack_user_id {
        return Ok(Ok(id));
    }
    match client.lookup_by_email(&person.email).await {
        Ok(found) => Ok(Ok(found.id)),
        Err(e) => Ok(Err(permanent(e)?)),
    }
}

/// Tells `notice.user_id` once: a DM, else a mention in the fallback channel. `None` when
/// this notification was already given.
pub(crate) async fn tell(
    pool: &PgPool,
    client: &SlackClient,
    notice: &Notice<'_>,
) -> Result<Option<Outcome>, StepError> {
    if store::notified(pool, notice.key).await? {
        return Ok(None);
    }
    let mut told = Told {
        key: notice.key,
        workspace_id: notice.workspace_id,
        incident_id: notice.incident_id,
        user_id: notice.user_id,
        delivery: Delivery::Unreachable,
        slack_user_id: None,
        channel_id: None,
        ts: None,
        refusal: None,
    };
    let slack_id = match slack_user(pool, client, notice.workspace_id, notice.user_id).await? {
        Ok(id) => id,
        Err(refusal) => {
            tracing::info!(key = notice.key, user = %notice.user_id, code = %refusal.1,
                "no Slack account for this person; not told");
            let code = refusal.1.clone();
            told.refusal = Some(&code);
            store::record_notification(pool, &told).await?;
            return Ok(Some(Outcome {
                delivery: Delivery::Unreachable,
                refusal: Some(refusal),
            }));
        }
    };
    told.slack_user_id = Some(&slack_id);
    let refusal = match client.post_message(&slack_id, notice.text, None).await {
        Ok(ts) => {
            told.delivery = Delivery::Dm;
            told.channel_id = Some(&slack_id);
            told.ts = Some(&ts);
            store::record_notification(pool, &told).await?;
            return Ok(Some(Outcome {
                delivery: Delivery::Dm,
                refusal: None,
            }));
        }
        Err(e) => permanent(e)?,
    };
    tracing::warn!(key = notice.key, user = %notice.user_id, code = %refusal.1,
        "slack refused the DM; mentioning them instead");
    let Some(fallback) = notice.fallback else {
        let code = refusal.1.clone();
        told.refusal = Some(&code);
        store::record_notification(pool, &told).await?;
        return Ok(Some(Outcome {
            delivery: Delivery::Unreachable,
            refusal: Some(refusal),
        }));
    };
    let text = format!("<@{slack_id}> {}", notice.text);
    let posted = match fallback.thread_ts {
        Some(thread) => client.post_reply(fallback.channel, thread, &text).await,
        None => client.post_message(fallback.channel, &text, None).await,
    };
    let (delivery, code, ts) = match posted {
        Ok(ts) => (Delivery::Mention, refusal.1.clone(), Some(ts)),
        Err(e) => {
            let (_, mention_code) = permanent(e)?;
            (
                Delivery::Unreachable,
                format!("{}; mention: {mention_code}", refusal.1),
                None,
            )
        }
    };
    told.delivery = delivery;
    told.channel_id = Some(fallback.channel);
    told.ts = ts.as_deref();
    told.refusal = Some(&code);
    store::record_notification(pool, &told).await?;
    Ok(Some(Outcome {
        delivery,
        refusal: Some(refusal),
    }))
}
