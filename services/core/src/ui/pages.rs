//! The pages' templates and the plain data they render (strings and flags, built from
//! the domain's views by [`super::incidents`] and [`super::status_page`]), so the
//! snapshot tests can render every page from fixed data.

use askama::Template;
use incident_web::Shell;
use incident_web::shell::Section;

pub use incident_web::view::{Choice, When};

/// One incident in the list.
#[derive(Debug, Clone)]
pub struct ListRow {
    /// `INC-42`.
    pub reference: String,
    /// Its title.
    pub title: String,
    /// `SEV1`...
    pub severity: String,
    /// `INVESTIGATING`...
    pub status: String,
    /// The affected services, comma-separated.
    pub services: String,
    /// A drill.
    pub drill: bool,
    /// PRIVATE.
    pub private: bool,
    /// When it was declared.
    pub created: When,
}

/// The list's filters as the form shows them.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Status choices.
    pub statuses: Vec<Choice>,
    /// Severity choices.
    pub severities: Vec<Choice>,
    /// Drill choices (`""`, `true`, `false`).
    pub drills: Vec<Choice>,
    /// The service filter.
    pub service: String,
    /// The text filter.
    pub q: String,
}

/// `/ui/incidents`.
#[derive(Template)]
#[template(path = "ui/list.html")]
pub struct ListPage {
    /// The shell.
    pub shell: Shell,
    /// The filters.
    pub filters: Filters,
    /// The incidents, newest first.
    pub rows: Vec<ListRow>,
    /// The next page's URL.
    pub next: Option<String>,
    /// This list's rows fragment (same query), for live refreshes.
    pub refresh: String,
}

/// The rows of the list alone (the live region's refresh).
#[derive(Template)]
#[template(path = "ui/list_rows.html")]
pub struct ListRows {
    /// The incidents.
    pub rows: Vec<ListRow>,
    /// The next page's URL.
    pub next: Option<String>,
}

/// One affected service row of the declare form.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    /// Its index (field names `service_N`, `impact_N`).
    pub index: usize,
    /// The name typed.
    pub name: String,
    /// Impact choices.
    pub impacts: Vec<Choice>,
}

/// `/ui/incidents/new`.
#[derive(Template)]
#[template(path = "ui/declare.html")]
pub struct DeclarePage {
    /// The shell.
    pub shell: Shell,
    /// Why the last attempt was refused.
    pub error: Option<String>,
    /// The title typed.
    pub title: String,
    /// The description typed.
    pub description: String,
    /// Severity choices.
    pub severities: Vec<Choice>,
    /// Service rows.
    pub services: Vec<ServiceInput>,
    /// A drill.
    pub drill: bool,
    /// PRIVATE.
    pub private: bool,
}

/// A role of the incident and its holder.
#[derive(Debug, Clone)]
pub struct RoleRow {
    /// `commander`...
    pub key: String,
    /// `Incident Commander`...
    pub title: String,
    /// The holder's name.
    pub holder: Option<String>,
    /// People to assign (the holder selected).
    pub people: Vec<Choice>,
}

/// The incident's header: what the live region refreshes besides the timeline.
#[derive(Debug, Clone)]
pub struct Head {
    /// `INC-42`.
    pub reference: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// `SEV2`.
    pub severity: String,
    /// `INVESTIGATING`.
    pub status: String,
    /// A drill.
    pub drill: bool,
    /// PRIVATE.
    pub private: bool,
    /// Affected services as `name (IMPACT)`.
    pub services: Vec<String>,
    /// The roles.
    pub roles: Vec<RoleRow>,
    /// The statuses it may move to (only legal moves are offered).
    pub next_statuses: Vec<String>,
    /// Declared.
    pub created: When,
    /// The SLA deadline to acknowledge or resolve, if one is running.
    pub sla: Option<String>,
    /// The war room link.
    pub warroom: Option<String>,
    /// The postmortem's page (served by the postmortem service), once the incident is
    /// resolved.
    pub postmortem: Option<String>,
}

/// One timeline entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `NOTE`, `UPDATE`, `STATUS_CHANGE`...
    pub kind: String,
    /// The text.
    pub message: String,
    /// On the status page.
    pub public: bool,
    /// Who wrote it.
    pub author: Option<String>,
    /// When.
    pub at: When,
}

/// `/ui/incidents/{id}`.
#[derive(Template)]
#[template(path = "ui/incident.html")]
pub struct IncidentPage {
    /// The shell.
    pub shell: Shell,
    /// The header.
    pub head: Head,
    /// The timeline, oldest first.
    pub timeline: Vec<Entry>,
}

/// The header fragment.
#[derive(Template)]
#[template(path = "ui/incident_head.html")]
pub struct HeadFragment {
    /// The shell (for the forms' CSRF token and the role).
    pub shell: Shell,
    /// The header.
    pub head: Head,
}

/// The timeline fragment.
#[derive(Template)]
#[template(path = "ui/incident_timeline.html")]
pub struct TimelineFragment {
    /// The timeline.
    pub timeline: Vec<Entry>,
}

