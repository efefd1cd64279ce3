//! An OpenID Connect relying party: the authorization code flow with PKCE (S256), as
//! Okta, Google, Keycloak and Entra ID speak it, configured by issuer URL only.
//!
//! - **Discovery**: `{issuer}/.well-known/openid-configuration`, fetched on first use and
//!   cached for [`DISCOVERY_TTL`]; its `issuer` must be the configured one exactly
//!   (OpenID Connect Discovery 1.0 §4.3), or nothing is trusted. The one exception is a
//!   multi-tenant provider (Entra ID's `organizations` or `common` endpoints), whose
//!   document names a template, `https://login.microsoftonline.com/{tenantid}/v2.0`: it is
//!   trusted only when the configured issuer has the template's shape and
//!   [`OidcConfig::tenants`] names the tenants allowed in; an ID token must then come
//!   from one of them (`iss` is the template with the token's own `tid`), which is how
//!   Microsoft asks a multi-tenant application to validate its tokens.
//! - **Start** ([`Client::authorize`]): a fresh `state`, `nonce` and PKCE `code_verifier`
//!   (each 256 bits from the OS's generator, base64url), and the provider's authorization
//!   URL carrying the state, the nonce and the verifier's S256 challenge. The caller keeps
//!   the three server-side, single use, short-lived; this module stores nothing.
//! - **Finish** ([`Client::finish`]): the code is exchanged at the token endpoint
//!   (`client_secret_basic` when a secret is configured, with the verifier), and the ID
//!   token is verified: RS256 only, the key found by `kid` in the provider's JWKS (cached;
//!   an unknown `kid` refetches the JWKS once, which is how key rotation arrives), the
//!   signature, `iss`, `aud` (and `azp` when there are several audiences), `exp` with
//!   [`LEEWAY_SECS`] of clock skew, and the `nonce` of this sign-in.
//!
//! Every failure is a [`Refusal`] with a stable [`Refusal::reason`], for logs, metrics and
//! the page that tells the person it did not work.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

/// How long a discovery document is trusted before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Clock skew tolerated on `exp` (and `nbf`, `iat`), in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// How long one request to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// What is asked of the provider: the subject, the email address and the name.
pub const SCOPE: &str = "openid email profile";

/// The relying party's registration with one provider.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL, exactly as the provider's tokens name it
    /// (`https://accounts.google.com`, `https://keycloak.example/realms/ops`).
    pub issuer: String,
    /// The client id registered with the provider; the ID token's audience.
    pub client_id: String,
    /// The client secret, for a confidential client; none for a public one (PKCE only).
    pub client_secret: Option<SecretString>,
    /// Where the provider sends the browser back (registered with it).
    pub redirect_url: String,
    /// For a multi-tenant provider (a discovery `issuer` with `{tenantid}`), the tenant
    /// ids whose people may sign in; ignored for a single-tenant one. Without any, a
    /// multi-tenant provider is not trusted: anyone with an account in any tenant could
    /// otherwise sign in, with an email address their own tenant's admin chose.
    pub tenants: Vec<String>,
}

/// The placeholder a multi-tenant provider's discovery document puts in its `issuer`.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The parts of the provider's discovery document this client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// The issuer; must equal the configured one, or be a multi-tenant template
    /// ([`TENANT_PLACEHOLDER`]).
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
}

/// A started sign-in: where to send the browser, and what to keep until it comes back.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// Echoed back on the callback; names the pending sign-in.
    pub state: String,
    /// Must come back inside the ID token.
    pub nonce: String,
    /// The PKCE secret, sent with the code (its S256 hash went in the URL).
    pub code_verifier: String,
}

/// Who the provider says signed in: the verified ID token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss`.
    pub issuer: String,
    /// `sub`: stable per person and issuer.
    pub subject: String,
    /// `email`, if the provider shares it.
    pub email: Option<String>,
    /// `email_verified`, if the provider says (Entra ID does not).
    pub email_verified: Option<bool>,
    /// `name`, or else `preferred_username`.
    pub name: Option<String>,
}

