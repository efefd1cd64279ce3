//! Authentication for core's API: the shared bearer-token extractor
//! ([`incident_runtime::api::auth::Auth`]) over core's state, and the actor it implies.

pub use incident_runtime::api::auth::Auth;
use incident_runtime::api::auth::AuthState;
use sqlx::PgPool;

use crate::AppState;
use crate::incident::Actor;

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
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
