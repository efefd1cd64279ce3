//! Every page's HTML rendered from fixed data, as snapshots: the layout and its
//! navigation by role, the list, the declare form, an incident for a responder and a
//! viewer, the login and settings forms (status page, users, tokens, SLA policies), the
//! status page and its Atom feed. The asset
//! names carry content hashes; they are redacted so a stylesheet change does not churn
//! every snapshot.

use askama::Template;
use incident_core::ui::pages::{
    Choice, DeclarePage, Entry, FieldError, Filters, Head, IncidentPage, ListPage, ListRow,
    LoginPage, NewSecret, PublicIncident, PublicService, PublicUpdate, RevokeTokenPage, RoleRow,
    ServiceInput, SlaPage, SlaRow, StatusFeed, StatusPage, StatusSettingsPage, StatusView,
    TokenRow, TokensPage, UserDraft, UserEditPage, UserRow, UsersPage, When,
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

fn head(next: &[&str]) -> Head {
    Head {
        reference: "INC-42".to_owned(),
        title: "Checkout is down".to_owned(),
        description: "Payments answer 500 <script>".to_owned(),
        severity: "SEV1".to_owned(),
        status: "IDENTIFIED".to_owned(),
        drill: false,
        private: true,
        services: vec!["payments (TOTAL_OUTAGE)".to_owned()],
        roles: vec![
            RoleRow {
                key: "commander".to_owned(),
                title: "Incident Commander".to_owned(),
                holder: Some("Alice".to_owned()),
                people: vec![
                    Choice {
                        value: "u-alice".to_owned(),
                        label: "Alice".to_owned(),
                        selected: true,
                    },
                    Choice {
                        value: "u-bob".to_owned(),
                        label: "Bob".to_owned(),
                        selected: false,
                    },
                ],
            },
            RoleRow {
                key: "tech_lead".to_owned(),
                title: "Tech Lead".to_owned(),
                holder: None,
                people: vec![Choice {
                    value: "u-alice".to_owned(),
                    label: "Alice".to_owned(),
                    selected: false,
                }],
            },
        ],
        next_statuses: next.iter().map(|s| (*s).to_owned()).collect(),
        created: at(1),
        sla: Some("3h 59m left to resolve (due 2026-12-02 08:01 UTC)".to_owned()),
        warroom: Some("https://slack.example/archives/C1".to_owned()),
        postmortem: Some("/ui/postmortems/INC-42".to_owned()),
    }
}

fn timeline() -> Vec<Entry> {
    vec![
        Entry {
            kind: "DETECTED".to_owned(),
            message: "INC-42 declared".to_owned(),
            public: false,
            author: Some("Alice".to_owned()),
            at: at(1),
        },
        Entry {
            kind: "UPDATE".to_owned(),
            message: "We are rolling back".to_owned(),
            public: true,
            author: Some("Alice".to_owned()),
            at: at(5),
        },
        Entry {
            kind: "NOTE".to_owned(),
            message: "db credentials rotated".to_owned(),
            public: false,
            author: None,
            at: at(6),
        },
    ]
}

#[test]
fn the_incident_list_page() {
    let page = ListPage {
        shell: shell(AccessRole::Admin, Section::Incidents, "Incidents"),
        filters: Filters {
            statuses: Choice::of(&["INVESTIGATING", "RESOLVED"], "RESOLVED"),
            severities: Choice::of(&["SEV1", "SEV2"], ""),
            drills: vec![Choice {
                value: String::new(),
                label: "Included".to_owned(),
                selected: true,
            }],
            service: "payments".to_owned(),
            q: "checkout".to_owned(),
        },
        rows: vec![ListRow {
            reference: "INC-42".to_owned(),
            title: "Checkout is down".to_owned(),
            severity: "SEV1".to_owned(),
            status: "RESOLVED".to_owned(),
            services: "payments, api".to_owned(),
            drill: true,
            private: true,
            created: at(1),
        }],
        next: Some("/ui/incidents?status=RESOLVED&cursor=abc".to_owned()),
        refresh: "/ui/incidents/rows?status=RESOLVED".to_owned(),
    };
    insta::assert_snapshot!("web_list", html(&page));
}

#[test]
fn the_declare_page_with_a_refused_field() {
    let page = DeclarePage {
        shell: shell(
            AccessRole::Responder,
            Section::Declare,
            "Declare an incident",
        ),
        error: Some("title: must not be blank".to_owned()),
        title: String::new(),
        description: "what was typed".to_owned(),
        severities: Choice::of(&["SEV1", "SEV2", "SEV3"], "SEV2"),
        services: vec![ServiceInput {
            index: 0,
            name: "payments".to_owned(),
            impacts: Choice::of(&["TOTAL_OUTAGE", "DEGRADED"], "DEGRADED"),
        }],
        drill: true,
        private: false,
    };
    insta::assert_snapshot!("web_declare", html(&page));
}

#[test]
fn an_incident_page_for_a_responder() {
    let page = IncidentPage {
        shell: shell(
            AccessRole::Responder,
            Section::Incidents,
            "INC-42 Checkout is down",
        ),
        head: head(&["MONITORING", "RESOLVED", "CLOSED"]),
        timeline: timeline(),
    };
    insta::assert_snapshot!("web_incident_responder", html(&page));
}

#[test]
fn an_incident_page_for_a_viewer_has_no_forms() {
    let page = IncidentPage {
        shell: shell(
            AccessRole::Viewer,
            Section::Incidents,
            "INC-42 Checkout is down",
        ),
        head: head(&["MONITORING", "RESOLVED", "CLOSED"]),
        timeline: timeline(),
    };
    let html = html(&page);
    let main = &html[html.find("<main").expect("main")..];
    assert!(!main.contains("<form"), "a viewer's page has a form");
    insta::assert_snapshot!("web_incident_viewer", html);
}

#[test]
fn the_login_page() {
    let page = LoginPage {
        shell: Shell::public("Sign in"),
        csrf: "LOGIN".to_owned(),
        next: "/ui/incidents/INC-42".to_owned(),
        error: Some("That token is unknown, revoked or expired.".to_owned()),
        sso: false,
    };
    insta::assert_snapshot!("web_login", html(&page));
}

#[test]
fn the_login_page_with_single_sign_on() {
    let page = LoginPage {
        shell: Shell::public("Sign in"),
        csrf: "LOGIN".to_owned(),
        next: "/ui/incidents/INC-42".to_owned(),
        error: None,
        sso: true,
    };
    insta::assert_snapshot!("web_login_sso", html(&page));
}

#[test]
fn the_status_page_settings() {
    let page = StatusSettingsPage {
        shell: shell(AccessRole::Admin, Section::Settings, "Status page"),
        enabled: true,
        name: "Acme status".to_owned(),
        path: "/status/acme".to_owned(),
        saved: true,
    };
    insta::assert_snapshot!("web_status_settings", html(&page));
}

fn status_view() -> StatusView {
    let incident = |title: &str, open: bool| PublicIncident {
        reference: "INC-42".to_owned(),
        title: title.to_owned(),
        status: if open { "IDENTIFIED" } else { "RESOLVED" }.to_owned(),
        open,
        started_at: "2026-12-02T04:01:00Z".to_owned(),
        resolved_at: (!open).then(|| "2026-12-02T05:00:00Z".to_owned()),
        services: vec![PublicService {
            name: "payments".to_owned(),
            state: if open { "major_outage" } else { "operational" }.to_owned(),
        }],
        updates: vec![PublicUpdate {
            id: "0193a000-0000-7000-8000-000000000001".to_owned(),
            message: "We are rolling back & watching".to_owned(),
            at: "2026-12-02T04:05:00Z".to_owned(),
            label: "2026-12-02 04:05 UTC".to_owned(),
        }],
        updated_at: "2026-12-02T04:05:00Z".to_owned(),
    };
    StatusView {
        name: "Acme status".to_owned(),
        state: "major_outage".to_owned(),
        summary: "Major outage".to_owned(),
        services: vec![PublicService {
            name: "payments".to_owned(),
            state: "major_outage".to_owned(),
        }],
        current: vec![incident("Checkout is down", true)],
        recent: vec![incident("Search was slow", false)],
        generated_at: "2026-12-02T04:10:00Z".to_owned(),
        path: "/status/acme".to_owned(),
    }
}

#[test]
fn the_public_status_page() {
    let page = StatusPage {
        shell: Shell::public("Acme status"),
        view: status_view(),
    };
    insta::assert_snapshot!("web_status_page", html(&page));
}

#[test]
fn the_status_page_atom_feed() {
    let feed = StatusFeed {
        view: status_view(),
        base: "https://status.example".to_owned(),
    };
    insta::assert_snapshot!("web_status_feed", html(&feed));
}

#[test]
fn the_analytics_page() {
    use incident_core::ui::chart::{self, Series};
    use incident_core::ui::pages::{AnalyticsFilters, AnalyticsPage, Figure, WeekRow};
    let labels: Vec<String> = ["2026-W50", "2026-W51", "2026-W52"]
        .map(String::from)
        .to_vec();
    let lines = |title: &str| {
        chart::lines(
            title,
            &labels,
            &[
                Series {
                    name: "SEV1".into(),
                    values: vec![Some(12.0), None, Some(30.0)],
                },
                Series {
                    name: "SEV2".into(),
                    values: vec![Some(45.0), Some(60.0), Some(20.0)],
                },
            ],
            &|v| format!("{v:.0} min"),
        )
    };
    let page = AnalyticsPage {
        shell: shell(AccessRole::Viewer, Section::Analytics, "Analytics"),
        filters: AnalyticsFilters {
            from: "2026-12-01".to_owned(),
            to: String::new(),
            severity: "SEV1,SEV2".to_owned(),
            service: String::new(),
            drills: vec![
                Choice::new("", "Real incidents", true),
                Choice::new("true", "Drills", false),
            ],
        },
        error: None,
        range: "2026-12-01 00:00 to 2026-12-24 10:00 (UTC)".to_owned(),
        figures: vec![
            Figure::new("Incidents", "5".to_owned()),
            Figure::new("MTTR (median)", "1.5 h".to_owned()),
        ],
        weeks: vec![WeekRow {
            week: "2026-W50".to_owned(),
            incidents: 2,
            mtta: "12 min".to_owned(),
            mttr: "1.5 h".to_owned(),
            missed: "25%".to_owned(),
        }],
        mtta: lines("MTTA"),
        mttr: lines("MTTR"),
        breaches: chart::bars("Missed", &labels, &[Some(0.25), None, Some(0.0)]),
        completion: chart::bars("Done", &["done".to_owned()], &[Some(0.5)]),
        csv: "/ui/analytics/export.csv?from=2026-12-01&severity=SEV1%2CSEV2".to_owned(),
    };
    insta::assert_snapshot!("web_analytics", html(&page));
}

#[test]
fn the_users_settings_with_a_refused_email() {
    let page = UsersPage {
        shell: shell(AccessRole::Admin, Section::Users, "Users"),
        users: vec![
            UserRow {
                id: "u-alice".to_owned(),
                name: "Alice".to_owned(),
                email: "alice@example.com".to_owned(),
                slack_user_id: Some("U024BE7LH".to_owned()),
                roles: vec!["admin".to_owned(), "responder".to_owned()],
            },
            UserRow {
                id: "u-bob".to_owned(),
                name: "Bob <b>".to_owned(),
                email: "bob@example.com".to_owned(),
                slack_user_id: None,
                roles: vec![],
            },
        ],
        draft: UserDraft {
            email: "not-an-email".to_owned(),
            display_name: "Carol".to_owned(),
            slack_user_id: String::new(),
        },
        error: Some(FieldError {
            field: "email".to_owned(),
            message: "must be an email address".to_owned(),
        }),
        added: false,
    };
    insta::assert_snapshot!("web_settings_users", html(&page));
}

#[test]
fn a_users_settings_with_a_refused_slack_id() {
    let page = UserEditPage {
        shell: shell(AccessRole::Admin, Section::Users, "Alice"),
        id: "u-alice".to_owned(),
        name: "Alice".to_owned(),
        draft: UserDraft {
            email: "alice@example.com".to_owned(),
            display_name: "Alice L.".to_owned(),
            slack_user_id: "not a slack id".to_owned(),
        },
        roles: vec!["responder".to_owned()],
        error: Some(FieldError {
            field: "slack_user_id".to_owned(),
            message: "must be a Slack member id such as U024BE7LH".to_owned(),
        }),
        saved: false,
    };
    insta::assert_snapshot!("web_settings_user", html(&page));
}

fn token_row(name: &str, owner: Option<&str>, revoked: bool) -> TokenRow {
    TokenRow {
        id: format!(
            "00000000-0000-0000-0000-00000000000{}",
            u8::from(revoked) + 1
        ),
        name: name.to_owned(),
        prefix: "inc_ab12".to_owned(),
        role: "responder".to_owned(),
        owner: owner.map(str::to_owned),
        created: at(1),
        last_used: (!revoked).then(|| at(5)),
        expires: None,
        expired: false,
        revoked: revoked.then(|| at(9)),
    }
}

#[test]
fn the_tokens_settings_showing_a_new_secret() {
    let page = TokensPage {
        shell: shell(AccessRole::Admin, Section::Tokens, "API tokens"),
        tokens: vec![
            token_row("deploy bot", None, false),
            TokenRow {
                id: "00000000-0000-0000-0000-000000000003".to_owned(),
                expires: Some(at(50)),
                ..token_row("ci runner", None, false)
            },
            TokenRow {
                id: "00000000-0000-0000-0000-000000000004".to_owned(),
                expires: Some(at(2)),
                expired: true,
                ..token_row("old script", None, false)
            },
            token_row("alice laptop", Some("Alice"), true),
        ],
        people: vec![Choice {
            value: "u-alice".to_owned(),
            label: "Alice (alice@example.com)".to_owned(),
            selected: false,
        }],
        roles: Choice::of(&["viewer", "responder", "admin"], "responder"),
        expiries: vec![
            Choice::new("never", "Never", false),
            Choice::new("30", "In 30 days", false),
            Choice::new("date", "On a date…", true),
        ],
        expires_on: "2026-12-24".to_owned(),
        name: String::new(),
        error: None,
        created: Some(NewSecret {
            name: "deploy bot".to_owned(),
            secret: "inc_SECRET-SHOWN-ONCE".to_owned(),
        }),
        revoked: false,
    };
    insta::assert_snapshot!("web_settings_tokens", html(&page));
}

#[test]
fn the_token_revoke_confirmation() {
    let page = RevokeTokenPage {
        shell: shell(AccessRole::Admin, Section::Tokens, "Revoke a token"),
        token: token_row("alice laptop", Some("Alice"), false),
    };
    insta::assert_snapshot!("web_settings_token_revoke", html(&page));
}

#[test]
fn the_sla_settings_with_a_refused_resolve_target() {
    let row = |severity: &str, ack: &str, resolve: &str, error: Option<FieldError>| SlaRow {
        severity: severity.to_owned(),
        ack: ack.to_owned(),
        resolve: resolve.to_owned(),
        cadence: if severity == "SEV1" { "30" } else { "" }.to_owned(),
        ratio: "0.80".to_owned(),
        error,
    };
    let page = SlaPage {
        shell: shell(AccessRole::Admin, Section::SlaPolicies, "SLA policies"),
        policies: vec![
            row("SEV1", "5", "240", None),
            row(
                "SEV2",
                "30",
                "10",
                Some(FieldError {
                    field: "resolve_target_minutes".to_owned(),
                    message: "must be at least the acknowledge target and at most 129600 (90 days)"
                        .to_owned(),
                }),
            ),
        ],
        saved: Some("SEV1".to_owned()),
    };
    insta::assert_snapshot!("web_settings_sla", html(&page));
}
