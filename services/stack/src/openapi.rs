//! The whole API's OpenAPI document, merged from every service's part.
//!
//! Services do not depend on each other, so core (which serves the whole document at
//! `/api/v1/openapi.json`) cannot build it: the stack, which depends on all of them,
//! merges the parts, and the result is committed as `services/core/openapi.json` for core
//! to serve. The system test `openapi` fails when the committed file is stale; the example
//! `openapi` rewrites it (`cargo run -p incident-stack --example openapi -- --write`).

use utoipa::openapi::{Info, OpenApi};

/// Where the committed whole document lives, from the workspace root.
pub const COMMITTED: &str = "services/core/openapi.json";

/// Every service's part of the API, named as its file is.
pub fn parts() -> [(&'static str, OpenApi); 4] {
    [
        ("core", incident_core::http::openapi()),
        ("ingestion", incident_ingestion::http::openapi()),
        ("postmortem", incident_postmortem::http::openapi()),
        ("sla-watchdog", incident_sla_watchdog::http::openapi()),
    ]
}

/// The whole API: every part merged; the error lists each disagreement between parts.
pub fn whole() -> Result<OpenApi, Vec<String>> {
    let mut info = Info::new("incident", env!("CARGO_PKG_VERSION"));
    info.description = Some(
        "Incident management: the incident lifecycle, roles, timeline and administration \
         (core); alerts in, integrations and alert groups (ingestion); postmortems and \
         action items (postmortem); drill scenarios and runs (sla-watchdog). Errors are \
         application/problem+json."
            .to_owned(),
    );
    incident_runtime::api::openapi::merge(info, parts().into_iter().map(|(_, doc)| doc).collect())
}

/// The whole document as committed: pretty JSON with a final newline.
pub fn whole_json() -> Result<String, Vec<String>> {
    let doc = whole()?;
    let mut text = serde_json::to_string_pretty(&doc).map_err(|e| vec![e.to_string()])?;
    text.push('\n');
    Ok(text)
}
