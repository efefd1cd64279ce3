//! `GET`/`PUT /api/v1/warroom/settings`: which incidents of the caller's workspace get a
//! war room and where the weekly digest is announced (bearer token; changing needs the
//! admin role).

use axum::Json;
use axum::extract::State;
use incident_runtime::api::auth::{Auth, AuthState};
use incident_runtime::api::json::ApiJson;
use incident_schema::{AccessRole, Severity};
use sqlx::PgPool;

use crate::AppState;
use crate::error::{ApiError, WarRoomError};
use crate::store::{self, Settings};

impl AuthState for AppState {
    fn auth_pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The caller's workspace's war room settings.
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(store::settings(&state.pool, auth.workspace_id).await?))
}

/// Replaces them (admin).
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Settings>,
) -> Result<Json<Settings>, ApiError> {
    auth.require(AccessRole::Admin)?;
    let settings = validated(body)?;
    store::put_settings(&state.pool, auth.workspace_id, &settings).await?;
    Ok(Json(settings))
}

/// `settings` as they are stored: severities parsed, sorted and once each; the
/// announcement channel a Slack channel id or none. The API and the settings page
/// (`crate::ui`) both save through it.
pub fn validated(settings: Settings) -> Result<Settings, WarRoomError> {
    let mut severities = Vec::new();
    for s in &settings.severities {
        let severity: Severity =
            s.parse()
                .map_err(|e: incident_schema::ParseError| WarRoomError::Validation {
                    field: "severities",
                    message: e.to_string(),
                })?;
        severities.push(severity.to_string());
    }
    severities.sort();
    severities.dedup();
    let announcement_channel = match settings.announcement_channel.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric()) => Some(id.to_owned()),
        Some(_) => {
            return Err(WarRoomError::Validation {
                field: "announcement_channel",
                message: "a Slack channel id such as C0123ABCD (not its #name)".into(),
            });
        }
    };
    Ok(Settings {
        severities,
        announcement_channel,
        ..settings
    })
}
