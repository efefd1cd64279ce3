//! Which incident a group belongs to, as core reports it. Consumed from the
//! `ingestion.events` queue (bound to `incident.declared` and
//! `incident.alert_group_linked` on `incidents.events`):
//!
//! - `incident.declared`: `data.incident.id` and `data.alert_group_ids` (a declare from a
//!   group carries that group's id; a person may declare with groups too);
//! - `incident.alert_group_linked`: `data.incident.id` and `data.alert_group_id`.
//!
//! Ingestion owns `alert_groups.incident_id`; it sets it from these events only, so it
//! always names an incident core recorded. When a group gets its incident:
//! - the groups waiting for it (a join decided before core confirmed the declare) are
//!   linked with `incident.link_alert_group`;
//! - if the group has already resolved, the incident's timeline gets the resolution note
//!   (`incident.add_update`) it could not get at the time.
//!
//! Setting an unchanged link does nothing, so the two events of one declare, and any
//! redelivery, cause each follow-up once. Linking takes no advisory lock: the groups'
//! rows are locked (in id order) by the update that sets their incident, and a decision
//! that makes a group wait for a declare locks that declare's row `FOR SHARE` first
//! ([`crate::ingest::decide`]), as an ingest that resolves a group locks its row
//! ([`crate::ingest`]). So neither a group deciding to wait for a declare and the
//! confirmation of that declare, nor a group resolving and the confirmation of its
//! incident, ever miss each other: whichever commits second sees the first.

use std::sync::LazyLock;

use futures_util::future::BoxFuture;
use incident_bus::{Dispatch, Envelope, Handler, HandlerError, Handles, QueueSpec, outbox};
use incident_schema::AlertGroupStatus;
use incident_schema::contract::{IncidentAlertGroupLinked, IncidentDeclared, IncidentRef};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::SERVICE;
use crate::ingest::messages::Messages;
use crate::ingest::store;

/// The queue of core's events ingestion follows.
pub fn queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::INGESTION_EVENTS)
}

/// Applies core's events about alert groups.
pub struct IncidentLinks;

/// The two events, read as far as the incident's id; any other type is ignored.
static DISPATCH: LazyLock<Dispatch<IncidentLinks>> = LazyLock::new(|| {
    Dispatch::new()
        .on::<IncidentDeclared<IncidentRef>>()
        .on::<IncidentAlertGroupLinked<IncidentRef>>()
});

impl Handler for IncidentLinks {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        DISPATCH.dispatch(self, tx, message)
    }
}

impl Handles<IncidentDeclared<IncidentRef>> for IncidentLinks {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        declared: IncidentDeclared<IncidentRef>,
    ) -> Result<(), HandlerError> {
        if declared.alert_group_ids.is_empty() {
            return Ok(());
        }
        let groups = &declared.alert_group_ids;
        link(
            tx,
            message.workspace_id,
            declared.incident.id,
            groups,
            Some(message),
        )
        .await?;
        Ok(())
    }
}

impl Handles<IncidentAlertGroupLinked<IncidentRef>> for IncidentLinks {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        linked: IncidentAlertGroupLinked<IncidentRef>,
    ) -> Result<(), HandlerError> {
        let groups = [linked.alert_group_id];
        link(
            tx,
            message.workspace_id,
            linked.incident.id,
            &groups,
            Some(message),
        )
        .await?;
        Ok(())
    }
}

/// Records that `groups` belong to `incident` and sends the follow-ups; returns the
/// groups whose link changed.
#[tracing::instrument(skip_all, fields(workspace_id = %workspace_id, incident_id = %incident), err)]
pub async fn link(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident: Uuid,
    groups: &[Uuid],
    cause: Option<&Envelope>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let changed = store::set_incident(conn, workspace_id, incident, groups).await?;
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = changed.iter().map(|g| g.id).collect();
    let waiting = store::waiting_for(conn, workspace_id, &ids).await?;
    let mut messages = Messages::new(workspace_id, cause);
    for group in &changed {
        if group.status == AlertGroupStatus::Resolved {
            messages.resolved_note(incident, &group.title, group.alert_count);
        }
    }
    for group in waiting {
        messages.link(incident, group);
    }
    outbox::enqueue(conn, SERVICE, &messages.out).await?;
    tracing::info!(
        groups = ids.len(),
        follow_ups = messages.out.len(),
        "alert groups linked to their incident"
    );
    Ok(ids)
}
