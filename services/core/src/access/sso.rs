//! Single sign-on: the storage side of an OpenID Connect sign-in (the protocol is
//! `incident_web::oidc`), and who a verified identity is in a workspace.
//!
//! - A started sign-in is kept in `oidc_logins` (migration `0092_oidc.sql`) under the
//!   SHA-256 of its state, with its nonce, PKCE verifier, workspace and return page, for
//!   [`LOGIN_LIFETIME`]. [`take`] deletes it as it reads it: a state answers once.
//! - [`sign_in`] resolves a verified identity in the sign-in's workspace, in this order:
//!   the identity already linked (`user_identities`, by issuer and subject); else the
//!   user with the identity's email, now linked; else, if the email is of the
//!   configured domain, a new user with the configured default role; else a refusal.
//!   An email the provider says is unverified is never used to link or create.
//! - The sign-in's session needs a token to stand on (`web_sessions` joins one, so
//!   revoking works the same for both ways in): each sign-in mints one for the user, with
//!   the identity's role, ending when the session does. Its secret is thrown away: it
//!   only ever backs that session. The next sign-in drops the user's sign-in tokens
//!   that ended more than a day before.
//!
//! The role of an identity linked to an existing user is the best role of the user's
//! live tokens (what they may already do), or the default role if they have none.

use chrono::{DateTime, Duration, Utc};
use incident_runtime::api::token;
use incident_schema::AccessRole;
use incident_schema::auth::{ApiToken, NewApiToken, insert_api_token};
use incident_schema::user::{NewUser, create_user};
use incident_web::oidc::{Authorization, Identity};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::DomainResult;

/// The name of the tokens single sign-on mints (one per sign-in).
pub const TOKEN_NAME: &str = "single sign-on session";

/// How long a started sign-in waits for the browser to come back.
pub const LOGIN_LIFETIME: Duration = Duration::minutes(10);

/// What a first sign-in may do: which emails create a user, and with what role.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The email domain (`example.com`) whose people get a user on first sign-in; none:
    /// only people who already are users (by email) may sign in.
    pub email_domain: Option<String>,
    /// The role of a user created on first sign-in.
    pub default_role: AccessRole,
}

/// A started sign-in, taken back on the callback.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    /// The workspace being signed in to.
    pub workspace_id: Uuid,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub code_verifier: String,
    /// Where to go once signed in.
    pub next: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Keeps a started sign-in (and drops the ones that expired).
pub async fn remember(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    started: &Authorization,
    next: &str,
) -> DomainResult<()> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, workspace_id, nonce, code_verifier, next, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token::hash(&started.state))
    .bind(workspace_id)
    .bind(&started.nonce)
    .bind(&started.code_verifier)
    .bind(next)
    .bind(Utc::now() + LOGIN_LIFETIME)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the sign-in started with `state`: none if unknown, already taken or expired
/// (an expired one is deleted too).
pub async fn take(conn: &mut PgConnection, state: &str) -> DomainResult<Option<Pending>> {
    let taken: Option<Pending> = sqlx::query_as(
        "DELETE FROM oidc_logins WHERE state_hash = $1
         RETURNING workspace_id, nonce, code_verifier, next, expires_at",
    )
    .bind(token::hash(state))
    .fetch_optional(conn)
    .await?;
    Ok(taken.filter(|p| p.expires_at > Utc::now()))
}

/// Why a verified identity may not sign in to the workspace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The provider shared no email, and the identity is not linked yet.
    #[error("the identity provider did not share an email address")]
    NoEmail,
    /// The provider says the email is not verified.
    #[error("the identity provider has not verified {0}")]
    EmailUnverified(String),
    /// No user has this email and its domain is not the workspace's.
    #[error("{0} is not a user of this workspace, and its domain is not the workspace's")]
    OutsideDomain(String),
}

impl Refused {
    /// A stable name for logs and tests.
    pub const fn reason(&self) -> &'static str {
        match self {
            Refused::NoEmail => "no_email",
            Refused::EmailUnverified(_) => "email_unverified",
            Refused::OutsideDomain(_) => "outside_domain",
        }
    }
}

/// Who signed in: the token minted for the session, and whether the user is new.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The token the session stands on (its secret was never kept).
    pub token: ApiToken,
    /// Whether this sign-in created the user.
    pub created_user: bool,
}

#[derive(sqlx::FromRow)]
struct Linked {
    user_id: Uuid,
    role: AccessRole,
}

