//! What the HTTP server records for every request: the server span (continuing the
//! caller's W3C `traceparent`), and the request count and latency per matched route.
//!
//! Both are installed by [`crate::server::serve`] as route layers, so they see the
//! route template (`/api/v1/incidents/:id`), never the raw path: a label per incident
//! id would grow without bound. Requests no route matched are labelled `unmatched`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

/// The route label of a request: its route template with `:name` for each parameter
/// (`/api/v1/incidents/:id`: braces inside a label value trip simple exposition
/// parsers), or `unmatched`.
pub fn route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| route_label(p.as_str()))
}

/// `/api/v1/incidents/{id}` as `/api/v1/incidents/:id`.
pub fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}

/// The method label: the standard methods by name, anything else as `other`.
fn method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts the request and records its latency by method, matched route and status.
pub async fn record(request: Request, next: Next) -> Response {
    let method = method(request.method());
    let route = route(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// The server span of a request, a child of the caller's `traceparent` when it sends one.
pub fn span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method(request.method());
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(request.headers()))
    });
    // set_parent fails only when the span is disabled; nothing to do then.
    let _ = span.set_parent(parent);
    span
}

/// Records the status on the server span.
pub fn on_response(response: &Response, _latency: std::time::Duration, span: &tracing::Span) {
    span.record("http.response.status_code", response.status().as_u16());
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
