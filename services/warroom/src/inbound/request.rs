//! [`SlackRequest`]: a request Slack signed, as the handlers receive it.
//!
//! The extractor reads the raw body (the signature covers its bytes, before any form
//! decoding), checks the v0 signature and its timestamp against the signing secret and
//! the clock, and refuses a signature seen before (a replay): 401 with an empty body, as
//! bolt-js answers. Without a signing secret nothing can be verified: 503.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::AppState;
use crate::error::InboundError;
use crate::slack::{form, signature};
use crate::store;

/// A verified Slack request: its signature checked, its raw body kept.
#[derive(Debug)]
pub struct SlackRequest {
    body: Bytes,
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
            Ok(true) => Ok(Self { body }),
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
