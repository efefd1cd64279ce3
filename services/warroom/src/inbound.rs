//! Slack → incident: `/slack/commands`, `/slack/interactions` and `/slack/events`.
//!
//! Each request is authenticated by its v0 signature over the raw body (401 with an empty
//! body otherwise, timestamps more than five minutes off refused, a replayed signature
//! refused), then parsed, turned into a command to core written to the outbox, and
//! answered — within Slack's 3 seconds. Web API calls (`views.open`, resolving a Slack
//! user by email, replies to `response_url`) run in spawned tasks after the answer.
//!
//! Slack users map to workspace users by `users.slack_user_id`, else by the email Slack
//! has for them; an unknown user gets an ephemeral explanation and nothing changes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use incident_schema::contract::{
    Acknowledge, AddUpdate, AssignRole, ChangeStatus, Declaration, Declare, Message,
};
use incident_schema::{IncidentStatus, Role, Severity, TimelineKind};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::lifecycle::send_command;
use crate::slack::blocks::{self, action};
use crate::slack::{form, mrkdwn, signature};
use crate::store::{self, Person};

/// The Slack routes (state: [`AppState`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
}

const USAGE: &str = "Usage: `/incident declare <title> [sev1|sev2|sev3|sev4]`, `/incident status`, \
`/incident update <text>`, `/incident resolve`, `/incident ic @user`, `/incident help`. \
In an incident channel the incident is implied.";

const UNKNOWN_USER: &str = "I can't match your Slack account to a user of this incident workspace \
(by Slack id or email), so nothing was changed. Ask an admin to add you with your Slack email.";

fn ephemeral(text: &str) -> Response {
    axum::Json(json!({ "response_type": "ephemeral", "text": text })).into_response()
}

fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a Slack request failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Verifies the signature and refuses replays; `Err` is the response to send.
async fn verify(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), Response> {
    let Some(secret) = &state.signing_secret else {
        return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let sig = header("x-slack-signature");
    if let Err(e) = signature::verify(
        secret.expose_secret(),
        header("x-slack-request-timestamp"),
        sig,
        body,
        (state.clock)(),
    ) {
        tracing::warn!(reason = %e, "refusing a Slack request");
        return Err(unauthorized());
    }
    match store::first_use_of_signature(&state.pool, sig.unwrap_or_default()).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!("refusing a replayed Slack request");
            Err(unauthorized())
        }
        Err(e) => Err(server_error(e)),
    }
}

/// Enqueues one command to core in its own transaction.
async fn command<M: Message>(
    state: &AppState,
    workspace_id: Uuid,
    command: &M,
) -> Result<(), Response> {
    let mut tx = state.pool.begin().await.map_err(server_error)?;
    send_command(&mut tx, workspace_id, command, None)
        .await
        .map_err(server_error)?;
    tx.commit().await.map_err(server_error)
}

/// The incident of a war room channel: (incident id, workspace id).
async fn incident_of_channel(
    state: &AppState,
    channel: &str,
) -> Result<Option<(Uuid, Uuid)>, Response> {
    Ok(store::room_by_channel(&state.pool, channel)
        .await
        .map_err(server_error)?
        .map(|r| (r.incident_id, r.workspace_id)))
}

/// The workspace of incident `id`.
async fn workspace_of_incident(state: &AppState, id: Uuid) -> Result<Option<Uuid>, Response> {
    sqlx::query_scalar("SELECT workspace_id FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await
        .map_err(server_error)
}

/// The workspace user behind a Slack user, by Slack id (no Web API call).
async fn person_by_slack_id(
    state: &AppState,
    slack_user: &str,
    workspace_id: Option<Uuid>,
) -> Result<Option<Person>, Response> {
    let people = store::people_by_slack_id(&state.pool, slack_user, workspace_id)
        .await
        .map_err(server_error)?;
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
    let slack = state.slack.as_deref()?;
    let user = match slack.client.user_info(slack_user).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up a Slack user");
            return None;
        }
    };
    let email = user.profile.email?;
    let people = store::people_by_email(&state.pool, &email, workspace_id)
        .await
        .ok()?;
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

/// What a slash command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slash {
    Declare { title: String, severity: String },
    Status,
    Update(String),
    Resolve,
    Commander(String),
    Help,
}

