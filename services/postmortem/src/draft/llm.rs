//! The optional LLM: an OpenAI-compatible chat-completions endpoint
//! (`INCIDENT_LLM_API_URL` + `/chat/completions`) drafts the summary and what-happened
//! sections from the timeline and the computed impact.
//!
//! Invariants:
//! - the template draft is always made first; the model only replaces sections it answered
//!   well, and any failure (timeout, an HTTP error, an answer that is not the JSON asked
//!   for, an empty section) leaves the template's text, with the reason recorded;
//! - a PRIVATE incident is never sent unless the workspace allows it
//!   (`llm_allow_private`), and internal timeline entries (`is_public = false`) are left
//!   out unless it allows them (`llm_allow_internal`). People's names are never sent.

use std::time::{Duration, Instant};

use incident_runtime::metrics::{LLM_CALL_DURATION, LLM_CALLS};
use tracing::Instrument as _;

use anyhow::Context as _;
use incident_runtime::Config;
use incident_schema::Visibility;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::facts::DraftFacts;
use super::impact::Impact;

/// How long a draft waits for the model before using the template.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// At most this many timeline entries are sent (the first and last halves).
const MAX_ENTRIES: usize = 300;

const INSTRUCTIONS: &str = "You write blameless incident postmortems. From the incident facts \
the user sends (JSON), write two sections in plain Markdown: `summary` (one paragraph: what \
broke, for whom, for how long, how it ended) and `what_happened` (a short chronological \
narrative in UTC). Use only the facts given; do not invent causes or names. Answer with one \
JSON object and nothing else: {\"summary\": \"...\", \"what_happened\": \"...\"}.";

/// A client for the chat-completions endpoint.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<SecretString>,
    timeout: Duration,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the model's answer was not used.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with an error status.
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    /// The request could not be made.
    #[error("request failed: {0}")]
    Transport(String),
    /// The answer is not the JSON asked for.
    #[error("the answer is not the JSON asked for: {0}")]
    InvalidJson(String),
    /// The answer has no text for any section.
    #[error("the answer is empty")]
    Empty,
}

impl LlmError {
    /// A stable code for the document's `generation` record.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Status(_) => "http_status",
            Self::Transport(_) => "transport",
            Self::InvalidJson(_) => "invalid_json",
            Self::Empty => "empty",
        }
    }
}

/// The sections the model wrote (none where it wrote nothing usable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlmSections {
    /// The summary.
    pub summary: Option<String>,
    /// What happened.
    pub what_happened: Option<String>,
}

