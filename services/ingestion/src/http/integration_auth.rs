//! [`IntegrationAuth`]: the integration a webhook request authenticates as, resolved and
//! verified before the handler runs (and before its body is read).
//!
//! In order: the `{integration}` path segment must be the id of an integration of the
//! webhook's kind (404), the secret must be given, as `Authorization: Bearer <secret>` or
//! `?token=<secret>`, and be its secret (401), and the integration must be enabled (403).
//! A refusal is counted (`incident_ingestion_rejected_total`) and logged at WARN.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use incident_schema::{Integration, IntegrationKind};
use uuid::Uuid;

use super::webhooks::{TokenQuery, log_failure, rejection};
use crate::AppState;
use crate::error::{ApiError, IngestError};
use crate::integration;

/// A webhook's kind, as a type (the extractor's parameter).
pub trait WebhookKind {
    /// The kind of integration the webhook accepts.
    const KIND: IntegrationKind;
}

/// `/webhooks/alertmanager/{integration}`.
#[derive(Debug)]
pub struct AlertmanagerHook;
impl WebhookKind for AlertmanagerHook {
    const KIND: IntegrationKind = IntegrationKind::Alertmanager;
}

/// `/webhooks/grafana/{integration}`.
#[derive(Debug)]
pub struct GrafanaHook;
impl WebhookKind for GrafanaHook {
    const KIND: IntegrationKind = IntegrationKind::Grafana;
}

/// `/webhooks/grafana_oncall/{integration}`.
#[derive(Debug)]
pub struct GrafanaOnCallHook;
impl WebhookKind for GrafanaOnCallHook {
    const KIND: IntegrationKind = IntegrationKind::GrafanaOncall;
}

/// `/webhooks/generic/{integration}`.
#[derive(Debug)]
pub struct GenericHook;
impl WebhookKind for GenericHook {
    const KIND: IntegrationKind = IntegrationKind::Generic;
}

/// An enabled integration of kind `K` whose secret the request carries.
#[derive(Debug)]
pub struct IntegrationAuth<K> {
    /// The integration.
    pub integration: Integration,
    kind: PhantomData<K>,
}

/// The secret from `Authorization: Bearer` or `?token=`.
pub(crate) fn secret(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    bearer.or_else(|| {
        Query::<TokenQuery>::try_from_uri(uri)
            .ok()
            .and_then(|q| q.0.token)
            .filter(|t| !t.is_empty())
    })
}

/// The integration `id` of `kind`, authenticated by the request's secret.
async fn resolve(
    state: &AppState,
    kind: IntegrationKind,
    id: &str,
    parts: &Parts,
) -> Result<Integration, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| IngestError::NotFound("integration"))?;
    let found = {
        let mut conn = state.pool.acquire().await.map_err(IngestError::from)?;
        let secret = secret(&parts.headers, &parts.uri);
        integration::authenticate(&mut conn, id, kind, secret.as_deref()).await
    };
    Ok(found.inspect_err(|e| {
        metrics::counter!(incident_runtime::metrics::INGESTION_REJECTED, "reason" => rejection(e)).increment(1);
    })?)
}

impl<K: WebhookKind + Send + Sync> FromRequestParts<AppState> for IntegrationAuth<K> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match resolve(state, K::KIND, &id, parts).await {
            Ok(integration) => Ok(Self {
                integration,
                kind: PhantomData,
            }),
            Err(e) => {
                log_failure(K::KIND, &id, &e);
                Err(e.into_response())
            }
        }
    }
}
