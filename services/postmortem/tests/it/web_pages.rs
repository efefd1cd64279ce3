//! The postmortem pages' HTML rendered from fixed data, as snapshots: the document for a
//! responder and for a viewer, a section's in-place form, the whole edit form, the offer
//! to draft, the list and the action item list, the settings page. Asset names carry content hashes and are
//! redacted.

use askama::Template;
use incident_postmortem::ui::pages::{
    Card, Choice, Column, Document, EditPage, Fact, FieldError, FrozenRow, ItemsPage, ListPage,
    ListRow, MissingPage, PostmortemPage, SectionForm, SectionView, SettingsPage, TrackerForm,
    When,
};
use incident_schema::AccessRole;
use incident_web::Shell;
use incident_web::assets::ASSETS;
use incident_web::shell::{Section, Viewer};

fn at(minute: u32) -> When {
    When {
        iso: format!("2026-12-02T04:{minute:02}:00Z"),
        label: format!("2026-12-02 04:{minute:02} UTC"),
    }
}

fn shell(role: AccessRole, section: Section, title: &str) -> Shell {
    Shell {
        title: title.to_owned(),
        viewer: Some(Viewer::new("Alice".to_owned(), role)),
        csrf: "CSRF".to_owned(),
        section,
        assets: &ASSETS,
    }
}

fn html<T: Template>(page: &T) -> String {
    page.render()
        .expect("renders")
        .replace(&ASSETS.css, "/ui/assets/app-HASH.css")
        .replace(&ASSETS.js, "/ui/assets/app-HASH.js")
}

fn section(key: &str, title: &str, text: &str, made_by: &str) -> SectionView {
    SectionView {
        key: key.to_owned(),
        title: title.to_owned(),
        text: text.to_owned(),
        made_by: made_by.to_owned(),
    }
}

fn sections() -> Vec<SectionView> {
    vec![
        section(
            "summary",
            "Summary",
            "A certificate expired <b>here</b>.",
            "human",
        ),
        section(
            "what_happened",
            "What happened",
            "Line one\nline two",
            "template",
        ),
        section("where_we_got_lucky", "Where we got lucky", "", "template"),
    ]
}

fn people(chosen: Option<&str>) -> Vec<Choice> {
    ["Alice", "Bob"]
        .iter()
        .map(|n| Choice::new(&format!("u-{n}"), n, chosen == Some(*n)))
        .collect()
}

fn card(id: &str, status: &str, moves: &[(&str, &str)], assignee: Option<&str>) -> Card {
    Card {
        id: id.to_owned(),
        description: format!("Item {id}"),
        status: status.to_owned(),
        priority: "P2".to_owned(),
        assignee: assignee.map(str::to_owned),
        due: Some("2026-12-20".to_owned()),
        overdue: status == "OPEN",
        wont_do_reason: None,
        link: Some("https://jira.example/OPS-1".to_owned()),
        moves: moves
            .iter()
            .map(|(s, l)| ((*s).to_owned(), (*l).to_owned()))
            .collect(),
        people: people(assignee),
        reference: "INC-42".to_owned(),
        back: "/ui/postmortems/INC-42".to_owned(),
    }
}

fn document() -> Document {
    Document {
        reference: "INC-42".to_owned(),
        incident_title: "Checkout is down".to_owned(),
        status: "IN_REVIEW".to_owned(),
        published: None,
        amended: None,
        sections: sections(),
        impact: vec![
            Fact {
                label: "Time to resolve".to_owned(),
                value: "42 min".to_owned(),
            },
            Fact {
                label: "SLA".to_owned(),
                value: "SEV2: acknowledge met, resolve met; 1 missed update(s)".to_owned(),
            },
        ],
        timeline: vec![
            FrozenRow {
                at: at(1),
                kind: "DETECTED".to_owned(),
                event: "Declared".to_owned(),
                author: Some("Alice".to_owned()),
                public: false,
            },
            FrozenRow {
                at: at(5),
                kind: "UPDATE".to_owned(),
                event: "We are investigating".to_owned(),
                author: None,
                public: true,
            },
        ],
        board: vec![
            Column {
                key: "open".to_owned(),
                title: "Open".to_owned(),
                cards: vec![card(
                    "a1",
                    "OPEN",
                    &[
                        ("IN_PROGRESS", "Start"),
                        ("DONE", "Done"),
                        ("WONT_DO", "Won't do"),
                    ],
                    Some("Alice"),
                )],
            },
            Column {
                key: "in-progress".to_owned(),
                title: "In progress".to_owned(),
                cards: Vec::new(),
            },
            Column {
                key: "done".to_owned(),
                title: "Done".to_owned(),
                cards: vec![card("a2", "DONE", &[], None)],
            },
        ],
        people: people(None),
        review: vec![("DRAFT".to_owned(), "Back to draft".to_owned())],
        can_publish: true,
    }
}

#[test]
fn the_postmortem_page_for_a_responder() {
    let page = PostmortemPage {
        shell: shell(AccessRole::Responder, Section::Postmortems, "Postmortem"),
        doc: document(),
        error: Some("summary: must be at most 100000 characters".to_owned()),
    };
    insta::assert_snapshot!("web_postmortem_responder", html(&page));
}

