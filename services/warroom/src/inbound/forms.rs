//! The declare modal's submission (`view_submission`, callback `incident_declare`): the
//! same `incident.declare` command as `/incident declare <title>`, with the description,
//! the affected services (a comma list, each `DEGRADED`), drill and private, declared
//! once per view (`slack:view:<view id>` is the idempotency key), the submitter its
//! commander. And the message shortcut "Add to timeline" (`message_action`, callback
//! `add_to_timeline`): in a war room channel, the message goes on the incident's timeline
//! as a NOTE by the person who used it.
//!
//! Ticking the declare modal's options (drill, private) sends a `block_actions` from the
//! modal ([`declare_choice`]): after the answer the modal is updated (`views.update` with
//! the view's `hash`, so a stale change loses to a newer one) with what each chosen
//! option means for the war room.
//!
//! A person Slack cannot match to a user of a workspace changes nothing: the modal shows
//! why, the shortcut answers on its `response_url`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_schema::contract::{AddUpdate, Declaration, Declare, ServiceView};
use incident_schema::{ServiceImpact, Severity, TimelineKind, Visibility};
use serde_json::{Value, json};

use super::{UNKNOWN_USER, command, incident_of_channel, person_by_slack_id, reply};
use crate::AppState;
use crate::error::InboundError;
use crate::naming::truncate;

fn errors(block: &str, message: &str) -> Response {
    axum::Json(json!({ "response_action": "errors", "errors": { block: message } })).into_response()
}

fn str_at<'a>(payload: &'a Value, pointer: &str) -> &'a str {
    payload
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `block_actions` from the declare modal: its options changed; the modal is updated to
/// explain them (in a spawned task: the answer is due within 3 s).
pub(super) fn declare_choice(state: &AppState, payload: &Value) -> Response {
    let action = payload
        .pointer("/actions/0")
        .cloned()
        .unwrap_or(Value::Null);
    let view_id = str_at(payload, "/view/id").to_owned();
    if action["block_id"] != "options" || view_id.is_empty() {
        return StatusCode::OK.into_response();
    }
    let chosen: Vec<String> = action["selected_options"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|o| o["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let hash = str_at(payload, "/view/hash").to_owned();
    let modal = crate::slack::blocks::declare_modal_with(
        str_at(payload, "/view/private_metadata"),
        &chosen,
    );
    if let Some(slack) = state.slack.clone() {
        tokio::spawn(async move {
            if let Err(e) = slack.client.update_view(&view_id, &hash, &modal).await {
                // `hash_conflict`: a newer change already updated it.
                tracing::info!(error = %e, "the declare modal was not updated");
            }
        });
    }
    StatusCode::OK.into_response()
}

/// `view_submission` of the declare modal.
pub(super) async fn declare_submission(
    state: &AppState,
    payload: &Value,
) -> Result<Response, InboundError> {
    let user = str_at(payload, "/user/id");
    let values = payload
        .pointer("/view/state/values")
        .cloned()
        .unwrap_or(Value::Null);
    let input = |block: &str| {
        values
            .pointer(&format!("/{block}/value/value"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let Some(person) = person_by_slack_id(state, user, None).await? else {
        return Ok(errors("title", UNKNOWN_USER));
    };
    let title = input("title");
    if title.is_empty() {
        return Ok(errors("title", "Give the incident a title."));
    }
    let Ok(severity) = values
        .pointer("/severity/value/selected_option/value")
        .and_then(Value::as_str)
        .unwrap_or("SEV2")
        .parse::<Severity>()
    else {
        return Ok(errors("severity", "Choose a severity."));
    };
    let options: Vec<&str> = values
        .pointer("/options/value/selected_options")
        .and_then(Value::as_array)
        .map(|o| o.iter().filter_map(|o| o["value"].as_str()).collect())
        .unwrap_or_default();
    let services: Vec<ServiceView> = input("services")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| ServiceView {
            name: name.to_owned(),
            impact: ServiceImpact::Degraded,
        })
        .collect();
    let description = input("description");
    let mut incident = Declaration::new(title, severity);
    incident.commander_id = Some(person.id);
    incident.description = (!description.is_empty()).then_some(description);
    incident.affected_services = (!services.is_empty()).then_some(services);
    incident.is_drill = Some(options.contains(&"drill"));
    incident.visibility = Some(if options.contains(&"private") {
        Visibility::Private
    } else {
        Visibility::Public
    });
    let view = str_at(payload, "/view/id");
    let declare = Declare {
        // One declare per submitted view, however often Slack delivers it.
        idempotency_key: Some(truncate(&format!("slack:view:{view}"), 255)),
        actor_id: Some(person.id),
        incident,
    };
    command(state, person.workspace_id, &declare).await?;
    Ok(StatusCode::OK.into_response())
}

/// The message shortcut "Add to timeline".
pub(super) async fn add_to_timeline(
    state: &AppState,
    payload: &Value,
) -> Result<Response, InboundError> {
    if str_at(payload, "/callback_id") != crate::slack::blocks::ADD_TO_TIMELINE_CALLBACK {
        return Ok(StatusCode::OK.into_response());
    }
    let (user, channel) = (str_at(payload, "/user/id"), str_at(payload, "/channel/id"));
    let response_url = str_at(payload, "/response_url").to_owned();
    let Some((incident_id, workspace)) = incident_of_channel(state, channel).await? else {
        let state = state.clone();
        tokio::spawn(async move {
            reply(
                &state,
                &response_url,
                "Use this on a message in an incident's war room channel.",
            )
            .await;
        });
        return Ok(StatusCode::OK.into_response());
    };
    let Some(person) = person_by_slack_id(state, user, Some(workspace)).await? else {
        let state = state.clone();
        tokio::spawn(async move { reply(&state, &response_url, UNKNOWN_USER).await });
        return Ok(StatusCode::OK.into_response());
    };
    let ts = str_at(payload, "/message/ts");
    let text = str_at(payload, "/message/text").trim();
    let room = crate::store::room_by_channel(&state.pool, channel)
        .await
        .map_err(InboundError::failed)?;
    let link = room
        .and_then(|r| r.channel_url)
        .map(|url| format!(" ({url}/p{})", ts.replace('.', "")))
        .unwrap_or_default();
    let note = AddUpdate {
        incident_id,
        message: truncate(&format!("💬 From Slack{link}: {text}"), 20_000),
        is_public: false,
        kind: Some(TimelineKind::Note),
        actor_id: Some(person.id),
    };
    command(state, workspace, &note).await?;
    Ok(StatusCode::OK.into_response())
}
