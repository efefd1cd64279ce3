//! [`SlackRequest`]: a request Slack signed, as the handlers receive it.
//!
//! The extractor reads the raw body (the signature covers its bytes, before any form
//! decoding), checks the v0 signature and its timestamp against the signing secret and
//! the clock, and refuses a signature seen before (a replay): 401 with an empty body, as
//! bolt-js answers. Without a signing secret nothing can be verified: 503.
//!
//! A verified request is then routed by the Slack team it names (`team_id` of a slash
//! command's form, `team.id` of an interaction's payload, `team_id` of an event; and the
//! `enterprise_id` beside it): [`SlackRequest::scoped`] gives the handler a state whose
//! client is that team's and whose [`Scope`] admits only that team's workspace (see
//! [`crate::teams`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::sync::Arc;

use crate::AppState;
use crate::error::InboundError;
use crate::lifecycle::Slack;
use crate::slack::{form, signature};
use crate::store;
use crate::teams::Scope;

/// A verified Slack request: its signature checked, its raw body kept, its team
/// resolved.
pub struct SlackRequest {
    body: Bytes,
    scope: Scope,
    slack: Option<Arc<Slack>>,
    claimed: Arc<[uuid::Uuid]>,
}

impl std::fmt::Debug for SlackRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackRequest")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The Slack team (and Enterprise Grid organisation) a request body names.
fn team_of(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    // Events: a JSON body.
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        return (text(json.get("team_id")), text(json.get("enterprise_id")));
    }
    let pairs = form::decode(&String::from_utf8_lossy(body));
    // Interactions: a form with one `payload` field of JSON.
    if let Some(payload) =
        form::get(&pairs, "payload").and_then(|p| serde_json::from_str::<Value>(p).ok())
    {
        let team = text(payload.pointer("/team/id"))
            .or_else(|| text(payload.pointer("/user/team_id")))
            .or_else(|| text(payload.pointer("/view/team_id")));
        return (team, text(payload.pointer("/enterprise/id")));
    }
    // Slash commands: a form.
    let field = |k: &str| {
        form::get(&pairs, k)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    (field("team_id"), field("enterprise_id"))
}

impl SlackRequest {
    /// The raw body, as signed.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body decoded as a form (slash commands, interactions).
    pub fn form(&self) -> Vec<(String, String)> {
        form::decode(&String::from_utf8_lossy(&self.body))
    }

    /// Whose data the request may reach.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// `state` for this request: the requesting team's client and scope.
    pub fn scoped(&self, state: &AppState) -> AppState {
        AppState {
            slack: self.slack.clone(),
            scope: self.scope,
            claimed: self.claimed.clone(),
            ..state.clone()
        }
    }

    /// Verifies `body` as sent with `headers`, and refuses replays.
    pub(super) async fn verify(
        state: &AppState,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Self, InboundError> {
        let Some(secret) = &state.signing_secret else {
            return Err(InboundError::NotConfigured);
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let sig = header("x-slack-signature");
        if let Err(e) = signature::verify(
            secret.expose_secret(),
            header("x-slack-request-timestamp"),
            sig,
            &body,
            (state.clock)(),
        ) {
            tracing::warn!(reason = %e, "refusing a Slack request");
            return Err(InboundError::Unauthorized);
        }
        match store::first_use_of_signature(&state.pool, sig.unwrap_or_default()).await {
            Ok(true) => {
                let (team, enterprise) = team_of(&body);
                let (scope, slack) = state
                    .teams
                    .inbound(team.as_deref(), enterprise.as_deref())
                    .await
                    .map_err(InboundError::failed)?;
                if scope == Scope::Nowhere {
                    tracing::info!(
                        team = team.as_deref().unwrap_or(""),
                        "a request from a Slack team that is not installed; it reaches no workspace"
                    );
                }
                let claimed = if scope == Scope::Any {
                    state.teams.claimed().await.map_err(InboundError::failed)?
                } else {
                    Vec::new()
                };
                Ok(Self {
                    body,
                    scope,
                    slack,
                    claimed: Arc::from(claimed),
                })
            }
            Ok(false) => {
                tracing::warn!("refusing a replayed Slack request");
                Err(InboundError::Unauthorized)
            }
            Err(e) => Err(InboundError::failed(e)),
        }
    }
}

/// Reads the body (axum's own rejection when it cannot) and verifies it.
pub(super) async fn read(req: Request, state: &AppState) -> Result<(HeaderMap, Bytes), Response> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((headers, body))
}

impl FromRequest<AppState> for SlackRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, body) = read(req, state).await?;
        Self::verify(state, &headers, body)
            .await
            .map_err(IntoResponse::into_response)
    }
}
