//! [`Api`]: the public HTTP API as the CLI calls it: bearer token, a timeout,
//! `User-Agent: incident-cli/<version>`, JSON in and out, and every failure mapped to a
//! [`Failure`] (and so to an exit code) in one place.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::failure::Failure;

/// How long to wait for a connection, whatever `--timeout` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one API with one token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// Its status (a declare's retry answers 200 where the first answered 201).
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self, url: &str) -> Result<Value, Failure> {
        serde_json::from_str(&self.body).map_err(|e| Failure::Unexpected {
            url: url.to_owned(),
            reason: format!("not JSON: {e}"),
        })
    }
}

impl Api {
    /// A client of the API at `base` (e.g. `https://incidents.example.com`).
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("incident-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .build()
            .map_err(|e| Failure::Usage(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            base: normalise_url(base)?,
            token: token.to_owned(),
            http,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` with the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// Sends `request`; a 2xx is an [`Answer`], anything else a [`Failure`].
    pub async fn send(&self, request: RequestBuilder, path: &str) -> Result<Answer, Failure> {
        let url = self.url(path);
        let response = request.send().await.map_err(|e| network(&url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| network(&url, e))?;
        if status.is_success() {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        // The API answers every error with problem+json; anything else (a proxy's page)
        // is kept as text.
        let problem = serde_json::from_str(&body).unwrap_or(Value::String(body));
        Err(Failure::Api {
            status: status.as_u16(),
            problem,
        })
    }

    /// GET `path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        let answer = self.send(self.request(Method::GET, path), path).await?;
        answer.json(&self.url(path))
    }

    /// `method` `path` with a JSON `body`; the answer as JSON.
    pub async fn call(&self, method: Method, path: &str, body: &Value) -> Result<Value, Failure> {
        let answer = self
            .send(self.request(method, path).json(body), path)
            .await?;
        answer.json(&self.url(path))
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::POST, path, body).await
    }
}

/// `url` without trailing slashes, refused unless it is `http(s)://…`.
pub fn normalise_url(url: &str) -> Result<String, Failure> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| Failure::Usage(format!("--url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Failure::Usage(format!(
            "--url {url:?} must be an http:// or https:// address"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A transport failure with its causes (reqwest's own message alone says only "error
/// sending request"; the URL is said once, by [`Failure::Network`]).
fn network(url: &str, error: reqwest::Error) -> Failure {
    if error.is_builder() {
        // The request could not be built (a header value, a URL): nothing was sent.
        return Failure::Usage(format!("cannot send a request to {url}: {error}"));
    }
    let timed_out = error.is_timeout();
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if timed_out {
        reason = format!("timed out ({reason})");
    }
    Failure::Network {
        url: url.to_owned(),
        reason,
    }
}