/// Why a sign-in was refused. Each has a stable [`Refusal::reason`].
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The discovery document could not be fetched or read.
    #[error("the identity provider's discovery document is unavailable: {0}")]
    Discovery(String),
    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document names issuer {found:?}, not the configured {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// The JWKS could not be fetched or read.
    #[error("the identity provider's keys are unavailable: {0}")]
    Keys(String),
    /// The token endpoint refused the code or failed.
    #[error("the code exchange failed: {0}")]
    TokenExchange(String),
    /// The token response carried no ID token.
    #[error("the token response has no ID token")]
    NoIdToken,
    /// The ID token is not a well-formed JWT with the claims we need.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// The ID token is signed with an algorithm other than RS256.
    #[error("the ID token is signed with {0}, not RS256")]
    Algorithm(String),
    /// No key of the provider's JWKS (even refetched) has the token's `kid`.
    #[error("no key of the identity provider has id {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the provider's key.
    #[error("the ID token's signature does not verify")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the ID token is from another issuer")]
    WrongIssuer,
    /// A multi-tenant provider's token is from a tenant not allowed in.
    #[error("the ID token is from a tenant that may not sign in here")]
    WrongTenant,
    /// The provider is multi-tenant and no tenant is allowed in (the configuration).
    #[error(
        "the identity provider is multi-tenant (its issuer is {0:?}): name the tenants allowed to sign in (INCIDENT_OIDC_TENANTS)"
    )]
    TenantsRequired(String),
    /// `aud` (or `azp`) is not this client.
    #[error("the ID token is for another client")]
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("the ID token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// The `nonce` is missing or is not this sign-in's.
    #[error("the ID token's nonce is not this sign-in's")]
    WrongNonce,
}

impl Refusal {
    /// The stable name of this refusal (logs, metrics, tests).
    pub const fn reason(&self) -> &'static str {
        match self {
            Refusal::Discovery(_) => "discovery_unavailable",
            Refusal::IssuerMismatch { .. } => "issuer_mismatch",
            Refusal::Keys(_) => "keys_unavailable",
            Refusal::TokenExchange(_) => "token_exchange_failed",
            Refusal::NoIdToken => "no_id_token",
            Refusal::Malformed(_) => "malformed_id_token",
            Refusal::Algorithm(_) => "unsupported_algorithm",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongTenant => "wrong_tenant",
            Refusal::TenantsRequired(_) => "tenants_required",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::WrongNonce => "wrong_nonce",
        }
    }
}

