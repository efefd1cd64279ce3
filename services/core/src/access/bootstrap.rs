//! First start: with `INCIDENT_BOOTSTRAP_TOKEN` set and no workspace yet, create the
//! `default` workspace, an admin user and that token (an admin of the workspace and an
//! instance administrator), so a new user, or Helm, can begin without a database shell.
//! Replicas starting together serialise on a transaction-scoped advisory lock; once any
//! workspace exists this does nothing but log at WARN that the token is ignored.

use incident_schema::AccessRole;
use incident_schema::auth::{NewApiToken, insert_api_token};
use incident_schema::user::{NewUser, create_user};
use incident_schema::workspace::create_workspace;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use incident_runtime::api::token;

/// An arbitrary constant naming the bootstrap's advisory lock.
const BOOTSTRAP_LOCK: i64 = 0x1c1d_e17b_0075;

/// Creates the first workspace if there is none; returns whether it did.
pub async fn bootstrap(pool: &PgPool, secret: &SecretString) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(BOOTSTRAP_LOCK)
        .execute(&mut *tx)
        .await?;
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces)")
        .fetch_one(&mut *tx)
        .await?;
    if any {
        // Said once at start-up: an operator who set the token expects it to work, and a
        // silent no-op looks like a broken token.
        tracing::warn!(
            "INCIDENT_BOOTSTRAP_TOKEN is set but workspaces already exist, so it is ignored \
             (it only creates the first workspace); unset it, or use an admin token"
        );
        return Ok(false);
    }
    let workspace = create_workspace(&mut tx, "default", "Default").await?;
    let admin = create_user(
        &mut tx,
        &NewUser {
            workspace_id: workspace.id,
            email: "admin@localhost",
            display_name: "Administrator",
            slack_user_id: None,
        },
    )
    .await?;
    let material = token::from_secret(secret.expose_secret());
    insert_api_token(
        &mut tx,
        &NewApiToken {
            workspace_id: workspace.id,
            user_id: Some(admin.id),
            name: "bootstrap",
            role: AccessRole::Admin,
            is_instance_admin: true,
            prefix: &material.prefix,
            token_hash: &material.hash,
            expires_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(workspace_id = %workspace.id, "created the default workspace with the bootstrap token");
    Ok(true)
}
