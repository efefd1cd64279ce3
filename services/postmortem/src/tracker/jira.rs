//! Jira's REST API, as Atlassian documents it: Jira Cloud's v3 with basic auth (account
//! email and API token) and Atlassian Document Format descriptions; Jira Server and Data
//! Center's v2 with a bearer personal access token and plain-text descriptions.
//!
//! - check: `GET /rest/api/{v}/myself`;
//! - file: `POST /rest/api/{v}/issue` with `fields.project.key`, `fields.issuetype.name`,
//!   `fields.summary`, `fields.description` and `fields.labels` (the marker), answered
//!   `201 {"id", "key", "self"}`;
//! - find by marker: JQL `labels = "<marker>"` (`GET /rest/api/3/search/jql` on Cloud, whose
//!   older `/search` Atlassian retired in 2025; `GET /rest/api/2/search` on Server);
//! - read: `GET /rest/api/{v}/issue/{key}?fields=status`; done is the status *category*
//!   `done` (every workflow's final statuses belong to it, whatever they are named).

use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{NewIssue, RemoteIssue, RemoteState, Tracker, TrackerError, call};
use super::{JiraFlavor, TrackerKind};

#[derive(Deserialize)]
struct Created {
    id: String,
    key: String,
}

#[derive(Deserialize)]
struct Issue {
    id: String,
    key: String,
    #[serde(default)]
    fields: Option<Fields>,
}

#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    name: String,
    #[serde(default, rename = "statusCategory")]
    category: Option<Category>,
}

#[derive(Deserialize)]
struct Category {
    key: String,
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    issues: Vec<Issue>,
}

fn version(tracker: &Tracker) -> &'static str {
    match tracker.jira_flavor {
        Some(JiraFlavor::Server) => "2",
        _ => "3",
    }
}

fn request(
    tracker: &Tracker,
    http: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, &str)],
) -> Result<reqwest::RequestBuilder, TrackerError> {
    let url = format!("{}/rest/api/{}{path}", tracker.base_url, version(tracker));
    let url = reqwest::Url::parse_with_params(&url, query).map_err(|e| TrackerError::Refused {
        tracker: TrackerKind::Jira,
        message: format!("{url} is not a URL: {e}"),
    })?;
    let builder = http
        .request(method, url)
        .header(reqwest::header::ACCEPT, "application/json");
    Ok(match (tracker.jira_flavor, &tracker.username) {
        (Some(JiraFlavor::Cloud), Some(email)) => {
            builder.basic_auth(email, Some(tracker.credential.expose_secret()))
        }
        _ => builder.bearer_auth(tracker.credential.expose_secret()),
    })
}

fn browse(tracker: &Tracker, key: &str) -> String {
    format!("{}/browse/{key}", tracker.base_url)
}

fn remote(tracker: &Tracker, issue: Issue) -> RemoteIssue {
    let status = issue.fields.and_then(|f| f.status);
    let state = match status.as_ref().and_then(|s| s.category.as_ref()) {
        Some(c) if c.key == "done" => RemoteState::Done,
        _ => RemoteState::Open,
    };
    RemoteIssue {
        url: browse(tracker, &issue.key),
        id: issue.id,
        key: issue.key,
        status: status.map(|s| s.name),
        state,
    }
}

/// `GET /myself`.
pub(super) async fn verify(tracker: &Tracker, http: &reqwest::Client) -> Result<(), TrackerError> {
    call::<Value>(
        TrackerKind::Jira,
        "verify",
        request(tracker, http, reqwest::Method::GET, "/myself", &[])?,
    )
    .await
    .map(drop)
}

/// The description: Atlassian Document Format on Cloud (v3 refuses a string), text on v2.
fn description(tracker: &Tracker, body: &str) -> Value {
    match tracker.jira_flavor {
        Some(JiraFlavor::Server) => Value::String(body.to_owned()),
        _ => json!({
            "type": "doc",
            "version": 1,
            "content": body
                .split("\n\n")
                .filter(|p| !p.trim().is_empty())
                .map(|p| json!({ "type": "paragraph", "content": [{ "type": "text", "text": p }] }))
                .collect::<Vec<_>>(),
        }),
    }
}

/// `POST /issue`.
pub(super) async fn create(
    tracker: &Tracker,
    http: &reqwest::Client,
    issue: &NewIssue,
) -> Result<RemoteIssue, TrackerError> {
    let body = json!({
        "fields": {
            "project": { "key": tracker.project },
            "issuetype": { "name": tracker.issue_type.as_deref().unwrap_or("Task") },
            "summary": issue.title,
            "description": description(tracker, &issue.body),
            "labels": [issue.marker],
        }
    });
    let created: Created = call(
        TrackerKind::Jira,
        "create",
        request(tracker, http, reqwest::Method::POST, "/issue", &[])?.json(&body),
    )
    .await?;
    Ok(RemoteIssue {
        url: browse(tracker, &created.key),
        id: created.id,
        key: created.key,
        status: None,
        state: RemoteState::Open,
    })
}

/// JQL `labels = "<marker>"`.
pub(super) async fn find(
    tracker: &Tracker,
    http: &reqwest::Client,
    marker: &str,
) -> Result<Option<RemoteIssue>, TrackerError> {
    let path = match tracker.jira_flavor {
        Some(JiraFlavor::Server) => "/search",
        _ => "/search/jql",
    };
    let jql = format!("labels = \"{marker}\"");
    let found: Search = call(
        TrackerKind::Jira,
        "find",
        request(
            tracker,
            http,
            reqwest::Method::GET,
            path,
            &[
                ("jql", jql.as_str()),
                ("fields", "status"),
                ("maxResults", "1"),
            ],
        )?,
    )
    .await?;
    Ok(found
        .issues
        .into_iter()
        .next()
        .map(|issue| remote(tracker, issue)))
}

/// `GET /issue/{key}?fields=status`.
pub(super) async fn get(
    tracker: &Tracker,
    http: &reqwest::Client,
    key: &str,
) -> Result<RemoteIssue, TrackerError> {
    let issue: Issue = call(
        TrackerKind::Jira,
        "get",
        request(
            tracker,
            http,
            reqwest::Method::GET,
            &format!("/issue/{}", urlencode(key)),
            &[("fields", "status")],
        )?,
    )
    .await?;
    Ok(remote(tracker, issue))
}

/// A path segment: Jira keys are `[A-Z][A-Z0-9_]*-[0-9]+`, but what comes back from a
/// tracker is not trusted to be one.
fn urlencode(segment: &str) -> String {
    segment
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}
