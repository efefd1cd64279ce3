//! `/api/v1/analytics/{summary,series,breakdown}`: the queries of
//! `incident_schema::analytics` for the caller's workspace (viewer role suffices), as JSON
//! or, with `Accept: text/csv` or `?format=csv`, as CSV of the same values. Each answer
//! reads one snapshot (a read-only repeatable-read transaction), so its numbers agree.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use incident_schema::analytics::params::Params;
use incident_schema::analytics::{self, Grouped, Summary};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::AppState;
use crate::access::auth::Auth;
use crate::error::{ApiError, DomainError};
use incident_runtime::api::problem::Problem;

type ApiResult<T> = Result<T, ApiError>;

/// Whether the answer is CSV: `?format=` first, then the `Accept` header's first media
/// type we produce (none, `*/*`: JSON).
fn wants_csv(headers: &HeaderMap, params: &Params) -> Result<bool, DomainError> {
    if let Some(csv) = params.wants_csv()? {
        return Ok(csv);
    }
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(false);
    };
    let accept = accept.to_str().unwrap_or_default();
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "text/csv" | "text/*" => return Ok(true),
            "application/json" | "application/*" | "*/*" | "" => return Ok(false),
            _ => {}
        }
    }
    Err(DomainError::NotAcceptable(format!(
        "this route answers application/json or text/csv, not {accept:?}"
    )))
}

fn csv(name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"analytics-{name}.csv\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// A read-only snapshot to answer from.
async fn snapshot(state: &AppState) -> Result<Transaction<'static, Postgres>, DomainError> {
    let mut tx = state.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

async fn request(
    conn: &mut PgConnection,
    auth: &Auth,
    params: &Params,
) -> Result<analytics::Request, DomainError> {
    Ok(params.request(conn, auth.workspace_id).await?)
}

/// The whole range: MTTA, MTTM, MTTR and time to close (count, mean, median, p90, max),
/// SLA targets met and findings, counts by severity, status, service and source,
/// postmortem follow-through, alert load, the slowest incidents.
///
/// Drills are left out (counted on their own under `drills`) unless `drill=true`.
/// PRIVATE incidents are counted; the slowest list names only those the caller may read.
/// Durations nobody can compute are `null`.
#[utoipa::path(
    get, path = "/api/v1/analytics/summary", tag = "analytics", params(Params),
    responses(
        (status = 200, description = "The range's figures", content(
            (Summary = "application/json"),
            (String = "text/csv"))),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "Neither JSON nor CSV is acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter does not parse (`validation`, naming it) or the range is empty or too long (`invalid-range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn summary(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let as_csv = wants_csv(&headers, &params)?;
    let mut tx = snapshot(&state).await?;
    let request = request(&mut tx, &auth, &params).await?;
    let summary: Summary = analytics::query::summary(&mut tx, &auth.reader(), &request)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(if as_csv {
        csv("summary", analytics::csv::summary(&summary))
    } else {
        Json(summary).into_response()
    })
}

/// The measures per ISO week (`interval=week`, default) or month (`interval=month`) of
/// the range, in the workspace's time zone, optionally per severity too (`by=severity`,
/// weekly). Every period is present: one without incidents has 0 incidents and `null`
/// durations.
#[utoipa::path(
    get, path = "/api/v1/analytics/series", tag = "analytics", params(Params),
    responses(
        (status = 200, description = "One row per period (and severity)", content(
            (Grouped = "application/json"),
            (String = "text/csv"))),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "Neither JSON nor CSV is acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter does not parse (`validation`, naming it) or the range is empty or too long (`invalid-range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn series(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    grouped(
        state,
        auth,
        headers,
        params,
        "series",
        Params::series_grouping,
    )
    .await
}

/// The measures per severity (`by=severity`, default; every severity present) or per
/// affected service (`by=service`; an incident with two services counts in both, `null`
/// gathers incidents without one).
#[utoipa::path(
    get, path = "/api/v1/analytics/breakdown", tag = "analytics", params(Params),
    responses(
        (status = 200, description = "One row per severity or service", content(
            (Grouped = "application/json"),
            (String = "text/csv"))),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "Neither JSON nor CSV is acceptable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter does not parse (`validation`, naming it) or the range is empty or too long (`invalid-range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(workspace_id = %auth.workspace_id), err(Debug))]
pub async fn breakdown(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    grouped(
        state,
        auth,
        headers,
        params,
        "breakdown",
        Params::breakdown_grouping,
    )
    .await
}

async fn grouped(
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    params: Params,
    name: &str,
    grouping: fn(&Params) -> Result<analytics::Grouping, analytics::params::AnalyticsError>,
) -> ApiResult<Response> {
    let as_csv = wants_csv(&headers, &params)?;
    let by = grouping(&params).map_err(DomainError::from)?;
    let mut tx = snapshot(&state).await?;
    let request = request(&mut tx, &auth, &params).await?;
    let grouped: Grouped = analytics::query::grouped(&mut tx, &auth.reader(), &request, by)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(if as_csv {
        csv(name, analytics::csv::grouped(&grouped))
    } else {
        Json(grouped).into_response()
    })
}
