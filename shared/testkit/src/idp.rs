//! A small OpenID Connect identity provider for tests, served on `127.0.0.1:0`: the
//! discovery document, a JWKS, `/authorize` (approving the configured person at once and
//! redirecting back with a code and the state) and `/token` (checking the client, the
//! redirect URI and the PKCE verifier against the S256 challenge, then answering with an
//! RS256 ID token).
//!
//! The keys are committed test keys (`shared/testkit/keys/`, made once with
//! `openssl genrsa -traditional 2048`): `idp.pem` is the provider's, published in its
//! JWKS as `test-idp-1`; `other.pem` is a stranger's. [`Knobs`] make the provider
//! misbehave the ways a relying party must refuse: a wrong audience, an expired token,
//! a signature by another key, a wrong nonce, a key not in the JWKS; or rotate to the
//! second key, which the JWKS then publishes too.
//!
//! [`Idp::start_multi_tenant`] starts it as Entra ID's multi-tenant endpoint is: its
//! issuer URL ends in `/organizations/v2.0`, its discovery document names the template
//! `…/{tenantid}/v2.0`, and each ID token the issuer of the person's tenant
//! ([`Knobs::tenant`]) with that tenant in `tid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const MAIN_KEY: &[u8] = include_bytes!("../keys/idp.pem");
const MAIN_JWK: &str = include_str!("../keys/idp.jwk.json");
const OTHER_KEY: &[u8] = include_bytes!("../keys/other.pem");
const OTHER_JWK: &str = include_str!("../keys/other.jwk.json");
/// The `kid` of the provider's own key.
pub const MAIN_KID: &str = "test-idp-1";
/// The `kid` of the second key (published only after [`Knobs::rotated`]).
pub const OTHER_KID: &str = "test-idp-other";

/// The client registered with the provider.
pub const CLIENT_ID: &str = "incident-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "incident-test-secret";

/// The person the provider signs in.
#[derive(Debug, Clone)]
pub struct Person {
    /// `sub`.
    pub subject: String,
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: String,
    /// `email_verified`, left out when none.
    pub email_verified: Option<bool>,
}

impl Person {
    /// A verified person with this subject and email, named after the email.
    pub fn new(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            email: email.to_owned(),
            name: email.split('@').next().unwrap_or(email).to_owned(),
            email_verified: Some(true),
        }
    }
}

/// How the provider behaves; change them with [`Idp::set`].
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Who `/authorize` signs in.
    pub person: Person,
    /// The ID token is for another client.
    pub wrong_audience: bool,
    /// The ID token expired ten minutes ago.
    pub expired: bool,
    /// The ID token is signed by a stranger's key under the provider's `kid`.
    pub bad_signature: bool,
    /// The ID token carries another nonce.
    pub wrong_nonce: bool,
    /// The ID token is signed by a key the JWKS does not publish (under its own `kid`).
    pub unknown_key: bool,
    /// The provider has rotated to its second key: it signs with it and the JWKS
    /// publishes both.
    pub rotated: bool,
    /// The person's tenant, for a multi-tenant provider (`iss` and `tid`).
    pub tenant: String,
    /// The token's `tid` names another tenant than its `iss`.
    pub tid_differs: bool,
}

/// The tenant a multi-tenant provider's person is in at first.
pub const TENANT: &str = "7f0c3a5e-0000-4000-8000-00000000a11c";

/// What the provider has served, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Discovery documents.
    pub discovery: usize,
    /// JWKS documents.
    pub jwks: usize,
    /// Codes handed out by `/authorize`.
    pub authorized: usize,
    /// ID tokens handed out by `/token`.
    pub tokens: usize,
}

struct Pending {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

struct Inner {
    knobs: Knobs,
    served: Served,
    codes: HashMap<String, Pending>,
}

#[derive(Clone)]
struct Shared {
    /// The base URL (endpoints hang off it).
    base: String,
    /// A multi-tenant provider's issuer template.
    template: Option<String>,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running provider (stopped on drop).
pub struct Idp {
    /// Its issuer URL to configure (`http://127.0.0.1:<port>`, also its base URL; for a
    /// multi-tenant one `…/organizations/v2.0`).
    pub issuer: String,
    shared: Shared,
    shutdown: CancellationToken,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Idp {
    /// Starts a provider that signs in `person`.
    pub async fn start(person: Person) -> Self {
        Self::started(person, false).await
    }

    /// Starts a multi-tenant provider (like Entra ID's `organizations` endpoint) that
    /// signs in `person` of [`TENANT`]; its `issuer` is the URL to configure.
    pub async fn start_multi_tenant(person: Person) -> Self {
        Self::started(person, true).await
    }

    async fn started(person: Person, multi_tenant: bool) -> Self {
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test identity provider");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (issuer, template) = if multi_tenant {
            (
                format!("{base}/organizations/v2.0"),
                Some(format!("{base}/{{tenantid}}/v2.0")),
            )
        } else {
            (base.clone(), None)
        };
        let shared = Shared {
            base,
            template,
            inner: Arc::new(Mutex::new(Inner {
                knobs: Knobs {
                    person,
                    wrong_audience: false,
                    expired: false,
                    bad_signature: false,
                    wrong_nonce: false,
                    unknown_key: false,
                    rotated: false,
                    tenant: TENANT.to_owned(),
                    tid_differs: false,
                },
                served: Served::default(),
                codes: HashMap::new(),
            })),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/organizations/v2.0/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("serve the test identity provider");
        });
        Self {
            issuer,
            shared,
            shutdown,
        }
    }

