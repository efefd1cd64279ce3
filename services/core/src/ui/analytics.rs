//! `/ui/analytics`: the analytics API's numbers for the session's workspace, as inline
//! SVG charts drawn here ([`super::chart`]) with the same numbers in tables: weekly MTTA
//! and MTTR medians per severity, the weekly share of SLA targets missed, action item
//! completion; the filters are a GET form with the API's parameters (range, severities,
//! services, drills), and `/ui/analytics/export.csv` downloads the weekly series as the
//! API's CSV. Any role reads (like the API). The queries are the API's
//! (`incident_schema::analytics::query`), in one read-only snapshot.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use incident_schema::Severity;
use incident_schema::analytics::params::Params;
use incident_schema::analytics::{self, Grouped, Measures, Row, Summary};
use incident_web::WebSession;
use incident_web::shell::{Section, Shell, render_status};
use serde::Deserialize;

use super::UiState;
use super::chart::{self, Series};
use super::error::UiError;
use super::pages::{AnalyticsFilters, AnalyticsPage, Choice, Figure, WeekRow};
use crate::error::DomainError;

/// The filter form: empty fields mean the API's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AnalyticsQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    drill: String,
}

impl AnalyticsQuery {
    fn params(&self, by_severity: bool) -> Params {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Params {
            from: some(&self.from),
            to: some(&self.to),
            severity: some(&self.severity),
            service: some(&self.service),
            drill: some(&self.drill),
            interval: None,
            by: by_severity.then(|| "severity".to_owned()),
            format: None,
        }
    }

    fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("severity", self.severity.as_str()),
            ("service", self.service.as_str()),
            ("drill", self.drill.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

struct Read {
    summary: Summary,
    weeks: Grouped,
    by_severity: Grouped,
}

async fn read(state: &UiState, session: &WebSession, q: &AnalyticsQuery) -> Result<Read, UiError> {
    let params = q.params(false);
    let mut tx = state.app.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let request = params
        .request(&mut tx, session.auth.workspace_id)
        .await
        .map_err(DomainError::from)?;
    let reader = session.auth.reader();
    let (summary, weeks, by_severity) =
        analytics::query::summary_and_weeks(&mut tx, &reader, &request).await?;
    tx.commit().await?;
    Ok(Read {
        summary,
        weeks,
        by_severity,
    })
}

fn minutes(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| s / 60.0)
}

/// A duration for people: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
pub fn duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s < 60.0 => format!("{s:.0} s"),
        Some(s) if s < 3600.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 86_400.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// The share of decided SLA targets (acknowledge and resolve) that were missed.
pub fn missed_share(m: &Measures) -> Option<f64> {
    let missed = m.sla.acknowledge.missed + m.sla.resolve.missed;
    let decided = missed + m.sla.acknowledge.met + m.sla.resolve.met;
    (decided > 0).then(|| missed as f64 / decided as f64)
}

fn label(row: &Row) -> String {
    row.period
        .as_ref()
        .map_or_else(String::new, |p| p.label.clone())
}

fn per_severity(
    grouped: &Grouped,
    labels: &[String],
    pick: fn(&Measures) -> Option<f64>,
) -> Vec<Series> {
    let mut severities: Vec<Severity> = Vec::new();
    for row in &grouped.rows {
        if let Some(s) = row.severity
            && !severities.contains(&s)
        {
            severities.push(s);
        }
    }
    severities
        .into_iter()
        .map(|severity| Series {
            name: severity.to_string(),
            values: labels
                .iter()
                .map(|l| {
                    grouped
                        .rows
                        .iter()
                        .find(|r| r.severity == Some(severity) && &label(r) == l)
                        .and_then(|r| pick(&r.measures))
                })
                .collect(),
        })
        .collect()
}

/// An axis value in minutes, with as many decimals as the ticks need to read apart (a
/// chart of sub-second medians has ticks a fraction of a second apart).
fn axis_minutes(v: f64) -> String {
    fn trimmed(x: f64, unit: &str) -> String {
        let text = if x >= 10.0 {
            format!("{x:.0}")
        } else if x >= 1.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        };
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        };
        format!("{text} {unit}")
    }
    if v == 0.0 {
        "0".to_owned()
    } else if v >= 120.0 {
        trimmed(v / 60.0, "h")
    } else if v >= 1.0 {
        trimmed(v, "min")
    } else {
        trimmed(v * 60.0, "s")
    }
}

