//! The calls made to a workspace's tracker, whichever it is: check the credentials, file
//! an issue, find one filed earlier by its marker, read one's state. [`jira`](super::jira)
//! and [`linear`](super::linear) speak the vendors' documented APIs; this module holds
//! what they share (the request, its timing and metrics, the errors).

use std::time::{Duration, Instant};

use incident_runtime::metrics::{TRACKER_CALL_DURATION, TRACKER_CALLS};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::{JiraFlavor, TrackerKind};

/// How long one call to a tracker may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Longest piece of a refusal's body kept in an error.
const MAX_BODY: usize = 500;

/// A workspace's tracker with its opened credential.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// Jira or Linear.
    pub kind: TrackerKind,
    /// The site (Jira) or GraphQL endpoint (Linear), without a trailing `/`.
    pub base_url: String,
    /// Jira's flavour (REST v3 with basic auth, or v2 with a bearer token).
    pub jira_flavor: Option<JiraFlavor>,
    /// Jira Cloud's account email.
    pub username: Option<String>,
    /// The API token, personal access token or API key.
    pub credential: SecretString,
    /// Jira project key or Linear team id.
    pub project: String,
    /// Jira issue type name.
    pub issue_type: Option<String>,
}

/// What to file.
#[derive(Debug, Clone)]
pub struct NewIssue {
    /// The issue's title (the action item's description, shortened).
    pub title: String,
    /// Its body, plain text.
    pub body: String,
    /// The unique marker that finds it again (a Jira label, a line of Linear's body).
    pub marker: String,
    /// Linear's priority, 1 (urgent) to 4 (low).
    pub priority: u8,
    /// When it is due (`YYYY-MM-DD`), for trackers that take it on creation (Linear).
    pub due_date: Option<String>,
}

/// A remote issue as the tracker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIssue {
    /// The tracker's id.
    pub id: String,
    /// What people call it: `OPS-12`, `ENG-12`.
    pub key: String,
    /// Its web page.
    pub url: String,
    /// The state's name (`In Progress`), if the answer carried it.
    pub status: Option<String>,
    /// What the state means here.
    pub state: RemoteState,
}

/// A remote state, as far as an action item cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteState {
    /// Not finished (or not known yet).
    Open,
    /// Finished: Jira's status category `done`, Linear's state type `completed`.
    Done,
    /// Abandoned: Linear's state type `canceled` (Jira has no such category).
    Canceled,
}

/// Why a call to a tracker failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// It could not be reached or did not answer in time.
    #[error("{tracker} could not be reached: {message}")]
    Unreachable {
        /// Jira or Linear.
        tracker: TrackerKind,
        /// The transport's error.
        message: String,
    },
    /// It refused the credentials (401, 403).
    #[error("{tracker} refused the credentials (HTTP {status})")]
    Unauthorized {
        /// Jira or Linear.
        tracker: TrackerKind,
        /// The status it answered.
        status: u16,
    },
    /// It refused the request, or answered what its API does not document.
    #[error("{tracker} refused the request: {message}")]
    Refused {
        /// Jira or Linear.
        tracker: TrackerKind,
        /// The status and what it said (shortened).
        message: String,
    },
}

/// One call: sends `request`, times it, counts it by `operation` and outcome, and parses a
/// 2xx answer as `T`.
pub(super) async fn call<T: DeserializeOwned>(
    tracker: TrackerKind,
    operation: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<T, TrackerError> {
    let started = Instant::now();
    let result = send(tracker, request).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(TrackerError::Unreachable { .. }) => "unreachable",
        Err(TrackerError::Unauthorized { .. }) => "unauthorized",
        Err(TrackerError::Refused { .. }) => "refused",
    };
    let labels = [
        ("tracker", tracker.as_str()),
        ("operation", operation),
        ("outcome", outcome),
    ];
    metrics::counter!(TRACKER_CALLS, &labels).increment(1);
    metrics::histogram!(TRACKER_CALL_DURATION, &labels).record(started.elapsed().as_secs_f64());
    result
}

async fn send<T: DeserializeOwned>(
    tracker: TrackerKind,
    request: reqwest::RequestBuilder,
) -> Result<T, TrackerError> {
    let response =
        request
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| TrackerError::Unreachable {
                tracker,
                message: e.to_string(),
            })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| TrackerError::Unreachable {
            tracker,
            message: e.to_string(),
        })?;
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(TrackerError::Unauthorized {
            tracker,
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(TrackerError::Refused {
            tracker,
            message: format!("HTTP {}: {}", status.as_u16(), shorten(&body)),
        });
    }
    serde_json::from_slice(&body).map_err(|e| TrackerError::Refused {
        tracker,
        message: format!(
            "an answer its API does not document ({e}): {}",
            shorten(&body)
        ),
    })
}

/// The first [`MAX_BODY`] characters of a body, for an error message.
pub(super) fn shorten(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(MAX_BODY)
        .collect()
}

impl Tracker {
    /// Checks that the tracker takes the credentials (Jira's `myself`, Linear's `viewer`).
    pub async fn verify(&self, http: &reqwest::Client) -> Result<(), TrackerError> {
        match self.kind {
            TrackerKind::Jira => super::jira::verify(self, http).await,
            TrackerKind::Linear => super::linear::verify(self, http).await,
        }
    }

    /// Files `issue`.
    pub async fn create(
        &self,
        http: &reqwest::Client,
        issue: &NewIssue,
    ) -> Result<RemoteIssue, TrackerError> {
        match self.kind {
            TrackerKind::Jira => super::jira::create(self, http, issue).await,
            TrackerKind::Linear => super::linear::create(self, http, issue).await,
        }
    }

    /// The issue an earlier attempt filed with `marker`, if it did.
    pub async fn find(
        &self,
        http: &reqwest::Client,
        marker: &str,
    ) -> Result<Option<RemoteIssue>, TrackerError> {
        match self.kind {
            TrackerKind::Jira => super::jira::find(self, http, marker).await,
            TrackerKind::Linear => super::linear::find(self, http, marker).await,
        }
    }

    /// The issue `id` (Jira's key or id, Linear's id) as it is now.
    pub async fn get(&self, http: &reqwest::Client, id: &str) -> Result<RemoteIssue, TrackerError> {
        match self.kind {
            TrackerKind::Jira => super::jira::get(self, http, id).await,
            TrackerKind::Linear => super::linear::get(self, http, id).await,
        }
    }
}
