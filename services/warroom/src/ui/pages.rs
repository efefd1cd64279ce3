//! The settings page's template and the plain data it renders, so the snapshot test
//! renders it from fixed data.

use askama::Template;
use incident_web::Shell;
#[allow(unused_imports, reason = "the shared layout names sections")]
use incident_web::shell::Section;
pub use incident_web::view::{Choice, When};

/// The workspace's Slack installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackState {
    /// Installed in a Slack team.
    Installed {
        /// The team (`T…`).
        team_id: String,
        /// The bot's user there.
        bot_user_id: String,
        /// When it was (last re)installed.
        installed: When,
    },
    /// Installed once, then removed or its token revoked.
    Uninstalled {
        /// The team it was in.
        team_id: String,
        /// `app_uninstalled` or `tokens_revoked`.
        reason: String,
        /// When Slack told us.
        at: When,
    },
    /// Not installed; the server's one bot token serves it.
    SingleToken,
    /// Not installed, and no bot token.
    None,
}

impl SlackState {
    /// Whether it is installed now.
    pub fn is_installed(&self) -> bool {
        matches!(self, Self::Installed { .. })
    }
}

/// `/ui/settings/war-room`.
#[derive(Template)]
#[template(path = "ui/warroom_settings.html")]
pub struct SettingsPage {
    /// The shell.
    pub shell: Shell,
    /// The Slack installation.
    pub slack: SlackState,
    /// `/slack/install?workspace=<id>`, when installing per workspace is configured.
    pub install_url: Option<String>,
    /// The severities, those that get a channel checked.
    pub severities: Vec<Choice>,
    /// Drills get one.
    pub drills: bool,
    /// Closing archives the channel.
    pub archive_on_close: bool,
    /// The announcement channel's id, or empty.
    pub announcement_channel: String,
    /// Just saved.
    pub saved: bool,
    /// Why an install from this browser just failed (its message).
    pub install_error: Option<&'static str>,
    /// Why the form was refused.
    pub error: Option<String>,
}
