//! Resolved tokens cached in process: a cached token keeps working without a lookup, a
//! token revoked elsewhere is refused once the TTL has passed, one revoked through this
//! process at once, and tenancy holds for cached tokens.
//!
//! A revocation "elsewhere" (another replica, whose eviction cannot reach this process)
//! is written straight to the database. No assertion depends on how fast anything runs:
//! the long-TTL tests cannot expire mid-test, the short-TTL one waits past its TTL.

use std::time::Duration;

use incident_runtime::api::token;
use incident_runtime::api::token_cache::{TokenCache, TokenHash};
use reqwest::{Method, StatusCode};
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp};

/// Longer than any test runs.
const LONG: Duration = Duration::from_secs(600);

fn key(secret: &str) -> TokenHash {
    TokenHash::try_from(token::hash(secret).as_slice()).expect("32 bytes")
}

/// Revokes the token `secret` in the database only, as another replica would.
async fn revoke_elsewhere(pool: &PgPool, secret: &str) {
    let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1")
        .bind(token::hash(secret))
        .execute(pool)
        .await
        .expect("revoke")
        .rows_affected();
    assert_eq!(revoked, 1);
}

/// The `hit` count of the token-lookup counter in this process.
fn hits() -> u64 {
    let text = incident_runtime::metrics::handle().render();
    text.lines()
        .find_map(|l| l.strip_prefix("incident_auth_token_lookups_total{outcome=\"hit\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_cached_token_is_answered_from_the_cache_keyed_by_its_hash(pool: PgPool) {
    let _ = incident_runtime::metrics::handle();
    let cache = TokenCache::new(LONG);
    let app = TestApp::spawn_with_tokens(pool, cache.clone()).await;
    let responder = app.token(ADMIN, "responder").await;
    let (code, _) = app.get(&responder, "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::OK);
    let cached = cache.get(&key(&responder)).expect("kept under its SHA-256");
    assert_eq!(cached.role.to_string(), "responder");

    revoke_elsewhere(&app.pool, &responder).await;
    let before = hits();
    let (code, body) = app.get(&responder, "/api/v1/incidents").await;
    assert_eq!(
        code,
        StatusCode::OK,
        "answered from the cache, without a lookup: {body}"
    );
    assert!(hits() > before, "counted as a hit");
    let created = app.declare(&responder, "still within the TTL").await;
    assert_eq!(created["title"], "still within the TTL");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_revoked_elsewhere_is_refused_once_the_ttl_has_passed(pool: PgPool) {
    let ttl = Duration::from_millis(200);
    let app = TestApp::spawn_with_tokens(pool, TokenCache::new(ttl)).await;
    let viewer = app.token(ADMIN, "viewer").await;
    let (code, _) = app.get(&viewer, "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::OK);

    revoke_elsewhere(&app.pool, &viewer).await;
    // The entry was made before the revocation, so past the TTL from here it is gone.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    app.api
        .get("/api/v1/incidents", &viewer)
        .await
        .assert_problem(401, "unauthorized");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_revoked_through_this_process_is_refused_at_once(pool: PgPool) {
    let cache = TokenCache::new(LONG);
    let app = TestApp::spawn_with_tokens(pool, cache.clone()).await;
    let responder = app.token(ADMIN, "responder").await;
    let (code, _) = app.get(&responder, "/api/v1/incidents").await;
    assert_eq!(code, StatusCode::OK);
    assert!(cache.get(&key(&responder)).is_some());

    let (_, tokens) = app.get(ADMIN, "/api/v1/tokens").await;
    let id = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["role"] == "responder")
        .and_then(|t| t["id"].as_str())
        .expect("listed")
        .to_owned();
    let (code, _) = app
        .call(ADMIN, Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(cache.get(&key(&responder)).is_none(), "evicted");
    app.api
        .get("/api/v1/incidents", &responder)
        .await
        .assert_problem(401, "unauthorized");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_cached_token_of_another_workspace_still_gets_404(pool: PgPool) {
    let cache = TokenCache::new(LONG);
    let app = TestApp::spawn_with_tokens(pool, cache.clone()).await;
    let other = app.other_workspace("other").await;
    let incident = app.declare(ADMIN, "workspace A only").await;
    let path = format!("/api/v1/incidents/{}", incident["id"].as_str().expect("id"));
    // Both tokens resolved once, so every request below is answered from the cache.
    for secret in [ADMIN, other.as_str()] {
        let (code, _) = app.get(secret, "/api/v1/incidents").await;
        assert_eq!(code, StatusCode::OK);
        assert!(cache.get(&key(secret)).is_some());
    }

    app.api
        .get(&path, &other)
        .await
        .assert_problem(404, "not-found");
    let (_, listed) = app.get(&other, "/api/v1/incidents").await;
    assert!(!listed.to_string().contains("workspace A only"), "{listed}");
    let (code, _) = app.get(ADMIN, &path).await;
    assert_eq!(code, StatusCode::OK, "its own workspace still sees it");
}