impl LlmClient {
    /// A client for `base_url` (`/chat/completions` is appended) and `model`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(Self {
            http,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
            timeout,
        })
    }

    /// The client `config` asks for: none unless `INCIDENT_LLM_API_URL` is set, in which
    /// case `INCIDENT_LLM_MODEL` is required.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.llm_api_url else {
            return Ok(None);
        };
        let model = config.llm_model.as_deref().filter(|m| !m.trim().is_empty());
        let Some(model) = model else {
            anyhow::bail!(
                "configuration: INCIDENT_LLM_MODEL: must be set when INCIDENT_LLM_API_URL is"
            );
        };
        let client = Self::new(
            url,
            model.trim(),
            config.llm_api_key.clone(),
            DEFAULT_TIMEOUT,
        )
        .context("building the LLM HTTP client")?;
        Ok(Some(client))
    }

    /// The model name sent.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Asks the model for the sections described by `prompt`, in a client span, counted
    /// and timed by outcome.
    pub async fn draft(&self, prompt: &Value) -> Result<LlmSections, LlmError> {
        let span = tracing::info_span!(
            "llm",
            otel.name = "llm chat.completions",
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %self.model,
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self.ask(prompt).instrument(span.clone()).await;
        let outcome = result.as_ref().map_or_else(LlmError::code, |_| "ok");
        span.record("outcome", outcome);
        metrics::histogram!(LLM_CALL_DURATION, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(LLM_CALLS, "outcome" => outcome).increment(1);
        result
    }

    async fn ask(&self, prompt: &Value) -> Result<LlmSections, LlmError> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "messages": [
                { "role": "system", "content": INSTRUCTIONS },
                { "role": "user", "content": prompt.to_string() },
            ],
        });
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmError::Timeout(self.timeout)
            } else {
                LlmError::Transport(e.without_url().to_string())
            }
        };
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(LlmError::Status(status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(classify)?;
        parse_answer(&bytes)
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    what_happened: Option<String>,
}

/// Parses a chat-completions response body into the sections it carries.
pub fn parse_answer(body: &[u8]) -> Result<LlmSections, LlmError> {
    let completion: Completion =
        serde_json::from_slice(body).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .unwrap_or_default();
    let content = strip_fences(content.trim());
    if content.is_empty() {
        return Err(LlmError::Empty);
    }
    let answer: Answer =
        serde_json::from_str(content).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
    let keep = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let sections = LlmSections {
        summary: keep(answer.summary),
        what_happened: keep(answer.what_happened),
    };
    if sections.summary.is_none() && sections.what_happened.is_none() {
        return Err(LlmError::Empty);
    }
    Ok(sections)
}

/// Models often wrap JSON in a Markdown code fence despite being asked not to.
fn strip_fences(content: &str) -> &str {
    let Some(rest) = content.strip_prefix("```") else {
        return content;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// What may be sent about an incident, or why nothing may.
#[derive(Debug, Clone, PartialEq)]
pub enum Disclosure {
    /// Send this prompt.
    Send(Value),
    /// Send nothing, for this reason (a stable code).
    Withhold(&'static str),
}

#[derive(Serialize)]
struct PromptEntry<'a> {
    at: chrono::DateTime<chrono::Utc>,
    kind: incident_schema::TimelineKind,
    message: &'a str,
}

/// The prompt about `facts`, within what the workspace allows to leave the system.
pub fn disclosure(facts: &DraftFacts, impact: &Impact) -> Disclosure {
    let settings = &facts.settings;
    let i = &facts.incident;
    if i.visibility == Visibility::Private && !settings.llm_allow_private {
        return Disclosure::Withhold("private_incident");
    }
    let shown: Vec<PromptEntry<'_>> = facts
        .timeline
        .iter()
        .filter(|t| t.entry.is_public || settings.llm_allow_internal)
        .map(|t| PromptEntry {
            at: t.entry.occurred_at,
            kind: t.entry.kind,
            message: t.entry.message.as_str(),
        })
        .collect();
    let withheld = facts.timeline.len() - shown.len();
    let omitted = shown.len().saturating_sub(MAX_ENTRIES);
    let entries: Vec<&PromptEntry<'_>> = if omitted > 0 {
        let half = MAX_ENTRIES / 2;
        shown
            .iter()
            .take(half)
            .chain(shown.iter().skip(shown.len() - half))
            .collect()
    } else {
        shown.iter().collect()
    };
    Disclosure::Send(json!({
        "incident": {
            "reference": i.number.to_string(),
            "title": i.title,
            "severity": i.severity,
            "is_drill": i.is_drill,
            "description": i.description,
            "impact": i.impact,
            "root_cause": i.root_cause,
        },
        "impact": {
            "stages": impact.stages,
            "sla": impact.sla,
            "services": impact.services,
            "alert_groups": impact.alert_groups.iter().map(|g| json!({
                "title": g.title, "alerts": g.alerts, "opened_at": g.opened_at, "resolved_at": g.resolved_at,
            })).collect::<Vec<_>>(),
        },
        "timeline": entries,
        "timeline_entries_not_shown": withheld + omitted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: &str) -> Vec<u8> {
        json!({ "choices": [{ "message": { "role": "assistant", "content": content } }] })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_fenced_json_answer_is_accepted() {
        let body = completion("```json\n{\"summary\": \"S\", \"what_happened\": \"W\"}\n```");
        let sections = parse_answer(&body).expect("parses");
        assert_eq!(sections.summary.as_deref(), Some("S"));
        assert_eq!(sections.what_happened.as_deref(), Some("W"));
    }

    #[test]
    fn prose_instead_of_json_and_blank_sections_are_refused() {
        assert!(matches!(
            parse_answer(&completion("Here is your postmortem!")),
            Err(LlmError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_answer(&completion(
                "{\"summary\": \"  \", \"what_happened\": \"\"}"
            )),
            Err(LlmError::Empty)
        ));
        assert!(matches!(
            parse_answer(b"not json"),
            Err(LlmError::InvalidJson(_))
        ));
    }

    #[test]
    fn one_usable_section_is_kept_alone() {
        let sections = parse_answer(&completion(
            "{\"summary\": \"S\", \"what_happened\": \" \"}",
        ))
        .expect("parses");
        assert_eq!(sections.what_happened, None);
        assert_eq!(sections.summary.as_deref(), Some("S"));
    }
}
