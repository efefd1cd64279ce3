//! The postmortem pages' templates and the plain data they render (strings and flags,
//! built by [`super::postmortems`] and [`super::action_items`] from the domain's views),
//! so the snapshot tests render every page from fixed data.

use askama::Template;
use incident_web::Shell;
#[allow(unused_imports, reason = "the shared layout names sections")]
use incident_web::shell::Section;

pub use incident_web::view::{Choice, When};

/// One section of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionView {
    /// Its field name (`summary`...), also the form field and the anchor.
    pub key: String,
    /// Its heading.
    pub title: String,
    /// Its text (Markdown, shown as written).
    pub text: String,
    /// How it was made: `template`, `llm` or `human`.
    pub made_by: String,
}

/// One entry of the frozen timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenRow {
    /// When.
    pub at: When,
    /// `NOTE`, `UPDATE`...
    pub kind: String,
    /// What it says.
    pub event: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// It was on the status page.
    pub public: bool,
}

/// A computed fact of the impact assessment: a label and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What.
    pub label: String,
    /// How much.
    pub value: String,
}

/// An action item as a card of the board or a row of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Its id.
    pub id: String,
    /// What to do.
    pub description: String,
    /// `OPEN`...
    pub status: String,
    /// `P1`...
    pub priority: String,
    /// Who does it.
    pub assignee: Option<String>,
    /// When it is due (`YYYY-MM-DD`).
    pub due: Option<String>,
    /// Open and past due.
    pub overdue: bool,
    /// Why it will not be done.
    pub wont_do_reason: Option<String>,
    /// Its ticket elsewhere.
    pub link: Option<String>,
    /// The moves it may make, as `(status, button label)`.
    pub moves: Vec<(String, String)>,
    /// People to assign (the assignee selected).
    pub people: Vec<Choice>,
    /// Its postmortem's page (the incident's reference).
    pub reference: String,
    /// Where its forms come back to.
    pub back: String,
}

/// A column of the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// `open`, `in-progress`, `done`.
    pub key: String,
    /// Its heading.
    pub title: String,
    /// Its cards.
    pub cards: Vec<Card>,
}

/// What the postmortem's page shows.
#[derive(Debug, Clone)]
pub struct Document {
    /// The incident's reference (`INC-42`): the page's key.
    pub reference: String,
    /// The incident's title.
    pub incident_title: String,
    /// `DRAFT`, `IN_REVIEW`, `PUBLISHED`.
    pub status: String,
    /// When it was published.
    pub published: Option<When>,
    /// When it was changed after publishing.
    pub amended: Option<When>,
    /// The sections, in order.
    pub sections: Vec<SectionView>,
    /// The computed impact.
    pub impact: Vec<Fact>,
    /// The frozen timeline, oldest first.
    pub timeline: Vec<FrozenRow>,
    /// The action items as a board.
    pub board: Vec<Column>,
    /// People to assign a new item to.
    pub people: Vec<Choice>,
    /// The review moves offered, as `(status, button label)` (not publishing).
    pub review: Vec<(String, String)>,
    /// Publishing is offered.
    pub can_publish: bool,
}

/// `/ui/postmortems/{ref}`.
#[derive(Template)]
#[template(path = "ui/postmortem.html")]
pub struct PostmortemPage {
    /// The shell.
    pub shell: Shell,
    /// The document.
    pub doc: Document,
    /// Why the last form was refused.
    pub error: Option<String>,
}

/// The page's document part (status, review controls, sections): what a live update
/// re-fetches into `#pm-document`.
#[derive(Template)]
#[template(path = "ui/postmortem_document_fragment.html")]
pub struct DocumentFragment {
    /// The shell (the fragment's forms carry its CSRF token).
    pub shell: Shell,
    /// The document.
    pub doc: Document,
    /// Always none: a refused form shows the whole page.
    pub error: Option<String>,
}

/// The action item board: what a live update re-fetches into `#pm-board`.
#[derive(Template)]
#[template(path = "ui/postmortem_board_fragment.html")]
pub struct BoardFragment {
    /// The shell.
    pub shell: Shell,
    /// The document.
    pub doc: Document,
}

/// The edit form of one section (htmx swaps it in place of the section).
#[derive(Template)]
#[template(path = "ui/postmortem_section_form.html")]
pub struct SectionForm {
    /// The shell (the CSRF token).
    pub shell: Shell,
    /// The incident's reference.
    pub reference: String,
    /// The section.
    pub section: SectionView,
}

/// `/ui/postmortems/{ref}/edit`: every section in one form (the page without JavaScript).
#[derive(Template)]
#[template(path = "ui/postmortem_edit.html")]
pub struct EditPage {
    /// The shell.
    pub shell: Shell,
    /// The incident's reference.
    pub reference: String,
    /// The incident's title.
    pub incident_title: String,
    /// The sections.
    pub sections: Vec<SectionView>,
    /// Why the last attempt was refused.
    pub error: Option<String>,
}

