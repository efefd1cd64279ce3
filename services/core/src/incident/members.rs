//! The members of an incident: people given access to it explicitly (beside its role
//! holders and the workspace's admins, who can always read it), which is what lets them
//! read a PRIVATE incident. The rule itself is `incident_schema::access`; this module
//! changes who is a member and records it.
//!
//! Every change writes a MEMBER_ADDED or MEMBER_REMOVED timeline entry naming the person
//! and an `incident.member_added` / `incident.member_removed` event, and moves the
//! incident's `version` (who can see it is part of its state). Adding a member twice or
//! removing a non-member changes nothing.

use chrono::{DateTime, Utc};
use incident_bus::Envelope;
use incident_schema::contract::{IncidentMemberAdded, IncidentMemberRemoved, Message};
use incident_schema::user::{User, get_user};
use incident_schema::{Incident, TimelineKind, access};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{emit, snapshot};
use super::{Actor, change, store};
use crate::error::{DomainError, DomainResult};

/// A member of an incident.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct MemberView {
    /// The user.
    pub user_id: Uuid,
    /// Their name.
    pub display_name: String,
    /// Their email address.
    pub email: String,
    /// Who added them (none for the system).
    pub added_by: Option<Uuid>,
    /// When.
    pub added_at: DateTime<Utc>,
}

/// The members of an incident, oldest first.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> DomainResult<Vec<MemberView>> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.display_name, u.email, m.added_by, m.created_at AS added_at
         FROM incident_members m JOIN users u ON u.workspace_id = m.workspace_id AND u.id = m.user_id
         WHERE m.workspace_id = $1 AND m.incident_id = $2
         ORDER BY m.created_at, m.user_id",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_all(conn)
    .await?)
}

async fn user_of(conn: &mut PgConnection, actor: Actor, user_id: Uuid) -> DomainResult<User> {
    get_user(conn, actor.workspace_id, user_id)
        .await?
        .ok_or(DomainError::NotFound("user"))
}

/// Adds `user_id` (a user of the workspace, else not found) as a member.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn add(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    user_id: Uuid,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    let incident = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let user = user_of(conn, actor, user_id).await?;
    added(conn, actor, incident, &user, cause).await
}

/// Makes `user` a member of the locked `incident` and records it; the incident as it now
/// stands.
pub(crate) async fn added(
    conn: &mut PgConnection,
    actor: Actor,
    incident: Incident,
    user: &User,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    if !access::add_member(
        conn,
        actor.workspace_id,
        incident.id,
        user.id,
        actor.user_id,
    )
    .await?
    {
        return Ok(incident);
    }
    let entry = Change {
        kind: TimelineKind::MemberAdded,
        message: format!("{} added as a member", user.display_name),
    };
    record(
        conn,
        actor,
        incident.id,
        user,
        entry,
        cause,
        |incident, user_id, actor_id| IncidentMemberAdded {
            incident: snapshot(incident),
            is_drill: incident.is_drill,
            user_id,
            actor_id,
        },
    )
    .await
}

/// Takes `user_id` (a user of the workspace, else not found) off the members. Their role,
/// if they hold one, still lets them read the incident.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn remove(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    user_id: Uuid,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    let incident = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let user = user_of(conn, actor, user_id).await?;
    if !access::remove_member(conn, actor.workspace_id, incident_id, user.id).await? {
        return Ok(incident);
    }
    let entry = Change {
        kind: TimelineKind::MemberRemoved,
        message: format!("{} removed from the members", user.display_name),
    };
    record(
        conn,
        actor,
        incident_id,
        &user,
        entry,
        cause,
        |incident, user_id, actor_id| IncidentMemberRemoved {
            incident: snapshot(incident),
            is_drill: incident.is_drill,
            user_id,
            actor_id,
        },
    )
    .await
}

/// A membership change's timeline entry.
struct Change {
    kind: TimelineKind,
    message: String,
}

/// Records a membership change that happened: moves the incident's version, writes the
/// timeline entry naming the person and the event `event` builds.
async fn record<M: Message>(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    user: &User,
    entry: Change,
    cause: Option<&Envelope>,
    event: impl FnOnce(&Incident, Uuid, Option<Uuid>) -> M,
) -> DomainResult<Incident> {
    let incident = store::touch(conn, incident_id).await?;
    change::timeline(
        conn,
        actor,
        incident_id,
        entry.kind,
        &entry.message,
        json!({ "user_id": user.id }),
    )
    .await?;
    emit(
        conn,
        &incident,
        &event(&incident, user.id, actor.user_id),
        cause,
    )
    .await?;
    Ok(incident)
}
