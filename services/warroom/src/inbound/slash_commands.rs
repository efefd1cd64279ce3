//! `POST /slack/commands`: `/incident declare` (the declare form) or
//! `declare <title> [sev1..sev4]`, `list`, `status [<status>]`, `update` (the update
//! form) or `update <text>`, `assign <role> @user`, `ic @user`, `resolve`,
//! `severity [INC-42] <sev1..sev4>`, `help`. In an incident channel the incident is
//! implied; `severity` outside one names it. Slack's unsigned `ssl_check=1` probe is answered 200 before any verification.
//!
//! `drill [<scenario>]` is answered by `super::drill` (the scenarios, or `drill.start_run`).

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use incident_schema::contract::{
    AddUpdate, AssignRole, ChangeSeverity, ChangeStatus, Declaration, Declare,
};
use incident_schema::{IncidentStatus, Role, Severity, TimelineKind};
use uuid::Uuid;

use super::request::{self, SlackRequest};
use super::{
    UNKNOWN_USER, command, ephemeral, incident_of_channel, person_by_email, person_by_slack_id,
    reply,
};
use crate::AppState;
use crate::error::InboundError;
use crate::slack::{blocks, form, mrkdwn};
use crate::store::{self, Person};

const USAGE: &str = "*/incident* — in an incident's war room channel the incident is implied.\n\
• `declare` opens the declare form (title, severity, description, services, drill, private); \
`declare <title> [sev1|sev2|sev3|sev4]` declares at once\n\
• `list`: the open incidents\n\
• `status`: the incident's status; `status <investigating|identified|monitoring|resolved|closed>` moves it\n\
• `update` opens the update form; `update <text>` adds an internal update\n\
• `assign <commander|tech_lead|comms_lead> @user`, `ic @user`\n\
• `resolve`\n\
• `severity <sev1|sev2|sev3|sev4>`; outside a war room `severity INC-42 <sevN>`\n\
• `drill`: the drill scenarios; `drill <scenario>` starts a drill run\n\
• `help`: this";

/// A request to the slash-command URL: Slack's `ssl_check` probe, or a verified command.
#[derive(Debug)]
pub enum SlashRequest {
    /// `ssl_check=1`: Slack checking the certificate; unsigned by design, answered 200.
    SslCheck,
    /// A signed command.
    Verified(SlackRequest),
}

impl FromRequest<AppState> for SlashRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, body) = request::read(req, state).await?;
        let pairs = form::decode(&String::from_utf8_lossy(&body));
        if form::get(&pairs, "ssl_check") == Some("1") {
            return Ok(Self::SslCheck);
        }
        SlackRequest::verify(state, &headers, body)
            .await
            .map(Self::Verified)
            .map_err(IntoResponse::into_response)
    }
}

/// The fields of a slash command's form the war room reads.
struct SlashCommand {
    user: String,
    channel: String,
    text: String,
    response_url: String,
    trigger: String,
}

impl SlashCommand {
    fn from_form(pairs: &[(String, String)]) -> Self {
        let field = |k: &str| form::get(pairs, k).unwrap_or_default().to_owned();
        Self {
            user: field("user_id"),
            channel: field("channel_id"),
            text: field("text"),
            response_url: field("response_url"),
            trigger: field("trigger_id"),
        }
    }
}

/// What a slash command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slash {
    Declare {
        title: String,
        severity: String,
    },
    DeclareForm,
    List,
    Status,
    MoveTo(IncidentStatus),
    Update(String),
    UpdateForm,
    Resolve,
    Commander(String),
    Assign(Role, String),
    /// `severity [INC-n] <SEVn>`: the incident named, else the channel's.
    Severity(Option<i32>, Severity),
    Drill(String),
    Help,
}

