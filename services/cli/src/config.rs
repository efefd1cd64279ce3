//! The saved login: the API's URL and a token in a TOML file only its owner can read.
//!
//! The file is `$XDG_CONFIG_HOME/incident/config.toml` (the platform's configuration
//! directory, through `etcetera`) unless `--config` names another. It is written whole
//! to a temporary file created with mode 0600 from the start (never created readable and
//! narrowed afterwards, which would leave a window), then renamed over the old one, so a
//! reader sees the old login or the new one and never half a file. Its directory is
//! created 0700.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// What `login` saves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The API's base URL, without a trailing slash.
    pub url: String,
    /// The API token.
    pub token: String,
}

/// The default configuration file.
pub fn default_path() -> Result<PathBuf, Failure> {
    let base = etcetera::choose_base_strategy().map_err(|e| {
        Failure::Usage(format!(
            "no configuration directory ({e}); pass --config, or --url and --token"
        ))
    })?;
    Ok(base.config_dir().join("incident").join("config.toml"))
}

/// The saved login at `path`, if there is one.
pub fn load(path: &Path) -> Result<Option<Login>, Failure> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::Local(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| Failure::Usage(format!("{} is not a valid login file: {e}", path.display())))
}

/// Saves `login` at `path`, replacing what was there, readable by its owner only.
pub fn save(path: &Path, login: &Login) -> Result<(), Failure> {
    let local = |what: &str, e: std::io::Error| Failure::Local(format!("cannot {what}: {e}"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| local(&format!("create {}", dir.display()), e))?;
    let text = toml::to_string(login)
        .map_err(|e| Failure::Local(format!("cannot encode the login: {e}")))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".to_owned());
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    if let Err(e) = written {
        // Best effort: the temporary file holds the token.
        let _ = fs::remove_file(&temporary);
        return Err(local(&format!("write {}", path.display()), e));
    }
    Ok(())
}

/// Removes the saved login; true when there was one.
pub fn remove(path: &Path) -> Result<bool, Failure> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::Local(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}
