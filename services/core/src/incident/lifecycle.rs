//! The lifecycle: acknowledging and moving between statuses (ARCHITECTURE.md).
//!
//! `INVESTIGATING → IDENTIFIED → MONITORING → RESOLVED → CLOSED`, forward with skipping,
//! `RESOLVED → INVESTIGATING` as a reopen, nothing out of CLOSED. Each first arrival
//! stamps its timestamp once (`acknowledged_at` on an explicit acknowledge or the first
//! move past INVESTIGATING, `mitigated_at` at MONITORING, `resolved_at`, `closed_at`);
//! a reopen keeps them and the timeline keeps the history.

use incident_bus::Envelope;
use incident_schema::contract::{IncidentAcknowledged, IncidentStatusChanged};
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry};
use incident_schema::{Incident, IncidentStatus, TimelineKind};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::events::{emit, snapshot};
use super::{Actor, MAX_TEXT, store};
use crate::error::{DomainError, DomainResult};

/// Acknowledges an incident: stamps `acknowledged_at` once. Acknowledging an
/// acknowledged incident changes nothing and is not an error.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id), err)]
pub async fn acknowledge(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    let incident = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    if incident.acknowledged_at.is_some() {
        return Ok(incident);
    }
    let incident: Incident =
        sqlx::query_as("UPDATE incidents SET acknowledged_at = now() WHERE id = $1 RETURNING *")
            .bind(incident_id)
            .fetch_one(&mut *conn)
            .await?;
    acknowledged(conn, actor, &incident, cause).await?;
    Ok(incident)
}

async fn acknowledged(
    conn: &mut PgConnection,
    actor: Actor,
    incident: &Incident,
    cause: Option<&Envelope>,
) -> DomainResult<()> {
    insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id: incident.id,
            author_id: actor.user_id,
            kind: TimelineKind::Acknowledged,
            message: "Incident acknowledged",
            is_public: false,
            data: None,
            occurred_at: None,
        },
    )
    .await?;
    emit(
        conn,
        incident,
        &IncidentAcknowledged {
            incident: snapshot(incident),
            is_drill: incident.is_drill,
            actor_id: actor.user_id,
        },
        cause,
    )
    .await
}

/// Moves an incident to `to`, stamping first arrivals; an illegal move is refused with
/// the allowed ones. Closing is refused while the incident's postmortem has open action
/// items, unless `force` (which the timeline records).
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, incident_id = %incident_id, to = %to), err)]
pub async fn change_status(
    conn: &mut PgConnection,
    actor: Actor,
    incident_id: Uuid,
    to: IncidentStatus,
    message: Option<&str>,
    force: bool,
    cause: Option<&Envelope>,
) -> DomainResult<Incident> {
    if message.is_some_and(|m| m.chars().count() > MAX_TEXT) {
        return Err(DomainError::invalid(
            "message",
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    let before = store::lock_incident(conn, actor.workspace_id, incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))?;
    let from = before.status;
    if !from.can_transition_to(to) {
        return Err(DomainError::IllegalTransition {
            from,
            to,
            allowed: from.allowed_next(),
        });
    }
    let open_items = if to == IncidentStatus::Closed {
        store::open_action_items(conn, incident_id).await?
    } else {
        0
    };
    if open_items > 0 && !force {
        return Err(DomainError::OpenActionItems(open_items));
    }
    let forced = open_items > 0;
    let past_investigating = to != IncidentStatus::Investigating;
    let incident: Incident = sqlx::query_as(
        "UPDATE incidents SET
            status = $2,
            acknowledged_at = CASE WHEN $3 THEN coalesce(acknowledged_at, now()) ELSE acknowledged_at END,
            mitigated_at = CASE WHEN $2 = 'MONITORING' THEN coalesce(mitigated_at, now()) ELSE mitigated_at END,
            resolved_at = CASE WHEN $2 = 'RESOLVED' THEN coalesce(resolved_at, now()) ELSE resolved_at END,
            closed_at = CASE WHEN $2 = 'CLOSED' THEN coalesce(closed_at, now()) ELSE closed_at END
         WHERE id = $1 RETURNING *",
    )
    .bind(incident_id)
    .bind(to)
    .bind(past_investigating)
    .fetch_one(&mut *conn)
    .await?;

    if before.acknowledged_at.is_none() && incident.acknowledged_at.is_some() {
        acknowledged(conn, actor, &incident, cause).await?;
    }
    let reopen = from == IncidentStatus::Resolved && to == IncidentStatus::Investigating;
    let mut text = match (reopen, message) {
        (true, Some(m)) => format!("Reopened: {from} → {to}: {m}"),
        (true, None) => format!("Reopened: {from} → {to}"),
        (false, Some(m)) => format!("Status changed from {from} to {to}: {m}"),
        (false, None) => format!("Status changed from {from} to {to}"),
    };
    if forced {
        text.push_str(&format!(" (forced with {open_items} open action item(s))"));
    }
    insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id,
            author_id: actor.user_id,
            kind: TimelineKind::StatusChange,
            message: &text,
            is_public: false,
            data: Some(&json!({ "from": from, "to": to, "message": message, "reopen": reopen, "forced": forced, "open_action_items": open_items })),
            occurred_at: None,
        },
    )
    .await?;
    emit(
        conn,
        &incident,
        &IncidentStatusChanged {
            incident: snapshot(&incident),
            is_drill: incident.is_drill,
            from: Some(from),
            to,
            message: message.map(str::to_owned),
            reopen,
            forced,
            actor_id: actor.user_id,
        },
        cause,
    )
    .await?;
    Ok(incident)
}