/// `<@U123|name>` or `<@U123>`: the Slack user id.
fn mentioned(text: &str) -> Option<String> {
    let id = text.trim().strip_prefix("<@")?.strip_suffix('>')?;
    let id = id.split('|').next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

fn role_named(name: &str) -> Option<Role> {
    match name.to_lowercase().replace('-', "_").as_str() {
        "commander" | "ic" | "incident_commander" => Some(Role::Commander),
        "tech_lead" | "tech" | "tl" => Some(Role::TechLead),
        "comms_lead" | "comms" | "cl" => Some(Role::CommsLead),
        _ => None,
    }
}

fn parse_slash(text: &str) -> Option<Slash> {
    let text = text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    match verb.to_lowercase().as_str() {
        "" | "help" => Some(Slash::Help),
        "list" if rest.is_empty() => Some(Slash::List),
        "status" if rest.is_empty() => Some(Slash::Status),
        "status" => rest.to_uppercase().parse().ok().map(Slash::MoveTo),
        "resolve" if rest.is_empty() => Some(Slash::Resolve),
        "update" if rest.is_empty() => Some(Slash::UpdateForm),
        "update" => Some(Slash::Update(rest.to_owned())),
        "ic" => mentioned(rest).map(Slash::Commander),
        "drill" => Some(Slash::Drill(rest.to_owned())),
        "assign" => {
            let (role, user) = rest.split_once(char::is_whitespace)?;
            Some(Slash::Assign(role_named(role)?, mentioned(user)?))
        }
        "severity" => parse_severity(rest),
        "declare" if rest.is_empty() => Some(Slash::DeclareForm),
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

/// `[INC-42] <sev1..sev4>` (either order).
fn parse_severity(rest: &str) -> Option<Slash> {
    let (mut number, mut level) = (None, None);
    for word in rest.split_whitespace() {
        let upper = word.to_uppercase();
        if let Some(n) = upper.strip_prefix("INC-").and_then(|n| n.parse().ok())
            && number.is_none()
        {
            number = Some(n);
        } else if let Ok(parsed) = upper.parse::<Severity>()
            && level.is_none()
        {
            level = Some(parsed);
        } else {
            return None;
        }
    }
    level.map(|level| Slash::Severity(number, level))
}

pub(super) async fn commands(
    State(state): State<AppState>,
    request: SlashRequest,
) -> Result<Response, InboundError> {
    let SlashRequest::Verified(request) = request else {
        return Ok(StatusCode::OK.into_response());
    };
    let state = request.scoped(&state);
    let SlashCommand {
        user,
        channel,
        text,
        response_url,
        trigger,
    } = SlashCommand::from_form(&request.form());
    let Some(slash) = parse_slash(&text) else {
        return Ok(ephemeral(USAGE));
    };
    if slash == Slash::Help {
        return Ok(ephemeral(USAGE));
    }
    if slash == Slash::DeclareForm {
        // The form first (the trigger is valid 3 s); who submits it is checked then.
        open_modal(&state, &trigger, blocks::declare_modal(&channel));
        return Ok(StatusCode::OK.into_response());
    }
    let incident = incident_of_channel(&state, &channel).await?;
    let workspace = incident.map(|(_, w)| w);
    let person = person_by_slack_id(&state, &user, workspace).await?;
    match person {
        Some(person) => {
            let text = run_slash(&state, &person, incident, slash, &trigger).await?;
            Ok(ephemeral(&text))
        }
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
            Ok(StatusCode::OK.into_response())
        }
    }
}

async fn run_slash(
    state: &AppState,
    person: &Person,
    incident: Option<(Uuid, Uuid)>,
    slash: Slash,
    trigger: &str,
) -> Result<String, InboundError> {
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
        Slash::List => list(state, person).await,
        Slash::Drill(name) => super::drill::drill(state, person, &name, trigger).await,
        Slash::DeclareForm => Ok(USAGE.to_owned()),
        Slash::Severity(number, level) => severity(state, person, incident, number, level).await,
        other => {
            let Some(id) = need_incident() else {
                return Ok("Run this in an incident channel.".to_owned());
            };
            if other == Slash::UpdateForm {
                let number = store::incident_number(&state.pool, id)
                    .await
                    .map_err(InboundError::failed)?;
                let modal = blocks::add_update_modal(
                    &id.to_string(),
                    &format!("INC-{}", number.unwrap_or(0)),
                );
                open_modal(state, trigger, modal);
                return Ok("Opening the update form.".to_owned());
            }
            in_incident(state, person, id, other).await
        }
    }
}

/// Opens `modal` with `trigger` after the answer (Slack's 3 seconds).
fn open_modal(state: &AppState, trigger: &str, modal: serde_json::Value) {
    if let Some(slack) = state.slack.clone() {
        let trigger = trigger.to_owned();
        tokio::spawn(async move {
            if let Err(e) = slack.client.open_view(&trigger, &modal).await {
                tracing::warn!(error = %e, "could not open a modal");
            }
        });
    }
}

/// `/incident list`: the workspace's open incidents the person may read, newest first.
async fn list(state: &AppState, person: &Person) -> Result<String, InboundError> {
    let rows: Vec<(i32, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT i.number, i.title, i.severity::text, i.status::text, i.slack_channel_id
         FROM incidents i
         WHERE i.workspace_id = $1 AND i.status NOT IN ('RESOLVED', 'CLOSED')
           AND incident_readable(i, $2, false)
         ORDER BY i.number DESC LIMIT 20",
    )
    .bind(person.workspace_id)
    .bind(person.id)
    .fetch_all(&state.pool)
    .await
    .map_err(InboundError::failed)?;
    if rows.is_empty() {
        return Ok("No open incidents.".to_owned());
    }
    let lines: Vec<String> = rows
        .into_iter()
        .map(|(n, title, sev, status, channel)| {
            let room = channel.map(|c| format!(" <#{c}>")).unwrap_or_default();
            format!(
                "• INC-{n}: {} — {sev}, {status}{room}",
                mrkdwn::escape(&title)
            )
        })
        .collect();
    Ok(format!("*Open incidents*\n{}", lines.join("\n")))
}

/// A command about the channel's incident `id`.
async fn in_incident(
    state: &AppState,
    person: &Person,
    id: Uuid,
    slash: Slash,
) -> Result<String, InboundError> {
    let ws = person.workspace_id;
    match slash {
        Slash::Status => {
            let row = store::incident_line(&state.pool, id, ws)
                .await
                .map_err(InboundError::failed)?;
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
                    message: Some(format!("Resolved from Slack by {}", person.display_name)),
                    actor_id: Some(person.id),
                    force: false,
                },
            )
            .await?;
            Ok("Resolving.".to_owned())
        }
        Slash::MoveTo(status) => {
            command(
                state,
                ws,
                &ChangeStatus {
                    incident_id: id,
                    status,
                    message: Some(format!("From Slack by {}", person.display_name)),
                    actor_id: Some(person.id),
                    force: false,
                },
            )
            .await?;
            Ok(format!("Moving to {status}."))
        }
        Slash::Assign(role, slack_user) => assign(state, person, id, role, &slack_user).await,
        Slash::Commander(slack_user) => {
            let Some(target) = person_by_slack_id(state, &slack_user, Some(ws)).await? else {
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
        Slash::Help
        | Slash::Declare { .. }
        | Slash::DeclareForm
        | Slash::List
        | Slash::Severity(..)
        | Slash::Drill(_)
        | Slash::UpdateForm => Ok(USAGE.to_owned()),
    }
}

/// `/incident assign <role> @user`.
async fn assign(
    state: &AppState,
    person: &Person,
    id: Uuid,
    role: Role,
    slack_user: &str,
) -> Result<String, InboundError> {
    let ws = person.workspace_id;
    let Some(target) = person_by_slack_id(state, slack_user, Some(ws)).await? else {
        return Ok(format!(
            "<@{slack_user}> is not a user of this workspace; nothing was changed."
        ));
    };
    command(
        state,
        ws,
        &AssignRole {
            incident_id: id,
            role,
            user_id: Some(target.id),
            actor_id: Some(person.id),
        },
    )
    .await?;
    Ok(format!(
        "{} is now the {}.",
        target.display_name,
        role.title()
    ))
}

/// `/incident severity [INC-n] <SEVn>`: the named incident (one the person may read, in
/// their workspace), else the channel's.
async fn severity(
    state: &AppState,
    person: &Person,
    incident: Option<(Uuid, Uuid)>,
    number: Option<i32>,
    level: Severity,
) -> Result<String, InboundError> {
    let ws = person.workspace_id;
    let id = match number {
        Some(n) => store::readable_incident_by_number(&state.pool, ws, n, person.id)
            .await
            .map_err(InboundError::failed)?,
        None => incident.map(|(id, _)| id),
    };
    let Some(id) = id else {
        return Ok(match number {
            Some(n) => format!("No incident INC-{n} here."),
            None => {
                "Run this in an incident channel, or name the incident: `severity INC-42 sev2`."
                    .to_owned()
            }
        });
    };
    command(
        state,
        ws,
        &ChangeSeverity {
            incident_id: id,
            actor_id: Some(person.id),
            severity: level,
        },
    )
    .await?;
    let number = match number {
        Some(n) => Some(n),
        None => store::incident_number(&state.pool, id)
            .await
            .map_err(InboundError::failed)?,
    };
    Ok(format!(
        "Changing INC-{} to {level}.",
        number.unwrap_or_default()
    ))
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
        assert_eq!(parse_slash("declare"), Some(Slash::DeclareForm));
        assert_eq!(parse_slash("update"), Some(Slash::UpdateForm));
        assert_eq!(parse_slash("list"), Some(Slash::List));
        assert_eq!(
            parse_slash("status monitoring"),
            Some(Slash::MoveTo(IncidentStatus::Monitoring))
        );
        assert_eq!(parse_slash("status sideways"), None);
        assert_eq!(
            parse_slash("assign comms <@U9|bo>"),
            Some(Slash::Assign(Role::CommsLead, "U9".into()))
        );
        assert_eq!(parse_slash("assign janitor <@U9>"), None);
        assert_eq!(
            parse_slash("severity sev1"),
            Some(Slash::Severity(None, Severity::Sev1))
        );
        assert_eq!(
            parse_slash("severity INC-42 SEV3"),
            Some(Slash::Severity(Some(42), Severity::Sev3))
        );
        assert_eq!(
            parse_slash("severity sev4 inc-7"),
            Some(Slash::Severity(Some(7), Severity::Sev4))
        );
        assert_eq!(parse_slash("severity"), None);
        assert_eq!(parse_slash("severity INC-1"), None);
        assert_eq!(parse_slash("severity sev9"), None);
        assert_eq!(parse_slash("severity sev1 sev2"), None);
        assert_eq!(parse_slash("drill"), Some(Slash::Drill(String::new())));
        assert_eq!(
            parse_slash("drill  DB failover "),
            Some(Slash::Drill("DB failover".into()))
        );
    }
}
