//! Which API and token a command uses, and `login` / `logout`.
//!
//! `--url` / `INCIDENT_URL` and `--token` / `INCIDENT_TOKEN` win over the saved login.
//! The saved token is only ever sent to the saved URL: given another `--url` without a
//! token, the command refuses rather than hand the token to a host it was not issued for.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::api::{Api, normalise_url};
use crate::cli::Global;
use crate::config::{self, Login};
use crate::failure::Failure;
use crate::output::{Output, note};

/// The configuration file in use.
pub fn config_path(global: &Global) -> Result<PathBuf, Failure> {
    match &global.config {
        Some(path) => Ok(path.clone()),
        None => config::default_path(),
    }
}

fn timeout(global: &Global) -> Duration {
    Duration::from_secs(global.timeout.max(1))
}

/// The API the command talks to.
pub fn connect(global: &Global) -> Result<Api, Failure> {
    let saved = config::load(&config_path(global)?)?;
    let url = match (&global.url, &saved) {
        (Some(url), _) => normalise_url(url)?,
        (None, Some(saved)) => saved.url.clone(),
        (None, None) => return Err(not_logged_in()),
    };
    let token = match (&global.token, &saved) {
        (Some(token), _) => token.clone(),
        (None, Some(saved)) if saved.url == url => saved.token.clone(),
        (None, Some(saved)) => {
            return Err(Failure::Usage(format!(
                "the saved token is for {}, not {url}; pass --token or log in to {url}",
                saved.url
            )));
        }
        (None, None) => return Err(not_logged_in()),
    };
    Api::new(&url, &token, timeout(global))
}

fn not_logged_in() -> Failure {
    Failure::Usage(
        "not logged in: run `incident login --url URL`, or pass --url and --token".to_owned(),
    )
}

/// `login`: checks the token against the API (a one-incident list, which every role may
/// read) and saves it only when the API accepts it.
pub async fn login(global: &Global) -> Result<Output, Failure> {
    let url = global
        .url
        .as_deref()
        .ok_or_else(|| Failure::Usage("login needs --url (or INCIDENT_URL)".to_owned()))?;
    let url = normalise_url(url)?;
    let token = match &global.token {
        Some(token) => token.trim().to_owned(),
        None => read_token()?,
    };
    if token.is_empty() {
        return Err(Failure::Usage("the token is empty".to_owned()));
    }
    let api = Api::new(&url, &token, timeout(global))?;
    api.get("/api/v1/incidents?limit=1").await?;
    let path = config_path(global)?;
    config::save(
        &path,
        &Login {
            url: url.clone(),
            token,
        },
    )?;
    Ok(Output::Report {
        json: json!({ "url": url, "config": path }),
        human: format!("Logged in to {url} (saved in {})", path.display()),
    })
}

/// The token from stdin: one line.
fn read_token() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        note("API token (input is shown; paste it and press Enter):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Usage(format!("cannot read the token from stdin: {e}")))?;
    Ok(line.trim().to_owned())
}

/// `logout`: forgets the saved login (the token itself stays valid until an admin
/// revokes it).
pub fn logout(global: &Global) -> Result<Output, Failure> {
    let path = config_path(global)?;
    let removed = config::remove(&path)?;
    let human = if removed {
        format!("Logged out (removed {})", path.display())
    } else {
        "Not logged in.".to_owned()
    };
    Ok(Output::Report {
        json: json!({ "config": path, "removed": removed }),
        human,
    })
}
