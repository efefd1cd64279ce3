//! Changes to an incident other than its status: fields, severity and visibility, roles,
//! timeline entries written by people, and affected services. Each leaves a timeline entry
//! and an event.
//!
//! Making an incident PRIVATE keeps the person who does it able to read it: they become a
//! member (as the declarer of a PRIVATE incident does), or they would lock themselves out.

use incident_bus::Envelope;
use incident_schema::contract::{
    IncidentRoleAssigned, IncidentServicesChanged, IncidentSeverityChanged,
    IncidentTimelineEntryAdded, IncidentUpdated, IncidentVisibilityChanged,
};
use incident_schema::sla::get_sla_policy;
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry};
use incident_schema::user::get_user;
use incident_schema::{
    Incident, Role, ServiceImpact, Severity, TimelineEntry, TimelineKind, Visibility,
};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::declare::{ServiceInput, validate_services};
use super::events::{emit, snapshot};
use super::view::ServiceView;
use super::{Actor, MAX_DESCRIPTION, MAX_TEXT, members, store};
use crate::error::{DomainError, DomainResult};
use incident_schema::text::IncidentTitle;

/// Fields a PATCH may change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    /// New title, 1 to 200 characters.
    #[schema(value_type = Option<String>)]
    pub title: Option<IncidentTitle>,
    /// New description.
    pub description: Option<String>,
    /// New impact statement.
    pub impact: Option<String>,
    /// The root cause.
    pub root_cause: Option<String>,
    /// New severity: moves the SLA deadlines.
    pub severity: Option<Severity>,
    /// PRIVATE (only admins, role holders and members see it) or PUBLIC.
    pub visibility: Option<Visibility>,
}

