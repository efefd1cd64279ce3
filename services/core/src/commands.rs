//! Commands on `incidents.commands`, consumed from the `core.commands` queue: the same
//! domain functions as the HTTP API, each applied in the runner's transaction with its
//! inbox row and outbox events. A command that fails validation changes nothing and is
//! dead-lettered with the reason logged.
//!
//! Data shapes (the envelope's `workspace_id` scopes everything; `actor_id` is an
//! optional user of that workspace):
//! - `incident.declare`: `{ "idempotency_key": "…", "actor_id": …, "incident": { <POST /incidents body> } }`
//! - `incident.acknowledge`: `{ "incident_id": … }`
//! - `incident.change_status`: `{ "incident_id": …, "status": "RESOLVED", "message": "…", "force": false }`
//! - `incident.add_update`: `{ "incident_id": …, "message": "…", "is_public": true, "kind": "UPDATE" }`
//! - `incident.assign_role`: `{ "incident_id": …, "role": "commander", "user_id": … | null }`
//! - `incident.link_alert_group`: `{ "incident_id": …, "alert_group_id": … }`

use futures_util::future::BoxFuture;
use incident_bus::{Envelope, Handler, HandlerError, QueueSpec};
use incident_schema::{IncidentStatus, Role, TimelineKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::DomainError;
use crate::incident::change::{self, NewEntry};
use crate::incident::declare::{self, DeclareIncident};
use crate::incident::{Actor, lifecycle, store};

/// The queue core consumes commands from.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::CORE_COMMANDS)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declare {
    idempotency_key: Option<String>,
    #[serde(default)]
    actor_id: Option<Uuid>,
    incident: DeclareIncident,
}

#[derive(Deserialize)]
struct Target {
    incident_id: Uuid,
    #[serde(default)]
    actor_id: Option<Uuid>,
}

#[derive(Deserialize)]
struct ChangeStatus {
    status: IncidentStatus,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
struct AddUpdate {
    message: String,
    #[serde(default)]
    is_public: bool,
    #[serde(default)]
    kind: Option<TimelineKind>,
}

#[derive(Deserialize)]
struct AssignRole {
    role: Role,
    user_id: Option<Uuid>,
}

#[derive(Deserialize)]
struct LinkAlertGroup {
    alert_group_id: Uuid,
}

/// Applies incident commands.
pub struct Commands;

fn data<T: DeserializeOwned>(message: &Envelope) -> Result<T, HandlerError> {
    message.data_as::<T>().map_err(|e| {
        HandlerError::permanent(format!("{}: invalid data: {e}", message.message_type))
    })
}

async fn actor(
    conn: &mut PgConnection,
    message: &Envelope,
    actor_id: Option<Uuid>,
) -> Result<Actor, HandlerError> {
    if let Some(user) = actor_id
        && !store::user_exists(conn, message.workspace_id, user)
            .await
            .map_err(DomainError::from)?
    {
        return Err(HandlerError::permanent(format!(
            "actor_id {user} is not a user of workspace {}",
            message.workspace_id
        )));
    }
    Ok(Actor {
        workspace_id: message.workspace_id,
        user_id: actor_id,
    })
}

async fn apply(conn: &mut PgConnection, message: &Envelope) -> Result<(), HandlerError> {
    let cause = Some(message);
    match message.message_type.as_str() {
        "incident.declare" => {
            let cmd: Declare = data(message)?;
            let actor = actor(conn, message, cmd.actor_id).await?;
            let declared = declare::declare(
                conn,
                actor,
                &cmd.incident,
                cmd.idempotency_key
                    .as_deref()
                    .map(declare::IdempotencyKey::of_command),
                cause,
            )
            .await?;
            tracing::info!(incident_id = %declared.incident.id, created = declared.created, "incident.declare applied");
        }
        other => {
            let target: Target = data(message)?;
            let actor = actor(conn, message, target.actor_id).await?;
            let id = target.incident_id;
            match other {
                "incident.acknowledge" => {
                    lifecycle::acknowledge(conn, actor, id, cause).await?;
                }
                "incident.change_status" => {
                    let c: ChangeStatus = data(message)?;
                    lifecycle::change_status(
                        conn,
                        actor,
                        id,
                        c.status,
                        c.message.as_deref(),
                        c.force,
                        cause,
                    )
                    .await?;
                }
                "incident.add_update" => {
                    let c: AddUpdate = data(message)?;
                    let entry = NewEntry {
                        kind: c.kind.unwrap_or(TimelineKind::Update),
                        message: c.message,
                        is_public: c.is_public,
                    };
                    change::add_entry(conn, actor, id, &entry, cause).await?;
                }
                "incident.assign_role" => {
                    let c: AssignRole = data(message)?;
                    change::assign_role(conn, actor, id, c.role, c.user_id, cause).await?;
                }
                "incident.link_alert_group" => {
                    let c: LinkAlertGroup = data(message)?;
                    let incident = store::lock_incident(conn, actor.workspace_id, id)
                        .await
                        .map_err(DomainError::from)?
                        .ok_or(DomainError::NotFound("incident"))?;
                    if store::existing_alert_groups(conn, actor.workspace_id, &[c.alert_group_id])
                        .await
                        .map_err(DomainError::from)?
                        .is_empty()
                    {
                        return Err(HandlerError::permanent(format!(
                            "no alert group {} in this workspace",
                            c.alert_group_id
                        )));
                    }
                    declare::link_alert_group_entry(
                        conn,
                        actor,
                        &incident,
                        c.alert_group_id,
                        cause,
                    )
                    .await?;
                }
                unknown => {
                    return Err(HandlerError::permanent(format!(
                        "unknown command {unknown}"
                    )));
                }
            }
        }
    }
    Ok(())
}

impl Handler for Commands {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(apply(tx, message))
    }
}
