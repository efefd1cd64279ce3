//! Authentication and authorisation as an axum extractor: `Authorization: Bearer <token>`
//! resolves to an [`Auth`] bound to one workspace and one role; handlers call
//! [`Auth::require`] before changing anything. Every query a handler makes is scoped by
//! `auth.workspace_id`, so another workspace's data answers 404.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use incident_schema::AccessRole;
use incident_schema::auth::find_active_api_token;
use sqlx::PgPool;
use uuid::Uuid;

use super::problem::ApiProblem;
use super::token;

/// A router state that can authenticate: it has the database pool.
pub trait AuthState: Send + Sync {
    /// The pool tokens are looked up in.
    fn auth_pool(&self) -> &PgPool;
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    /// The token's workspace: the only one this request can see.
    pub workspace_id: Uuid,
    /// The token's user, if it belongs to one.
    pub user_id: Option<Uuid>,
    /// What the token may do.
    pub role: AccessRole,
    /// The token's id.
    pub token_id: Uuid,
    /// May create workspaces (the bootstrap token).
    pub instance_admin: bool,
}

impl Auth {
    /// The caller as the private-incident rule sees it.
    pub fn reader(&self) -> incident_schema::access::Reader {
        incident_schema::access::Reader {
            workspace_id: self.workspace_id,
            user_id: self.user_id,
            is_admin: self.role.includes(AccessRole::Admin),
        }
    }

    /// Refuses with 403 unless the token's role includes `required`.
    pub fn require(&self, required: AccessRole) -> Result<(), ApiProblem> {
        if self.role.includes(required) {
            Ok(())
        } else {
            Err(ApiProblem::forbidden(format!(
                "this needs the {required} role; the token has {}",
                self.role
            )))
        }
    }
}

impl<S: AuthState> FromRequestParts<S> for Auth {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiProblem::unauthorized("missing Authorization: Bearer <token>"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiProblem::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let mut conn = state
            .auth_pool()
            .acquire()
            .await
            .map_err(|e| ApiProblem::database(&e))?;
        let found = find_active_api_token(&mut conn, &token::hash(secret))
            .await
            .map_err(|e| ApiProblem::database(&e))?;
        let token =
            found.ok_or_else(|| ApiProblem::unauthorized("invalid, expired or revoked token"))?;
        Ok(Auth {
            workspace_id: token.workspace_id,
            user_id: token.user_id,
            role: token.role,
            token_id: token.id,
            instance_admin: token.is_instance_admin,
        })
    }
}
