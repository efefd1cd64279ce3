//! Rows tests build on, written through the schema crate as core would write them, so any
//! service's tests can have a workspace, its people and their tokens without running core.

use incident_runtime::api::token;
use incident_schema::auth::{NewApiToken, insert_api_token};
use incident_schema::user::{NewUser, create_user};
use incident_schema::workspace::create_workspace;
use incident_schema::{AccessRole, User, Workspace};
use sqlx::PgPool;
use uuid::Uuid;

/// A workspace `slug` with the default SLA policies.
pub async fn workspace(pool: &PgPool, slug: &str) -> Workspace {
    let mut conn = pool.acquire().await.expect("connection");
    create_workspace(&mut conn, slug, &format!("Workspace {slug}"))
        .await
        .expect("workspace")
}

/// A user of `workspace_id`.
pub async fn user(pool: &PgPool, workspace_id: Uuid, email: &str, name: &str) -> User {
    let mut conn = pool.acquire().await.expect("connection");
    create_user(
        &mut conn,
        &NewUser {
            workspace_id,
            email,
            display_name: name,
            slack_user_id: None,
        },
    )
    .await
    .expect("user")
}

/// A new API token of `workspace_id` with `role`, acting for `user_id`; returns the
/// secret to send as `Authorization: Bearer`.
pub async fn token(
    pool: &PgPool,
    workspace_id: Uuid,
    role: AccessRole,
    user_id: Option<Uuid>,
) -> String {
    let generated = token::generate();
    let mut conn = pool.acquire().await.expect("connection");
    insert_api_token(
        &mut conn,
        &NewApiToken {
            workspace_id,
            user_id,
            name: "test token",
            role,
            is_instance_admin: false,
            prefix: &generated.prefix,
            token_hash: &generated.hash,
            expires_at: None,
        },
    )
    .await
    .expect("token");
    generated.secret
}

/// A workspace with an admin user and that user's admin token.
pub struct Tenant {
    /// The workspace.
    pub workspace: Workspace,
    /// Its admin.
    pub admin: User,
    /// The admin's token.
    pub admin_token: String,
}

/// A workspace `slug` with an admin and their token.
pub async fn tenant(pool: &PgPool, slug: &str) -> Tenant {
    let workspace = workspace(pool, slug).await;
    let admin = user(
        pool,
        workspace.id,
        &format!("admin@{slug}.example"),
        "Ada Admin",
    )
    .await;
    let admin_token = token(pool, workspace.id, AccessRole::Admin, Some(admin.id)).await;
    Tenant {
        workspace,
        admin,
        admin_token,
    }
}

/// The id of the workspace `slug` (such as the `default` one a bootstrap creates).
pub async fn workspace_id(pool: &PgPool, slug: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("workspace")
}
