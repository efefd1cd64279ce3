//! Commands on `incidents.commands`, consumed from the `core.commands` queue: the same
//! domain functions as the HTTP API, each applied in the runner's transaction with its
//! inbox row and outbox events. A command that fails validation changes nothing and is
//! dead-lettered with the reason logged; so is a command core does not know.
//!
//! The shapes are the contract's ([`incident_schema::contract::commands`]): the envelope's
//! `workspace_id` scopes everything and `actor_id` is an optional user of that workspace.
//! [`Declare`] (`{ "idempotency_key", "actor_id", "incident": { <POST /incidents body> } }`),
//! [`Acknowledge`], [`ChangeStatus`], [`ChangeSeverity`] (the drill runner's severity
//! steps), [`AddUpdate`], [`AssignRole`], [`LinkAlertGroup`], [`AddMember`] (the war
//! room's "Join"; a member already in changes nothing).

use std::sync::LazyLock;

use futures_util::future::BoxFuture;
use incident_bus::dispatch::unknown_command;
use incident_bus::{Dispatch, Envelope, Handler, HandlerError, Handles, QueueSpec};
use incident_schema::TimelineKind;
use incident_schema::contract::{
    Acknowledge, AddMember, AddUpdate, AssignRole, ChangeSeverity, ChangeStatus, Declaration,
    Declare, LinkAlertGroup, Message as _,
};
use incident_schema::text::{IdempotencyKey, IncidentTitle};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};
use crate::incident::change::{self, NewEntry};
use crate::incident::declare::{self, DeclareIncident, ServiceInput};
use crate::incident::{Actor, lifecycle, members, store};

/// The queue core consumes commands from.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::CORE_COMMANDS)
}

/// Applies incident commands.
pub struct Commands;

/// The most commands core applies at once; commands about one incident still go one at a
/// time, in order ([`Handler::lane`]).
pub const MAX_CONCURRENCY: usize = 8;

/// Commands applied at once with a pool of `max_connections`: each holds a connection
/// while it runs, so at most half the pool, leaving the rest to requests, the relay and
/// the webhook sender.
pub fn concurrency(max_connections: u32) -> usize {
    (max_connections as usize / 2).clamp(1, MAX_CONCURRENCY)
}

/// Core's commands, each to its handler below; any other type is refused.
static DISPATCH: LazyLock<Dispatch<Commands>> = LazyLock::new(|| {
    Dispatch::new()
        .on::<Declare>()
        .on::<Acknowledge>()
        .on::<ChangeStatus>()
        .on::<ChangeSeverity>()
        .on::<AddUpdate>()
        .on::<AssignRole>()
        .on::<LinkAlertGroup>()
        .on::<AddMember>()
        .otherwise(unknown_command)
});

impl Handler for Commands {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        DISPATCH.dispatch(self, tx, message)
    }

    /// Commands about one incident are applied in the order they were sent: their lane is
    /// the incident. A declare's is its idempotency key (a re-sent declare waits for the
    /// first instead of racing it to the key). No command can name an incident whose
    /// declare has not committed: its id is made in the declaring transaction and known
    /// only from the `incident.declared` event or the HTTP answer, both after commit, so
    /// declares need not share a lane with what follows them. A command naming an
    /// incident that does not exist is dead-lettered, as before.
    fn lane(&self, message: &Envelope) -> Option<String> {
        lane(message)
    }
}

/// The lane of a command (see [`Handler::lane`] on [`Commands`]).
pub fn lane(message: &Envelope) -> Option<String> {
    let field = |name: &str| message.data.get(name).and_then(serde_json::Value::as_str);
    if let Some(incident) = field("incident_id") {
        return Some(format!("incident:{incident}"));
    }
    field("idempotency_key").map(|key| format!("declare:{}:{key}", message.workspace_id))
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

impl TryFrom<Declaration> for DeclareIncident {
    type Error = DomainError;

    /// The declare a command asks for, with the defaults of `POST /incidents` for what
    /// it leaves out; its text parsed as a request's is.
    fn try_from(d: Declaration) -> DomainResult<Self> {
        Ok(Self {
            title: IncidentTitle::try_from(d.title)
                .map_err(|e| DomainError::invalid("title", e.to_string()))?,
            description: d.description.unwrap_or_default(),
            severity: d.severity,
            detected_at: d.detected_at,
            impact: d.impact,
            affected_services: ServiceInput::parse_all(
                d.affected_services.as_deref().unwrap_or_default(),
                "affected_services",
            )?,
            alert_group_ids: d.alert_group_ids.unwrap_or_default(),
            is_drill: d.is_drill.unwrap_or_default(),
            visibility: d.visibility,
            commander_id: d.commander_id,
        })
    }
}

impl Handles<Declare> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: Declare,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        let incident = DeclareIncident::try_from(cmd.incident)?;
        let key = cmd
            .idempotency_key
            .map(IdempotencyKey::try_from)
            .transpose()
            .map_err(|e| DomainError::invalid("idempotency_key", e.to_string()))?;
        let key = key.as_ref().map(declare::DeclareKey::of_command);
        let declared =
            declare::declare(conn, actor, &incident, key.as_ref(), Some(message)).await?;
        tracing::info!(incident_id = %declared.incident.id, created = declared.created, "{} applied", Declare::TYPE);
        Ok(())
    }
}

impl Handles<Acknowledge> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: Acknowledge,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        lifecycle::acknowledge(conn, actor, cmd.incident_id, Some(message)).await?;
        Ok(())
    }
}

impl Handles<ChangeStatus> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: ChangeStatus,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        lifecycle::change_status(
            conn,
            actor,
            cmd.incident_id,
            cmd.status,
            cmd.message.as_deref(),
            cmd.force,
            Some(message),
        )
        .await?;
        Ok(())
    }
}

impl Handles<ChangeSeverity> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: ChangeSeverity,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        let patch = change::IncidentPatch {
            severity: Some(cmd.severity),
            ..Default::default()
        };
        change::update(conn, actor, cmd.incident_id, &patch).await?;
        Ok(())
    }
}

impl Handles<AddUpdate> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: AddUpdate,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        let entry = NewEntry {
            kind: cmd.kind.unwrap_or(TimelineKind::Update),
            message: cmd.message,
            is_public: cmd.is_public,
        };
        change::add_entry(conn, actor, cmd.incident_id, &entry, Some(message)).await?;
        Ok(())
    }
}

impl Handles<AssignRole> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: AssignRole,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        change::assign_role(
            conn,
            actor,
            cmd.incident_id,
            cmd.role,
            cmd.user_id,
            Some(message),
        )
        .await?;
        Ok(())
    }
}

impl Handles<LinkAlertGroup> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: LinkAlertGroup,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        let incident = store::lock_incident(conn, actor.workspace_id, cmd.incident_id)
            .await
            .map_err(DomainError::from)?
            .ok_or(DomainError::NotFound("incident"))?;
        if store::existing_alert_groups(conn, actor.workspace_id, &[cmd.alert_group_id])
            .await
            .map_err(DomainError::from)?
            .is_empty()
        {
            return Err(HandlerError::permanent(format!(
                "no alert group {} in this workspace",
                cmd.alert_group_id
            )));
        }
        declare::link_alert_group_entry(conn, actor, &incident, cmd.alert_group_id, Some(message))
            .await?;
        Ok(())
    }
}

impl Handles<AddMember> for Commands {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        cmd: AddMember,
    ) -> Result<(), HandlerError> {
        let actor = actor(conn, message, cmd.actor_id).await?;
        members::add(conn, actor, cmd.incident_id, cmd.user_id, Some(message)).await?;
        Ok(())
    }
}
