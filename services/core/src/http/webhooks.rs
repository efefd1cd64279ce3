//! `/api/v1/webhooks`: the workspace's outbound webhook subscriptions and their delivery
//! logs (admins only; another workspace's subscription answers 404). A secret is in the
//! answer that issues it (creation, rotation) and never shown again.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::AppState;
use crate::access::auth::Admin;
use crate::error::{ApiError, DomainError};
use crate::http::unit::{reading, within};
use crate::webhooks::delivery::{self, DeliveryView, LogQuery, TestPing};
use crate::webhooks::subscription::{
    self, CreatedSubscription, NewSubscription, RotatedSecret, SubscriptionPatch, SubscriptionView,
};
use incident_runtime::api::json::ApiJson;
use incident_runtime::api::problem::Problem;

type ApiResult<T> = Result<T, ApiError>;

fn subscription_id(id: &str) -> Result<Uuid, DomainError> {
    id.parse().map_err(|_| DomainError::NotFound("webhook"))
}

/// Create a subscription (admin); its signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks", request_body = NewSubscription,
    responses(
        (status = 201, description = "Created, with its secret", body = CreatedSubscription),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A URL that is not http(s), an unknown event type (`validation`, naming the field)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn create(
    State(state): State<AppState>,
    Admin(auth): Admin,
    ApiJson(body): ApiJson<NewSubscription>,
) -> ApiResult<(StatusCode, Json<CreatedSubscription>)> {
    within(&state.pool, async |tx| {
        let created = subscription::create(tx, auth.workspace_id, &body).await?;
        Ok((StatusCode::CREATED, Json(created)))
    })
    .await
}

/// The workspace's subscriptions (admin; without secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The subscriptions, oldest first", body = Vec<SubscriptionView>),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Admin(auth): Admin,
) -> ApiResult<Json<Vec<SubscriptionView>>> {
    reading(&state.pool, async |conn| {
        Ok(Json(subscription::list(conn, auth.workspace_id).await?))
    })
    .await
}

/// One subscription (admin; without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "get_webhook", tag = "webhooks", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionView>> {
    let id = subscription_id(&id)?;
    reading(&state.pool, async |conn| {
        Ok(Json(
            subscription::get(conn, auth.workspace_id, id).await?.into(),
        ))
    })
    .await
}

/// Change a subscription (admin). `enabled: true` re-enables a disabled one: its failure
/// count is reset and what waited is sent, in order.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", operation_id = "patch_webhook", tag = "webhooks", request_body = SubscriptionPatch, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The subscription as changed", body = SubscriptionView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field does not validate (`validation`, naming it)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn patch(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SubscriptionPatch>,
) -> ApiResult<Json<SubscriptionView>> {
    let id = subscription_id(&id)?;
    within(&state.pool, async |tx| {
        Ok(Json(
            subscription::update(tx, auth.workspace_id, id, &body).await?,
        ))
    })
    .await
}

/// Delete a subscription with its delivery log (admin).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn delete(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = subscription_id(&id)?;
    within(&state.pool, async |tx| {
        subscription::delete(tx, auth.workspace_id, id).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Issue a new signing secret (admin), in this answer only; for 24 hours deliveries are
/// signed with the previous secret too, so receivers can switch without losing any.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<RotatedSecret>> {
    let id = subscription_id(&id)?;
    within(&state.pool, async |tx| {
        Ok(Json(subscription::rotate(tx, auth.workspace_id, id).await?))
    })
    .await
}

/// The delivery log (admin): newest first, each delivery with its last five attempts
/// and the receiver's answers.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks", params(("id" = Uuid, Path), LogQuery),
    responses(
        (status = 200, description = "The deliveries, newest first", body = Vec<DeliveryView>),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let id = subscription_id(&id)?;
    reading(&state.pool, async |conn| {
        Ok(Json(
            delivery::log(conn, auth.workspace_id, id, &query).await?,
        ))
    })
    .await
}

/// Send a failed delivery again (admin), with a fresh retry window.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", operation_id = "retry_webhook_delivery", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = i64, Path)),
    responses(
        (status = 202, description = "Pending again"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription or delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery is not failed (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = subscription_id(&id)?;
    let delivery_id: i64 = delivery_id
        .parse()
        .map_err(|_| DomainError::NotFound("delivery"))?;
    within(&state.pool, async |tx| {
        delivery::retry(tx, auth.workspace_id, id, delivery_id).await?;
        Ok(StatusCode::ACCEPTED)
    })
    .await
}

/// Send a `webhook.test` ping (admin), delivered and logged like any event.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks", params(("id" = Uuid, Path)),
    responses(
        (status = 202, description = "The ping is queued", body = TestPing),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the workspace", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription is disabled (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn test(
    State(state): State<AppState>,
    Admin(auth): Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<TestPing>)> {
    let id = subscription_id(&id)?;
    within(&state.pool, async |tx| {
        let ping = delivery::ping(tx, auth.workspace_id, id).await?;
        Ok((StatusCode::ACCEPTED, Json(ping)))
    })
    .await
}
