//! Creating and changing action items, with their rules and their events
//! (`action_item.created`, `action_item.updated`, in the same transaction as the change).

use chrono::NaiveDate;
use incident_schema::contract::{ActionItemCreated, ActionItemUpdated, IncidentSnapshot};
use incident_schema::{ActionItemPriority, ActionItemStatus};
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ActionItemView;
use super::store::{self, ItemFields};
use crate::Actor;
use crate::error::{DomainError, DomainResult};
use crate::events;
use crate::postmortem::{self, store as postmortems};

/// Longest description, reason or URL accepted.
const MAX_TEXT: usize = 2_000;

/// A new action item.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActionItem {
    /// What to do.
    pub description: String,
    /// Who does it: a user of the workspace.
    #[serde(default)]
    pub assignee_id: Option<Uuid>,
    /// When it is due (`YYYY-MM-DD`).
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// P1 (most urgent) to P4; P3 by default.
    #[serde(default)]
    pub priority: Option<ActionItemPriority>,
    /// A Jira or Linear (or any http/https) link tracking it.
    #[serde(default)]
    pub external_url: Option<String>,
}

/// A change to an action item: absent fields stay, `null` clears the optional ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemPatch {
    /// What to do.
    #[serde(default)]
    pub description: Option<String>,
    /// Who does it; null unassigns.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub assignee_id: Option<Option<Uuid>>,
    /// When it is due; null clears.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub due_date: Option<Option<NaiveDate>>,
    /// How urgent.
    #[serde(default)]
    pub priority: Option<ActionItemPriority>,
    /// The ticket elsewhere; null clears.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub external_url: Option<Option<String>>,
    /// The new status.
    #[serde(default)]
    pub status: Option<ActionItemStatus>,
    /// Why it will not be done: required when moving to WONT_DO.
    #[serde(default)]
    pub wont_do_reason: Option<String>,
}

/// Where an item may go from `from`.
pub const fn allowed_next(from: ActionItemStatus) -> &'static [ActionItemStatus] {
    use ActionItemStatus::{Done, InProgress, Open, WontDo};
    match from {
        Open => &[InProgress, Done, WontDo],
        InProgress => &[Open, Done, WontDo],
        Done | WontDo => &[],
    }
}