fn parse_slash(text: &str) -> Option<Slash> {
    let text = text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    match verb.to_lowercase().as_str() {
        "" | "help" => Some(Slash::Help),
        "status" if rest.is_empty() => Some(Slash::Status),
        "resolve" if rest.is_empty() => Some(Slash::Resolve),
        "update" if !rest.is_empty() => Some(Slash::Update(rest.to_owned())),
        "ic" => {
            // `<@U123|name>` or `<@U123>`.
            let id = rest.strip_prefix("<@")?.strip_suffix('>')?;
            let id = id.split('|').next()?;
            (!id.is_empty()).then(|| Slash::Commander(id.to_owned()))
        }
        "declare" if !rest.is_empty() => {
            let mut words: Vec<&str> = rest.split_whitespace().collect();
            let mut severity = "SEV2".to_owned();
            if let Some(i) = words.iter().position(|w| {
                matches!(w.to_lowercase().as_str(), "sev1" | "sev2" | "sev3" | "sev4")
            }) {
                severity = words.remove(i).to_uppercase();
            }
            let title = words.join(" ");
            (!title.is_empty()).then_some(Slash::Declare { title, severity })
        }
        _ => None,
    }
}

async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = form::decode(&String::from_utf8_lossy(&body));
    if form::get(&pairs, "ssl_check") == Some("1") {
        return StatusCode::OK.into_response();
    }
    if let Err(response) = verify(&state, &headers, &body).await {
        return response;
    }
    let field = |k: &str| form::get(&pairs, k).unwrap_or_default().to_owned();
    let (user, channel, text) = (field("user_id"), field("channel_id"), field("text"));
    let response_url = field("response_url");
    let trigger = field("trigger_id");
    let Some(slash) = parse_slash(&text) else {
        return ephemeral(USAGE);
    };
    if slash == Slash::Help {
        return ephemeral(USAGE);
    }
    let incident = match incident_of_channel(&state, &channel).await {
        Ok(incident) => incident,
        Err(response) => return response,
    };
    let workspace = incident.map(|(_, w)| w);
    let person = match person_by_slack_id(&state, &user, workspace).await {
        Ok(person) => person,
        Err(response) => return response,
    };
    match person {
        Some(person) => match run_slash(&state, &person, incident, slash, &trigger).await {
            Ok(text) => ephemeral(&text),
            Err(response) => response,
        },
        None => {
            // Known by email, perhaps: ask Slack after answering.
            let state = state.clone();
            tokio::spawn(async move {
                let text = match person_by_email(&state, &user, workspace).await {
                    Some(person) => {
                        match run_slash(&state, &person, incident, slash, &trigger).await {
                            Ok(text) => text,
                            Err(_) => "Something went wrong; nothing was changed.".to_owned(),
                        }
                    }
                    None => UNKNOWN_USER.to_owned(),
                };
                reply(&state, &response_url, &text).await;
            });
            StatusCode::OK.into_response()
        }
    }
}