fn text_field(field: &str, value: &Option<String>, max: usize) -> DomainResult<()> {
    if value.as_deref().is_some_and(|v| v.chars().count() > max) {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Applies a patch; a severity change recomputes both SLA deadlines from the workspace's
/// policy for the new severity (from `detected_at`).
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn update(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    patch: &IncidentPatch,
) -> DomainResult<Incident> {
    text_field("description", &patch.description, MAX_DESCRIPTION)?;
    text_field("impact", &patch.impact, MAX_TEXT)?;
    text_field("root_cause", &patch.root_cause, MAX_TEXT)?;
    let before = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;

    let mut changed = Vec::new();
    let title = patch.title.as_ref().map(IncidentTitle::as_str);
    if title.is_some_and(|t| t != before.title) {
        changed.push("title");
    }
    if patch
        .description
        .as_ref()
        .is_some_and(|d| *d != before.description)
    {
        changed.push("description");
    }
    if patch.impact.is_some() && patch.impact != before.impact {
        changed.push("impact");
    }
    if patch.root_cause.is_some() && patch.root_cause != before.root_cause {
        changed.push("root_cause");
    }
    let severity_change = patch.severity.filter(|s| *s != before.severity);
    let visibility_change = patch.visibility.filter(|v| *v != before.visibility);
    if changed.is_empty() && severity_change.is_none() && visibility_change.is_none() {
        return Ok(before);
    }
    let (ack_deadline, resolve_deadline) = match severity_change {
        Some(severity) => match get_sla_policy(conn, actor.workspace_id, severity).await? {
            Some(p) => (
                Some(p.acknowledge_deadline(before.detected_at)),
                Some(p.resolve_deadline(before.detected_at)),
            ),
            None => (None, None),
        },
        None => (before.sla_deadline, before.sla_resolve_deadline),
    };
    let incident: Incident = sqlx::query_as(
        "UPDATE incidents SET
            title = coalesce($2, title),
            description = coalesce($3, description),
            impact = coalesce($4, impact),
            root_cause = coalesce($5, root_cause),
            severity = coalesce($6, severity),
            sla_deadline = $7,
            sla_resolve_deadline = $8,
            visibility = coalesce($9, visibility)
         WHERE id = $1 RETURNING *",
    )
    .bind(incident_id)
    .bind(title)
    .bind(&patch.description)
    .bind(&patch.impact)
    .bind(&patch.root_cause)
    .bind(severity_change)
    .bind(ack_deadline)
    .bind(resolve_deadline)
    .bind(visibility_change)
    .fetch_one(&mut *conn)
    .await?;

    if let Some(to) = severity_change {
        let from = before.severity;
        timeline(conn, actor, incident_id, TimelineKind::SeverityChanged, &format!("Severity changed from {from} to {to}"), json!({ "from": from, "to": to, "sla_deadline": ack_deadline, "sla_resolve_deadline": resolve_deadline })).await?;
        emit(
            conn,
            &incident,
            &IncidentSeverityChanged {
                incident: snapshot(&incident),
                is_drill: incident.is_drill,
                from,
                to,
                actor_id: actor.user_id,
            },
            None,
        )
        .await?;
    }
    if !changed.is_empty() {
        timeline(
            conn,
            actor,
            incident_id,
            TimelineKind::FieldChanged,
            &format!("Updated {}", changed.join(", ")),
            json!({ "fields": changed }),
        )
        .await?;
        emit(
            conn,
            &incident,
            &IncidentUpdated {
                incident: snapshot(&incident),
                is_drill: incident.is_drill,
                fields: changed.iter().map(|f| f.to_string()).collect(),
                actor_id: actor.user_id,
            },
            None,
        )
        .await?;
    }
    match visibility_change {
        Some(to) => visibility_changed(conn, actor, incident, before.visibility, to).await,
        None => Ok(incident),
    }
}

/// Records a visibility change; someone making it PRIVATE becomes a member.
async fn visibility_changed(
    conn: &mut PgConnection,
    actor: Actor,
    incident: Incident,
    from: Visibility,
    to: Visibility,
) -> DomainResult<Incident> {
    timeline(
        conn,
        actor,
        incident.id,
        TimelineKind::VisibilityChanged,
        &format!("Visibility changed from {from} to {to}"),
        json!({ "from": from, "to": to }),
    )
    .await?;
    emit(
        conn,
        &incident,
        &IncidentVisibilityChanged {
            incident: snapshot(&incident),
            is_drill: incident.is_drill,
            from,
            to,
            actor_id: actor.user_id,
        },
        None,
    )
    .await?;
    match actor.user_id {
        Some(user_id) if to == Visibility::Private => {
            let user = get_user(conn, actor.workspace_id, user_id)
                .await?
                .ok_or(DomainError::NotFound("user"))?;
            members::added(conn, actor, incident, &user, None).await
        }
        _ => Ok(incident),
    }
}

/// Writes a timeline entry of the system's kinds on behalf of `actor`.
pub(crate) async fn timeline(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    kind: TimelineKind,
    message: &str,
    data: serde_json::Value,
) -> DomainResult<TimelineEntry> {
    Ok(insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id,
            author_id: actor.user_id,
            kind,
            message,
            is_public: false,
            data: Some(&data),
            occurred_at: None,
        },
    )
    .await?)
}

/// Assigns `role` to `user_id`, or clears it with `None`. Assigning the current holder
/// changes nothing.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id, role = %role), err)]
pub async fn assign_role(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    role: Role,
    user_id: Option<Uuid>,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    let before = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    if let Some(user) = user_id
        && !store::user_exists(conn, actor.workspace_id, user).await?
    {
        return Err(DomainError::invalid(
            "user_id",
            "no such user in this workspace",
        ));
    }
    let previous = before.role_holder(role);
    if previous == user_id {
        return Ok(before);
    }
    // The column name comes from the closed Role enum, never from input.
    let sql = format!(
        "UPDATE incidents SET {} = $2 WHERE id = $1 RETURNING *",
        role.column()
    );
    let incident: Incident = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(incident_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    let (kind, message) = match user_id {
        // The entry names the person as everyone reads it (the timeline, Slack, the
        // published postmortem); `data.user_id` keeps who it is.
        Some(user) => (
            TimelineKind::RoleAssigned,
            format!(
                "{} assigned to {}",
                role.title(),
                store::display_name(conn, actor.workspace_id, user)
                    .await?
                    .unwrap_or_else(|| format!("user {user}"))
            ),
        ),
        None => (
            TimelineKind::RoleCleared,
            format!("{} cleared", role.title()),
        ),
    };
    timeline(
        conn,
        actor,
        incident_id,
        kind,
        &message,
        json!({ "role": role, "user_id": user_id, "previous_user_id": previous }),
    )
    .await?;
    let assigned = IncidentRoleAssigned {
        incident: snapshot(&incident),
        is_drill: incident.is_drill,
        role,
        user_id,
        previous_user_id: previous,
        actor_id: actor.user_id,
    };
    emit(conn, &incident, &assigned, cause).await?;
    Ok(incident)
}

/// A timeline entry written by a person.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    /// `NOTE` (internal) or `UPDATE` (a stakeholder update).
    pub kind: TimelineKind,
    /// The text, 1 to 20,000 characters.
    pub message: String,
    /// Public (status page) or internal; defaults to internal.
    #[serde(default)]
    pub is_public: bool,
}