/// A relying party for one provider. Share one per process: it caches the discovery
/// document and the keys.
pub struct Client {
    config: OidcConfig,
    http: reqwest::Client,
    discovery: RwLock<Option<(Discovery, Instant)>>,
    keys: RwLock<Option<JwkSet>>,
    /// Held while the JWKS is refetched, so concurrent sign-ins fetch it once.
    refetch: Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oidc::Client")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, base64url without padding (43 characters: a valid PKCE verifier).
fn random() -> String {
    // A v4 UUID carries 122 bits from the OS's generator; three of them, hashed, give a
    // uniformly distributed 256-bit value without another dependency.
    let mut hasher = Sha256::new();
    for _ in 0..3 {
        hasher.update(uuid::Uuid::new_v4().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    /// Entra ID's tenant of the person.
    #[serde(default)]
    tid: Option<String>,
    sub: String,
    aud: serde_json::Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

impl Client {
    /// A client for the provider of `config`; nothing is fetched until first use.
    pub fn new(config: OidcConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            config,
            http,
            discovery: RwLock::new(None),
            keys: RwLock::new(None),
            refetch: Mutex::new(()),
        }
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's discovery document, from the cache while it is fresh.
    pub async fn discovery(&self) -> Result<Discovery, Refusal> {
        if let Some((doc, at)) = &*self.discovery.read().await
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(doc.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let fetched: Result<Discovery, String> = async {
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{url} answered {}", response.status()));
            }
            response.json().await.map_err(|e| e.to_string())
        }
        .await;
        let doc = match fetched {
            Ok(doc) => doc,
            Err(e) => {
                // A provider that is briefly unreachable should not stop sign-ins while
                // the document we had still names its endpoints.
                if let Some((doc, _)) = &*self.discovery.read().await {
                    tracing::warn!(error = %e, "OIDC discovery refetch failed; using the cached document");
                    return Ok(doc.clone());
                }
                return Err(Refusal::Discovery(e));
            }
        };
        if doc.issuer != self.config.issuer {
            if !fits_template(&doc.issuer, &self.config.issuer) {
                return Err(Refusal::IssuerMismatch {
                    expected: self.config.issuer.clone(),
                    found: doc.issuer,
                });
            }
            if self.config.tenants.is_empty() {
                return Err(Refusal::TenantsRequired(doc.issuer));
            }
        }
        *self.discovery.write().await = Some((doc.clone(), Instant::now()));
        Ok(doc)
    }

    /// Starts a sign-in: fresh state, nonce and verifier, and the URL to send the
    /// browser to.
    pub async fn authorize(&self) -> Result<Authorization, Refusal> {
        let doc = self.discovery().await?;
        let state = random();
        let nonce = random();
        let code_verifier = random();
        let mut url = reqwest::Url::parse(&doc.authorization_endpoint)
            .map_err(|e| Refusal::Discovery(format!("authorization_endpoint is not a URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", SCOPE)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&code_verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Authorization {
            url: url.into(),
            state,
            nonce,
            code_verifier,
        })
    }

    /// Finishes a sign-in: exchanges `code` with the sign-in's verifier and verifies the
    /// ID token against its nonce.
    pub async fn finish(
        &self,
        code: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, Refusal> {
        let id_token = self.exchange(code, code_verifier).await?;
        self.verify(&id_token, nonce).await
    }

    /// Exchanges an authorization code for the ID token (RFC 6749 §4.1.3, RFC 7636 §4.5).
    pub async fn exchange(&self, code: &str, code_verifier: &str) -> Result<String, Refusal> {
        let doc = self.discovery().await?;
        let body = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.redirect_url),
            ("code_verifier", code_verifier),
            ("client_id", &self.config.client_id),
        ])
        .map_err(|e| Refusal::TokenExchange(e.to_string()))?;
        let mut request = self
            .http
            .post(&doc.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some(secret) = &self.config.client_secret {
            // RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
            let id = form_encode(&self.config.client_id);
            let secret = form_encode(secret.expose_secret());
            request = request.basic_auth(id, Some(secret));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Refusal::TokenExchange(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Refusal::TokenExchange(e.to_string()))?;
        if !status.is_success() {
            let why = serde_json::from_str::<TokenError>(&text).map_or_else(
                |_| format!("the token endpoint answered {status}"),
                |e| match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                },
            );
            return Err(Refusal::TokenExchange(why));
        }
        let tokens: TokenResponse = serde_json::from_str(&text)
            .map_err(|e| Refusal::TokenExchange(format!("unreadable token response: {e}")))?;
        tokens.id_token.ok_or(Refusal::NoIdToken)
    }

    /// Verifies an ID token: signature by the provider's key, issuer, audience, expiry
    /// and the sign-in's nonce.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<Identity, Refusal> {
        let doc = self.discovery().await?;
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let key = self.key(&doc, header.kid.as_deref()).await?;
        let issuers = self.issuers(&doc);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&issuers);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Claims>(id_token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidIssuer if doc.issuer.contains(TENANT_PLACEHOLDER) => {
                    Refusal::WrongTenant
                }
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidAudience => Refusal::WrongAudience,
                ErrorKind::InvalidAlgorithm => Refusal::Algorithm(format!("{:?}", header.alg)),
                _ => Refusal::Malformed(e.to_string()),
            })?
            .claims;
        // A multi-tenant token names its tenant twice: `iss` (checked above against the
        // allowed tenants) and `tid`, which must be the same one.
        if doc.issuer.contains(TENANT_PLACEHOLDER) {
            let tenant = claims.tid.as_deref().unwrap_or_default();
            if tenant.is_empty() || doc.issuer.replace(TENANT_PLACEHOLDER, tenant) != claims.iss {
                return Err(Refusal::WrongTenant);
            }
        }
        // OpenID Connect Core §3.1.3.7 (4, 5): with several audiences, `azp` names the
        // client the token was issued to, and it must be us.
        let audiences = claims.aud.as_array().map_or(1, Vec::len);
        if audiences > 1 && claims.azp.as_deref() != Some(self.config.client_id.as_str()) {
            return Err(Refusal::WrongAudience);
        }
        match &claims.nonce {
            Some(found) if crate::csrf::same(found, nonce) => {}
            _ => return Err(Refusal::WrongNonce),
        }
        if claims.sub.is_empty() {
            return Err(Refusal::Malformed("empty sub".into()));
        }
        // Some providers send `email_verified` as the string "true".
        let email_verified = claims.email_verified.and_then(|v| match v {
            serde_json::Value::Bool(b) => Some(b),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        });
        Ok(Identity {
            issuer: claims.iss,
            subject: claims.sub,
            email: claims.email.filter(|e| !e.trim().is_empty()),
            email_verified,
            name: claims
                .name
                .or(claims.preferred_username)
                .filter(|n| !n.trim().is_empty()),
        })
    }

    /// The issuers an ID token may name: the configured one, or for a multi-tenant
    /// provider its template with each allowed tenant.
    fn issuers(&self, doc: &Discovery) -> Vec<String> {
        if doc.issuer.contains(TENANT_PLACEHOLDER) {
            self.config
                .tenants
                .iter()
                .map(|t| doc.issuer.replace(TENANT_PLACEHOLDER, t))
                .collect()
        } else {
            vec![self.config.issuer.clone()]
        }
    }

    /// The provider's key named `kid`: from the cached JWKS, else from a refetched one
    /// (once). A token without a `kid` is accepted only when the JWKS has a single key.
    async fn key(&self, doc: &Discovery, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        if let Some(key) = find_key(self.keys.read().await.as_ref(), kid)? {
            return Ok(key);
        }
        let _one_at_a_time = self.refetch.lock().await;
        // Another sign-in may have refetched while this one waited.
        if let Some(key) = find_key(self.keys.read().await.as_ref(), kid)? {
            return Ok(key);
        }
        let fetched = self.fetch_keys(doc).await?;
        let found = find_key(Some(&fetched), kid)?;
        *self.keys.write().await = Some(fetched);
        found.ok_or_else(|| Refusal::UnknownKey(kid.unwrap_or_default().to_owned()))
    }

    async fn fetch_keys(&self, doc: &Discovery) -> Result<JwkSet, Refusal> {
        let response = self
            .http
            .get(&doc.jwks_uri)
            .send()
            .await
            .map_err(|e| Refusal::Keys(e.to_string()))?;
        if !response.status().is_success() {
            return Err(Refusal::Keys(format!(
                "{} answered {}",
                doc.jwks_uri,
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| Refusal::Keys(format!("unreadable JWKS: {e}")))
    }
}

/// Whether `configured` is an instance of the multi-tenant issuer `template`: the same
/// text around [`TENANT_PLACEHOLDER`], one path segment in its place (`organizations`,
/// `common` or a tenant id).
fn fits_template(template: &str, configured: &str) -> bool {
    let Some((before, after)) = template.split_once(TENANT_PLACEHOLDER) else {
        return false;
    };
    configured.len() > before.len() + after.len()
        && configured.starts_with(before)
        && configured.ends_with(after)
        && !configured[before.len()..configured.len() - after.len()].contains('/')
}

fn find_key(keys: Option<&JwkSet>, kid: Option<&str>) -> Result<Option<DecodingKey>, Refusal> {
    let Some(keys) = keys else {
        return Ok(None);
    };
    let jwk = match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    };
    jwk.map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| Refusal::Keys(e.to_string())))
        .transpose()
}

fn form_encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_values_are_distinct_valid_verifiers() {
        let a = random();
        let b = random();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn a_multi_tenant_template_fits_the_issuers_of_its_shape_only() {
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(fits_template(
            template,
            "https://login.microsoftonline.com/organizations/v2.0"
        ));
        assert!(fits_template(
            template,
            "https://login.microsoftonline.com/common/v2.0"
        ));
        assert!(!fits_template(
            template,
            "https://login.microsoftonline.com/v2.0"
        ));
        assert!(!fits_template(
            template,
            "https://login.microsoftonline.com/a/b/v2.0"
        ));
        assert!(!fits_template(
            template,
            "https://evil.example/organizations/v2.0"
        ));
        assert!(!fits_template(
            "https://idp.example",
            "https://idp.example/x"
        ));
    }

    #[test]
    fn form_encoding_escapes_what_basic_auth_must_not_carry_raw() {
        assert_eq!(form_encode("a b:c/d"), "a+b%3Ac%2Fd");
        assert_eq!(form_encode("plain"), "plain");
    }

    mod against_the_test_provider {
        use incident_testkit::idp::{CLIENT_ID, CLIENT_SECRET, Idp, Person};

        use super::super::*;

        fn client_of(idp: &Idp) -> Client {
            Client::new(OidcConfig {
                issuer: idp.issuer.clone(),
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.to_owned().into()),
                redirect_url: "http://127.0.0.1:9/ui/login/sso/callback".into(),
                tenants: Vec::new(),
            })
        }

        fn multi_tenant_client_of(idp: &Idp, tenants: &[&str]) -> Client {
            Client::new(OidcConfig {
                tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
                ..client_of(idp).config
            })
        }

        /// Starts a sign-in and lets the provider approve it; returns the code and the
        /// started authorization.
        async fn approved(client: &Client) -> (String, Authorization) {
            let started = client.authorize().await.expect("authorize");
            let browser = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let response = browser.get(&started.url).send().await.expect("authorize");
            assert_eq!(response.status(), 303, "{}", started.url);
            let location = response.headers()["location"].to_str().expect("location");
            let back = reqwest::Url::parse(location).expect("url");
            assert!(location.starts_with("http://127.0.0.1:9/ui/login/sso/callback?"));
            let param = |name: &str| {
                back.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .expect(name)
            };
            assert_eq!(param("state"), started.state);
            (param("code"), started)
        }

        async fn refusal_with(change: impl FnOnce(&mut incident_testkit::idp::Knobs)) -> Refusal {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = client_of(&idp);
            let (code, started) = approved(&client).await;
            idp.set(change);
            client
                .finish(&code, &started.code_verifier, &started.nonce)
                .await
                .expect_err("refused")
        }

        #[tokio::test]
        async fn a_code_exchanged_with_its_verifier_yields_the_verified_identity() {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = client_of(&idp);
            let (code, started) = approved(&client).await;
            assert!(started.url.contains("code_challenge_method=S256"));
            assert!(started.url.contains(&format!(
                "code_challenge={}",
                challenge(&started.code_verifier)
            )));
            let identity = client
                .finish(&code, &started.code_verifier, &started.nonce)
                .await
                .expect("signed in");
            assert_eq!(
                identity,
                Identity {
                    issuer: idp.issuer.clone(),
                    subject: "sub-1".into(),
                    email: Some("ada@example.com".into()),
                    email_verified: Some(true),
                    name: Some("ada".into()),
                }
            );
            // One discovery and one JWKS fetch serve the whole sign-in (cached).
            let served = idp.served();
            assert_eq!((served.discovery, served.jwks, served.tokens), (1, 1, 1));
            // A code is single use.
            let again = client
                .finish(&code, &started.code_verifier, &started.nonce)
                .await;
            assert_eq!(
                again.expect_err("replayed").reason(),
                "token_exchange_failed"
            );
        }

        #[tokio::test]
        async fn a_wrong_verifier_is_refused_by_the_provider() {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = client_of(&idp);
            let (code, started) = approved(&client).await;
            let refused = client
                .finish(
                    &code,
                    "a-verifier-of-another-sign-in-0123456789abc",
                    &started.nonce,
                )
                .await
                .expect_err("refused");
            assert_eq!(refused.reason(), "token_exchange_failed");
            assert!(refused.to_string().contains("code_verifier"), "{refused}");
        }

        #[tokio::test]
        async fn a_token_for_another_audience_is_refused() {
            let refused = refusal_with(|k| k.wrong_audience = true).await;
            assert_eq!(refused.reason(), "wrong_audience");
        }

        #[tokio::test]
        async fn an_expired_token_is_refused() {
            let refused = refusal_with(|k| k.expired = true).await;
            assert_eq!(refused.reason(), "expired");
        }

        #[tokio::test]
        async fn a_token_signed_by_another_key_is_refused() {
            let refused = refusal_with(|k| k.bad_signature = true).await;
            assert_eq!(refused.reason(), "bad_signature");
        }

        #[tokio::test]
        async fn a_token_with_another_nonce_is_refused() {
            let refused = refusal_with(|k| k.wrong_nonce = true).await;
            assert_eq!(refused.reason(), "wrong_nonce");
        }

        #[tokio::test]
        async fn an_unknown_key_refetches_the_keys_once_then_is_refused() {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = client_of(&idp);
            let good = client.verify(&idp.id_token("n-1"), "n-1").await;
            assert!(good.is_ok(), "{good:?}");
            assert_eq!(idp.served().jwks, 1);
            idp.set(|k| k.unknown_key = true);
            let refused = client
                .verify(&idp.id_token("n-2"), "n-2")
                .await
                .expect_err("refused");
            assert_eq!(refused.reason(), "unknown_key");
            assert_eq!(idp.served().jwks, 2, "one refetch, no more");
        }

        #[tokio::test]
        async fn a_rotated_key_is_found_by_refetching_the_keys() {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = client_of(&idp);
            assert!(client.verify(&idp.id_token("n-1"), "n-1").await.is_ok());
            idp.set(|k| k.rotated = true);
            let rotated = client.verify(&idp.id_token("n-2"), "n-2").await;
            assert_eq!(rotated.expect("rotated key").subject, "sub-1");
            assert!(client.verify(&idp.id_token("n-3"), "n-3").await.is_ok());
            assert_eq!(idp.served().jwks, 2, "the refetched keys are cached");
        }

        #[tokio::test]
        async fn a_discovery_document_of_another_issuer_is_not_trusted() {
            let idp = Idp::start(Person::new("sub-1", "ada@example.com")).await;
            let client = Client::new(OidcConfig {
                issuer: format!("{}/", idp.issuer),
                client_id: CLIENT_ID.into(),
                client_secret: None,
                redirect_url: "http://127.0.0.1:9/cb".into(),
                tenants: Vec::new(),
            });
            let refused = client.authorize().await.expect_err("refused");
            assert_eq!(refused.reason(), "issuer_mismatch");
        }

        #[tokio::test]
        async fn an_unreachable_provider_is_a_discovery_refusal() {
            let client = Client::new(OidcConfig {
                issuer: "http://127.0.0.1:9".into(),
                client_id: CLIENT_ID.into(),
                client_secret: None,
                redirect_url: "http://127.0.0.1:9/cb".into(),
                tenants: Vec::new(),
            });
            let refused = client.authorize().await.expect_err("refused");
            assert_eq!(refused.reason(), "discovery_unavailable");
        }

        #[tokio::test]
        async fn a_multi_tenant_provider_signs_in_people_of_the_allowed_tenants_only() {
            use incident_testkit::idp::TENANT;
            let idp = Idp::start_multi_tenant(Person::new("sub-1", "ada@example.com")).await;
            assert!(idp.issuer.ends_with("/organizations/v2.0"));
            let client = multi_tenant_client_of(&idp, &["another-tenant", TENANT]);
            let (code, started) = approved(&client).await;
            let identity = client
                .finish(&code, &started.code_verifier, &started.nonce)
                .await
                .expect("signed in");
            // The identity's issuer is the person's tenant's, so subjects of two tenants
            // never collide.
            let base = idp.issuer.trim_end_matches("/organizations/v2.0");
            assert_eq!(identity.issuer, format!("{base}/{TENANT}/v2.0"));
            assert_eq!(identity.subject, "sub-1");

            // A person of a tenant that is not allowed in.
            idp.set(|k| k.tenant = "9d1e0000-0000-4000-8000-0000000000b0".into());
            let refused = client.verify(&idp.id_token("n-2"), "n-2").await;
            assert_eq!(refused.expect_err("other tenant").reason(), "wrong_tenant");
            // `tid` must be the tenant `iss` names.
            idp.set(|k| {
                k.tenant = TENANT.into();
                k.tid_differs = true;
            });
            let refused = client.verify(&idp.id_token("n-3"), "n-3").await;
            assert_eq!(refused.expect_err("tid differs").reason(), "wrong_tenant");
            // The usual checks still hold.
            idp.set(|k| {
                k.tid_differs = false;
                k.wrong_audience = true;
            });
            let refused = client.verify(&idp.id_token("n-4"), "n-4").await;
            assert_eq!(refused.expect_err("audience").reason(), "wrong_audience");
        }

        #[tokio::test]
        async fn a_multi_tenant_provider_without_allowed_tenants_is_not_trusted() {
            let idp = Idp::start_multi_tenant(Person::new("sub-1", "ada@example.com")).await;
            let refused = client_of(&idp).authorize().await.expect_err("refused");
            assert_eq!(refused.reason(), "tenants_required");
            assert!(
                refused.to_string().contains("INCIDENT_OIDC_TENANTS"),
                "{refused}"
            );
            // Nor is a template when the configured issuer is not of its shape.
            // (The provider's root serves the same document.)
            let client = Client::new(OidcConfig {
                issuer: idp
                    .issuer
                    .trim_end_matches("/organizations/v2.0")
                    .to_owned(),
                ..multi_tenant_client_of(&idp, &["t"]).config
            });
            assert_eq!(
                client.authorize().await.expect_err("refused").reason(),
                "issuer_mismatch"
            );
        }
    }
}
