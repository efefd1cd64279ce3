//! Authentication and authorisation as axum extractors: `Authorization: Bearer <token>`
//! resolves to an [`Auth`] bound to one workspace and one role. Every query a handler
//! makes is scoped by `auth.workspace_id`, so another workspace's data answers 404.
//!
//! A handler that changes something takes [`Responder`], [`Admin`] or [`InstanceAdmin`]
//! instead of [`Auth`]: they refuse with 403 in `from_request_parts`, so a caller without
//! the role is refused before its body is read (a viewer sending a bad body gets 403, not
//! 422). [`Auth::require`] stays for handlers that decide later.
//!
//! The token is looked up once per request: the first extractor caches the [`Auth`] in
//! the request's extensions and later ones (a role extractor, a resolver of the path)
//! reuse it. Across requests, a state with a [`TokenCache`] keeps what an active token
//! resolved to for its TTL (1 s by default), keyed by the token's SHA-256, so a client's
//! burst costs one lookup a second; revocation takes effect within the TTL everywhere,
//! and at once in the process that revoked it ([`TokenCache::evict`]).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use incident_schema::AccessRole;
use incident_schema::auth::find_active_api_token;
use sqlx::PgPool;
use uuid::Uuid;

use super::problem::ApiProblem;
use super::token;
use super::token_cache::{TokenCache, TokenHash};
use crate::metrics::AUTH_TOKEN_LOOKUPS;

/// A router state that can authenticate: it has the database pool.
pub trait AuthState: Send + Sync {
    /// The pool tokens are looked up in.
    fn auth_pool(&self) -> &PgPool;

    /// Where resolved tokens are kept between requests; by default nowhere (every
    /// request asks the database).
    fn token_cache(&self) -> &TokenCache {
        static NONE: TokenCache = TokenCache::disabled();
        &NONE
    }
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
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(*auth);
        }
        let auth = authenticate(parts, state).await?;
        parts.extensions.insert(auth);
        Ok(auth)
    }
}

/// Resolves the bearer token of a request.
async fn authenticate<S: AuthState>(parts: &Parts, state: &S) -> Result<Auth, ApiProblem> {
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
    let hash = token::hash(secret);
    let cache = state.token_cache();
    let key = TokenHash::try_from(hash.as_slice()).ok();
    if let Some(auth) = key.as_ref().and_then(|k| cache.get(k)) {
        metrics::counter!(AUTH_TOKEN_LOOKUPS, "outcome" => "hit").increment(1);
        return Ok(auth);
    }
    metrics::counter!(AUTH_TOKEN_LOOKUPS, "outcome" => "miss").increment(1);
    let mut conn = state
        .auth_pool()
        .acquire()
        .await
        .map_err(|e| ApiProblem::database(&e))?;
    let found = find_active_api_token(&mut conn, &hash)
        .await
        .map_err(|e| ApiProblem::database(&e))?;
    let token =
        found.ok_or_else(|| ApiProblem::unauthorized("invalid, expired or revoked token"))?;
    let auth = Auth {
        workspace_id: token.workspace_id,
        user_id: token.user_id,
        role: token.role,
        token_id: token.id,
        instance_admin: token.is_instance_admin,
    };
    if let Some(key) = key {
        cache.put(key, auth, token.expires_at);
    }
    Ok(auth)
}

/// A caller whose role includes `responder` (declare and work incidents). Refuses with 403
/// before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct Responder(pub Auth);

/// A caller whose role is `admin` of its workspace. Refuses with 403 before the body is
/// read.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Auth);

/// An instance administrator (the bootstrap token), who may create workspaces. Refuses
/// with 403 before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct InstanceAdmin(pub Auth);

impl<S: AuthState> FromRequestParts<S> for Responder {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require(AccessRole::Responder)?;
        Ok(Self(auth))
    }
}

impl<S: AuthState> FromRequestParts<S> for Admin {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require(AccessRole::Admin)?;
        Ok(Self(auth))
    }
}

impl<S: AuthState> FromRequestParts<S> for InstanceAdmin {
    type Rejection = ApiProblem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        if !auth.instance_admin {
            return Err(ApiProblem::forbidden(
                "this needs an instance administrator (the bootstrap token)",
            ));
        }
        Ok(Self(auth))
    }
}
