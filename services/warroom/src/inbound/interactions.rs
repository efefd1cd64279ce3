//! `POST /slack/interactions`: the summary's buttons (`block_actions`: acknowledge,
//! resolve, open the update modal), the announcement's "Join" (membership of the
//! incident) and the update modal's submission
//! (`view_submission`: an update, and a status change when one is chosen); a change of
//! the declare modal's options (`forms::declare_choice`).
//!
//! The payload (the form's `payload` field) is typed below; a field of another shape
//! reads as absent, and a payload of another `type` or shape is acknowledged and ignored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_schema::contract::{Acknowledge, AddMember, AddUpdate, ChangeStatus};
use incident_schema::{IncidentStatus, TimelineKind};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    SlackRequest, UNKNOWN_USER, command, lenient, person_by_email, person_by_slack_id, reply,
};
use crate::AppState;
use crate::error::InboundError;
use crate::slack::blocks::{self, action};
use crate::slack::form;
use crate::store::{self, Person};

/// An interaction payload, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Interaction {
    BlockActions(BlockActions),
    ViewSubmission(ViewSubmission),
    #[serde(other)]
    Other,
}

/// `{"id": ...}`, the acting Slack user.
#[derive(Debug, Default, Deserialize)]
struct User {
    #[serde(default, deserialize_with = "lenient")]
    id: String,
}

/// A button press.
#[derive(Debug, Default, Deserialize)]
struct BlockActions {
    #[serde(default, deserialize_with = "lenient")]
    user: User,
    #[serde(default, deserialize_with = "lenient")]
    actions: Vec<Action>,
    #[serde(default, deserialize_with = "lenient")]
    response_url: String,
    #[serde(default, deserialize_with = "lenient")]
    trigger_id: String,
}

/// One pressed button: which, and the incident id it carries.
#[derive(Debug, Default, Deserialize)]
struct Action {
    #[serde(default, deserialize_with = "lenient")]
    action_id: String,
    #[serde(default, deserialize_with = "lenient")]
    value: String,
}

/// A submitted modal.
#[derive(Debug, Default, Deserialize)]
struct ViewSubmission {
    #[serde(default, deserialize_with = "lenient")]
    user: User,
    #[serde(default, deserialize_with = "lenient")]
    view: View,
}

/// The modal: which one, the incident id it carries, and its inputs.
#[derive(Debug, Default, Deserialize)]
struct View {
    #[serde(default, deserialize_with = "lenient")]
    callback_id: String,
    #[serde(default, deserialize_with = "lenient")]
    private_metadata: String,
    #[serde(default, deserialize_with = "lenient")]
    state: ViewState,
}

#[derive(Debug, Default, Deserialize)]
struct ViewState {
    #[serde(default, deserialize_with = "lenient")]
    values: ViewValues,
}

/// The update modal's inputs, by block id (each input's action id is `value`).
#[derive(Debug, Default, Deserialize)]
struct ViewValues {
    #[serde(default, deserialize_with = "lenient")]
    message: TextBlock,
    #[serde(default, deserialize_with = "lenient")]
    visibility: SelectBlock,
    #[serde(default, deserialize_with = "lenient")]
    status: SelectBlock,
}

#[derive(Debug, Default, Deserialize)]
struct TextBlock {
    #[serde(default, deserialize_with = "lenient")]
    value: TextInput,
}

#[derive(Debug, Default, Deserialize)]
struct SelectBlock {
    #[serde(default, deserialize_with = "lenient")]
    value: SelectInput,
}

#[derive(Debug, Default, Deserialize)]
struct TextInput {
    #[serde(default, deserialize_with = "lenient")]
    value: String,
}

#[derive(Debug, Default, Deserialize)]
struct SelectInput {
    #[serde(default, deserialize_with = "lenient")]
    selected_option: SelectedOption,
}

#[derive(Debug, Default, Deserialize)]
struct SelectedOption {
    #[serde(default, deserialize_with = "lenient")]
    value: String,
}

pub(super) async fn interactions(
    State(state): State<AppState>,
    request: SlackRequest,
) -> Result<Response, InboundError> {
    let state = request.scoped(&state);
    let pairs = request.form();
    let Some(payload) =
        form::get(&pairs, "payload").and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return Err(InboundError::Malformed);
    };
    if payload["type"] == "view_submission"
        && payload.pointer("/view/callback_id").and_then(Value::as_str)
            == Some(blocks::DECLARE_CALLBACK)
    {
        return super::forms::declare_submission(&state, &payload).await;
    }
    if payload["type"] == "block_actions"
        && payload.pointer("/view/callback_id").and_then(Value::as_str)
            == Some(blocks::DECLARE_CALLBACK)
    {
        return Ok(super::forms::declare_choice(&state, &payload));
    }
    if payload["type"] == "message_action" {
        return super::forms::add_to_timeline(&state, &payload).await;
    }
    match serde_json::from_value(payload) {
        Ok(Interaction::BlockActions(actions)) => block_actions(&state, actions).await,
        Ok(Interaction::ViewSubmission(submission)) => view_submission(&state, submission).await,
        Ok(Interaction::Other) | Err(_) => Ok(StatusCode::OK.into_response()),
    }
}

