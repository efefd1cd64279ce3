//! [`Failure`]: why a command did not succeed, and the exit code a script reads from it.
//!
//! The codes are a contract (listed in `incident --help` and the README): 0 success,
//! 1 the API refused (4xx), 2 usage error (also clap's own), 3 not found (404),
//! 4 authentication or permission (401, 403), 5 server or network error (5xx, a refused
//! connection, a timeout). A problem document the API sent is kept whole, so `--json`
//! can hand it on unchanged.

use std::process::ExitCode;

use serde_json::{Value, json};

/// The API refused the request (4xx other than 401, 403, 404), or a local file failed.
pub const REFUSED: u8 = 1;
/// Bad arguments or a missing login (clap uses 2 for its own usage errors too).
pub const USAGE: u8 = 2;
/// Nothing by that name (404, or no user with that email).
pub const NOT_FOUND: u8 = 3;
/// The token is missing, invalid or not allowed to do this (401, 403).
pub const AUTH: u8 = 4;
/// The server failed (5xx) or could not be reached.
pub const UNAVAILABLE: u8 = 5;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The API answered with an error status; `problem` is its body (a problem document,
    /// or whatever it sent).
    #[error("{}", api_message(*status, problem))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The body.
        problem: Value,
    },
    /// The API could not be reached, or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// What was asked.
        url: String,
        /// Why it failed, with its causes.
        reason: String,
    },
    /// The API answered 2xx with a body this CLI cannot read.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// What was asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The command line or the saved login is not usable.
    #[error("{0}")]
    Usage(String),
    /// Something named on the command line does not exist (found by the CLI, not a 404).
    #[error("{0}")]
    NotFound(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Local(String),
}

impl Failure {
    /// The exit code scripts see.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Api { status, .. } => match status {
                401 | 403 => AUTH,
                404 => NOT_FOUND,
                400..=499 => REFUSED,
                _ => UNAVAILABLE,
            },
            Self::Network { .. } | Self::Unexpected { .. } => UNAVAILABLE,
            Self::Usage(_) => USAGE,
            Self::NotFound(_) => NOT_FOUND,
            Self::Local(_) => REFUSED,
        }
    }

    /// What `--json` prints on stderr: the API's problem document as sent, or a document
    /// of the same shape for failures the CLI found itself (`type` under
    /// `urn:incident-cli:`, so it cannot be taken for one of the API's types).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Api { problem, .. } if problem.is_object() => problem.clone(),
            Self::Api { status, problem } => json!({
                "type": "about:blank",
                "status": status,
                "title": "Unexpected error response",
                "detail": problem,
            }),
            other => json!({
                "type": format!("urn:incident-cli:{}", other.kind()),
                "title": other.kind_title(),
                "detail": other.to_string(),
            }),
        }
    }

    /// The process exit code.
    pub fn exit(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::Network { .. } => "network",
            Self::Unexpected { .. } => "unexpected-answer",
            Self::Usage(_) => "usage",
            Self::NotFound(_) => "not-found",
            Self::Local(_) => "local-file",
        }
    }

    fn kind_title(&self) -> &'static str {
        match self {
            Self::Api { .. } => "API error",
            Self::Network { .. } => "Network error",
            Self::Unexpected { .. } => "Unexpected answer",
            Self::Usage(_) => "Usage error",
            Self::NotFound(_) => "Not found",
            Self::Local(_) => "Local file error",
        }
    }
}

/// `<title>: <detail>` from a problem document, with its `type`, offending field and
/// allowed values on the lines after, as a person reads it.
fn api_message(status: u16, problem: &Value) -> String {
    let text = |key: &str| problem.get(key).and_then(Value::as_str);
    let Some(title) = text("title") else {
        // Not the API's problem document: a proxy's page, or nothing.
        return match problem.as_str().map(str::trim) {
            Some("") => format!("the server answered {status} with an empty body"),
            Some(body) => format!("the server answered {status}: {body}"),
            None => format!("the server answered {status}: {problem}"),
        };
    };
    let mut message = match text("detail") {
        Some(detail) if !detail.is_empty() => format!("{title}: {detail}"),
        _ => title.to_owned(),
    };
    if let Some(field) = text("field") {
        message.push_str(&format!("\n  field: {field}"));
    }
    if let Some(allowed) = problem.get("allowed").and_then(Value::as_array) {
        let allowed: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        message.push_str(&format!("\n  allowed: {}", allowed.join(", ")));
    }
    if let Some(kind) = text("type") {
        message.push_str(&format!("\n  type: {kind}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn api(status: u16) -> Failure {
        Failure::Api {
            status,
            problem: json!({ "type": "https://incident.dev/problems/x", "title": "T", "status": status, "detail": "D" }),
        }
    }

    #[test]
    fn each_status_class_has_its_exit_code() {
        assert_eq!(api(401).exit_code(), AUTH);
        assert_eq!(api(403).exit_code(), AUTH);
        assert_eq!(api(404).exit_code(), NOT_FOUND);
        assert_eq!(api(409).exit_code(), REFUSED);
        assert_eq!(api(422).exit_code(), REFUSED);
        assert_eq!(api(500).exit_code(), UNAVAILABLE);
        assert_eq!(api(503).exit_code(), UNAVAILABLE);
        assert_eq!(Failure::Usage("u".into()).exit_code(), USAGE);
    }

    #[test]
    fn a_problem_reads_as_title_detail_and_type() {
        assert_eq!(
            api(404).to_string(),
            "T: D\n  type: https://incident.dev/problems/x"
        );
    }
}
