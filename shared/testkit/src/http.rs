//! HTTP in tests: a router served on a free port, and a client whose replies know how to
//! assert a problem document.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `127.0.0.1:0` until `shutdown` (or the test's runtime ends);
/// returns its base URL, `http://127.0.0.1:<port>`.
pub async fn serve(router: axum::Router, shutdown: CancellationToken) -> String {
    serve_built(|_| router, shutdown).await
}

/// Serves the router `build` makes of the base URL it will be served at (for a router
/// that hands out links to itself, such as a sign-in callback), until `shutdown`.
pub async fn serve_built(
    build: impl FnOnce(&str) -> axum::Router,
    shutdown: CancellationToken,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = build(&base);
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .expect("serve");
    });
    base
}

/// The status and JSON body of a response (`Null` when empty, a string when not JSON),
/// asserting that an error is `application/problem+json`.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = content_type(&response);
    let url = response.url().path().to_owned();
    let text = response.text().await.expect("body");
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            content_type, "application/problem+json",
            "{status} {url}: {text}"
        );
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// The `Content-Type` of `response` (empty when absent).
pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header (empty when absent).
    pub content_type: String,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Asserts an `application/problem+json` reply with `status` and `code` (the last
    /// segment of its `type`), returning the problem.
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        let problem = self.assert_any_problem();
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            problem["type"],
            Value::from(format!("https://incident.dev/problems/{code}")),
            "{problem}"
        );
        problem
    }

    /// Asserts a client-error problem document of any kind, returning it.
    pub fn assert_any_problem(&self) -> Value {
        assert!(
            (400..500).contains(&self.status),
            "expected a client error, got {} {}",
            self.status,
            self.text
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "{} {}",
            self.status, self.text
        );
        let problem = self.json();
        assert!(
            problem["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://incident.dev/problems/")),
            "{problem}"
        );
        assert_eq!(problem["status"], self.status, "{problem}");
        problem
    }
}

/// A client for one base URL.
#[derive(Debug, Clone)]
pub struct Client {
    /// `http://host:port`.
    pub base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for `addr`, with a 30 s timeout per request.
    pub fn new(addr: SocketAddr) -> Self {
        Self::for_base(format!("http://{addr}"))
    }

    /// A client for a base URL such as `http://127.0.0.1:8080`.
    pub fn for_base(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    /// A client for `base` over an existing `http` client (cheap: it shares its pool).
    pub fn with_http(base: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            base: base.into(),
            http,
        }
    }

    /// Sends `method path` with an optional bearer `token` and raw JSON `body`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = content_type(&response);
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            text,
        }
    }

    /// Calls with a bearer `token` and an optional JSON `body`; see [`read`].
    pub async fn json(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    /// The underlying client (for requests of other shapes: webhooks, form posts).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `call` with a JSON value as the body.
    pub async fn send(&self, method: Method, path: &str, token: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("json");
        self.call(method, path, Some(token), Some(bytes)).await
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }
}