/// `/ui/login`.
#[derive(Template)]
#[template(path = "ui/login.html")]
pub struct LoginPage {
    /// The shell.
    pub shell: Shell,
    /// The double-submit token.
    pub csrf: String,
    /// Where to go after.
    pub next: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Whether single sign-on is configured (the "Sign in with SSO" button).
    pub sso: bool,
}

/// `/ui/settings/status-page`.
#[derive(Template)]
#[template(path = "ui/status_settings.html")]
pub struct StatusSettingsPage {
    /// The shell.
    pub shell: Shell,
    /// On.
    pub enabled: bool,
    /// The page's name.
    pub name: String,
    /// The public URL path.
    pub path: String,
    /// Saved just now.
    pub saved: bool,
}

/// An affected service on the status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicService {
    /// Its name.
    pub name: String,
    /// `operational`, `degraded`, `partial_outage`, `major_outage`.
    pub state: String,
}

/// A public update.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicUpdate {
    /// Its id.
    pub id: String,
    /// The text.
    pub message: String,
    /// When (RFC 3339).
    pub at: String,
    /// When, for people.
    #[serde(skip)]
    pub label: String,
}

/// An incident on the status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicIncident {
    /// `INC-42`.
    pub reference: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
    /// Still being worked on.
    pub open: bool,
    /// Started (RFC 3339).
    pub started_at: String,
    /// Resolved (RFC 3339).
    pub resolved_at: Option<String>,
    /// Affected services and how.
    pub services: Vec<PublicService>,
    /// Public updates, newest first.
    pub updates: Vec<PublicUpdate>,
    /// Last change (RFC 3339).
    #[serde(skip)]
    pub updated_at: String,
}

/// What the status page, its feed and its JSON show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusView {
    /// The page's name.
    pub name: String,
    /// `operational`, `degraded`, `partial_outage`, `major_outage`.
    pub state: String,
    /// The state for people.
    pub summary: String,
    /// Services with their current state (the worst of the open incidents').
    pub services: Vec<PublicService>,
    /// Open incidents, newest first.
    pub current: Vec<PublicIncident>,
    /// Incidents of the last 90 days that are over, newest first.
    pub recent: Vec<PublicIncident>,
    /// When this was rendered (RFC 3339).
    pub generated_at: String,
    /// The page's path.
    #[serde(skip)]
    pub path: String,
}

/// `/status/{slug}`.
#[derive(Template)]
#[template(path = "ui/status.html")]
pub struct StatusPage {
    /// The shell (public).
    pub shell: Shell,
    /// The content.
    pub view: StatusView,
}

/// `/status/{slug}/feed.atom`.
#[derive(Template)]
#[template(path = "ui/status_feed.xml")]
pub struct StatusFeed {
    /// The content.
    pub view: StatusView,
    /// Absolute base URL for links and ids.
    pub base: String,
}

impl StatusFeed {
    /// Every incident's updates, with their incident, newest first.
    pub fn entries(&self) -> Vec<(&PublicIncident, &PublicUpdate)> {
        let mut all: Vec<_> = self
            .view
            .current
            .iter()
            .chain(&self.view.recent)
            .flat_map(|i| i.updates.iter().map(move |u| (i, u)))
            .collect();
        all.sort_by(|a, b| b.1.at.cmp(&a.1.at));
        all
    }
}

/// A headline number of the analytics page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// What.
    pub label: String,
    /// How much, for people.
    pub value: String,
}

impl Figure {
    /// `label`: `value`.
    pub fn new(label: &str, value: String) -> Self {
        Self {
            label: label.to_owned(),
            value,
        }
    }
}

/// One week of the analytics table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekRow {
    /// `2026-W49`.
    pub week: String,
    /// Incidents.
    pub incidents: i64,
    /// Median time to acknowledge.
    pub mtta: String,
    /// Median time to resolve.
    pub mttr: String,
    /// Share of SLA targets missed.
    pub missed: String,
}

/// The analytics filters as the form shows them.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsFilters {
    /// Start (a date or RFC 3339), empty: 90 days ago.
    pub from: String,
    /// End, empty: now.
    pub to: String,
    /// Severities, comma separated.
    pub severity: String,
    /// Services, comma separated.
    pub service: String,
    /// Real incidents or drills.
    pub drills: Vec<Choice>,
}

/// `/ui/analytics`.
#[derive(Template)]
#[template(path = "ui/analytics.html")]
pub struct AnalyticsPage {
    /// The shell.
    pub shell: Shell,
    /// The filters.
    pub filters: AnalyticsFilters,
    /// Why the filters were refused.
    pub error: Option<String>,
    /// The range read, for people.
    pub range: String,
    /// Headline numbers.
    pub figures: Vec<Figure>,
    /// The weekly table.
    pub weeks: Vec<WeekRow>,
    /// SVG: weekly MTTA per severity.
    pub mtta: String,
    /// SVG: weekly MTTR per severity.
    pub mttr: String,
    /// SVG: weekly share of SLA targets missed.
    pub breaches: String,
    /// SVG: action item completion.
    pub completion: String,
    /// The CSV download with these filters.
    pub csv: String,
}

