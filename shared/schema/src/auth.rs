//! API tokens and the access roles they carry.
//!
//! A token is random, shown once, and stored only as its SHA-256 (`token_hash`), which is
//! how it is looked up. Each token is bound to one workspace and one [`AccessRole`].

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::parse::domain_enum;

domain_enum! {
    /// What a token may do in its workspace. Each role includes the ones before it.
    pub enum AccessRole (kind = "access role", postgres = "access_role") {
        /// Read incidents, timelines, postmortems and analytics.
        Viewer = "viewer",
        /// Also declare and work incidents, write updates and postmortems.
        Responder = "responder",
        /// Also manage the workspace: users, tokens, integrations, SLA policies.
        Admin = "admin",
    }
}

impl AccessRole {
    /// Whether this role allows what `required` allows (admin ⊇ responder ⊇ viewer).
    pub const fn includes(self, required: AccessRole) -> bool {
        self as u8 >= required as u8
    }
}

/// A row of `api_tokens`. The hash is never serialised.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiToken {
    /// Primary key.
    pub id: Uuid,
    /// The workspace the token acts in.
    pub workspace_id: Uuid,
    /// The person it acts for; none for service and bootstrap tokens.
    pub user_id: Option<Uuid>,
    /// What it is for, as its creator named it.
    pub name: String,
    /// What it may do.
    pub role: AccessRole,
    /// May manage workspaces themselves.
    pub is_instance_admin: bool,
    /// The token's first characters, shown in listings.
    pub prefix: String,
    /// SHA-256 of the token.
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last successful use, if recorded.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The fields of a new API token.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// The workspace it acts in.
    pub workspace_id: Uuid,
    /// The person it acts for (a user of the same workspace), if any.
    pub user_id: Option<Uuid>,
    /// What it is for (not blank).
    pub name: &'a str,
    /// What it may do.
    pub role: AccessRole,
    /// May manage workspaces themselves.
    pub is_instance_admin: bool,
    /// The token's first characters, shown in listings.
    pub prefix: &'a str,
    /// SHA-256 of the token: exactly 32 bytes, unique.
    pub token_hash: &'a [u8],
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a new token. Fails with a unique violation if the hash is already stored, and
/// a check violation if it is not 32 bytes.
pub async fn insert_api_token(
    conn: &mut PgConnection,
    new: &NewApiToken<'_>,
) -> Result<ApiToken, sqlx::Error> {
    sqlx::query_as::<_, ApiToken>(
        "INSERT INTO api_tokens
             (workspace_id, user_id, name, role, is_instance_admin, prefix, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING *",
    )
    .bind(new.workspace_id)
    .bind(new.user_id)
    .bind(new.name)
    .bind(new.role)
    .bind(new.is_instance_admin)
    .bind(new.prefix)
    .bind(new.token_hash)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await
}

/// The token with this SHA-256, if it is neither revoked nor expired.
pub async fn find_active_api_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<ApiToken>, sqlx::Error> {
    sqlx::query_as::<_, ApiToken>(
        "SELECT * FROM api_tokens
         WHERE token_hash = $1
           AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}