async fn run_slash(
    state: &AppState,
    person: &Person,
    incident: Option<(Uuid, Uuid)>,
    slash: Slash,
    trigger: &str,
) -> Result<String, Response> {
    let ws = person.workspace_id;
    let need_incident = || incident.map(|(id, _)| id);
    match slash {
        Slash::Help => Ok(USAGE.to_owned()),
        Slash::Declare { title, severity } => {
            // The parser only ever yields SEV1 to SEV4.
            let Ok(level) = severity.parse::<Severity>() else {
                return Ok(USAGE.to_owned());
            };
            let mut incident = Declaration::new(title.clone(), level);
            incident.commander_id = Some(person.id);
            let declare = Declare {
                idempotency_key: Some(format!("slack:{trigger}")),
                actor_id: Some(person.id),
                incident,
            };
            command(state, ws, &declare).await?;
            Ok(format!(
                "Declaring *{}* ({severity}). A war room follows for the configured severities.",
                mrkdwn::escape(&title)
            ))
        }
        other => {
            let Some(id) = need_incident() else {
                return Ok("Run this in an incident channel.".to_owned());
            };
            match other {
                Slash::Status => {
                    let row: Option<(i32, String, String, String)> = sqlx::query_as(
                        "SELECT number, title, severity::text, status::text FROM incidents WHERE id = $1 AND workspace_id = $2",
                    )
                    .bind(id)
                    .bind(ws)
                    .fetch_optional(&state.pool)
                    .await
                    .map_err(server_error)?;
                    Ok(match row {
                        Some((n, title, sev, status)) => {
                            format!("INC-{n}: {} — {sev}, {status}", mrkdwn::escape(&title))
                        }
                        None => "No such incident.".to_owned(),
                    })
                }
                Slash::Update(text) => {
                    command(
                        state,
                        ws,
                        &AddUpdate {
                            incident_id: id,
                            message: text,
                            is_public: false,
                            kind: Some(TimelineKind::Update),
                            actor_id: Some(person.id),
                        },
                    )
                    .await?;
                    Ok("Update added.".to_owned())
                }
                Slash::Resolve => {
                    command(
                        state,
                        ws,
                        &ChangeStatus {
                            incident_id: id,
                            status: IncidentStatus::Resolved,
                            message: Some(format!(
                                "Resolved from Slack by {}",
                                person.display_name
                            )),
                            actor_id: Some(person.id),
                            force: false,
                        },
                    )
                    .await?;
                    Ok("Resolving.".to_owned())
                }
                Slash::Commander(slack_user) => {
                    let Some(target) = person_by_slack_id(state, &slack_user, Some(ws)).await?
                    else {
                        return Ok(format!(
                            "<@{slack_user}> is not a user of this workspace; nothing was changed."
                        ));
                    };
                    command(
                        state,
                        ws,
                        &AssignRole {
                            incident_id: id,
                            role: Role::Commander,
                            user_id: Some(target.id),
                            actor_id: Some(person.id),
                        },
                    )
                    .await?;
                    Ok(format!(
                        "{} is now the Incident Commander.",
                        target.display_name
                    ))
                }
                Slash::Help | Slash::Declare { .. } => Ok(USAGE.to_owned()),
            }
        }
    }
}