    /// Changes how the provider behaves from the next request on.
    pub fn set(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.shared.lock().knobs);
    }

    /// What it has served so far.
    pub fn served(&self) -> Served {
        self.shared.lock().served.clone()
    }

    /// An ID token as `/token` would sign it now, for `nonce` (tests of verification
    /// alone use it without a browser).
    pub fn id_token(&self, nonce: &str) -> String {
        let knobs = self.shared.lock().knobs.clone();
        sign(&self.shared, &knobs, Some(nonce))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sign(s: &Shared, knobs: &Knobs, nonce: Option<&str>) -> String {
    let issuer = match &s.template {
        Some(template) => template.replace("{tenantid}", &knobs.tenant),
        None => s.base.clone(),
    };
    let issued = now();
    let (issued, expires) = if knobs.expired {
        (issued - 1200, issued - 600)
    } else {
        (issued, issued + 300)
    };
    let audience = if knobs.wrong_audience {
        "someone-else"
    } else {
        CLIENT_ID
    };
    let nonce = if knobs.wrong_nonce {
        Some("not-this-sign-in")
    } else {
        nonce
    };
    let mut claims = json!({
        "iss": issuer,
        "sub": knobs.person.subject,
        "aud": audience,
        "iat": issued,
        "exp": expires,
        "email": knobs.person.email,
        "name": knobs.person.name,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if s.template.is_some() {
        claims["tid"] = json!(if knobs.tid_differs {
            "00000000-0000-4000-8000-0000000000ff"
        } else {
            knobs.tenant.as_str()
        });
    }
    if let Some(verified) = knobs.person.email_verified {
        claims["email_verified"] = json!(verified);
    }
    let (key, kid) = if knobs.bad_signature {
        (OTHER_KEY, MAIN_KID)
    } else if knobs.unknown_key || knobs.rotated {
        (OTHER_KEY, OTHER_KID)
    } else {
        (MAIN_KEY, MAIN_KID)
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(key).expect("the committed test key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    s.lock().served.discovery += 1;
    let i = &s.base;
    Json(json!({
        "issuer": s.template.as_deref().unwrap_or(i),
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    let rotated = {
        let mut inner = s.lock();
        inner.served.jwks += 1;
        inner.knobs.rotated
    };
    let main: Value = serde_json::from_str(MAIN_JWK).expect("jwk");
    let mut keys = vec![main];
    if rotated {
        keys.push(serde_json::from_str(OTHER_JWK).expect("jwk"));
    }
    Json(json!({ "keys": keys }))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn refuse(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, why.to_owned()).into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.response_type != "code" {
        return refuse("unsupported response_type");
    }
    if q.client_id != CLIENT_ID {
        return refuse("unknown client");
    }
    if !q.scope.split(' ').any(|s| s == "openid") {
        return refuse("scope must include openid");
    }
    let (Some(challenge), Some("S256")) = (q.code_challenge, q.code_challenge_method.as_deref())
    else {
        return refuse("PKCE with S256 is required");
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    {
        let mut inner = s.lock();
        inner.served.authorized += 1;
        inner.codes.insert(
            code.clone(),
            Pending {
                client_id: q.client_id,
                redirect_uri: q.redirect_uri.clone(),
                challenge,
                nonce: q.nonce,
            },
        );
    }
    let mut to = reqwest::Url::parse(&q.redirect_uri).expect("redirect_uri");
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &q.state {
        to.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(to.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's id and secret from `Authorization: Basic` (form-urlencoded parts) or
/// the form.
fn client_of(headers: &HeaderMap, form: &TokenForm) -> Option<(String, String)> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = basic {
        let (id, secret) = pair.split_once(':')?;
        let decode = |s: &str| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                .ok()
                .and_then(|v| v.into_iter().next())
                .map(|(_, v)| v)
        };
        return Some((decode(id)?, decode(secret)?));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()?))
}

async fn token(
    State(s): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type != "authorization_code" {
        return token_error("unsupported_grant_type", "only authorization_code");
    }
    match client_of(&headers, &form) {
        Some((id, secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => {}
        _ => return token_error("invalid_client", "unknown client or wrong secret"),
    }
    let (pending, knobs) = {
        let mut inner = s.lock();
        (inner.codes.remove(&form.code), inner.knobs.clone())
    };
    let Some(pending) = pending else {
        return token_error("invalid_grant", "unknown or used code");
    };
    if pending.client_id != CLIENT_ID || pending.redirect_uri != form.redirect_uri {
        return token_error(
            "invalid_grant",
            "redirect_uri differs from the authorization's",
        );
    }
    let verified = form
        .code_verifier
        .as_deref()
        .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == pending.challenge);
    if !verified {
        return token_error(
            "invalid_grant",
            "code_verifier does not match the challenge",
        );
    }
    let id_token = sign(&s, &knobs, pending.nonce.as_deref());
    s.lock().served.tokens += 1;
    Json(json!({
        "access_token": uuid::Uuid::new_v4().simple().to_string(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}
