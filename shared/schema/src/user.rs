//! The people of a workspace: responders, commanders, assignees.
//!
//! Invariant: an email address is unique per workspace whatever its case; reads are
//! scoped by workspace.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A row of `users`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Email address as given; unique per workspace, ignoring case.
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// The Slack member id, once known; unique per workspace.
    pub slack_user_id: Option<String>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Email address; unique per workspace, ignoring case.
    pub email: &'a str,
    /// Name shown to people (not blank).
    pub display_name: &'a str,
    /// The Slack member id, if known.
    pub slack_user_id: Option<&'a str>,
}

/// Creates a user. Fails with a unique violation if the email (in any case) or the Slack
/// member id is already used in the workspace.
pub async fn create_user(conn: &mut PgConnection, new: &NewUser<'_>) -> Result<User, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "INSERT INTO users (workspace_id, email, display_name, slack_user_id)
         VALUES ($1, $2, $3, $4)
         RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.email)
    .bind(new.display_name)
    .bind(new.slack_user_id)
    .fetch_one(conn)
    .await
}

/// The user `id` of `workspace_id`; `None` if absent or in another workspace.
pub async fn get_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>("SELECT * FROM users WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The user of `workspace_id` with this email address, ignoring case.
pub async fn get_user_by_email(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "SELECT * FROM users WHERE workspace_id = $1 AND lower(email) = lower($2)",
    )
    .bind(workspace_id)
    .bind(email)
    .fetch_optional(conn)
    .await
}