#[test]
fn the_postmortem_page_for_a_viewer_offers_no_control() {
    let mut doc = document();
    doc.status = "PUBLISHED".to_owned();
    doc.published = Some(at(30));
    doc.amended = Some(at(40));
    doc.can_publish = false;
    doc.review = Vec::new();
    let page = PostmortemPage {
        shell: shell(AccessRole::Viewer, Section::Postmortems, "Postmortem"),
        doc,
        error: None,
    };
    let rendered = html(&page);
    let main = rendered.split("<main").nth(1).unwrap_or_default();
    assert!(
        !main.contains("<form") && !main.contains("hx-get"),
        "{main}"
    );
    insta::assert_snapshot!("web_postmortem_viewer", rendered);
}

#[test]
fn a_sections_form_and_the_whole_edit_form() {
    let fragment = SectionForm {
        shell: shell(AccessRole::Responder, Section::Postmortems, ""),
        reference: "INC-42".to_owned(),
        section: sections().remove(0),
    };
    insta::assert_snapshot!("web_postmortem_section_form", html(&fragment));
    let page = EditPage {
        shell: shell(AccessRole::Responder, Section::Postmortems, "Edit"),
        reference: "INC-42".to_owned(),
        incident_title: "Checkout is down".to_owned(),
        sections: sections(),
        error: None,
    };
    insta::assert_snapshot!("web_postmortem_edit", html(&page));
}

#[test]
fn the_offer_to_draft() {
    let page = MissingPage {
        shell: shell(AccessRole::Responder, Section::Postmortems, "Postmortem"),
        reference: "INC-42".to_owned(),
        incident_title: "Checkout is down".to_owned(),
        over: true,
    };
    insta::assert_snapshot!("web_postmortem_missing", html(&page));
}

#[test]
fn the_postmortem_list_and_the_action_item_list() {
    let page = ListPage {
        shell: shell(AccessRole::Admin, Section::Postmortems, "Postmortems"),
        statuses: Choice::of(&["DRAFT", "IN_REVIEW", "PUBLISHED"], "PUBLISHED"),
        rows: vec![ListRow {
            reference: "INC-42".to_owned(),
            incident_title: "Checkout is down".to_owned(),
            status: "PUBLISHED".to_owned(),
            open_items: 1,
            items: 3,
            created: at(7),
        }],
        next: Some("/ui/postmortems?offset=50&status=PUBLISHED".to_owned()),
    };
    insta::assert_snapshot!("web_postmortem_list", html(&page));
    let mut open = card("a1", "OPEN", &[("IN_PROGRESS", "Start")], Some("Alice"));
    open.back = "/ui/postmortems/action-items?status=open".to_owned();
    let page = ItemsPage {
        shell: shell(AccessRole::Responder, Section::ActionItems, "Action items"),
        statuses: vec![
            Choice::new("open", "Open or in progress", true),
            Choice::new("all", "Any", false),
        ],
        assignees: vec![
            Choice::new("", "Anyone", true),
            Choice::new("me", "Me", false),
        ],
        overdue: false,
        cards: vec![open],
        here: "/ui/postmortems/action-items?status=open".to_owned(),
        next: None,
    };
    insta::assert_snapshot!("web_action_items", html(&page));
}

fn settings_page(configured: bool, error: Option<FieldError>) -> SettingsPage {
    SettingsPage {
        shell: shell(
            AccessRole::Admin,
            Section::PostmortemSettings,
            "Postmortem settings",
        ),
        triggers: vec![
            Choice::new("ON_RESOLVE", "When the incident is resolved", false),
            Choice::new("ON_CLOSE", "When it is closed", true),
            Choice::new("ON_REQUEST", "Only when someone asks", false),
        ],
        llm_allow_private: false,
        llm_allow_internal: true,
        template: "# {{ incident.reference }}: {{ incident.title }}\n\n{{ postmortem.summary }}\n"
            .to_owned(),
        template_is_default: false,
        template_updated: Some(at(5)),
        tracker: TrackerForm {
            kinds: vec![
                Choice::new("jira", "Jira", true),
                Choice::new("linear", "Linear", false),
            ],
            base_url: "https://acme.atlassian.net".to_owned(),
            flavors: vec![
                Choice::new("cloud", "Cloud (REST v3)", true),
                Choice::new("server", "Server or Data Center (REST v2)", false),
            ],
            username: "dana@example.com".to_owned(),
            project: "OPS".to_owned(),
            issue_type: "Task".to_owned(),
            auto_export: false,
            configured,
            updated: configured.then(|| at(6)),
        },
        can_seal: true,
        saved: configured.then(|| "tracker".to_owned()),
        error,
    }
}

#[test]
fn the_postmortem_settings_page_with_a_tracker_and_with_a_refused_template() {
    insta::assert_snapshot!("web_postmortem_settings", html(&settings_page(true, None)));
    let refused = settings_page(
        false,
        Some(FieldError {
            field: "template".to_owned(),
            message: "Line 3: unexpected end of input, expected end of block".to_owned(),
        }),
    );
    insta::assert_snapshot!("web_postmortem_settings_refused", html(&refused));
}
