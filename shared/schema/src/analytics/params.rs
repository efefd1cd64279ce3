//! The analytics query string: `from`, `to` (RFC 3339 instants, or dates `2026-12-01`
//! read in the workspace's time zone, `to` inclusive), `severity` and `service` (comma
//! lists), `drill`, and for the groupings `interval` / `by`. Parsed here once into a
//! [`Request`], so the API and anything else calling the queries refuse the same things
//! with the same words.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{Filter, Grouping, Request};
use crate::Severity;
use crate::timestamp::Timestamp;

/// The default range: the last 90 days.
pub const DEFAULT_DAYS: i64 = 90;
/// The longest range, in days (ten years of weeks is 522 rows).
pub const MAX_DAYS: i64 = 3660;

/// Why analytics parameters were refused.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A parameter does not parse.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// `from` is not before `to`, or the range is too long.
    #[error("{0}")]
    Range(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The query string, as given.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Start (inclusive): RFC 3339, or a date in the workspace's time zone. Default: 90
    /// days before `to`.
    pub from: Option<String>,
    /// End (exclusive instant, or inclusive date). Default: now.
    pub to: Option<String>,
    /// Severities, comma separated (`SEV1,SEV2`).
    pub severity: Option<String>,
    /// Affected services, comma separated, matched case-insensitively.
    pub service: Option<String>,
    /// `true`: drills only; default `false`: real incidents only.
    pub drill: Option<String>,
    /// Series: `week` (default, ISO weeks) or `month`.
    pub interval: Option<String>,
    /// Series: `severity` to split each period by severity. Breakdown: `severity`
    /// (default) or `service`.
    pub by: Option<String>,
    /// `csv` for `text/csv` (as `Accept: text/csv`), `json` (default).
    pub format: Option<String>,
}

/// One end of the range as given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    At(DateTime<Utc>),
    Date(NaiveDate),
}

fn bound(field: &'static str, text: &str) -> Result<Bound, AnalyticsError> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Bound::Date(date));
    }
    Timestamp::parse(text)
        .map(|t| Bound::At(t.0))
        .map_err(|message| AnalyticsError::Invalid {
            field,
            message: format!("{message}, or a date such as 2026-12-01"),
        })
}

fn list(text: &Option<String>) -> Vec<String> {
    text.iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Params {
    /// The filters.
    pub fn filter(&self) -> Result<Filter, AnalyticsError> {
        let mut severities = Vec::new();
        for s in list(&self.severity) {
            let severity: Severity =
                s.parse()
                    .map_err(|e: crate::ParseError| AnalyticsError::Invalid {
                        field: "severity",
                        message: e.to_string(),
                    })?;
            if !severities.contains(&severity) {
                severities.push(severity);
            }
        }
        severities.sort_by_key(|s| s.as_str());
        let services = list(&self.service)
            .into_iter()
            .map(|s| s.to_lowercase())
            .collect();
        let drill = match self.drill.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(AnalyticsError::Invalid {
                    field: "drill",
                    message: format!("expected true or false, got {other:?}"),
                });
            }
        };
        Ok(Filter {
            severities,
            services,
            drill,
        })
    }

    /// The series grouping: `interval` and `by`.
    pub fn series_grouping(&self) -> Result<Grouping, AnalyticsError> {
        let by_severity = match self.by.as_deref().map(str::trim) {
            None | Some("") => false,
            Some("severity") => true,
            Some(other) => {
                return Err(AnalyticsError::Invalid {
                    field: "by",
                    message: format!("a series splits by severity only, got {other:?}"),
                });
            }
        };
        match (self.interval.as_deref().map(str::trim), by_severity) {
            (None | Some("week"), false) => Ok(Grouping::Week),
            (None | Some("week"), true) => Ok(Grouping::WeekSeverity),
            (Some("month"), false) => Ok(Grouping::Month),
            (Some("month"), true) => Err(AnalyticsError::Invalid {
                field: "by",
                message: "a monthly series is not split by severity; use interval=week".into(),
            }),
            (Some(other), _) => Err(AnalyticsError::Invalid {
                field: "interval",
                message: format!("expected week or month, got {other:?}"),
            }),
        }
    }

    /// The breakdown grouping: `by`.
    pub fn breakdown_grouping(&self) -> Result<Grouping, AnalyticsError> {
        match self.by.as_deref().map(str::trim) {
            None | Some("severity") => Ok(Grouping::Severity),
            Some("service") => Ok(Grouping::Service),
            Some(other) => Err(AnalyticsError::Invalid {
                field: "by",
                message: format!("expected severity or service, got {other:?}"),
            }),
        }
    }

    /// Whether `format=csv` was asked for; an unknown format is refused.
    pub fn wants_csv(&self) -> Result<Option<bool>, AnalyticsError> {
        match self.format.as_deref().map(str::trim) {
            None => Ok(None),
            Some("csv") => Ok(Some(true)),
            Some("json") => Ok(Some(false)),
            Some(other) => Err(AnalyticsError::Invalid {
                field: "format",
                message: format!("expected csv or json, got {other:?}"),
            }),
        }
    }

    /// The request for `workspace_id`: dates read in its time zone, the defaults filled
    /// in (the last [`DEFAULT_DAYS`] days), the range checked.
    pub async fn request(
        &self,
        conn: &mut PgConnection,
        workspace_id: Uuid,
    ) -> Result<Request, AnalyticsError> {
        let filter = self.filter()?;
        let from = self.from.as_deref().map(|t| bound("from", t)).transpose()?;
        let to = self.to.as_deref().map(|t| bound("to", t)).transpose()?;
        let date = |b: Option<Bound>| match b {
            Some(Bound::Date(d)) => Some(d),
            _ => None,
        };
        let at = |b: Option<Bound>| match b {
            Some(Bound::At(t)) => Some(t),
            _ => None,
        };
        // Dates are midnights in the workspace's zone; `to` as a date includes its day.
        let (from_at, to_at): (Option<DateTime<Utc>>, DateTime<Utc>) = sqlx::query_as(
            "SELECT COALESCE($1, ($2::date)::timestamp AT TIME ZONE w.time_zone),
                    COALESCE($3, (($4::date + 1)::timestamp AT TIME ZONE w.time_zone), now())
             FROM workspaces w WHERE w.id = $5",
        )
        .bind(at(from))
        .bind(date(from))
        .bind(at(to))
        .bind(date(to))
        .bind(workspace_id)
        .fetch_one(&mut *conn)
        .await?;
        let from_at = from_at.unwrap_or(to_at - chrono::TimeDelta::days(DEFAULT_DAYS));
        if from_at >= to_at {
            return Err(AnalyticsError::Range(format!(
                "from ({from_at}) must be before to ({to_at})"
            )));
        }
        if to_at - from_at > chrono::TimeDelta::days(MAX_DAYS) {
            return Err(AnalyticsError::Range(format!(
                "the range is longer than {MAX_DAYS} days"
            )));
        }
        Ok(Request {
            from: from_at,
            to: to_at,
            filter,
        })
    }
}
