//! Authentication for core's API: the shared bearer-token extractor
//! ([`incident_runtime::api::auth::Auth`], and the role-requiring [`Responder`], [`Admin`]
//! and [`InstanceAdmin`]) over core's state, and the actor it implies.

use incident_runtime::api::auth::AuthState;
pub use incident_runtime::api::auth::{Admin, Auth, InstanceAdmin, Responder};
use incident_runtime::api::token_cache::TokenCache;
use sqlx::PgPool;

use crate::AppState;
use crate::incident::Actor;

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
    }

    fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }
}

impl From<&Auth> for Actor {
    fn from(auth: &Auth) -> Self {
        Actor {
            workspace_id: auth.workspace_id,
            user_id: auth.user_id,
        }
    }
}
