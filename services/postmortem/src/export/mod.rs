//! The Markdown export (`GET /api/v1/postmortems/{id}.md`): a postmortem rendered through
//! a minijinja template, the built-in one ([`DEFAULT_TEMPLATE`]) or the workspace's own.
//! The Markdown is plain CommonMark with GitHub tables, which Confluence, Notion and GitHub
//! all paste cleanly; table cells go through the `cell` filter (pipes escaped, line breaks
//! as `<br>`).
//!
//! A template sees `postmortem` (the sections, status and dates), `incident` (reference,
//! title, severity, status, drill, dates), `impact` (the computed facts), `timeline` (the
//! frozen entries) and `action_items`, and the filters `time` (`2026-03-01 10:04 UTC`),
//! `timestamp` (`2026-03-01 10:04:05`), `duration` (seconds as `1h 05m`), `minutes` and
//! `cell`. Invariants: a workspace template is saved only if it compiles and renders a
//! sample postmortem with every field present and undefined names refused
//! ([`validate`]), so a typo is caught with its line number when saved, not when exported;
//! every render is bounded (minijinja fuel), so a template cannot run away.
//!
//! User text never becomes HTML: every `{{ … }}` output is escaped (`&`, `<`, `>` as
//! entities, which every Markdown renderer shows as the characters) unless a filter marked
//! it safe, so a title such as `<script>…` is shown, not run, in whatever renders the
//! Markdown. Only `cell` marks its output safe, after escaping, for its own `<br>`.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::action_item::ActionItemView;
use crate::error::{DomainError, DomainResult};
use crate::postmortem::PostmortemRecord;
use crate::text;
use incident_schema::Incident;

/// The built-in Markdown template.
pub const DEFAULT_TEMPLATE: &str = include_str!("default.md.j2");

/// Longest workspace template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// What one render may cost (minijinja fuel: instructions and memory, roughly).
const FUEL: u64 = 20_000_000;

const DEFAULT_NAME: &str = "postmortem.md";
const WORKSPACE_NAME: &str = "workspace-template.md";

/// What a template is rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct ExportContext {
    /// The postmortem's sections, status and dates.
    pub postmortem: Value,
    /// The incident's reference, title, severity, status and dates.
    pub incident: Value,
    /// The computed impact.
    pub impact: Value,
    /// The frozen timeline.
    pub timeline: Value,
    /// The action items.
    pub action_items: Vec<ActionItemView>,
}

impl ExportContext {
    /// The context of a postmortem.
    pub fn new(
        record: &PostmortemRecord,
        incident: &Incident,
        action_items: Vec<ActionItemView>,
    ) -> Self {
        let p = &record.row;
        Self {
            postmortem: json!({
                "id": p.id,
                "status": p.status,
                "summary": p.summary,
                "what_happened": p.what_happened,
                "why_it_happened": p.why_it_happened,
                "what_went_well": p.what_went_well,
                "what_went_poorly": p.what_went_poorly,
                "where_we_got_lucky": p.where_we_got_lucky,
                "impact_assessment": p.impact_assessment,
                "generation": p.generation,
                "edited_by_human": p.edited_by_human,
                "published_at": p.published_at,
                "amended_at": p.amended_at,
                "created_at": p.created_at,
                "updated_at": p.updated_at,
            }),
            incident: json!({
                "id": incident.id,
                "reference": incident.number.to_string(),
                "title": incident.title,
                "severity": incident.severity,
                "status": incident.status,
                "is_drill": incident.is_drill,
                "visibility": incident.visibility,
                "impact": incident.impact,
                "root_cause": incident.root_cause,
                "detected_at": incident.detected_at,
                "acknowledged_at": incident.acknowledged_at,
                "mitigated_at": incident.mitigated_at,
                "resolved_at": incident.resolved_at,
                "closed_at": incident.closed_at,
            }),
            impact: record.impact.0.clone(),
            timeline: p.timeline.clone(),
            action_items,
        }
    }
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn time_filter(value: Option<String>) -> String {
    match value {
        Some(v) => parse_time(&v).map_or(v, text::time),
        None => "—".to_owned(),
    }
}

fn timestamp_filter(value: Option<String>) -> String {
    match value {
        Some(v) => parse_time(&v).map_or(v, |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        None => "—".to_owned(),
    }
}

fn duration_filter(secs: Option<i64>) -> String {
    secs.map_or_else(|| "—".to_owned(), text::duration)
}

fn minutes_filter(minutes: Option<i32>) -> String {
    minutes.map_or_else(|| "—".to_owned(), text::minutes)
}

fn cell_filter(value: Option<String>) -> minijinja::Value {
    let cell = value
        .as_deref()
        .map(|v| text::table_cell(&escape_html(v)))
        .unwrap_or_default();
    // Escaped already; its `<br>` must stay markup.
    minijinja::Value::from_safe_string(cell)
}

/// `text` with `&`, `<` and `>` as HTML entities: inert in Markdown, shown as written.
pub fn escape_html(text: &str) -> String {
    incident_schema::text::escape_markup(text)
}

/// Writes every `{{ … }}` value escaped, unless a filter marked it safe.
fn escaping_formatter(
    out: &mut minijinja::Output<'_>,
    _state: &mut minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    let text = value.to_string();
    let written = if value.is_safe() {
        out.write_str(&text)
    } else {
        out.write_str(&escape_html(&text))
    };
    written.map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))
}

fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    // Block tags on their own lines leave no blank lines or indentation behind, and the
    // document ends with a newline.
    match SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => tracing::error!(error = %e, "the template syntax configuration is invalid"),
    }
    env.set_undefined_behavior(undefined);
    env.set_formatter(escaping_formatter);
    env.set_fuel(Some(FUEL));
    env.add_filter("time", time_filter);
    env.add_filter("timestamp", timestamp_filter);
    env.add_filter("duration", duration_filter);
    env.add_filter("minutes", minutes_filter);
    env.add_filter("cell", cell_filter);
    env
}

/// The default template, compiled once.
static DEFAULT: LazyLock<Result<Environment<'static>, minijinja::Error>> = LazyLock::new(|| {
    let mut env = environment(UndefinedBehavior::Lenient);
    env.add_template(DEFAULT_NAME, DEFAULT_TEMPLATE)?;
    Ok(env)
});

fn template_error(error: &minijinja::Error) -> DomainError {
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    DomainError::Template {
        line: error.line().unwrap_or(0),
        message,
    }
}

/// Renders with the built-in template.
pub fn render_default(context: &ExportContext) -> DomainResult<String> {
    let env = DEFAULT.as_ref().map_err(template_error)?;
    env.get_template(DEFAULT_NAME)
        .and_then(|t| t.render(Serde(context)))
        .map_err(|e| template_error(&e))
}

/// Renders with a workspace template (undefined names render empty).
pub fn render_with(source: &str, context: &ExportContext) -> DomainResult<String> {
    let env = environment(UndefinedBehavior::Lenient);
    env.render_named_str(WORKSPACE_NAME, source, Serde(context))
        .map_err(|e| template_error(&e))
}

/// Renders with the workspace's template if it has one, else the built-in one. A
/// workspace template that fails at render time (it rendered the sample when saved, so
/// this is about data it did not expect) falls back to the built-in one, logged, so an
/// export always succeeds; the answer says which was used.
pub fn render(workspace_template: Option<&str>, context: &ExportContext) -> DomainResult<Rendered> {
    if let Some(source) = workspace_template {
        match render_with(source, context) {
            Ok(markdown) => {
                return Ok(Rendered {
                    markdown,
                    template: "workspace",
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "the workspace template failed; exporting with the built-in one");
                return Ok(Rendered {
                    markdown: render_default(context)?,
                    template: "default-fallback",
                });
            }
        }
    }
    Ok(Rendered {
        markdown: render_default(context)?,
        template: "default",
    })
}

/// A rendered export and which template made it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The Markdown.
    pub markdown: String,
    /// `workspace`, `default`, or `default-fallback` (the workspace's failed).
    pub template: &'static str,
}

