//! `app_uninstalled` and `tokens_revoked` (the bot's token) from the Events API: the
//! installations in that team are marked uninstalled (with the time and which event), and
//! their live war-room jobs are given up with that reason; from then on nothing is posted
//! to that team (the workers refuse its jobs) and its requests reach no workspace. A
//! reinstall through the OAuth flow makes it live again.
//!
//! An organisation-wide install's events say so (`is_enterprise_install`, at the top or
//! in `authorizations`) and name the enterprise: they mark that install, not a team's own.
//!
//! `tokens_revoked` naming only user tokens (`tokens.oauth`) concerns no bot token of
//! ours and changes nothing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AppState;
use crate::error::InboundError;
use crate::install::store as installs;
use crate::jobs;

/// Handles the event in `payload` if it is an uninstall: the answer, else `None`.
pub(super) async fn uninstalled(
    state: &AppState,
    payload: &Value,
) -> Result<Option<Response>, InboundError> {
    if payload.get("type").and_then(Value::as_str) != Some("event_callback") {
        return Ok(None);
    }
    let kind = payload
        .pointer("/event/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let bot_revoked = payload
        .pointer("/event/tokens/bot")
        .and_then(Value::as_array)
        .is_some_and(|bots| !bots.is_empty());
    let reason = match kind {
        "app_uninstalled" => "app_uninstalled",
        "tokens_revoked" if bot_revoked => "tokens_revoked",
        "tokens_revoked" => return Ok(Some(StatusCode::OK.into_response())),
        _ => return Ok(None),
    };
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let (team, enterprise) = (text("team_id"), text("enterprise_id"));
    let org_wide = payload
        .get("is_enterprise_install")
        .and_then(Value::as_bool)
        == Some(true)
        || payload
            .pointer("/authorizations/0/is_enterprise_install")
            .and_then(Value::as_bool)
            == Some(true);
    let Some(named) = (if org_wide { enterprise } else { team }) else {
        return Ok(Some(StatusCode::OK.into_response()));
    };
    let workspaces = installs::mark_uninstalled(&state.pool, team, enterprise, org_wide, reason)
        .await
        .map_err(InboundError::failed)?;
    if !workspaces.is_empty() {
        let team = named;
        let why = format!(
            "the Slack app is no longer installed in team {team} ({reason}); nothing more is posted there"
        );
        let given_up = jobs::give_up_workspaces(&state.pool, &workspaces, &why)
            .await
            .map_err(InboundError::failed)?;
        tracing::warn!(
            team,
            reason,
            workspaces = workspaces.len(),
            given_up,
            "Slack app uninstalled from a team; nothing more is posted there"
        );
    }
    Ok(Some(StatusCode::OK.into_response()))
}
