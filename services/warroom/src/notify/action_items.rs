//! Action-item assignees told (postmortem's `action_item.created` and `.updated`, the
//! watchdog's `action_item.overdue`): a DM when an item is assigned to them (created with
//! an assignee, or given a new one; not when they assigned it to themselves), and one
//! when it becomes overdue — the watchdog flags an open item past its due date once
//! (`overdue_flagged_at`), and the notification is keyed by the item, so however often
//! the event comes, the assignee hears once. A PRIVATE incident's title stays out of the
//! DM (`INC-7 (a private incident)`); drills say `[DRILL]`. An item of a **drill** is told
//! only to an assignee who takes part in the drill (a role holder or member of its
//! incident, `store::is_participant`): a drill notifies nobody outside it.

use chrono::NaiveDate;
use incident_bus::{Envelope, HandlerError};
use incident_schema::Visibility;
use incident_schema::contract::{
    ActionItemCreated, ActionItemOverdue, ActionItemUpdated, IncidentSnapshot, Message as _,
};
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Notice, tell};
use crate::lifecycle::{Slack, StepError};
use crate::slack::mrkdwn::escape;

/// The parts of postmortem's `ActionItemView` the DM reads.
#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    description: String,
    #[serde(default)]
    assignee_id: Option<Uuid>,
    #[serde(default)]
    due_date: Option<NaiveDate>,
}

/// How the DM names the incident.
struct Named {
    reference: String,
    title: Option<String>,
    is_drill: bool,
}

impl Named {
    fn of(snap: &IncidentSnapshot) -> Self {
        Self {
            reference: snap.reference.clone(),
            title: (snap.visibility() == Visibility::Public).then(|| snap.title.clone()),
            is_drill: snap.is_drill,
        }
    }

    fn text(&self) -> String {
        let drill = if self.is_drill { "[DRILL] " } else { "" };
        match &self.title {
            Some(title) => format!("*{drill}{}: {}*", self.reference, escape(title)),
            None => format!("*{drill}{}* (a private incident)", self.reference),
        }
    }
}

fn due(date: Option<NaiveDate>) -> String {
    date.map_or_else(String::new, |d| format!(" It is due {d}."))
}

/// Handles an action-item event: tells the assignee, once.
pub async fn handle(
    pool: &PgPool,
    slack: &Slack,
    conn: &mut PgConnection,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let decode =
        |e: serde_json::Error| HandlerError::permanent(format!("{}: {e}", message.message_type));
    let (key, incident_id, user, text, is_drill) = match message.message_type.as_str() {
        t if t == <ActionItemCreated>::TYPE || t == <ActionItemUpdated>::TYPE => {
            let (snap, item, actor, assigned) = if t == <ActionItemCreated>::TYPE {
                let created: ActionItemCreated = message.data_as().map_err(decode)?;
                (
                    created.incident,
                    created.action_item,
                    created.actor_id,
                    true,
                )
            } else {
                let updated: ActionItemUpdated = message.data_as().map_err(decode)?;
                let assigned = updated.changed.iter().any(|c| c == "assignee_id");
                (
                    updated.incident,
                    updated.action_item,
                    updated.actor_id,
                    assigned,
                )
            };
            let item: Item = serde_json::from_value(item).map_err(decode)?;
            let Some(user) = item.assignee_id.filter(|u| assigned && Some(*u) != actor) else {
                return Ok(());
            };
            let text = format!(
                "📋 You have an action item from the postmortem of {}: {}{}",
                Named::of(&snap).text(),
                escape(item.description.trim()),
                due(item.due_date)
            );
            (
                format!("action_item:{}", message.id),
                snap.id,
                user,
                text,
                snap.is_drill,
            )
        }
        t if t == ActionItemOverdue::TYPE => {
            let overdue: ActionItemOverdue = message.data_as().map_err(decode)?;
            let Some(user) = overdue.assignee_id else {
                return Ok(());
            };
            let Some((number, title, is_drill, visibility)) =
                super::store::incident_of_item(pool, message.workspace_id, overdue.incident_id)
                    .await?
            else {
                return Ok(());
            };
            let named = Named {
                reference: format!("INC-{number}"),
                title: (visibility == Visibility::Public.to_string()).then_some(title),
                is_drill,
            };
            let text = format!(
                "⏰ Your action item from the postmortem of {} is overdue (it was due {}): {}",
                named.text(),
                overdue.due_date,
                escape(overdue.description.trim())
            );
            (
                format!("overdue:{}", overdue.action_item_id),
                overdue.incident_id,
                user,
                text,
                is_drill,
            )
        }
        _ => return Ok(()),
    };
    if is_drill
        && !super::store::is_participant(pool, message.workspace_id, incident_id, user).await?
    {
        tracing::info!(%incident_id, user = %user, "action item of a drill: its assignee takes no part in the drill, not told");
        return Ok(());
    }
    // One delivery of this notification at a time, across replicas.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(&key)
        .execute(&mut *conn)
        .await?;
    let notice = Notice {
        key: &key,
        workspace_id: message.workspace_id,
        incident_id: Some(incident_id),
        user_id: user,
        text: &text,
        fallback: None,
    };
    match tell(pool, &slack.client, &notice).await {
        Ok(_) => Ok(()),
        Err(StepError::Db(e)) => Err(e.into()),
        Err(StepError::Slack(e)) => Err(HandlerError::transient(e)),
    }
}