/// The email's domain, lower case.
fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(local, domain)| (local, domain.trim().to_ascii_lowercase()))
        .filter(|(local, domain)| !local.is_empty() && !domain.is_empty())
        .map(|(_, domain)| domain)
}

/// Resolves `identity` in `workspace_id` under `policy` and mints the session's token.
/// Run it in a transaction: it may create a user and link an identity.
pub async fn sign_in(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    identity: &Identity,
    policy: &Policy,
) -> DomainResult<Result<SignedIn, Refused>> {
    let linked: Option<Linked> = sqlx::query_as(
        "UPDATE user_identities SET last_sign_in_at = now()
         WHERE workspace_id = $1 AND issuer = $2 AND subject = $3
         RETURNING user_id, role",
    )
    .bind(workspace_id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(&mut *conn)
    .await?;
    let mut created_user = false;
    let linked = match linked {
        Some(linked) => linked,
        None => {
            let Some(email) = identity.email.as_deref().map(str::trim) else {
                return Ok(Err(Refused::NoEmail));
            };
            if identity.email_verified == Some(false) {
                return Ok(Err(Refused::EmailUnverified(email.to_owned())));
            }
            let (user_id, role) = match user_by_email(conn, workspace_id, email).await? {
                Some(user_id) => {
                    let role = best_role(conn, workspace_id, user_id).await?;
                    (user_id, role.unwrap_or(policy.default_role))
                }
                None => {
                    let ours = policy.email_domain.as_deref().map(str::to_ascii_lowercase);
                    if ours.is_none() || domain_of(email) != ours {
                        return Ok(Err(Refused::OutsideDomain(email.to_owned())));
                    }
                    let name = identity
                        .name
                        .as_deref()
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| email.split('@').next().unwrap_or(email));
                    let user = create_user(
                        conn,
                        &NewUser {
                            workspace_id,
                            email,
                            display_name: name,
                            slack_user_id: None,
                        },
                    )
                    .await?;
                    created_user = true;
                    (user.id, policy.default_role)
                }
            };
            link(conn, workspace_id, user_id, identity, role).await?
        }
    };
    // One token per sign-in would pile up in the token listing: a sign-in drops the
    // user's own sign-in tokens that ended more than a day ago (they authenticate
    // nothing, and their sessions went with them).
    sqlx::query(
        "DELETE FROM api_tokens
         WHERE workspace_id = $1 AND user_id = $2 AND name = $3
           AND expires_at < now() - interval '1 day'",
    )
    .bind(workspace_id)
    .bind(linked.user_id)
    .bind(TOKEN_NAME)
    .execute(&mut *conn)
    .await?;
    let generated = token::generate();
    let token = insert_api_token(
        conn,
        &NewApiToken {
            workspace_id,
            user_id: Some(linked.user_id),
            name: TOKEN_NAME,
            role: linked.role,
            is_instance_admin: false,
            prefix: &generated.prefix,
            token_hash: &generated.hash,
            expires_at: Some(Utc::now() + incident_web::session::LIFETIME),
        },
    )
    .await?;
    Ok(Ok(SignedIn {
        token,
        created_user,
    }))
}

async fn user_by_email(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    email: &str,
) -> DomainResult<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM users WHERE workspace_id = $1 AND lower(email) = lower($2)",
    )
    .bind(workspace_id)
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

/// The best role among the user's live tokens (the enum's order is the roles' order).
async fn best_role(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> DomainResult<Option<AccessRole>> {
    Ok(sqlx::query_scalar(
        "SELECT max(role) FROM api_tokens
         WHERE workspace_id = $1 AND user_id = $2
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

async fn link(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    identity: &Identity,
    role: AccessRole,
) -> DomainResult<Linked> {
    // Two first sign-ins of one identity at once: the second finds the first's link.
    Ok(sqlx::query_as(
        "INSERT INTO user_identities (workspace_id, user_id, issuer, subject, role)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT user_identities_subject_key
         DO UPDATE SET last_sign_in_at = now()
         RETURNING user_id, role",
    )
    .bind(workspace_id)
    .bind(user_id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(role)
    .fetch_one(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::domain_of;

    #[test]
    fn the_domain_is_after_the_last_at_sign_in_lower_case() {
        assert_eq!(domain_of("Ada@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("a@b@evil.test").as_deref(), Some("evil.test"));
        assert_eq!(domain_of("@example.com"), None);
        assert_eq!(domain_of("nobody"), None);
    }
}
