//! `POST /slack/events`: the Events API. Answers `url_verification` with its challenge;
//! of the `event_callback`s, a 📌 (`pushpin`) reaction on a message in a war room by a
//! known user puts a link to that message on the incident's timeline, once.
//!
//! The payload is typed below; a field of another shape reads as absent, and a payload
//! of another `type` or shape is acknowledged and ignored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_schema::TimelineKind;
use incident_schema::contract::AddUpdate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SlackRequest, command, lenient, person_by_slack_id};
use crate::AppState;
use crate::error::InboundError;
use crate::store;

/// An Events API payload, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Payload {
    UrlVerification {
        #[serde(default)]
        challenge: Value,
    },
    EventCallback {
        #[serde(default, deserialize_with = "lenient")]
        event: Event,
    },
    #[serde(other)]
    Other,
}

/// The event of an `event_callback` (the fields of `reaction_added` the war room reads).
#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    kind: String,
    #[serde(default, deserialize_with = "lenient")]
    reaction: String,
    #[serde(default, deserialize_with = "lenient")]
    item: Item,
    #[serde(default, deserialize_with = "lenient")]
    user: String,
}

/// What was reacted to.
#[derive(Debug, Default, Deserialize)]
struct Item {
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    kind: String,
    #[serde(default, deserialize_with = "lenient")]
    channel: String,
    #[serde(default, deserialize_with = "lenient")]
    ts: String,
}

pub(super) async fn events(
    State(state): State<AppState>,
    request: SlackRequest,
) -> Result<Response, InboundError> {
    let Ok(payload) = serde_json::from_slice::<Value>(request.body()) else {
        return Err(InboundError::Malformed);
    };
    if let Some(answer) = super::uninstall::uninstalled(&state, &payload).await? {
        return Ok(answer);
    }
    let state = request.scoped(&state);
    match serde_json::from_value(payload) {
        Ok(Payload::UrlVerification { challenge }) => {
            Ok(axum::Json(json!({ "challenge": challenge })).into_response())
        }
        Ok(Payload::EventCallback { event }) => {
            if event.kind == "reaction_added"
                && event.reaction == "pushpin"
                && event.item.kind == "message"
            {
                let (channel, ts, user) = (event.item.channel, event.item.ts, event.user);
                pin_to_timeline(&state, &channel, &ts, &user).await?;
            }
            Ok(StatusCode::OK.into_response())
        }
        Ok(Payload::Other) | Err(_) => Ok(StatusCode::OK.into_response()),
    }
}

async fn pin_to_timeline(
    state: &AppState,
    channel: &str,
    ts: &str,
    user: &str,
) -> Result<(), InboundError> {
    let Some(room) = super::room_of_channel(state, channel).await? else {
        return Ok(());
    };
    let Some(person) = person_by_slack_id(state, user, Some(room.workspace_id)).await? else {
        // Unknown reacting user: nothing changes.
        return Ok(());
    };
    if !store::first_pin_of(&state.pool, channel, ts, room.incident_id)
        .await
        .map_err(InboundError::failed)?
    {
        return Ok(());
    }
    let link = format!(
        "{}/p{}",
        room.channel_url.unwrap_or_default(),
        ts.replace('.', "")
    );
    let note = AddUpdate {
        incident_id: room.incident_id,
        message: format!("📌 Pinned from Slack: {link}"),
        is_public: false,
        kind: Some(TimelineKind::Note),
        actor_id: Some(person.id),
    };
    command(state, room.workspace_id, &note).await
}
