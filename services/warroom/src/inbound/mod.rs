//! Slack → incident: `/slack/commands`, `/slack/interactions` and `/slack/events`.
//!
//! Each request is authenticated by its v0 signature over the raw body (401 with an empty
//! body otherwise, timestamps more than five minutes off refused, a replayed signature
//! refused) by the [`SlackRequest`] extractor, then parsed, turned into a command to core
//! written to the outbox, and answered — within Slack's 3 seconds. Web API calls
//! (`views.open`, resolving a Slack user by email, replies to `response_url`) run in
//! spawned tasks after the answer.
//!
//! Slack users map to workspace users by `users.slack_user_id`, else by the email Slack
//! has for them; an unknown user gets an ephemeral explanation and nothing changes.
//!
//! - `slash_commands`: `/incident declare|list|status|severity|update|assign|ic|resolve|help`;
//! - `drill`: `/incident drill [<scenario>]`, sent to the SLA watchdog;
//! - `interactions`: the summary's buttons, the announcement's "Join" and the update modal;
//! - `forms`: the declare modal's submission and the "Add to timeline" message shortcut;
//! - `events`: the Events API (a 📌 reaction puts the message on the timeline);
//! - `uninstall`: `app_uninstalled` / `tokens_revoked` mark the team's installation;
//! - `request`: the verified request every handler starts with.

mod drill;
mod events;
mod forms;
mod interactions;
mod request;
mod slash_commands;
mod uninstall;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use incident_schema::contract::Message;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::{Value, json};
use uuid::Uuid;

pub use request::SlackRequest;
pub use slash_commands::SlashRequest;

use crate::AppState;
use crate::error::InboundError;
use crate::lifecycle::send_command;
use crate::store::{self, Person};
use crate::teams::Scope;

/// Slash commands' request URL (`deploy/slack/manifest.yaml` names the three).
pub const COMMANDS_PATH: &str = "/slack/commands";
/// Interactivity's request URL.
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
/// The Events API's request URL.
pub const EVENTS_PATH: &str = "/slack/events";

/// The Slack routes (state: [`AppState`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(COMMANDS_PATH, post(slash_commands::commands))
        .route(INTERACTIONS_PATH, post(interactions::interactions))
        .route(EVENTS_PATH, post(events::events))
}

const UNKNOWN_USER: &str = "I can't match your Slack account to a user of this incident workspace \
(by Slack id or email), so nothing was changed. Ask an admin to add you with your Slack email.";

fn ephemeral(text: &str) -> Response {
    axum::Json(json!({ "response_type": "ephemeral", "text": text })).into_response()
}

/// A payload field read as leniently as Slack's payloads need: a value of another shape
/// (a `null` input, say) reads as the default, as if absent.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// Enqueues one command to core in its own transaction.
async fn command<M: Message>(
    state: &AppState,
    workspace_id: Uuid,
    command: &M,
) -> Result<(), InboundError> {
    let mut tx = state.pool.begin().await.map_err(InboundError::failed)?;
    send_command(&mut tx, workspace_id, command, None)
        .await
        .map_err(InboundError::failed)?;
    tx.commit().await.map_err(InboundError::failed)
}

/// The war room of a channel, if it is one of the request's scope.
async fn room_of_channel(
    state: &AppState,
    channel: &str,
) -> Result<Option<store::Room>, InboundError> {
    Ok(store::room_by_channel(&state.pool, channel)
        .await
        .map_err(InboundError::failed)?
        .filter(|r| state.admits(r.workspace_id)))
}

/// The incident of a war room channel: (incident id, workspace id).
async fn incident_of_channel(
    state: &AppState,
    channel: &str,
) -> Result<Option<(Uuid, Uuid)>, InboundError> {
    Ok(room_of_channel(state, channel)
        .await?
        .map(|r| (r.incident_id, r.workspace_id)))
}

/// The workspace `workspace_id` asks for, narrowed to the request's scope: `Err(())`
/// when it lies outside (nobody matches then).
fn in_scope(state: &AppState, workspace_id: Option<Uuid>) -> Result<Option<Uuid>, ()> {
    match (state.scope, workspace_id) {
        (Scope::Nowhere, _) => Err(()),
        (Scope::Any, Some(asked)) if !state.admits(asked) => Err(()),
        (Scope::Any, asked) => Ok(asked),
        (Scope::Workspace(w), None) => Ok(Some(w)),
        (Scope::Workspace(w), Some(asked)) if asked == w => Ok(Some(w)),
        (Scope::Workspace(_), Some(_)) => Err(()),
    }
}

/// The workspace user behind a Slack user, by Slack id (no Web API call).
async fn person_by_slack_id(
    state: &AppState,
    slack_user: &str,
    workspace_id: Option<Uuid>,
) -> Result<Option<Person>, InboundError> {
    let Ok(workspace_id) = in_scope(state, workspace_id) else {
        return Ok(None);
    };
    let mut people = store::people_by_slack_id(&state.pool, slack_user, workspace_id)
        .await
        .map_err(InboundError::failed)?;
    people.retain(|p| state.admits(p.workspace_id));
    Ok(if people.len() == 1 {
        people.into_iter().next()
    } else {
        None
    })
}

/// The workspace user behind a Slack user, by the email Slack has (a Web API call: only
/// after the answer).
async fn person_by_email(
    state: &AppState,
    slack_user: &str,
    workspace_id: Option<Uuid>,
) -> Option<Person> {
    let workspace_id = in_scope(state, workspace_id).ok()?;
    let slack = state.slack.as_deref()?;
    let user = match slack.client.user_info(slack_user).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up a Slack user");
            return None;
        }
    };
    let email = user.profile.email?;
    let mut people = store::people_by_email(&state.pool, &email, workspace_id)
        .await
        .ok()?;
    people.retain(|p| state.admits(p.workspace_id));
    if people.len() == 1 {
        people.into_iter().next()
    } else {
        None
    }
}

async fn reply(state: &AppState, response_url: &str, text: &str) {
    if response_url.is_empty() {
        return;
    }
    let _ = state; // the reply needs no token
    let client = reqwest::Client::new();
    let body = json!({ "response_type": "ephemeral", "text": text, "replace_original": false });
    if let Err(e) = client.post(response_url).json(&body).send().await {
        tracing::warn!(error = %e, "could not answer on the response_url");
    }
}
