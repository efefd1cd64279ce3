//! Administration: workspaces, users and API tokens.

use chrono::{DateTime, Utc};
use incident_schema::auth::{NewApiToken, insert_api_token};
use incident_schema::user::{NewUser, create_user};
use incident_schema::workspace::create_workspace;
use incident_schema::{AccessRole, ApiToken, Timestamp, User, Workspace};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};
use incident_runtime::api::token;

/// A user to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Email address, unique in the workspace (case-insensitive).
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// Slack member id (`U…`), if known.
    #[serde(default)]
    pub slack_user_id: Option<String>,
}

/// Changes to a user; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New email.
    pub email: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// New Slack member id; empty string clears it.
    pub slack_user_id: Option<String>,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Slack member id.
    pub slack_user_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            slack_user_id: u.slack_user_id,
            created_at: u.created_at,
        }
    }
}

fn validate_email(field: &str, email: &str) -> DomainResult<()> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !email.contains(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be an email address"))
    }
}

fn validate_name(field: &str, name: &str) -> DomainResult<()> {
    let n = name.trim().chars().count();
    if (1..=100).contains(&n) {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be 1 to 100 characters"))
    }
}

fn validate_slack_id(field: &str, id: &str) -> DomainResult<()> {
    if id.is_empty() || (id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric())) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            "must be a Slack member id such as U024BE7LH",
        ))
    }
}

fn unique_violation(e: sqlx::Error, what: &str) -> DomainError {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            DomainError::Conflict(format!("{what} already exists"))
        }
        _ => e.into(),
    }
}

/// Creates a user in the workspace.
pub async fn add_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    req: &NewUserRequest,
) -> DomainResult<User> {
    validate_email("email", req.email.trim())?;
    validate_name("display_name", &req.display_name)?;
    if let Some(id) = &req.slack_user_id {
        validate_slack_id("slack_user_id", id)?;
    }
    create_user(
        conn,
        &NewUser {
            workspace_id,
            email: req.email.trim(),
            display_name: req.display_name.trim(),
            slack_user_id: req.slack_user_id.as_deref().filter(|s| !s.is_empty()),
        },
    )
    .await
    .map_err(|e| unique_violation(e, "a user with this email or Slack id"))
}

/// Changes a user of the workspace.
pub async fn update_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &UserPatch,
) -> DomainResult<User> {
    if let Some(email) = &patch.email {
        validate_email("email", email.trim())?;
    }
    if let Some(name) = &patch.display_name {
        validate_name("display_name", name)?;
    }
    if let Some(slack) = &patch.slack_user_id {
        validate_slack_id("slack_user_id", slack)?;
    }
    let clear_slack = patch.slack_user_id.as_deref() == Some("");
    sqlx::query_as(
        "UPDATE users SET email = coalesce($3, email), display_name = coalesce($4, display_name),
                slack_user_id = CASE WHEN $6 THEN NULL ELSE coalesce($5, slack_user_id) END
         WHERE workspace_id = $1 AND id = $2 RETURNING *",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(patch.email.as_deref().map(str::trim))
    .bind(patch.display_name.as_deref().map(str::trim))
    .bind(patch.slack_user_id.as_deref().filter(|s| !s.is_empty()))
    .bind(clear_slack)
    .fetch_optional(conn)
    .await
    .map_err(|e| unique_violation(e, "a user with this email or Slack id"))?
    .ok_or(DomainError::NotFound("user"))
}

/// The workspace's users, by name.
pub async fn list_users(conn: &mut PgConnection, workspace_id: Uuid) -> DomainResult<Vec<User>> {
    Ok(sqlx::query_as(
        "SELECT * FROM users WHERE workspace_id = $1 ORDER BY lower(display_name), id",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await?)
}

/// A token to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for.
    pub name: String,
    /// viewer, responder or admin.
    pub role: AccessRole,
    /// The user it acts as (its actions are authored by them).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// When it stops working (RFC 3339); in the future.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// A token as listings show it (never the secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: AccessRole,
    /// The user it acts as.
    pub user_id: Option<Uuid>,
    /// Its first characters.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role,
            user_id: t.user_id,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub token: TokenView,
    /// The secret, shown once: send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Creates a token in the workspace.
pub async fn add_token(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    req: &NewTokenRequest,
    instance_admin: bool,
) -> DomainResult<CreatedToken> {
    validate_name("name", &req.name)?;
    if let Some(at) = req.expires_at
        && DateTime::<Utc>::from(at) <= Utc::now()
    {
        return Err(DomainError::invalid(
            "expires_at",
            "must be in the future (a token that never works cannot be used)",
        ));
    }
    if let Some(user) = req.user_id
        && !crate::incident::store::user_exists(conn, workspace_id, user).await?
    {
        return Err(DomainError::invalid(
            "user_id",
            "no such user in this workspace",
        ));
    }
    let generated = token::generate();
    let stored = insert_api_token(
        conn,
        &NewApiToken {
            workspace_id,
            user_id: req.user_id,
            name: req.name.trim(),
            role: req.role,
            is_instance_admin: instance_admin,
            prefix: &generated.prefix,
            token_hash: &generated.hash,
            expires_at: req.expires_at.map(DateTime::from),
        },
    )
    .await?;
    Ok(CreatedToken {
        token: stored.into(),
        secret: generated.secret,
    })
}

/// The workspace's tokens, newest first.
pub async fn list_tokens(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> DomainResult<Vec<ApiToken>> {
    Ok(sqlx::query_as(
        "SELECT * FROM api_tokens WHERE workspace_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await?)
}

/// Revokes a token of the workspace (idempotent).
pub async fn revoke_token(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> DomainResult<ApiToken> {
    sqlx::query_as("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE workspace_id = $1 AND id = $2 RETURNING *")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(DomainError::NotFound("token"))
}

/// A workspace to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceRequest {
    /// URL-safe identifier: lowercase letters, digits and dashes.
    pub slug: String,
    /// Name shown to people.
    pub name: String,
}

/// A workspace just created, with its first admin token (shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWorkspace {
    /// Id.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// An admin token for it.
    pub admin_token: CreatedToken,
}

/// Creates a workspace (with default SLA policies) and an admin token for it.
pub async fn add_workspace(
    conn: &mut PgConnection,
    req: &NewWorkspaceRequest,
) -> DomainResult<CreatedWorkspace> {
    let slug = req.slug.trim();
    if slug.is_empty()
        || slug.len() > 63
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || slug.starts_with('-')
    {
        return Err(DomainError::invalid(
            "slug",
            "must be 1 to 63 lowercase letters, digits or dashes",
        ));
    }
    validate_name("name", &req.name)?;
    let workspace: Workspace = create_workspace(conn, slug, req.name.trim())
        .await
        .map_err(|e| unique_violation(e, "a workspace with this slug"))?;
    let admin_token = add_token(
        conn,
        workspace.id,
        &NewTokenRequest {
            name: "initial admin token".into(),
            role: AccessRole::Admin,
            user_id: None,
            expires_at: None,
        },
        false,
    )
    .await?;
    Ok(CreatedWorkspace {
        id: workspace.id,
        slug: workspace.slug,
        name: workspace.name,
        admin_token,
    })
}