/// Checks a workspace template: it must compile, and render a sample postmortem (with
/// every field present, one entry in every list) without touching an undefined name.
pub fn validate(source: &str) -> DomainResult<()> {
    if source.trim().is_empty() {
        return Err(DomainError::invalid("template", "must not be empty"));
    }
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(DomainError::invalid(
            "template",
            format!("must be at most {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    let env = environment(UndefinedBehavior::Strict);
    let template = env
        .template_from_named_str(WORKSPACE_NAME, source)
        .map_err(|e| template_error(&e))?;
    template
        .render(Serde(&sample()))
        .map_err(|e| template_error(&e))?;
    Ok(())
}

/// A postmortem with every field set, for validating templates.
fn sample() -> ExportContext {
    let at = "2026-01-01T10:00:00Z";
    let id = Uuid::nil();
    ExportContext {
        postmortem: json!({
            "id": id, "status": "DRAFT", "summary": "Summary.", "what_happened": "What happened.",
            "why_it_happened": "Why.", "what_went_well": "Well.", "what_went_poorly": "Poorly.",
            "where_we_got_lucky": "Lucky.", "impact_assessment": "Impact.",
            "generation": { "summary": "template" }, "edited_by_human": false,
            "published_at": at, "amended_at": at, "created_at": at, "updated_at": at,
        }),
        incident: json!({
            "id": id, "reference": "INC-1", "title": "Sample", "severity": "SEV2",
            "status": "RESOLVED", "is_drill": false, "visibility": "PUBLIC", "impact": "Some",
            "root_cause": "A cause", "detected_at": at, "acknowledged_at": at,
            "mitigated_at": at, "resolved_at": at, "closed_at": at,
        }),
        impact: json!({
            "stages": [{ "stage": "DETECTED", "at": at, "since_detection_secs": 0, "since_previous_secs": null }],
            "time_to_acknowledge_secs": 60, "time_to_mitigate_secs": 120, "time_to_resolve_secs": 180,
            "sla": {
                "severity": "SEV2",
                "acknowledge": { "target_minutes": 30, "deadline": at, "reached_at": at, "took_secs": 60, "status": "MET" },
                "resolve": { "target_minutes": 480, "deadline": at, "reached_at": at, "took_secs": 180, "status": "MET" },
                "warnings": 0, "breaches_recorded": 0, "missed_updates": 0,
            },
            "services": [{ "name": "api", "impact": "DEGRADED" }],
            "alert_groups": [{ "id": id, "title": "High latency", "status": "RESOLVED", "alerts": 3, "opened_at": at, "resolved_at": at }],
            "alerts_total": 3,
        }),
        timeline: json!([{
            "entry_id": id, "at": at, "kind": "DETECTED", "event": "Declared",
            "author_id": id, "author": "Dana", "is_public": false,
        }]),
        action_items: vec![ActionItemView {
            id,
            postmortem_id: id,
            incident_id: id,
            description: "Add a retry budget".into(),
            assignee_id: Some(id),
            assignee_name: Some("Dana".into()),
            status: incident_schema::ActionItemStatus::Open,
            priority: incident_schema::ActionItemPriority::P2,
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
            external_url: Some("https://example.atlassian.net/browse/OPS-1".into()),
            wont_do_reason: None,
            completed_at: None,
            overdue: false,
            overdue_flagged_at: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            tracker: None,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_template_passes_its_own_validation() {
        validate(DEFAULT_TEMPLATE).expect("the default template validates");
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line() {
        let err = validate("# {{ incident.title }}\n\n{% for x in timeline %}\n{{ x.event }}\n")
            .expect_err("unclosed for");
        assert!(
            matches!(err, DomainError::Template { line: 4, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_misspelt_field_is_reported_with_its_line() {
        let err = validate("line one\n{{ postmortem.sumary }}\n").expect_err("undefined");
        assert!(
            matches!(err, DomainError::Template { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_runaway_template_is_stopped() {
        let err = validate(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .expect_err("out of fuel");
        assert!(matches!(err, DomainError::Template { .. }), "{err:?}");
    }
}
