//! Rows the tests build on: a workspace, its users and incidents, made through the
//! crate's own queries.

use chrono::Utc;
use incident_schema::incident::{self, NewIncident};
use incident_schema::user::{self, NewUser};
use incident_schema::workspace;
use incident_schema::{Incident, IncidentNumber, Severity, User, Visibility, Workspace};
use sqlx::PgConnection;
use uuid::Uuid;

/// A workspace with the default SLA policies.
pub async fn workspace(conn: &mut PgConnection, slug: &str) -> sqlx::Result<Workspace> {
    workspace::create_workspace(conn, slug, &format!("Workspace {slug}")).await
}

/// A user of `workspace_id`.
pub async fn user(conn: &mut PgConnection, workspace_id: Uuid, email: &str) -> sqlx::Result<User> {
    user::create_user(
        conn,
        &NewUser {
            workspace_id,
            email,
            display_name: "Dana Responder",
            slack_user_id: None,
        },
    )
    .await
}

/// The fields of a plain SEV2 incident, detected now.
pub fn new_incident(workspace_id: Uuid, number: IncidentNumber, title: &str) -> NewIncident<'_> {
    NewIncident {
        workspace_id,
        number,
        title,
        description: "",
        severity: Severity::Sev2,
        impact: None,
        detected_at: Utc::now(),
        sla_deadline: None,
        sla_resolve_deadline: None,
        commander_id: None,
        is_drill: false,
        visibility: Visibility::Public,
        declared_by: None,
        idempotency_key: None,
    }
}

/// An incident of `workspace_id` with the next number, as core would create it.
pub async fn incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    title: &str,
) -> sqlx::Result<Incident> {
    let number = workspace::next_incident_number(conn, workspace_id).await?;
    incident::insert_incident(conn, &new_incident(workspace_id, number, title)).await
}

/// The name of the constraint a database error violated, if it is one.
pub fn violated_constraint(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned)
}

/// The SQLSTATE of a database error, if it is one (e.g. `23505` unique violation).
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}