fn text(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT {
        return Err(DomainError::invalid(
            field,
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn url(value: &str) -> DomainResult<String> {
    let value = text("external_url", value)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(value),
        _ => Err(DomainError::invalid(
            "external_url",
            "must be an http:// or https:// URL (a Jira or Linear link, say)",
        )),
    }
}

async fn check_assignee(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    assignee: Option<Uuid>,
) -> DomainResult<()> {
    if let Some(user) = assignee
        && !store::user_exists(conn, workspace_id, user).await?
    {
        return Err(DomainError::invalid(
            "assignee_id",
            "is not a user of this workspace",
        ));
    }
    Ok(())
}

async fn about(
    conn: &mut PgConnection,
    actor: Actor,
    item: &ActionItemView,
) -> DomainResult<(IncidentSnapshot, serde_json::Value)> {
    let record = postmortems::get(conn, actor.workspace_id, item.postmortem_id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    let incident = postmortem::incident_of(conn, &record).await?;
    let action_item = serde_json::to_value(item)
        .map_err(|e| DomainError::from(sqlx::Error::Encode(Box::new(e))))?;
    Ok((events::snapshot(&incident), action_item))
}

/// Adds an action item to postmortem `postmortem_id` and emits `action_item.created`.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, postmortem_id = %postmortem_id), err)]
pub async fn create(
    conn: &mut PgConnection,
    actor: Actor,
    postmortem_id: Uuid,
    new: &NewActionItem,
) -> DomainResult<ActionItemView> {
    let ws = actor.workspace_id;
    // Locks the postmortem: items of one postmortem are added one at a time.
    postmortems::lock(conn, ws, postmortem_id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    let description = text("description", &new.description)?;
    let external_url = new.external_url.as_deref().map(url).transpose()?;
    check_assignee(conn, ws, new.assignee_id).await?;
    let id = store::insert(
        conn,
        ws,
        postmortem_id,
        &ItemFields {
            description: &description,
            assignee_id: new.assignee_id,
            status: ActionItemStatus::Open,
            priority: new.priority.unwrap_or(ActionItemPriority::P3),
            due_date: new.due_date,
            external_url: external_url.as_deref(),
            wont_do_reason: None,
        },
    )
    .await?;
    // With `auto_export`, the request to file it commits with the item.
    crate::tracker::export::request_on_creation(conn, ws, id).await?;
    let item = store::view(conn, ws, id)
        .await?
        .ok_or(DomainError::NotFound("action item"))?;
    let (incident, action_item) = about(conn, actor, &item).await?;
    let created = ActionItemCreated {
        incident,
        action_item,
        actor_id: actor.user_id,
    };
    events::emit(conn, ws, &created, None).await?;
    Ok(item)
}

/// Changes action item `id` and emits `action_item.updated` when anything changed.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, action_item_id = %id), err)]
pub async fn update(
    conn: &mut PgConnection,
    actor: Actor,
    id: Uuid,
    patch: &ActionItemPatch,
) -> DomainResult<ActionItemView> {
    let ws = actor.workspace_id;
    let before = store::lock(conn, ws, id)
        .await?
        .ok_or(DomainError::NotFound("action item"))?;
    let from = before.status;
    let to = patch.status.unwrap_or(from);
    if to != from && !allowed_next(from).contains(&to) {
        return Err(DomainError::IllegalTransition {
            what: "action item",
            from: from.to_string(),
            to: to.to_string(),
            allowed: allowed_next(from).iter().map(|s| s.to_string()).collect(),
        });
    }
    let wont_do_reason = match (&patch.wont_do_reason, to) {
        (Some(reason), ActionItemStatus::WontDo) => Some(text("wont_do_reason", reason)?),
        (None, ActionItemStatus::WontDo) => match before.wont_do_reason.clone() {
            Some(reason) => Some(reason),
            None => {
                return Err(DomainError::invalid(
                    "wont_do_reason",
                    "say why the item will not be done",
                ));
            }
        },
        (Some(_), _) => {
            return Err(DomainError::invalid(
                "wont_do_reason",
                "only an item moving to (or in) WONT_DO has a reason",
            ));
        }
        (None, _) => None,
    };
    let description = match &patch.description {
        Some(d) => text("description", d)?,
        None => before.description.clone(),
    };
    let external_url = match &patch.external_url {
        Some(Some(u)) => Some(url(u)?),
        Some(None) => None,
        None => before.external_url.clone(),
    };
    let assignee_id = patch.assignee_id.unwrap_or(before.assignee_id);
    if assignee_id != before.assignee_id {
        check_assignee(conn, ws, assignee_id).await?;
    }
    let fields = ItemFields {
        description: &description,
        assignee_id,
        status: to,
        priority: patch.priority.unwrap_or(before.priority),
        due_date: patch.due_date.unwrap_or(before.due_date),
        external_url: external_url.as_deref(),
        wont_do_reason: wont_do_reason.as_deref(),
    };
    let mut changed = Vec::new();
    if fields.description != before.description {
        changed.push("description");
    }
    if fields.assignee_id != before.assignee_id {
        changed.push("assignee_id");
    }
    if fields.status != before.status {
        changed.push("status");
    }
    if fields.priority != before.priority {
        changed.push("priority");
    }
    if fields.due_date != before.due_date {
        changed.push("due_date");
    }
    if fields.external_url != before.external_url.as_deref() {
        changed.push("external_url");
    }
    if fields.wont_do_reason != before.wont_do_reason.as_deref() {
        changed.push("wont_do_reason");
    }
    if !changed.is_empty() {
        store::update(conn, ws, id, &fields).await?;
    }
    let item = store::view(conn, ws, id)
        .await?
        .ok_or(DomainError::NotFound("action item"))?;
    if !changed.is_empty() {
        let (incident, action_item) = about(conn, actor, &item).await?;
        let updated = ActionItemUpdated {
            incident,
            action_item,
            changed: changed.iter().map(|c| c.to_string()).collect(),
            from_status: from,
            to_status: to,
            actor_id: actor.user_id,
        };
        events::emit(conn, ws, &updated, None).await?;
    }
    Ok(item)
}
