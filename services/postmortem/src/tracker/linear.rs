//! Linear's GraphQL API, as Linear documents it: `POST https://api.linear.app/graphql`
//! with `{"query", "variables"}`; a personal API key (`lin_api_…`) goes in `Authorization`
//! as it is, an OAuth access token after `Bearer`. Errors come back as `{"errors": [...]}`,
//! with HTTP 200 or 400.
//!
//! - check: `viewer { id }`;
//! - file: `issueCreate(input: {teamId, title, description, priority, dueDate})`;
//! - find by marker: `issues(filter: {description: {contains: marker}})`;
//! - read: `issue(id)`; done is the state *type* `completed`, abandoned `canceled`
//!   (teams name their states freely; the types are fixed).

use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::TrackerKind;
use super::client::{NewIssue, RemoteIssue, RemoteState, Tracker, TrackerError, call};

const ISSUE_FIELDS: &str = "id identifier url state { name type }";

#[derive(Deserialize)]
struct Answer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct GraphQlError {
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

#[derive(Deserialize)]
struct Issue {
    id: String,
    identifier: String,
    url: String,
    #[serde(default)]
    state: Option<State>,
}

#[derive(Deserialize)]
struct State {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

impl From<Issue> for RemoteIssue {
    fn from(issue: Issue) -> Self {
        let state = match issue.state.as_ref().map(|s| s.kind.as_str()) {
            Some("completed") => RemoteState::Done,
            Some("canceled") => RemoteState::Canceled,
            _ => RemoteState::Open,
        };
        Self {
            id: issue.id,
            key: issue.identifier,
            url: issue.url,
            status: issue.state.map(|s| s.name),
            state,
        }
    }
}

/// One GraphQL request; `errors` in the answer are a refusal (or an authentication
/// failure, by the error's `extensions.code`).
async fn query<T: DeserializeOwned>(
    tracker: &Tracker,
    http: &reqwest::Client,
    operation: &'static str,
    query: &str,
    variables: Value,
) -> Result<T, TrackerError> {
    let key = tracker.credential.expose_secret();
    let authorization = if key.starts_with("lin_api_") {
        key.to_owned()
    } else {
        format!("Bearer {key}")
    };
    let request = http
        .post(&tracker.base_url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .json(&json!({ "query": query, "variables": variables }));
    let answer: Answer<T> = call(TrackerKind::Linear, operation, request).await?;
    if let Some(error) = answer.errors.first() {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if code == "AUTHENTICATION_ERROR" || code == "FORBIDDEN" {
            return Err(TrackerError::Unauthorized {
                tracker: TrackerKind::Linear,
                status: 200,
            });
        }
        return Err(TrackerError::Refused {
            tracker: TrackerKind::Linear,
            message: error.message.clone(),
        });
    }
    answer.data.ok_or_else(|| TrackerError::Refused {
        tracker: TrackerKind::Linear,
        message: "an answer with neither data nor errors".into(),
    })
}

fn missing(what: &str) -> TrackerError {
    TrackerError::Refused {
        tracker: TrackerKind::Linear,
        message: format!("the answer has no {what}"),
    }
}

/// `viewer { id }`.
pub(super) async fn verify(tracker: &Tracker, http: &reqwest::Client) -> Result<(), TrackerError> {
    #[derive(Deserialize)]
    struct Data {
        viewer: Option<Value>,
    }
    let data: Data = query(
        tracker,
        http,
        "verify",
        "query { viewer { id } }",
        json!({}),
    )
    .await?;
    data.viewer.map(drop).ok_or_else(|| missing("viewer"))
}

/// `issueCreate`.
pub(super) async fn create(
    tracker: &Tracker,
    http: &reqwest::Client,
    issue: &NewIssue,
) -> Result<RemoteIssue, TrackerError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "issueCreate")]
        issue_create: Payload,
    }
    #[derive(Deserialize)]
    struct Payload {
        success: bool,
        issue: Option<Issue>,
    }
    let mut input = json!({
        "teamId": tracker.project,
        "title": issue.title,
        "description": format!("{}\n\n{}", issue.body, issue.marker),
        "priority": issue.priority,
    });
    if let Some(due) = &issue.due_date {
        input["dueDate"] = Value::String(due.clone());
    }
    let data: Data = query(
        tracker,
        http,
        "create",
        &format!(
            "mutation IssueCreate($input: IssueCreateInput!) {{ issueCreate(input: $input) {{ success issue {{ {ISSUE_FIELDS} }} }} }}"
        ),
        json!({ "input": input }),
    )
    .await?;
    match data.issue_create {
        Payload {
            success: true,
            issue: Some(issue),
        } => Ok(issue.into()),
        _ => Err(missing("created issue")),
    }
}

/// `issues(filter: {description: {contains: marker}})`.
pub(super) async fn find(
    tracker: &Tracker,
    http: &reqwest::Client,
    marker: &str,
) -> Result<Option<RemoteIssue>, TrackerError> {
    #[derive(Deserialize)]
    struct Data {
        issues: Nodes,
    }
    #[derive(Deserialize)]
    struct Nodes {
        nodes: Vec<Issue>,
    }
    let data: Data = query(
        tracker,
        http,
        "find",
        &format!(
            "query IssueByMarker($marker: String!) {{ issues(first: 1, filter: {{ description: {{ contains: $marker }} }}) {{ nodes {{ {ISSUE_FIELDS} }} }} }}"
        ),
        json!({ "marker": marker }),
    )
    .await?;
    Ok(data.issues.nodes.into_iter().next().map(RemoteIssue::from))
}

/// `issue(id)`.
pub(super) async fn get(
    tracker: &Tracker,
    http: &reqwest::Client,
    id: &str,
) -> Result<RemoteIssue, TrackerError> {
    #[derive(Deserialize)]
    struct Data {
        issue: Option<Issue>,
    }
    let data: Data = query(
        tracker,
        http,
        "get",
        &format!("query Issue($id: String!) {{ issue(id: $id) {{ {ISSUE_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await?;
    data.issue
        .map(RemoteIssue::from)
        .ok_or_else(|| missing("issue"))
}
