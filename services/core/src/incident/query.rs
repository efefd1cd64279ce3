//! Reading incidents: one by id or reference, and the filtered, newest-first list with
//! cursor pagination.
//!
//! Both apply the private-incident rule for the caller (`incident_readable`, migration
//! `0050_incident_access.sql`, through a [`Reader`]): a PRIVATE incident the caller may not
//! read is not found and not listed, exactly like another workspace's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use incident_schema::access::Reader;
use incident_schema::{AffectedService, Incident, IncidentNumber, IncidentStatus, Severity};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use utoipa::IntoParams;
use uuid::Uuid;

use super::view::IncidentView;
use crate::error::{DomainError, DomainResult};

/// Finds an incident `reader` may read, in its workspace, by its id or its reference
/// (`INC-42`, or `42`). Anything else (another workspace's, a PRIVATE one the reader is
/// not involved in, no such incident) is not found.
pub async fn find(conn: &mut PgConnection, reader: &Reader, key: &str) -> DomainResult<Incident> {
    let query = if let Ok(id) = key.parse::<Uuid>() {
        sqlx::query_as(
            "SELECT i.* FROM incidents i
             WHERE i.workspace_id = $1 AND i.id = $2 AND incident_readable(i, $3, $4)",
        )
        .bind(reader.workspace_id)
        .bind(id)
    } else if let Ok(number) = key
        .parse::<IncidentNumber>()
        .or_else(|_| key.parse::<i32>().map(IncidentNumber))
    {
        sqlx::query_as(
            "SELECT i.* FROM incidents i
             WHERE i.workspace_id = $1 AND i.number = $2 AND incident_readable(i, $3, $4)",
        )
        .bind(reader.workspace_id)
        .bind(number)
    } else {
        return Err(DomainError::NotFound("incident"));
    };
    let found: Option<Incident> = query
        .bind(reader.user_id)
        .bind(reader.is_admin)
        .fetch_optional(conn)
        .await?;
    found.ok_or(DomainError::NotFound("incident"))
}

/// Filters for the incident list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    /// Comma-separated statuses, e.g. `INVESTIGATING,IDENTIFIED`.
    pub status: Option<String>,
    /// Comma-separated severities, e.g. `SEV1,SEV2`.
    pub severity: Option<String>,
    /// Only drills (`true`) or only real incidents (`false`).
    pub drill: Option<bool>,
    /// Only incidents affecting this service.
    pub service: Option<String>,
    /// Text contained in the title (case-insensitive).
    pub q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn parse_list<T: std::str::FromStr<Err = incident_schema::ParseError>>(
    field: &str,
    value: &Option<String>,
) -> DomainResult<Vec<T>> {
    value
        .as_deref()
        .map(|v| {
            v.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse::<T>()
                        .map_err(|e| DomainError::invalid(field, e.to_string()))
                })
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}

fn encode_cursor(created_at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", created_at.to_rfc3339()))
}

fn decode_cursor(cursor: &str) -> DomainResult<(DateTime<Utc>, Uuid)> {
    let bad = || DomainError::invalid("cursor", "not a cursor from this API");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((
        DateTime::parse_from_rfc3339(at)
            .map_err(|_| bad())?
            .with_timezone(&Utc),
        id.parse().map_err(|_| bad())?,
    ))
}

/// One page of incidents.
pub struct Page {
    /// The incidents, newest first.
    pub items: Vec<IncidentView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Lists the incidents of the reader's workspace it may read, newest first.
pub async fn list(
    conn: &mut PgConnection,
    reader: &Reader,
    filter: &ListFilter,
) -> DomainResult<Page> {
    let workspace_id = reader.workspace_id;
    let statuses: Vec<IncidentStatus> = parse_list("status", &filter.status)?;
    let severities: Vec<Severity> = parse_list("severity", &filter.severity)?;
    let limit = filter.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be between 1 and 200"));
    }
    let cursor = filter.cursor.as_deref().map(decode_cursor).transpose()?;

    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT i.* FROM incidents i WHERE i.workspace_id = ");
    q.push_bind(workspace_id);
    q.push(" AND incident_readable(i, ")
        .push_bind(reader.user_id)
        .push(", ")
        .push_bind(reader.is_admin)
        .push(")");
    if !statuses.is_empty() {
        q.push(" AND i.status = ANY(").push_bind(statuses).push(")");
    }
    if !severities.is_empty() {
        q.push(" AND i.severity = ANY(")
            .push_bind(severities)
            .push(")");
    }
    if let Some(drill) = filter.drill {
        q.push(" AND i.is_drill = ").push_bind(drill);
    }
    if let Some(service) = filter.service.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND EXISTS (SELECT 1 FROM affected_services s WHERE s.incident_id = i.id AND lower(s.service_name) = lower(")
            .push_bind(service.to_owned())
            .push("))");
    }
    if let Some(text) = filter.q.as_deref().filter(|s| !s.is_empty()) {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.push(" AND i.title ILIKE ")
            .push_bind(format!("%{escaped}%"));
    }
    if let Some((at, id)) = cursor {
        q.push(" AND (i.created_at, i.id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY i.created_at DESC, i.id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut incidents: Vec<Incident> = q.build_query_as().fetch_all(&mut *conn).await?;
    let more = incidents.len() as i64 > limit;
    incidents.truncate(limit as usize);

    let ids: Vec<Uuid> = incidents.iter().map(|i| i.id).collect();
    let services: Vec<AffectedService> = sqlx::query_as(
        "SELECT * FROM affected_services WHERE incident_id = ANY($1) ORDER BY service_name",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let groups: Vec<(Uuid, Uuid)> = sqlx::query_as("SELECT incident_id, id FROM alert_groups WHERE workspace_id = $1 AND incident_id = ANY($2) ORDER BY opened_at")
        .bind(workspace_id)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    let next_cursor = if more {
        incidents.last().map(|i| encode_cursor(i.created_at, i.id))
    } else {
        None
    };
    let items = incidents
        .into_iter()
        .map(|i| {
            let own: Vec<AffectedService> = services
                .iter()
                .filter(|s| s.incident_id == i.id)
                .cloned()
                .collect();
            let own_groups = groups
                .iter()
                .filter(|(incident, _)| *incident == i.id)
                .map(|(_, g)| *g)
                .collect();
            IncidentView::new(i, &own, own_groups)
        })
        .collect();
    Ok(Page { items, next_cursor })
}