/// A refused field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name, as the API names it (`email`, `ack_target_minutes`...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// The message when it is about `field`.
    pub fn on(error: &Option<FieldError>, field: &str) -> Option<String> {
        error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.clone())
    }
}

/// A user in the users page.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its email.
    pub email: String,
    /// Its Slack member id.
    pub slack_user_id: Option<String>,
    /// The roles its live tokens grant (a role belongs to a token, not to a user).
    pub roles: Vec<String>,
}

/// What the add-user form holds (after a refused submission, what was typed).
#[derive(Debug, Clone, Default)]
pub struct UserDraft {
    /// Email.
    pub email: String,
    /// Name.
    pub display_name: String,
    /// Slack member id.
    pub slack_user_id: String,
}

/// `/ui/settings/users`.
#[derive(Template)]
#[template(path = "ui/settings_users.html")]
pub struct UsersPage {
    /// The shell.
    pub shell: Shell,
    /// The users, by name.
    pub users: Vec<UserRow>,
    /// The add-user form.
    pub draft: UserDraft,
    /// What the form refused.
    pub error: Option<FieldError>,
    /// A user was added just now.
    pub added: bool,
}

/// A token in the tokens page.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its first characters.
    pub prefix: String,
    /// viewer, responder or admin.
    pub role: String,
    /// The user it acts as; none for a service token.
    pub owner: Option<String>,
    /// Creation.
    pub created: When,
    /// Last use, if recorded.
    pub last_used: Option<When>,
    /// Expiry.
    pub expires: Option<When>,
    /// Its expiry has passed (and it was not revoked).
    pub expired: bool,
    /// Revocation.
    pub revoked: Option<When>,
}

/// A token just created: its secret, shown this once.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// The token's name.
    pub name: String,
    /// The secret.
    pub secret: String,
}

/// `/ui/settings/tokens`.
#[derive(Template)]
#[template(path = "ui/settings_tokens.html")]
pub struct TokensPage {
    /// The shell.
    pub shell: Shell,
    /// The tokens, newest first.
    pub tokens: Vec<TokenRow>,
    /// The users a new token may act as.
    pub people: Vec<Choice>,
    /// The roles a new token may have.
    pub roles: Vec<Choice>,
    /// The expiries a new token may have (never, days from now, a date).
    pub expiries: Vec<Choice>,
    /// The day typed for a dated expiry (after a refused submission).
    pub expires_on: String,
    /// The name typed (after a refused submission).
    pub name: String,
    /// What the form refused.
    pub error: Option<FieldError>,
    /// The answer to a creation: the secret, shown only here.
    pub created: Option<NewSecret>,
    /// A token was revoked just now.
    pub revoked: bool,
}

/// `/ui/settings/tokens/{id}/revoke`: the confirmation.
#[derive(Template)]
#[template(path = "ui/settings_token_revoke.html")]
pub struct RevokeTokenPage {
    /// The shell.
    pub shell: Shell,
    /// The token.
    pub token: TokenRow,
}

/// One severity's policy as its form shows it (after a refused submission, what was
/// typed).
#[derive(Debug, Clone)]
pub struct SlaRow {
    /// `SEV1`...
    pub severity: String,
    /// Minutes to acknowledge.
    pub ack: String,
    /// Minutes to resolve.
    pub resolve: String,
    /// Minutes between public updates; empty for none.
    pub cadence: String,
    /// The warning ratio.
    pub ratio: String,
    /// What the form refused.
    pub error: Option<FieldError>,
}

/// `/ui/settings/sla`.
#[derive(Template)]
#[template(path = "ui/settings_sla.html")]
pub struct SlaPage {
    /// The shell.
    pub shell: Shell,
    /// One row per severity, SEV1 first.
    pub policies: Vec<SlaRow>,
    /// The severity saved just now.
    pub saved: Option<String>,
}

impl UsersPage {
    /// The refusal of `field`, if any.
    pub fn error_on(&self, field: &str) -> Option<String> {
        FieldError::on(&self.error, field)
    }
}

/// `/ui/settings/users/{id}`: a user's name, email and Slack id.
#[derive(Template)]
#[template(path = "ui/settings_user.html")]
pub struct UserEditPage {
    /// The shell.
    pub shell: Shell,
    /// The user's id.
    pub id: String,
    /// The user's stored name (the heading).
    pub name: String,
    /// The form (after a refused submission, what was typed).
    pub draft: UserDraft,
    /// The roles the user's live tokens grant.
    pub roles: Vec<String>,
    /// What the form refused.
    pub error: Option<FieldError>,
    /// Saved just now.
    pub saved: bool,
}

impl UserEditPage {
    /// The refusal of `field`, if any.
    pub fn error_on(&self, field: &str) -> Option<String> {
        FieldError::on(&self.error, field)
    }
}

impl TokensPage {
    /// The refusal of `field`, if any.
    pub fn error_on(&self, field: &str) -> Option<String> {
        FieldError::on(&self.error, field)
    }
}

impl SlaRow {
    /// The refusal of `field`, if any.
    pub fn error_on(&self, field: &str) -> Option<String> {
        FieldError::on(&self.error, field)
    }
}