/// The workspace of incident `id`, if it is in the request's scope.
async fn workspace_of_incident(state: &AppState, id: Uuid) -> Result<Option<Uuid>, InboundError> {
    Ok(store::incident_workspace(&state.pool, id)
        .await
        .map_err(InboundError::failed)?
        .filter(|w| state.admits(*w)))
}

async fn block_actions(state: &AppState, payload: BlockActions) -> Result<Response, InboundError> {
    let user = payload.user.id;
    let Some(act) = payload.actions.first() else {
        return Ok(StatusCode::OK.into_response());
    };
    let action_id = act.action_id.clone();
    let Ok(incident_id) = act.value.parse::<Uuid>() else {
        return Ok(StatusCode::OK.into_response());
    };
    let Some(workspace) = workspace_of_incident(state, incident_id).await? else {
        return Ok(StatusCode::OK.into_response());
    };
    let person = person_by_slack_id(state, &user, Some(workspace)).await?;
    let response_url = payload.response_url;
    let trigger = payload.trigger_id;
    let Some(person) = person else {
        let state = state.clone();
        tokio::spawn(async move {
            match person_by_email(&state, &user, Some(workspace)).await {
                Some(person) => {
                    if let Err(e) = button(&state, &person, incident_id, &action_id, &trigger).await
                    {
                        tracing::warn!(status = %e.status(), "a button failed after the user lookup");
                    }
                }
                None => reply(&state, &response_url, UNKNOWN_USER).await,
            }
        });
        return Ok(StatusCode::OK.into_response());
    };
    button(state, &person, incident_id, &action_id, &trigger).await?;
    Ok(StatusCode::OK.into_response())
}

async fn view_submission(
    state: &AppState,
    payload: ViewSubmission,
) -> Result<Response, InboundError> {
    let (user, view) = (payload.user.id, payload.view);
    if view.callback_id != blocks::ADD_UPDATE_CALLBACK {
        return Ok(StatusCode::OK.into_response());
    }
    let Ok(incident_id) = view.private_metadata.parse::<Uuid>() else {
        return Ok(StatusCode::OK.into_response());
    };
    let Some(workspace) = workspace_of_incident(state, incident_id).await? else {
        return Ok(StatusCode::OK.into_response());
    };
    let Some(person) = person_by_slack_id(state, &user, Some(workspace)).await? else {
        return Ok(axum::Json(
            json!({ "response_action": "errors", "errors": { "message": UNKNOWN_USER } }),
        )
        .into_response());
    };
    let values = view.state.values;
    let message = values.message.value.value;
    if message.trim().is_empty() {
        return Ok(axum::Json(
            json!({ "response_action": "errors", "errors": { "message": "Write an update." } }),
        )
        .into_response());
    }
    let public = values.visibility.value.selected_option.value == "public";
    let status = values.status.value.selected_option.value;
    command(
        state,
        workspace,
        &AddUpdate {
            incident_id,
            message: message.clone(),
            is_public: public,
            kind: Some(TimelineKind::Update),
            actor_id: Some(person.id),
        },
    )
    .await?;
    // The modal offers the statuses themselves; anything else changes nothing.
    if let Ok(status) = status.parse::<IncidentStatus>() {
        command(
            state,
            workspace,
            &ChangeStatus {
                incident_id,
                status,
                message: Some(message),
                actor_id: Some(person.id),
                force: false,
            },
        )
        .await?;
    }
    Ok(StatusCode::OK.into_response())
}

async fn button(
    state: &AppState,
    person: &Person,
    incident_id: Uuid,
    action_id: &str,
    trigger: &str,
) -> Result<(), InboundError> {
    let ws = person.workspace_id;
    match action_id {
        action::ACKNOWLEDGE => {
            command(
                state,
                ws,
                &Acknowledge {
                    incident_id,
                    actor_id: Some(person.id),
                },
            )
            .await
        }
        action::RESOLVE => {
            command(
                state,
                ws,
                &ChangeStatus {
                    incident_id,
                    status: IncidentStatus::Resolved,
                    message: Some(format!(
                        "Marked resolved from Slack by {}",
                        person.display_name
                    )),
                    actor_id: Some(person.id),
                    force: false,
                },
            )
            .await
        }
        action::JOIN => {
            // The announcement's "Join": the person becomes a member of the incident.
            command(
                state,
                ws,
                &AddMember {
                    incident_id,
                    actor_id: Some(person.id),
                    user_id: person.id,
                },
            )
            .await
        }
        action::ADD_UPDATE => {
            let reference = store::incident_number(&state.pool, incident_id)
                .await
                .map_err(InboundError::failed)?;
            let modal = blocks::add_update_modal(
                &incident_id.to_string(),
                &format!("INC-{}", reference.unwrap_or(0)),
            );
            if let Some(slack) = state.slack.clone() {
                let trigger = trigger.to_owned();
                tokio::spawn(async move {
                    if let Err(e) = slack.client.open_view(&trigger, &modal).await {
                        tracing::warn!(error = %e, "could not open the update modal");
                    }
                });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
