//! The page shell: what every page's template gets ([`Shell`]) to fill the layout
//! (`templates/layout.html`: skip link, navigation by role, the settings pages' own
//! navigation, sign-out form, assets), and
//! the helpers turning a template into a response.
//!
//! The role decides what the navigation offers; each page decides the same for its own
//! controls through [`Viewer::can_write`] and [`Viewer::is_admin`], so a viewer is never
//! shown a button it cannot use.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use incident_schema::AccessRole;

use crate::assets::{ASSETS, Assets};

/// Who is signed in, as the pages show and ask it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Their name (the user's, or the token's for a token without one).
    pub name: String,
    /// Their role, as text.
    pub role: String,
    /// May declare and work incidents (responder or admin).
    pub can_write: bool,
    /// May change the workspace's settings.
    pub is_admin: bool,
}

impl Viewer {
    /// The viewer `name` with `role`.
    pub fn new(name: String, role: AccessRole) -> Self {
        Self {
            name,
            role: role.to_string(),
            can_write: role.includes(AccessRole::Responder),
            is_admin: role.includes(AccessRole::Admin),
        }
    }
}

/// A section of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The incident list and pages.
    Incidents,
    /// The declare form.
    Declare,
    /// Postmortems (served by the postmortem service).
    Postmortems,
    /// Action items across postmortems (served by the postmortem service).
    ActionItems,
    /// Analytics.
    Analytics,
    /// Alert groups (served by ingestion).
    AlertGroups,
    /// Drill scenarios and runs (served by the SLA watchdog).
    Drills,
    /// Integrations (served by ingestion).
    Integrations,
    /// The war room's settings (served by the war room).
    WarRoomSettings,
    /// The postmortem settings: draft trigger, LLM, template, issue tracker (served by
    /// the postmortem service).
    PostmortemSettings,
    /// The status page setting (the first settings page, where the navigation's
    /// "Settings" goes).
    Settings,
    /// The workspace's users (admins).
    Users,
    /// The workspace's API tokens (admins).
    Tokens,
    /// The SLA policies (admins).
    SlaPolicies,
    /// Public pages and sign-in: no navigation.
    None,
}

impl Section {
    /// Whether this is one of the settings pages (the navigation's one "Settings" entry
    /// is current, and the layout shows the settings' own navigation above the page).
    pub const fn is_settings(self) -> bool {
        matches!(
            self,
            Self::Settings
                | Self::WarRoomSettings
                | Self::PostmortemSettings
                | Self::Users
                | Self::Tokens
                | Self::SlaPolicies
        )
    }
}

/// What the layout needs from every page.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The page's title (the `<title>` says "… · incident").
    pub title: String,
    /// Who is signed in; none on the login and public pages.
    pub viewer: Option<Viewer>,
    /// The session's CSRF token (for the sign-out form and the page's own forms).
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: Section,
    /// The asset URLs.
    pub assets: &'static Assets,
}

impl Shell {
    /// The shell of a signed-in page.
    pub fn signed_in(
        title: impl Into<String>,
        session: &crate::WebSession,
        section: Section,
    ) -> Self {
        Self {
            title: title.into(),
            viewer: Some(session.viewer.clone()),
            csrf: session.csrf.clone(),
            section,
            assets: &ASSETS,
        }
    }

    /// The shell of a page without a session (sign-in, public pages, errors).
    pub fn public(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            viewer: None,
            csrf: String::new(),
            section: Section::None,
            assets: &ASSETS,
        }
    }

    /// Whether `section` is the current one (for `aria-current`).
    pub fn is(&self, section: Section) -> bool {
        self.section == section
    }

    /// Whether the page is a settings page (see [`Section::is_settings`]).
    pub fn in_settings(&self) -> bool {
        self.section.is_settings()
    }

    /// Whether the viewer may write.
    pub fn can_write(&self) -> bool {
        self.viewer.as_ref().is_some_and(|v| v.can_write)
    }

    /// Whether the viewer is an admin.
    pub fn is_admin(&self) -> bool {
        self.viewer.as_ref().is_some_and(|v| v.is_admin)
    }
}

/// Renders `template` as a 200 HTML page (a 500 page if rendering fails). Pages of a
/// session are private to it and never stored by caches.
pub fn render<T: Template>(template: &T) -> Response {
    render_status(StatusCode::OK, template)
}

/// Renders `template` as an HTML page with `status`.
pub fn render_status<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [(header::CACHE_CONTROL, "private, no-store")],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The shell.
    pub shell: Shell,
    /// The status, as `404 Not Found`.
    pub status: String,
    /// What went wrong, for people.
    pub message: String,
}

/// An HTML error page with `status` and `message`.
pub fn error_page(status: StatusCode, shell: Option<Shell>, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let page = ErrorPage {
        shell: shell.unwrap_or_else(|| Shell::public(title.clone())),
        status: format!("{} {title}", status.as_u16()),
        message: message.to_owned(),
    };
    render_status(status, &page)
}

/// Percent-encodes `value` for a query string.
pub fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
