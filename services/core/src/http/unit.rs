//! One unit of work per request. A handler parses, then hands its domain call and the
//! reads its answer needs to [`within`] (one transaction, committed when the work
//! succeeds and rolled back when it fails or the request is dropped) or to [`reading`]
//! (one pooled connection). Database errors become [`DomainError`]s here, once: the work
//! itself uses `?` on domain and database calls alike.

use axum::Json;
use incident_schema::Incident;
use sqlx::{PgConnection, PgPool};

use crate::error::{ApiError, DomainError, DomainResult};
use crate::incident::view::IncidentView;

/// Runs `work` in a transaction of `pool` and commits what it did.
pub async fn within<T>(
    pool: &PgPool,
    work: impl AsyncFnOnce(&mut PgConnection) -> DomainResult<T>,
) -> Result<T, ApiError> {
    let mut tx = pool.begin().await.map_err(DomainError::from)?;
    let done = work(&mut tx).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(done)
}

/// Runs `work` on a connection of `pool`, outside any transaction.
pub async fn reading<T>(
    pool: &PgPool,
    work: impl AsyncFnOnce(&mut PgConnection) -> DomainResult<T>,
) -> Result<T, ApiError> {
    let mut conn = pool.acquire().await.map_err(DomainError::from)?;
    Ok(work(&mut conn).await?)
}

/// The answer most incident changes give: the incident's view, read on `conn` (in the
/// change's transaction, so it shows the change).
pub async fn view(conn: &mut PgConnection, incident: Incident) -> DomainResult<Json<IncidentView>> {
    Ok(Json(IncidentView::load(conn, incident).await?))
}
