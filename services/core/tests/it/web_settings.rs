//! The admin settings pages over HTTP (no browser): users, API tokens and SLA policies.
//! Each refuses a form without its CSRF token and a non-admin (403 page), answers 404
//! for another workspace's user or token, shows a new token's secret once and then only its
//! name, ends the sessions of a revoked token, and shows the API's validation next to
//! the refused field; a token's expiry chosen on the form (days, a date, never; not in
//! the past) is the API's `expires_at`, and the listing says when it expires or expired.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

pub use incident_testkit::web::Page;

async fn token_id(app: &TestApp, admin: &str, name: &str) -> String {
    let (_, tokens) = app.get(admin, "/api/v1/tokens").await;
    tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["id"].as_str())
        .expect("token id")
        .to_owned()
}

async fn policy(app: &TestApp, severity: &str) -> Value {
    let (_, policies) = app.get(ADMIN, "/api/v1/sla-policies").await;
    policies
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["severity"] == severity)
        .cloned()
        .expect("policy")
}

/// The text of the `value` attribute of the element with `id`.
fn value_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[at..];
    let start = rest.find("value=\"")? + "value=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_adds_a_user_and_a_refused_email_is_shown_next_to_its_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (alice, _) = app.person(ADMIN, "alice@example.com", "responder").await;
    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, body) = page.get("/ui/settings/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("alice@example.com") && body.contains("responder"),
        "{body}"
    );

    let csrf = page.csrf();
    let (status, location) = page
        .post(
            "/ui/settings/users",
            &[
                ("_csrf", &csrf),
                ("email", "bob@example.com"),
                ("display_name", "Bob"),
                ("slack_user_id", "U0BOB"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/settings/users?added=1"));
    let (_, users) = app.get(ADMIN, "/api/v1/users").await;
    let bob = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "bob@example.com")
        .expect("bob was added");
    assert_eq!(bob["display_name"], "Bob");
    assert_eq!(bob["slack_user_id"], "U0BOB");

    let (status, _, body) = page
        .submit(
            "/ui/settings/users",
            &[
                ("_csrf", &csrf),
                ("email", "not-an-email"),
                ("display_name", "Carol"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(
            r#"<p class="error" role="alert" id="user-email-error">must be an email address</p>"#
        ),
        "{body}"
    );
    assert_eq!(value_of(&body, "user-name").as_deref(), Some("Carol"));
    // A duplicate is the API's conflict, shown on the form.
    let (status, _, body) = page
        .submit(
            "/ui/settings/users",
            &[
                ("_csrf", &csrf),
                ("email", "ALICE@example.com"),
                ("display_name", "Alice again"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("already exists"), "{body}");
    let (_, users) = app.get(ADMIN, "/api/v1/users").await;
    assert_eq!(users.as_array().map(Vec::len), Some(3), "{users}");
    assert!(users.to_string().contains(&alice.to_string()));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_admin_changes_a_users_name_and_slack_id_and_a_refusal_keeps_what_was_typed(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let (alice, _) = app.person(ADMIN, "alice@example.com", "responder").await;
    let page = Page::sign_in(&app, ADMIN).await;
    let path = format!("/ui/settings/users/{alice}");
    let (status, _, body) = page.get("/ui/settings/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("href=\"{path}\"")), "{body}");
    let (status, _, body) = page.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        value_of(&body, "user-email").as_deref(),
        Some("alice@example.com")
    );
    assert!(
        body.contains("<span class=\"badge\">responder</span>"),
        "{body}"
    );

    let csrf = page.csrf();
    let (status, location) = page
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("email", "alice@example.com"),
                ("display_name", "Alice Liddell"),
                ("slack_user_id", "U0ALICE"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("{path}?saved=1").as_str())
    );
    let (_, users) = app.get(ADMIN, "/api/v1/users").await;
    let changed = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == alice.to_string())
        .cloned()
        .expect("alice");
    assert_eq!(changed["display_name"], "Alice Liddell");
    assert_eq!(changed["slack_user_id"], "U0ALICE");

    let (status, _, body) = page
        .submit(
            &path,
            &[
                ("_csrf", &csrf),
                ("email", "alice@example.com"),
                ("display_name", "Alice"),
                ("slack_user_id", "not a slack id"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"id="user-slack-error">must be a Slack member id"#),
        "{body}"
    );
    assert_eq!(
        value_of(&body, "user-slack").as_deref(),
        Some("not a slack id")
    );
    let (_, again) = app.get(ADMIN, "/api/v1/users").await;
    assert_eq!(users, again, "nothing changed");

    // An empty Slack id clears it, as the API's PATCH with "".
    let (status, _) = page
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("email", "alice@example.com"),
                ("display_name", "Alice Liddell"),
                ("slack_user_id", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, users) = app.get(ADMIN, "/api/v1/users").await;
    assert!(
        users
            .as_array()
            .expect("users")
            .iter()
            .any(|u| u["id"] == alice.to_string() && u["slack_user_id"].is_null()),
        "{users}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_new_tokens_secret_is_shown_once_then_only_its_name_and_it_signs_in(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (alice, _) = app.person(ADMIN, "alice@example.com", "viewer").await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();
    let alice_id = alice.to_string();
    let (status, _, answer) = page
        .submit(
            "/ui/settings/tokens",
            &[
                ("_csrf", &csrf),
                ("name", "alice laptop"),
                ("role", "responder"),
                ("user_id", &alice_id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let secret = value_of(&answer, "secret-value").expect("the secret on the answer page");
    assert!(secret.starts_with("inc_"), "{secret}");

    // Never again: not on the listing, not anywhere the API shows it.
    let (_, _, listing) = page.get("/ui/settings/tokens").await;
    assert!(listing.contains("alice laptop"), "{listing}");
    assert!(!listing.contains(&secret));
    assert!(!listing.contains("secret-value"));
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    assert!(!tokens.to_string().contains(&secret));

    // It works, as the user it acts for, with its role.
    let (status, _) = app.get(&secret, "/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, users) = page.get("/ui/settings/users").await;
    assert!(
        users.contains("<span class=\"badge\">responder</span>"),
        "{users}"
    );

    // A refused name stays next to its field, and nothing is created.
    let (status, _, body) = page
        .submit(
            "/ui/settings/tokens",
            &[("_csrf", &csrf), ("name", "  "), ("role", "admin")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"id="token-name-error">must be 1 to 100 characters"#),
        "{body}"
    );
    assert!(!body.contains("secret-value"));
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    assert_eq!(tokens.as_array().map(Vec::len), Some(3), "{tokens}");
}

/// The API's `expires_at` of the token named `name`.
async fn expiry_of(app: &TestApp, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let token = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .expect("the token");
    token["expires_at"]
        .as_str()
        .map(|t| t.parse().expect("RFC 3339"))
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_made_on_the_page_expires_as_chosen_and_the_listing_says_when(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let csrf = page.csrf();
    let (_, _, form) = page.get("/ui/settings/tokens").await;
    assert!(
        form.contains(r#"<option value="never" selected>Never</option>"#),
        "{form}"
    );
    let create = |name: &'static str, expires: &'static str, on: String| {
        let page = &page;
        let csrf = csrf.clone();
        async move {
            page.submit(
                "/ui/settings/tokens",
                &[
                    ("_csrf", csrf.as_str()),
                    ("name", name),
                    ("role", "viewer"),
                    ("expires", expires),
                    ("expires_on", on.as_str()),
                ],
            )
            .await
        }
    };

    // Never (the default), and in 30 days.
    let (status, _, _) = create("forever", "never", String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expiry_of(&app, "forever").await, None);
    let before = chrono::Utc::now();
    let (status, _, _) = create("month", "30", String::new()).await;
    assert_eq!(status, StatusCode::OK);
    let month = expiry_of(&app, "month").await.expect("an expiry");
    let offset = month - before;
    assert!(
        offset >= chrono::Duration::days(30)
            && offset < chrono::Duration::days(30) + chrono::Duration::minutes(1),
        "{month}"
    );

    // On a date: it works through that day (UTC).
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let (status, _, _) = create("dated", "date", day.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let dated = expiry_of(&app, "dated").await.expect("an expiry");
    assert_eq!(
        dated,
        day.succ_opt()
            .expect("a next day")
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    );

    // A day in the past, no day, or a choice the form does not offer: refused beside
    // the field, with what was typed kept, and nothing created.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let (status, _, body) = create("stale", "date", yesterday.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"id="token-expires-on-error">expires_on: is in the past"#)
            || body.contains(r#"id="token-expires-on-error">is in the past"#),
        "{body}"
    );
    assert!(body.contains(&format!(r#"value="{yesterday}""#)), "{body}");
    assert!(body.contains(r#"<option value="date" selected>"#), "{body}");
    let (status, _, body) = create("stale", "date", String::new()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="token-expires-on-error""#), "{body}");
    let (status, _, body) = create("stale", "9999", String::new()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="token-expires-error""#), "{body}");
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    assert!(!tokens.to_string().contains("stale"), "{tokens}");

    // The listing: when each expires; one whose expiry passed says so.
    let (_, _, listing) = page.get("/ui/settings/tokens").await;
    let row = |name: &str| {
        let at = listing
            .find(&format!("<td>{name} <code>"))
            .expect("the row");
        listing[at..]
            .split("</tr>")
            .next()
            .expect("a row")
            .to_owned()
    };
    assert!(row("month").contains("expires <time"), "{listing}");
    assert!(
        row("dated").contains(&format!("datetime=\"{}", day.succ_opt().expect("day"))),
        "{listing}"
    );
    assert!(row("forever").contains("active"), "{listing}");
    sqlx::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 hour' WHERE name = 'month'",
    )
    .execute(&pool)
    .await
    .expect("expire it");
    let (_, _, listing) = page.get("/ui/settings/tokens").await;
    let at = listing.find("<td>month <code>").expect("the row");
    let month_row = listing[at..].split("</tr>").next().expect("a row");
    assert!(
        month_row.contains(r#"<span class="badge">expired</span> <time"#),
        "{month_row}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn revoking_a_token_from_the_page_ends_its_sessions(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let laptop = app.token_named(ADMIN, "laptop", "responder", None).await;
    let victim = Page::sign_in(&app, &laptop).await;
    let (status, _, _) = victim.get("/ui/incidents").await;
    assert_eq!(status, StatusCode::OK);
    // Used as a bearer token too, so this process's token cache holds it.
    let (status, _) = app.get(&laptop, "/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK);

    let page = Page::sign_in(&app, ADMIN).await;
    let id = token_id(&app, ADMIN, "laptop").await;
    let (status, _, confirm) = page.get(&format!("/ui/settings/tokens/{id}/revoke")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Revoke “laptop”?"), "{confirm}");
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    assert!(
        tokens.to_string().contains("\"revoked_at\":null"),
        "the confirmation revokes nothing"
    );

    let path = format!("/ui/settings/tokens/{id}/revoke");
    let (status, location) = page.post(&path, &[("_csrf", &page.csrf())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/settings/tokens?revoked=1"));
    let (status, location, _) = victim.get("/ui/incidents").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the revoked token's session");
    assert!(
        location.is_some_and(|l| l.starts_with("/ui/login")),
        "sent to sign in"
    );
    // Refused at once: the page evicted it from the cache, as the API's revocation does.
    let (status, _) = app.get(&laptop, "/api/v1/incidents").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, listing) = page.get("/ui/settings/tokens").await;
    assert!(listing.contains("revoked <time"), "{listing}");
    assert!(!listing.contains(&format!("/ui/settings/tokens/{id}/revoke\"")));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_sla_target_is_changed_and_a_refused_one_is_shown_next_to_its_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let page = Page::sign_in(&app, ADMIN).await;
    let (status, _, body) = page.get("/ui/settings/sla").await;
    assert_eq!(status, StatusCode::OK);
    let before = policy(&app, "SEV1").await;
    assert_eq!(
        value_of(&body, "SEV1-ack"),
        Some(before["ack_target_minutes"].to_string())
    );
    let csrf = page.csrf();
    let (status, location) = page
        .post(
            "/ui/settings/sla/SEV1",
            &[
                ("_csrf", &csrf),
                ("ack_target_minutes", "7"),
                ("resolve_target_minutes", "180"),
                ("update_cadence_minutes", "20"),
                ("warning_ratio", "0.75"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/settings/sla?saved=SEV1#sla-SEV1")
    );
    let after = policy(&app, "SEV1").await;
    assert_eq!(after["ack_target_minutes"], 7);
    assert_eq!(after["resolve_target_minutes"], 180);
    assert_eq!(after["update_cadence_minutes"], 20);
    assert!((after["warning_ratio"].as_f64().expect("ratio") - 0.75).abs() < 1e-6);
    let (_, _, body) = page.get("/ui/settings/sla?saved=SEV1").await;
    assert!(body.contains("SEV1 saved."));
    assert_eq!(value_of(&body, "SEV1-cadence").as_deref(), Some("20"));

    // The API's rule: resolve at least acknowledge; shown next to the field, typed
    // values kept, nothing stored.
    let sev2 = policy(&app, "SEV2").await;
    let (status, _, body) = page
        .submit(
            "/ui/settings/sla/SEV2",
            &[
                ("_csrf", &csrf),
                ("ack_target_minutes", "60"),
                ("resolve_target_minutes", "30"),
                ("update_cadence_minutes", ""),
                ("warning_ratio", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"<p class="error" role="alert" id="SEV2-resolve-error">must be at least the acknowledge target"#),
        "{body}"
    );
    assert_eq!(value_of(&body, "SEV2-ack").as_deref(), Some("60"));
    assert_eq!(policy(&app, "SEV2").await, sev2);
    // Not a number at all: the field's own message.
    let (status, _, body) = page
        .submit(
            "/ui/settings/sla/SEV2",
            &[
                ("_csrf", &csrf),
                ("ack_target_minutes", "soon"),
                ("resolve_target_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"id="SEV2-ack-error">must be a whole number of minutes"#),
        "{body}"
    );
    let (status, _, _) = page
        .submit("/ui/settings/sla/SEV9", &[("_csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_settings_forms_refuse_a_missing_csrf_token_and_non_admins(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let laptop = app.token_named(ADMIN, "laptop", "viewer", None).await;
    let id = token_id(&app, ADMIN, "laptop").await;
    let revoke = format!("/ui/settings/tokens/{id}/revoke");
    let (alice, _) = app.person(ADMIN, "alice@example.com", "viewer").await;
    let edit = format!("/ui/settings/users/{alice}");
    let sla_before = policy(&app, "SEV1").await;
    let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/ui/settings/users",
            vec![("email", "eve@example.com"), ("display_name", "Eve")],
        ),
        (
            "/ui/settings/tokens",
            vec![("name", "forged"), ("role", "admin")],
        ),
        (&revoke, vec![]),
        (
            &edit,
            vec![("email", "alice@example.com"), ("display_name", "stolen")],
        ),
        (
            "/ui/settings/sla/SEV1",
            vec![("ack_target_minutes", "1"), ("resolve_target_minutes", "1")],
        ),
    ];
    let admin = Page::sign_in(&app, ADMIN).await;
    let other_csrf = incident_web::csrf::token_for("inc_someone-elses-session");
    for (path, fields) in &forms {
        let (status, _) = admin.post(path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without a CSRF token");
        let mut forged = fields.clone();
        forged.push(("_csrf", &other_csrf));
        let (status, _) = admin.post(path, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} with another's token");
    }
    for role in ["viewer", "responder"] {
        let secret = app.token(ADMIN, role).await;
        let page = Page::sign_in(&app, &secret).await;
        for path in [
            "/ui/settings/users",
            "/ui/settings/tokens",
            "/ui/settings/sla",
            &revoke,
        ] {
            let (status, _, body) = page.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} GET {path}");
            assert!(body.contains("only workspace admins"), "{body}");
        }
        let csrf = page.csrf();
        for (path, fields) in &forms {
            let mut with = fields.clone();
            with.push(("_csrf", &csrf));
            let (status, _) = page.post(path, &with).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} POST {path}");
        }
        // Nor are the links offered.
        let (_, _, list) = page.get("/ui/incidents").await;
        assert!(!list.contains("/ui/settings/tokens"));
    }
    // Nothing was written.
    let (_, users) = app.get(ADMIN, "/api/v1/users").await;
    assert!(!users.to_string().contains("eve@example.com"));
    assert!(!users.to_string().contains("stolen"));
    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    assert!(!tokens.to_string().contains("forged"));
    assert_eq!(policy(&app, "SEV1").await, sla_before);
    let (status, _) = app.get(&laptop, "/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK, "the token was not revoked");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_token_answers_404_and_its_users_and_tokens_are_not_listed(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let other = app.other_workspace("globex").await;
    let hank = app.user(&other, "hank@globex.example").await;
    app.token_named(&other, "globex deploy", "responder", None)
        .await;
    let theirs = token_id(&app, &other, "globex deploy").await;

    let page = Page::sign_in(&app, ADMIN).await;
    let revoke = format!("/ui/settings/tokens/{theirs}/revoke");
    let (status, _, body) = page.get(&revoke).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No such token"), "{body}");
    let (status, _) = page.post(&revoke, &[("_csrf", &page.csrf())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page.get("/ui/settings/tokens/not-a-uuid/revoke").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, tokens) = app.get(&other, "/api/v1/tokens").await;
    assert!(
        tokens
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| t["revoked_at"].is_null()),
        "{tokens}"
    );

    let (_, _, users) = page.get("/ui/settings/users").await;
    assert!(!users.contains("hank@globex.example"));
    let (status, _, _) = page.get(&format!("/ui/settings/users/{hank}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page
        .post(
            &format!("/ui/settings/users/{hank}"),
            &[
                ("_csrf", &page.csrf()),
                ("email", "hank@globex.example"),
                ("display_name", "stolen"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = page.get("/ui/settings/users/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, their_users) = app.get(&other, "/api/v1/users").await;
    assert!(!their_users.to_string().contains("stolen"));
    let (_, _, listing) = page.get("/ui/settings/tokens").await;
    assert!(!listing.contains("globex deploy"));

    // Their SLA policies are theirs: saving ours leaves theirs as they were.
    let (_, theirs_before) = app.get(&other, "/api/v1/sla-policies").await;
    let (status, _) = page
        .post(
            "/ui/settings/sla/SEV1",
            &[
                ("_csrf", &page.csrf()),
                ("ack_target_minutes", "3"),
                ("resolve_target_minutes", "90"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, theirs_after) = app.get(&other, "/api/v1/sla-policies").await;
    assert_eq!(theirs_before, theirs_after);
}
