//! Writes the OpenAPI documents.
//!
//! - `openapi DIR`: every service's part (`core.json`, `ingestion.json`, `postmortem.json`,
//!   `sla-watchdog.json`)
//!   and the whole API (`incident.json`) into `DIR`, for validators and client generators
//!   (`deploy/dev/openapi-check`);
//! - `openapi --write`: rewrites the committed whole document core serves
//!   (`services/core/openapi.json`), run from the workspace root after an API change.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use incident_stack::openapi;

fn whole() -> anyhow::Result<String> {
    openapi::whole_json()
        .map_err(|problems| anyhow::anyhow!("the parts disagree:\n  {}", problems.join("\n  ")))
}

fn main() -> anyhow::Result<()> {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "--write" {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(openapi::COMMITTED);
        std::fs::write(&path, whole()?).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", openapi::COMMITTED);
        return Ok(());
    }
    if arg.is_empty() || arg.starts_with('-') {
        bail!("usage: openapi DIR | openapi --write");
    }
    let dir = PathBuf::from(arg);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, doc) in openapi::parts() {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let path = dir.join("incident.json");
    std::fs::write(&path, whole()?).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote the OpenAPI documents to {}", dir.display());
    Ok(())
}