/// Adds a NOTE or UPDATE entry; a public entry counts as the incident's latest public update.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn add_entry(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    entry: &NewEntry,
    cause: Option<&Envelope>,
) -> DomainResult<(Incident, TimelineEntry)> {
    if !matches!(entry.kind, TimelineKind::Note | TimelineKind::Update) {
        return Err(DomainError::invalid(
            "kind",
            format!(
                "must be NOTE or UPDATE; {} entries are written by the system",
                entry.kind
            ),
        ));
    }
    let message = entry.message.trim();
    if message.is_empty() || message.chars().count() > MAX_TEXT {
        return Err(DomainError::invalid(
            "message",
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    let mut incident = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let created = insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id,
            author_id: actor.user_id,
            kind: entry.kind,
            message,
            is_public: entry.is_public,
            data: None,
            occurred_at: None,
        },
    )
    .await?;
    if entry.is_public {
        incident = sqlx::query_as(
            "UPDATE incidents SET last_public_update_at = $2 WHERE id = $1 RETURNING *",
        )
        .bind(incident_id)
        .bind(created.occurred_at)
        .fetch_one(&mut *conn)
        .await?;
    }
    let added = IncidentTimelineEntryAdded {
        incident: snapshot(&incident),
        is_drill: incident.is_drill,
        entry: created,
        actor_id: actor.user_id,
    };
    emit(conn, &incident, &added, cause).await?;
    Ok((incident, added.entry))
}

/// Replaces the affected services.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn set_services(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    services: &[ServiceView],
) -> DomainResult<Incident> {
    let services = ServiceInput::parse_all(services, "services")?;
    validate_services(&services, "services")?;
    let incident = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let before: Vec<ServiceView> = store::affected_services(conn, actor.workspace_id, incident_id)
        .await?
        .iter()
        .map(ServiceView::from)
        .collect();
    let mut after: Vec<ServiceView> = services.iter().map(ServiceView::from).collect();
    after.sort_by(|a, b| a.name.cmp(&b.name));
    if before == after {
        return Ok(incident);
    }
    let pairs: Vec<(String, ServiceImpact)> =
        after.iter().map(|s| (s.name.clone(), s.impact)).collect();
    store::replace_affected_services(conn, actor.workspace_id, incident_id, &pairs).await?;
    // Bump the version: the set of services is part of the incident's state.
    let incident = store::touch(conn, incident_id).await?;
    let names: Vec<String> = after
        .iter()
        .map(|s| format!("{} ({})", s.name, s.impact))
        .collect();
    let message = if names.is_empty() {
        "Affected services cleared".to_owned()
    } else {
        format!("Affected services: {}", names.join(", "))
    };
    timeline(
        conn,
        actor,
        incident_id,
        TimelineKind::ServicesChanged,
        &message,
        json!({ "before": before, "after": after }),
    )
    .await?;
    emit(
        conn,
        &incident,
        &IncidentServicesChanged {
            incident: snapshot(&incident),
            is_drill: incident.is_drill,
            services: after,
            actor_id: actor.user_id,
        },
        None,
    )
    .await?;
    Ok(incident)
}
