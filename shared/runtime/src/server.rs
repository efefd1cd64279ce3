//! Serving a router: bind, serve until shutdown, then let in-flight requests finish.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api::problem;

pub mod observe;

/// Binds the listening socket (port 0 picks a free one; tests use that).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the HTTP server to {addr}"))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, with a server span per
/// request continuing the caller's `traceparent`, request counts and latency per matched
/// route ([`observe`]), a request timeout, panics turned into 500s, and every error answered as
/// `application/problem+json` (unknown paths, wrong methods and the framework's own
/// rejections included).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, "HTTP server listening");
    let app = router
        .fallback(problem::no_route)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(problem::normalise))
        .layer(axum::middleware::from_fn(observe::record))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observe::span)
                .on_response(observe::on_response),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")
}