/// The page's content from what the queries answered.
fn page_of(read: &Read) -> (Vec<Figure>, Vec<WeekRow>, [String; 4]) {
    let Read {
        summary,
        weeks,
        by_severity,
    } = read;
    let m = &summary.measures;
    let items = &summary.follow_through.action_items;
    let figures = vec![
        Figure::new("Incidents", m.incidents.to_string()),
        Figure::new("MTTA (median)", duration(m.mtta.median_seconds)),
        Figure::new("MTTR (median)", duration(m.mttr.median_seconds)),
        Figure::new("Acknowledged in time", share(m.sla.acknowledge.share)),
        Figure::new("Resolved in time", share(m.sla.resolve.share)),
        Figure::new("SLA breaches found", m.sla.breaches.to_string()),
        Figure::new(
            "Postmortems published",
            format!(
                "{} of {}",
                summary.follow_through.postmortems_published,
                summary.follow_through.postmortems_drafted
            ),
        ),
        Figure::new(
            "Action items done",
            format!(
                "{} ({} of {}, {} overdue)",
                share(items.completion_rate),
                items.done,
                items.total - items.wont_do,
                items.overdue
            ),
        ),
    ];
    let labels: Vec<String> = weeks.rows.iter().map(label).collect();
    let rows = weeks
        .rows
        .iter()
        .map(|r| WeekRow {
            week: label(r),
            incidents: r.measures.incidents,
            mtta: duration(r.measures.mtta.median_seconds),
            mttr: duration(r.measures.mttr.median_seconds),
            missed: share(missed_share(&r.measures)),
        })
        .collect();
    let mtta = chart::lines(
        "Median time to acknowledge per week, by severity",
        &labels,
        &per_severity(by_severity, &labels, |m| minutes(m.mtta.median_seconds)),
        &axis_minutes,
    );
    let mttr = chart::lines(
        "Median time to resolve per week, by severity",
        &labels,
        &per_severity(by_severity, &labels, |m| minutes(m.mttr.median_seconds)),
        &axis_minutes,
    );
    let breaches = chart::bars(
        "Share of SLA targets missed per week",
        &labels,
        &weeks
            .rows
            .iter()
            .map(|r| missed_share(&r.measures))
            .collect::<Vec<_>>(),
    );
    let completion = chart::bars(
        "Action items done",
        &["done".to_owned()],
        &[items.completion_rate],
    );
    (figures, rows, [mtta, mttr, breaches, completion])
}

fn filters(q: &AnalyticsQuery) -> AnalyticsFilters {
    AnalyticsFilters {
        from: q.from.clone(),
        to: q.to.clone(),
        severity: q.severity.clone(),
        service: q.service.clone(),
        drills: vec![
            Choice::new("", "Real incidents", q.drill != "true"),
            Choice::new("true", "Drills", q.drill == "true"),
        ],
    }
}

/// `GET /ui/analytics`. A parameter that does not parse shows the form again with why
/// (422), like the API's `validation` problem.
pub async fn page(
    State(state): State<UiState>,
    session: WebSession,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Response, UiError> {
    let shell = Shell::signed_in("Analytics", &session, Section::Analytics);
    let csv = format!("/ui/analytics/export.csv?{}", q.query_string());
    match read(&state, &session, &q).await {
        Ok(read) => {
            let (figures, weeks, [mtta, mttr, breaches, completion]) = page_of(&read);
            Ok(render_status(
                axum::http::StatusCode::OK,
                &AnalyticsPage {
                    shell,
                    filters: filters(&q),
                    error: None,
                    range: format!(
                        "{} to {} ({})",
                        read.summary.from.format("%Y-%m-%d %H:%M"),
                        read.summary.to.format("%Y-%m-%d %H:%M"),
                        read.summary.time_zone
                    ),
                    figures,
                    weeks,
                    mtta,
                    mttr,
                    breaches,
                    completion,
                    csv,
                },
            ))
        }
        Err(e @ UiError(DomainError::Validation { .. } | DomainError::InvalidRange(_))) => {
            Ok(render_status(
                e.status(),
                &AnalyticsPage {
                    shell,
                    filters: filters(&q),
                    error: Some(e.message()),
                    range: String::new(),
                    figures: Vec::new(),
                    weeks: Vec::new(),
                    mtta: String::new(),
                    mttr: String::new(),
                    breaches: String::new(),
                    completion: String::new(),
                    csv,
                },
            ))
        }
        Err(e) => Err(e),
    }
}

/// `GET /ui/analytics/export.csv`: the weekly series with the page's filters, as the
/// API's CSV, as a download.
pub async fn export(
    State(state): State<UiState>,
    session: WebSession,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Response, UiError> {
    let read = read(&state, &session, &q).await?;
    let body = analytics::csv::grouped(&read.weeks);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"analytics-weeks.csv\""),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod axis_tests {
    use super::axis_minutes;

    #[test]
    fn axis_ticks_of_small_durations_read_apart() {
        // The ticks of a chart whose largest median is 0.6 s (0.01 min).
        let ticks: Vec<String> = (0..=4)
            .map(|k| axis_minutes(0.01 * f64::from(k) / 4.0))
            .collect();
        assert_eq!(ticks, ["0", "0.15 s", "0.3 s", "0.45 s", "0.6 s"]);
        assert_eq!(axis_minutes(2.5), "2.5 min");
        assert_eq!(axis_minutes(30.0), "30 min");
        assert_eq!(axis_minutes(150.0), "2.5 h");
    }
}
