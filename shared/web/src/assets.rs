//! The static assets: the stylesheet, the enhancement script and htmx, compiled into
//! the binary (no build step, nothing fetched at run time, never a CDN).
//!
//! Each is served under a name carrying its content's hash (htmx under its release), so
//! a changed file is a new URL and every response can be cached for a year as
//! `immutable`. Pages link them through [`ASSETS`].

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// htmx 2.0.11 (0BSD), taken once from the npm registry (`npm pack htmx.org@2`).
const HTMX: &[u8] = include_bytes!("../static/htmx-2.0.11.min.js");
const HTMX_NAME: &str = "htmx-2.0.11.min.js";
const CSS: &[u8] = include_bytes!("../static/app.css");
const JS: &[u8] = include_bytes!("../static/app.js");

/// Where the assets are served.
pub const PREFIX: &str = "/ui/assets";

/// The URLs pages link the assets by.
#[derive(Debug)]
pub struct Assets {
    /// The stylesheet.
    pub css: String,
    /// The enhancement script (local times, live regions).
    pub js: String,
    /// htmx.
    pub htmx: String,
}

fn hashed(stem: &str, ext: &str, content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{short}.{ext}")
}

static NAMES: LazyLock<(String, String)> =
    LazyLock::new(|| (hashed("app", "css", CSS), hashed("app", "js", JS)));

/// The asset URLs.
pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: format!("{PREFIX}/{}", NAMES.0),
    js: format!("{PREFIX}/{}", NAMES.1),
    htmx: format!("{PREFIX}/{HTMX_NAME}"),
});

/// A year, the longest `max-age` caches honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = if name == HTMX_NAME {
        (HTMX, "text/javascript; charset=utf-8")
    } else if name == NAMES.0 {
        (CSS, "text/css; charset=utf-8")
    } else if name == NAMES.1 {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "no such asset",
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The asset routes, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{PREFIX}/{{name}}"), get(serve))
}