async fn interactions(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = verify(&state, &headers, &body).await {
        return response;
    }
    let pairs = form::decode(&String::from_utf8_lossy(&body));
    let Some(payload) =
        form::get(&pairs, "payload").and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let user = s(&payload, "/user/id");
    match payload.get("type").and_then(Value::as_str) {
        Some("block_actions") => {
            let Some(act) = payload.pointer("/actions/0") else {
                return StatusCode::OK.into_response();
            };
            let action_id = s(act, "/action_id");
            let Ok(incident_id) = s(act, "/value").parse::<Uuid>() else {
                return StatusCode::OK.into_response();
            };
            let workspace = match workspace_of_incident(&state, incident_id).await {
                Ok(Some(ws)) => ws,
                Ok(None) => return StatusCode::OK.into_response(),
                Err(response) => return response,
            };
            let person = match person_by_slack_id(&state, &user, Some(workspace)).await {
                Ok(p) => p,
                Err(response) => return response,
            };
            let response_url = s(&payload, "/response_url");
            let trigger = s(&payload, "/trigger_id");
            let Some(person) = person else {
                let state = state.clone();
                tokio::spawn(async move {
                    match person_by_email(&state, &user, Some(workspace)).await {
                        Some(person) => {
                            if let Err(e) =
                                button(&state, &person, incident_id, &action_id, &trigger).await
                            {
                                tracing::warn!(status = %e.status(), "a button failed after the user lookup");
                            }
                        }
                        None => reply(&state, &response_url, UNKNOWN_USER).await,
                    }
                });
                return StatusCode::OK.into_response();
            };
            match button(&state, &person, incident_id, &action_id, &trigger).await {
                Ok(()) => StatusCode::OK.into_response(),
                Err(response) => response,
            }
        }
        Some("view_submission") => {
            let view = payload.get("view").cloned().unwrap_or_default();
            if s(&view, "/callback_id") != blocks::ADD_UPDATE_CALLBACK {
                return StatusCode::OK.into_response();
            }
            let Ok(incident_id) = s(&view, "/private_metadata").parse::<Uuid>() else {
                return StatusCode::OK.into_response();
            };
            let workspace = match workspace_of_incident(&state, incident_id).await {
                Ok(Some(ws)) => ws,
                Ok(None) => return StatusCode::OK.into_response(),
                Err(response) => return response,
            };
            let person = match person_by_slack_id(&state, &user, Some(workspace)).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return axum::Json(json!({ "response_action": "errors", "errors": { "message": UNKNOWN_USER } }))
                        .into_response();
                }
                Err(response) => return response,
            };
            let message = s(&view, "/state/values/message/value/value");
            if message.trim().is_empty() {
                return axum::Json(json!({ "response_action": "errors", "errors": { "message": "Write an update." } }))
                    .into_response();
            }
            let public = s(
                &view,
                "/state/values/visibility/value/selected_option/value",
            ) == "public";
            let status = s(&view, "/state/values/status/value/selected_option/value");
            if let Err(response) = command(
                &state,
                workspace,
                &AddUpdate {
                    incident_id,
                    message: message.clone(),
                    is_public: public,
                    kind: Some(TimelineKind::Update),
                    actor_id: Some(person.id),
                },
            )
            .await
            {
                return response;
            }
            // The modal offers the statuses themselves; anything else changes nothing.
            if let Ok(status) = status.parse::<IncidentStatus>()
                && let Err(response) = command(
                    &state,
                    workspace,
                    &ChangeStatus {
                        incident_id,
                        status,
                        message: Some(message),
                        actor_id: Some(person.id),
                        force: false,
                    },
                )
                .await
            {
                return response;
            }
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

async fn button(
    state: &AppState,
    person: &Person,
    incident_id: Uuid,
    action_id: &str,
    trigger: &str,
) -> Result<(), Response> {
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
        action::ADD_UPDATE => {
            let reference: Option<i32> =
                sqlx::query_scalar("SELECT number FROM incidents WHERE id = $1")
                    .bind(incident_id)
                    .fetch_optional(&state.pool)
                    .await
                    .map_err(server_error)?;
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

async fn events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = verify(&state, &headers, &body).await {
        return response;
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match payload.get("type").and_then(Value::as_str) {
        Some("url_verification") => axum::Json(
            json!({ "challenge": payload.get("challenge").cloned().unwrap_or_default() }),
        )
        .into_response(),
        Some("event_callback") => {
            let event = payload.get("event").cloned().unwrap_or_default();
            let s = |p: &str| {
                event
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            if s("/type") == "reaction_added"
                && s("/reaction") == "pushpin"
                && s("/item/type") == "message"
            {
                let (channel, ts, user) = (s("/item/channel"), s("/item/ts"), s("/user"));
                if let Err(response) = pin_to_timeline(&state, &channel, &ts, &user).await {
                    return response;
                }
            }
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

async fn pin_to_timeline(
    state: &AppState,
    channel: &str,
    ts: &str,
    user: &str,
) -> Result<(), Response> {
    let Some(room) = store::room_by_channel(&state.pool, channel)
        .await
        .map_err(server_error)?
    else {
        return Ok(());
    };
    let Some(person) = person_by_slack_id(state, user, Some(room.workspace_id)).await? else {
        // Unknown reacting user: nothing changes.
        return Ok(());
    };
    if !store::first_pin_of(&state.pool, channel, ts, room.incident_id)
        .await
        .map_err(server_error)?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_parse_as_documented() {
        assert_eq!(
            parse_slash("declare DB is down sev1"),
            Some(Slash::Declare {
                title: "DB is down".into(),
                severity: "SEV1".into()
            })
        );
        assert_eq!(
            parse_slash("declare checkout slow"),
            Some(Slash::Declare {
                title: "checkout slow".into(),
                severity: "SEV2".into()
            })
        );
        assert_eq!(parse_slash("status"), Some(Slash::Status));
        assert_eq!(
            parse_slash("update rolled back"),
            Some(Slash::Update("rolled back".into()))
        );
        assert_eq!(parse_slash("resolve"), Some(Slash::Resolve));
        assert_eq!(
            parse_slash("ic <@U123|ada>"),
            Some(Slash::Commander("U123".into()))
        );
        assert_eq!(parse_slash(""), Some(Slash::Help));
        assert_eq!(parse_slash("dance"), None);
        assert_eq!(parse_slash("declare sev1"), None);
    }
}
