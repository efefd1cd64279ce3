//! Single sign-on over HTTP (no browser) against the test kit's identity provider: the
//! whole flow to a session, the ID tokens that must be refused (wrong audience, expired,
//! signed by another key), a replayed or foreign state, first sign-in creating a user of
//! the workspace's domain with the default role, and an email outside it refused.

use incident_core::access::sso::Policy;
use incident_schema::AccessRole;
use incident_testkit::idp::{Idp, Knobs, Person};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

fn policy(role: AccessRole) -> Policy {
    Policy {
        email_domain: Some("example.com".into()),
        default_role: role,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .find_map(|kv| kv.trim().strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_owned()
}

/// A sign-in driven as a browser without JavaScript would: start, the provider's
/// approval, and the callback (not followed further).
struct Round {
    /// The callback URL the provider sent the browser to.
    callback: String,
    /// The state cookie the start set.
    state_cookie: String,
    /// The callback's answer.
    status: StatusCode,
    /// Where the callback sent the browser, if it did.
    location: Option<String>,
    /// The session cookie's secret, if one was set.
    session: Option<String>,
    /// The callback's page.
    body: String,
}

async fn start(app: &TestApp, workspace: &str) -> (String, String) {
    let http = no_redirects();
    let started = http
        .get(format!(
            "{}/ui/login/sso?workspace={workspace}&next=/ui/incidents/new",
            app.base
        ))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let state_cookie = cookie(&started, "incident_sso_state").expect("state cookie");
    let approved = http.get(location(&started)).send().await.expect("provider");
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let callback = location(&approved);
    assert!(callback.starts_with(&format!("{}/ui/login/sso/callback?", app.base)));
    (callback, state_cookie)
}

async fn finish(callback: &str, state_cookie: Option<&str>) -> reqwest::Response {
    let mut request = no_redirects().get(callback);
    if let Some(state) = state_cookie {
        request = request.header(COOKIE, format!("incident_sso_state={state}"));
    }
    request.send().await.expect("callback")
}

async fn round(app: &TestApp) -> Round {
    let (callback, state_cookie) = start(app, "default").await;
    let response = finish(&callback, Some(&state_cookie)).await;
    Round {
        callback,
        state_cookie,
        status: response.status(),
        location: response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("location").to_owned()),
        session: cookie(&response, "incident_session").filter(|s| !s.is_empty()),
        body: response.text().await.expect("body"),
    }
}

async fn sessions(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM web_sessions")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// The role and user of the token the session `secret` stands on.
async fn session_token(pool: &PgPool, secret: &str) -> (AccessRole, Option<Uuid>) {
    sqlx::query_as(
        "SELECT t.role, t.user_id FROM web_sessions s JOIN api_tokens t ON t.id = s.api_token_id
         WHERE s.session_hash = $1",
    )
    .bind(incident_runtime::api::token::hash(secret))
    .fetch_one(pool)
    .await
    .expect("session")
}

async fn page(app: &TestApp, secret: &str, path: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(format!("{}{path}", app.base))
        .header(COOKIE, format!("incident_session={secret}"))
        .send()
        .await
        .expect("page");
    (response.status(), response.text().await.expect("body"))
}

async fn refused_with(pool: PgPool, change: impl FnOnce(&mut Knobs), reason: &str) {
    // The recorder is installed on first use: before the callback counts.
    incident_runtime::metrics::handle();
    let idp = Idp::start(Person::new("sub-ada", "ada@example.com")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Viewer)).await;
    idp.set(change);
    let refused = round(&app).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session.is_none());
    assert!(
        refused.body.contains(&format!("(reason: {reason})")),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Sign in with SSO"),
        "the page offers another try"
    );
    assert_eq!(sessions(&pool).await, 0);
    let metrics = incident_runtime::metrics::handle().render();
    let line = format!("incident_web_sso_sign_ins_total{{outcome=\"{reason}\"}}");
    assert!(metrics.lines().any(|l| l.starts_with(&line)), "{metrics}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn signing_in_through_the_provider_opens_a_session_as_the_existing_user(pool: PgPool) {
    let idp = Idp::start(Person::new("sub-ada", "Ada@Example.com")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Viewer)).await;
    let (ada, _) = app.person(ADMIN, "ada@example.com", "responder").await;

    let signed_in = round(&app).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location.as_deref(), Some("/ui/incidents/new"));
    let secret = signed_in.session.expect("session cookie");
    // Linked by email, with the role Ada's own token has (not the default).
    assert_eq!(
        session_token(&pool, &secret).await,
        (AccessRole::Responder, Some(ada))
    );
    let (status, body) = page(&app, &secret, "/ui/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign out"), "{body}");
    let linked: (Uuid, AccessRole) = sqlx::query_as(
        "SELECT user_id, role FROM user_identities WHERE issuer = $1 AND subject = 'sub-ada'",
    )
    .bind(&idp.issuer)
    .fetch_one(&pool)
    .await
    .expect("identity");
    assert_eq!(linked, (ada, AccessRole::Responder));
    // The state, nonce and verifier were spent.
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM oidc_logins")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(pending, 0);

    // The next sign-in finds the identity even after the email changed at the provider,
    // and drops the sign-in tokens that ended more than a day ago.
    sqlx::query(
        "UPDATE api_tokens SET created_at = now() - interval '3 days',
                expires_at = now() - interval '2 days'
         WHERE name = 'single sign-on session'",
    )
    .execute(&pool)
    .await
    .expect("age the first sign-in's token");
    idp.set(|k| k.person.email = "ada.lovelace@example.com".into());
    let again = round(&app).await;
    let secret = again.session.expect("signed in again");
    assert_eq!(session_token(&pool, &secret).await.1, Some(ada));
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM api_tokens WHERE user_id = $1 ORDER BY created_at")
            .bind(ada)
            .fetch_all(&pool)
            .await
            .expect("tokens");
    assert_eq!(names, ["ada@example.com token", "single sign-on session"]);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_for_another_audience_is_refused(pool: PgPool) {
    refused_with(pool, |k| k.wrong_audience = true, "wrong_audience").await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_expired_token_is_refused(pool: PgPool) {
    refused_with(pool, |k| k.expired = true, "expired").await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_signed_by_another_key_is_refused(pool: PgPool) {
    refused_with(pool, |k| k.bad_signature = true, "bad_signature").await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_replayed_callback_and_one_from_another_browser_are_refused(pool: PgPool) {
    let idp = Idp::start(Person::new("sub-ada", "ada@example.com")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Viewer)).await;
    let first = round(&app).await;
    assert!(first.session.is_some(), "{}", first.body);

    let replayed = finish(&first.callback, Some(&first.state_cookie)).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(cookie(&replayed, "incident_session").is_none());
    let body = replayed.text().await.expect("body");
    assert!(body.contains("(reason: unknown_state)"), "{body}");

    // A callback carrying a state this browser did not start.
    let (callback, _) = start(&app, "default").await;
    let foreign = finish(&callback, None).await;
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    let body = foreign.text().await.expect("body");
    assert!(body.contains("(reason: state_mismatch)"), "{body}");
    assert_eq!(sessions(&pool).await, 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_first_sign_in_of_the_workspaces_domain_creates_the_user_with_the_default_role(
    pool: PgPool,
) {
    let mut person = Person::new("sub-grace", "grace@EXAMPLE.com");
    person.name = "Grace Hopper".into();
    let idp = Idp::start(person).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Responder)).await;
    let signed_in = round(&app).await;
    let secret = signed_in.session.expect("signed in");
    let (role, user) = session_token(&pool, &secret).await;
    assert_eq!(role, AccessRole::Responder);
    let (email, name): (String, String) =
        sqlx::query_as("SELECT email, display_name FROM users WHERE id = $1")
            .bind(user.expect("user"))
            .fetch_one(&pool)
            .await
            .expect("user");
    assert_eq!(
        (email.as_str(), name.as_str()),
        ("grace@EXAMPLE.com", "Grace Hopper")
    );
    // The new user is a responder: the list offers the declare form.
    let (_, body) = page(&app, &secret, "/ui/incidents").await;
    assert!(body.contains("/ui/incidents/new"), "{body}");
    assert!(body.contains("Grace Hopper"), "{body}");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_email_outside_the_domain_or_unverified_is_refused_and_no_user_is_made(pool: PgPool) {
    let idp = Idp::start(Person::new("sub-eve", "eve@elsewhere.test")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Admin)).await;
    let users = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let before = users().await;
    let refused = round(&app).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.session.is_none());
    assert!(
        refused
            .body
            .contains("eve@elsewhere.test is not a user of this workspace"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("(reason: outside_domain)"));

    idp.set(|k| {
        k.person.email = "mallory@example.com".into();
        k.person.email_verified = Some(false);
        k.person.subject = "sub-mallory".into();
    });
    let unverified = round(&app).await;
    assert_eq!(unverified.status, StatusCode::FORBIDDEN);
    assert!(unverified.body.contains("(reason: email_unverified)"));
    assert_eq!(users().await, before);
    assert_eq!(sessions(&pool).await, 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_sso_button_shows_only_when_configured_and_sign_in_is_per_workspace(pool: PgPool) {
    let idp = Idp::start(Person::new("sub-ada", "ada@example.com")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Viewer)).await;
    let login = no_redirects()
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    assert!(login.contains("Sign in with SSO"), "{login}");

    // Ada is a user of another workspace only: signing in to it links her there, and
    // nothing of `default` is hers.
    let acme = app.other_workspace("acme").await;
    let ada = app.user(&acme, "ada@example.com").await;
    let (callback, state) = start(&app, "acme").await;
    let signed_in = finish(&callback, Some(&state)).await;
    let secret = cookie(&signed_in, "incident_session").expect("session");
    assert_eq!(
        session_token(&pool, &secret).await,
        (AccessRole::Viewer, Some(ada))
    );

    let unknown = no_redirects()
        .get(format!("{}/ui/login/sso?workspace=nowhere", app.base))
        .send()
        .await
        .expect("start");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn without_configuration_there_is_no_sso_button_and_no_sso_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let login = no_redirects()
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    assert!(!login.contains("Sign in with SSO"), "{login}");
    let start = no_redirects()
        .get(format!("{}/ui/login/sso", app.base))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_entra_style_multi_tenant_provider_signs_in_the_allowed_tenant_only(pool: PgPool) {
    // The test app allows the test kit's tenant (`TENANT`) in.
    let idp = Idp::start_multi_tenant(Person::new("sub-ada", "ada@example.com")).await;
    let app = TestApp::spawn_with_sso(pool.clone(), &idp, policy(AccessRole::Viewer)).await;
    let (ada, _) = app.person(ADMIN, "ada@example.com", "responder").await;
    let signed_in = round(&app).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let secret = signed_in.session.expect("session cookie");
    assert_eq!(session_token(&pool, &secret).await.1, Some(ada));
    // The identity is the tenant's: its issuer names the tenant, not `organizations`.
    let issuer: String =
        sqlx::query_scalar("SELECT issuer FROM user_identities WHERE subject = 'sub-ada'")
            .fetch_one(&pool)
            .await
            .expect("identity");
    assert!(
        issuer.ends_with(&format!("/{}/v2.0", incident_testkit::idp::TENANT)),
        "{issuer}"
    );

    // Someone of another tenant, even with an email of a user here, is refused.
    idp.set(|k| k.tenant = "9d1e0000-0000-4000-8000-0000000000b0".into());
    let refused = round(&app).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(
        refused.body.contains("(reason: wrong_tenant)"),
        "{}",
        refused.body
    );
    assert!(refused.session.is_none());
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_multi_tenant_provider_without_allowed_tenants_says_sso_is_misconfigured(pool: PgPool) {
    let idp = Idp::start_multi_tenant(Person::new("sub-ada", "ada@example.com")).await;
    let app =
        TestApp::spawn_with_sso_tenants(pool, &idp, policy(AccessRole::Viewer), Vec::new()).await;
    let response = no_redirects()
        .get(format!("{}/ui/login/sso?workspace=default", app.base))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.expect("body");
    assert!(body.contains("not set up correctly"), "{body}");
    assert!(body.contains("(reason: tenants_required)"), "{body}");
}