/// `/ui/postmortems/{ref}` before a postmortem exists.
#[derive(Template)]
#[template(path = "ui/postmortem_missing.html")]
pub struct MissingPage {
    /// The shell.
    pub shell: Shell,
    /// The incident's reference.
    pub reference: String,
    /// The incident's title.
    pub incident_title: String,
    /// The incident is resolved or closed (a postmortem can be drafted).
    pub over: bool,
}

/// One postmortem of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// The incident's reference.
    pub reference: String,
    /// The incident's title.
    pub incident_title: String,
    /// Its status.
    pub status: String,
    /// Open action items.
    pub open_items: i64,
    /// All action items.
    pub items: i64,
    /// Drafted.
    pub created: When,
}

/// `/ui/postmortems`.
#[derive(Template)]
#[template(path = "ui/postmortems.html")]
pub struct ListPage {
    /// The shell.
    pub shell: Shell,
    /// Status choices.
    pub statuses: Vec<Choice>,
    /// The postmortems, newest first.
    pub rows: Vec<ListRow>,
    /// The next page.
    pub next: Option<String>,
}

/// `/ui/postmortems/action-items`.
#[derive(Template)]
#[template(path = "ui/action_items.html")]
pub struct ItemsPage {
    /// The shell.
    pub shell: Shell,
    /// Status choices (`open` = OPEN or IN_PROGRESS).
    pub statuses: Vec<Choice>,
    /// Assignee choices (`me`, `none`, users).
    pub assignees: Vec<Choice>,
    /// Only overdue ones.
    pub overdue: bool,
    /// The items.
    pub cards: Vec<Card>,
    /// This page with its filters (where the forms come back to).
    pub here: String,
    /// The next page.
    pub next: Option<String>,
}

/// A refusal the settings page shows beside its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as the API names it (`template`, `credential`, `base_url`...), or
    /// `tracker` for a refusal of the whole form (the tracker unreachable, no sealing key).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The issue tracker form as shown: what is stored (or what was sent and refused), never
/// the credential.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackerForm {
    /// `jira` or `linear` (the select's choices).
    pub kinds: Vec<Choice>,
    /// The site (Jira) or GraphQL endpoint (Linear).
    pub base_url: String,
    /// Jira's flavour (the select's choices).
    pub flavors: Vec<Choice>,
    /// Jira Cloud's account email.
    pub username: String,
    /// Jira project key or Linear team id.
    pub project: String,
    /// Jira's issue type.
    pub issue_type: String,
    /// File every new action item.
    pub auto_export: bool,
    /// A tracker is configured (its credential is set; the form may leave it empty).
    pub configured: bool,
    /// When it was last set.
    pub updated: Option<When>,
}

/// `/ui/settings/postmortems`: the draft trigger, what the LLM may be shown, the
/// Markdown template and the issue tracker.
#[derive(Template)]
#[template(path = "ui/postmortem_settings.html")]
pub struct SettingsPage {
    /// The shell.
    pub shell: Shell,
    /// The draft triggers as radio choices.
    pub triggers: Vec<Choice>,
    /// PRIVATE incidents may go to the LLM.
    pub llm_allow_private: bool,
    /// Internal timeline entries may go to the LLM.
    pub llm_allow_internal: bool,
    /// The template's source (as stored, the built-in one, or as sent and refused).
    pub template: String,
    /// The built-in template is in use.
    pub template_is_default: bool,
    /// When the workspace's template was saved.
    pub template_updated: Option<When>,
    /// The tracker form.
    pub tracker: TrackerForm,
    /// Credentials can be sealed (`INCIDENT_SECRETS_KEY` is set).
    pub can_seal: bool,
    /// What was just saved (`settings`, `template`, `template-reset`, `tracker`,
    /// `tracker-removed`), from the redirect's query.
    pub saved: Option<String>,
    /// A refusal, beside its field.
    pub error: Option<FieldError>,
}

impl SettingsPage {
    /// The refusal of `field`, if any.
    pub fn error_on(&self, field: &str) -> Option<String> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    /// What the "saved" notice says.
    pub fn saved_notice(&self) -> Option<&'static str> {
        Some(match self.saved.as_deref()? {
            "settings" => "Draft and LLM settings saved.",
            "template" => "Template saved.",
            "template-reset" => "Template reset: exports use the built-in one.",
            "tracker" => "Issue tracker saved; its credentials were checked.",
            "tracker-removed" => "Issue tracker removed.",
            _ => return None,
        })
    }
}
