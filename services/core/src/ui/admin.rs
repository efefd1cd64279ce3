//! The admin settings pages for what core owns: the workspace's users
//! (`/ui/settings/users`, one at `/ui/settings/users/{id}`), its API tokens (`/ui/settings/tokens`) and its SLA policies
//! (`/ui/settings/sla`).
//!
//! Adapters over the same domain functions as the JSON API's admin handlers
//! ([`crate::access::admin`], [`crate::incident::sla_policy`]), so a rule (validation,
//! uniqueness, tenancy) lives in one place: the pages only parse form text and show a
//! refused field next to it, re-rendering with 422. Every page and form is for workspace
//! admins (403 page otherwise, as the status-page settings); a token id of another
//! workspace answers 404. A new token's secret is in the answer to its form and nowhere
//! else: the listing shows only its name and prefix. A token may be given an expiry
//! (never, 7/30/90/365 days, or through a chosen day, UTC; a day in the past is refused),
//! stored as the API's `expires_at`, and the listing says when it expires or expired. A revoked token is evicted from
//! this process's token cache at once, as the API's revocation does, and the sessions
//! signed in with it end (a session is only as live as its token).
//!
//! A role belongs to an API token, not to a user (the API has no user role to change):
//! the users page shows the roles a person's live tokens grant, and a person's role
//! changes by creating a token for them and revoking the old one.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use incident_schema::{AccessRole, ApiToken, Severity, SlaPolicy, Timestamp, User};
use incident_web::shell::{Section, Shell, render_status};
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::UiState;
use super::error::UiError;
use super::pages::{
    Choice, FieldError, NewSecret, RevokeTokenPage, SlaPage, SlaRow, TokenRow, TokensPage,
    UserDraft, UserEditPage, UserRow, UsersPage, When,
};
use crate::access::admin::{self, NewTokenRequest, NewUserRequest, UserPatch};
use crate::error::DomainError;
use crate::incident::sla_policy::{self, PolicyInput};

fn require_admin(session: &WebSession) -> Result<(), UiError> {
    if session.may(AccessRole::Admin) {
        Ok(())
    } else {
        Err(UiError(DomainError::Forbidden(
            "only workspace admins manage users, tokens and SLA policies".to_owned(),
        )))
    }
}

/// A refused field, or the error the page answers with.
fn refused(e: DomainError) -> Result<FieldError, UiError> {
    match e {
        DomainError::Validation { field, message } => Ok(FieldError { field, message }),
        // A duplicate email or Slack id: about the form as a whole.
        DomainError::Conflict(message) => Ok(FieldError {
            field: String::new(),
            message,
        }),
        other => Err(UiError(other)),
    }
}

/// `?added=1`, `?revoked=1`, `?saved=SEV1` after a write.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    added: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn live(token: &ApiToken) -> bool {
    token.revoked_at.is_none() && token.expires_at.is_none_or(|e| e > Utc::now())
}

/// The roles `user`'s live tokens grant, strongest first.
fn roles_of(user: Uuid, tokens: &[ApiToken]) -> Vec<String> {
    let mut roles: Vec<AccessRole> = tokens
        .iter()
        .filter(|t| t.user_id == Some(user) && live(t))
        .map(|t| t.role)
        .collect();
    roles.sort_by_key(|r| std::cmp::Reverse(AccessRole::ALL.iter().position(|a| a == r)));
    roles.dedup();
    roles.iter().map(ToString::to_string).collect()
}

async fn users_page(
    conn: &mut PgConnection,
    session: &WebSession,
    draft: UserDraft,
    error: Option<FieldError>,
    added: bool,
) -> Result<UsersPage, UiError> {
    let workspace_id = session.auth.workspace_id;
    let users = admin::list_users(conn, workspace_id).await?;
    let tokens = admin::list_tokens(conn, workspace_id).await?;
    let users = users
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            roles: roles_of(u.id, &tokens),
            name: u.display_name,
            email: u.email,
            slack_user_id: u.slack_user_id,
        })
        .collect();
    Ok(UsersPage {
        shell: Shell::signed_in("Users", session, Section::Users),
        users,
        draft,
        error,
        added,
    })
}

/// `GET /ui/settings/users` (admins).
pub async fn users(
    State(state): State<UiState>,
    session: WebSession,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let mut conn = state.app.pool.acquire().await?;
    let page = users_page(
        &mut conn,
        &session,
        UserDraft::default(),
        None,
        done.added.is_some(),
    )
    .await?;
    Ok(render(&page))
}

/// The add-user form.
#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    slack_user_id: String,
}

/// `POST /ui/settings/users` (admins): adds a user, or shows the refused field.
pub async fn add_user(
    State(state): State<UiState>,
    posted: VerifiedForm<UserForm>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let slack = form.slack_user_id.trim();
    let request = NewUserRequest {
        email: form.email.clone(),
        display_name: form.display_name.clone(),
        slack_user_id: (!slack.is_empty()).then(|| slack.to_owned()),
    };
    let mut conn = state.app.pool.acquire().await?;
    match admin::add_user(&mut conn, session.auth.workspace_id, &request).await {
        Ok(user) => {
            tracing::info!(workspace_id = %session.auth.workspace_id, user_id = %user.id, "user added from the settings page");
            Ok(Redirect::to("/ui/settings/users?added=1").into_response())
        }
        Err(e) => {
            let error = refused(e)?;
            let draft = UserDraft {
                email: form.email,
                display_name: form.display_name,
                slack_user_id: form.slack_user_id,
            };
            let page = users_page(&mut conn, &session, draft, Some(error), false).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

fn user_id(id: &str) -> Result<Uuid, UiError> {
    id.parse()
        .map_err(|_| UiError(DomainError::NotFound("user")))
}

async fn user_page(
    conn: &mut PgConnection,
    session: &WebSession,
    id: Uuid,
    draft: Option<UserDraft>,
    error: Option<FieldError>,
    saved: bool,
) -> Result<UserEditPage, UiError> {
    let workspace_id = session.auth.workspace_id;
    // Another workspace's user is not in this list: 404, as the API's PATCH.
    let user = admin::list_users(conn, workspace_id)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or(DomainError::NotFound("user"))?;
    let tokens = admin::list_tokens(conn, workspace_id).await?;
    Ok(UserEditPage {
        shell: Shell::signed_in(user.display_name.clone(), session, Section::Users),
        id: user.id.to_string(),
        name: user.display_name.clone(),
        roles: roles_of(user.id, &tokens),
        draft: draft.unwrap_or(UserDraft {
            email: user.email,
            display_name: user.display_name,
            slack_user_id: user.slack_user_id.unwrap_or_default(),
        }),
        error,
        saved,
    })
}

/// `GET /ui/settings/users/{id}` (admins): a user's form.
pub async fn user(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let id = user_id(&id)?;
    let mut conn = state.app.pool.acquire().await?;
    let page = user_page(&mut conn, &session, id, None, None, done.saved.is_some()).await?;
    Ok(render(&page))
}

/// `POST /ui/settings/users/{id}` (admins): changes a user's email, name and Slack id
/// (empty clears it), as the API's PATCH.
pub async fn save_user(
    State(state): State<UiState>,
    Path(id): Path<String>,
    posted: VerifiedForm<UserForm>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let id = user_id(&id)?;
    let patch = UserPatch {
        email: Some(form.email.clone()),
        display_name: Some(form.display_name.clone()),
        slack_user_id: Some(form.slack_user_id.trim().to_owned()),
    };
    let mut conn = state.app.pool.acquire().await?;
    match admin::update_user(&mut conn, session.auth.workspace_id, id, &patch).await {
        Ok(user) => {
            tracing::info!(workspace_id = %session.auth.workspace_id, user_id = %user.id, "user changed from the settings page");
            Ok(Redirect::to(&format!("/ui/settings/users/{id}?saved=1")).into_response())
        }
        Err(e) => {
            let error = refused(e)?;
            let draft = UserDraft {
                email: form.email,
                display_name: form.display_name,
                slack_user_id: form.slack_user_id,
            };
            let page = user_page(&mut conn, &session, id, Some(draft), Some(error), false).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

fn token_row(token: ApiToken, users: &[User]) -> TokenRow {
    TokenRow {
        id: token.id.to_string(),
        name: token.name,
        prefix: token.prefix,
        role: token.role.to_string(),
        owner: token
            .user_id
            .and_then(|id| users.iter().find(|u| u.id == id))
            .map(|u| u.display_name.clone()),
        created: When::of(token.created_at),
        last_used: token.last_used_at.map(When::of),
        expired: token.revoked_at.is_none() && token.expires_at.is_some_and(|e| e <= Utc::now()),
        expires: token.expires_at.map(When::of),
        revoked: token.revoked_at.map(When::of),
    }
}

/// The expiry choices of the token form: `(value, label)`; a number is days from now.
const EXPIRIES: [(&str, &str); 6] = [
    ("never", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("date", "On a date…"),
];

/// What a refused token form keeps.
struct TokenDraft {
    name: String,
    role: String,
    user_id: String,
    expires: String,
    expires_on: String,
}

async fn tokens_page(
    conn: &mut PgConnection,
    session: &WebSession,
    draft: TokenDraft,
    error: Option<FieldError>,
    created: Option<NewSecret>,
    revoked: bool,
) -> Result<TokensPage, UiError> {
    let workspace_id = session.auth.workspace_id;
    let users = admin::list_users(conn, workspace_id).await?;
    let tokens = admin::list_tokens(conn, workspace_id).await?;
    Ok(TokensPage {
        shell: Shell::signed_in("API tokens", session, Section::Tokens),
        tokens: tokens.into_iter().map(|t| token_row(t, &users)).collect(),
        people: users
            .iter()
            .map(|u| {
                let id = u.id.to_string();
                let label = format!("{} ({})", u.display_name, u.email);
                Choice::new(&id, &label, id == draft.user_id)
            })
            .collect(),
        roles: Choice::of(AccessRole::SPELLINGS, &draft.role),
        expiries: EXPIRIES
            .iter()
            .map(|(v, l)| Choice::new(v, l, *v == draft.expires))
            .collect(),
        expires_on: draft.expires_on,
        name: draft.name,
        error,
        created,
        revoked,
    })
}

/// `GET /ui/settings/tokens` (admins): the tokens, never a secret.
pub async fn tokens(
    State(state): State<UiState>,
    session: WebSession,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let mut conn = state.app.pool.acquire().await?;
    let draft = TokenDraft {
        name: String::new(),
        role: AccessRole::Responder.to_string(),
        user_id: String::new(),
        expires: "never".to_owned(),
        expires_on: String::new(),
    };
    let page = tokens_page(
        &mut conn,
        &session,
        draft,
        None,
        None,
        done.revoked.is_some(),
    )
    .await?;
    Ok(render(&page))
}

/// The create-token form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    user_id: String,
    /// `never`, a number of days (`7`, `30`, `90`, `365`) or `date`.
    #[serde(default)]
    expires: String,
    /// With `expires=date`: the last day it works (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    expires_on: String,
}

impl TokenForm {
    /// When the token stops working: `days` from `now`, or the end of the chosen day
    /// (UTC). A day before today is refused; so is a choice the form does not offer.
    fn expiry(&self, now: DateTime<Utc>) -> Result<Option<Timestamp>, DomainError> {
        match self.expires.trim() {
            "" | "never" => Ok(None),
            "date" => {
                let day = NaiveDate::parse_from_str(self.expires_on.trim(), "%Y-%m-%d")
                    .map_err(|_| DomainError::invalid("expires_on", "choose a day (YYYY-MM-DD)"))?;
                if day < now.date_naive() {
                    return Err(DomainError::invalid(
                        "expires_on",
                        "is in the past: choose today or a later day",
                    ));
                }
                let end = day
                    .succ_opt()
                    .and_then(|next| next.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
                    .ok_or_else(|| DomainError::invalid("expires_on", "is too far away"))?;
                Ok(Some(Timestamp(end)))
            }
            days => {
                let days = EXPIRIES
                    .iter()
                    .find(|(v, _)| *v == days)
                    .and_then(|(v, _)| v.parse::<i64>().ok())
                    .ok_or_else(|| {
                        DomainError::invalid("expires", "choose one of the expiries offered")
                    })?;
                Ok(Some(Timestamp(now + Duration::days(days))))
            }
        }
    }

    /// The API's request, or the field that is not even well-formed.
    fn request(&self) -> Result<NewTokenRequest, DomainError> {
        let role: AccessRole = self
            .role
            .parse()
            .map_err(|e: incident_schema::ParseError| {
                DomainError::invalid("role", e.to_string())
            })?;
        let user = self.user_id.trim();
        let user_id =
            if user.is_empty() {
                None
            } else {
                Some(user.parse::<Uuid>().map_err(|_| {
                    DomainError::invalid("user_id", "no such user in this workspace")
                })?)
            };
        Ok(NewTokenRequest {
            name: self.name.clone(),
            role,
            user_id,
            expires_at: self.expiry(Utc::now())?,
        })
    }
}

/// `POST /ui/settings/tokens` (admins): creates a token and answers with the page
/// showing its secret, this once (not a redirect: the secret is in no URL and no later
/// page).
pub async fn create_token(
    State(state): State<UiState>,
    posted: VerifiedForm<TokenForm>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let workspace_id = session.auth.workspace_id;
    let mut conn = state.app.pool.acquire().await?;
    let created = match form.request() {
        Ok(request) => admin::add_token(&mut conn, workspace_id, &request, false).await,
        Err(e) => Err(e),
    };
    let keep = TokenDraft {
        name: form.name.clone(),
        role: form.role.clone(),
        user_id: form.user_id.clone(),
        expires: form.expires.clone(),
        expires_on: form.expires_on.clone(),
    };
    match created {
        Ok(token) => {
            tracing::info!(workspace_id = %workspace_id, token_id = %token.token.id, "token created from the settings page");
            let secret = NewSecret {
                name: token.token.name,
                secret: token.secret,
            };
            let fresh = TokenDraft {
                name: String::new(),
                role: keep.role,
                user_id: String::new(),
                expires: "never".to_owned(),
                expires_on: String::new(),
            };
            let page = tokens_page(&mut conn, &session, fresh, None, Some(secret), false).await?;
            Ok(render(&page))
        }
        Err(e) => {
            let error = refused(e)?;
            let page = tokens_page(&mut conn, &session, keep, Some(error), None, false).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

fn token_id(id: &str) -> Result<Uuid, UiError> {
    id.parse()
        .map_err(|_| UiError(DomainError::NotFound("token")))
}

/// `GET /ui/settings/tokens/{id}/revoke` (admins): the confirmation.
pub async fn revoke_form(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let id = token_id(&id)?;
    let workspace_id = session.auth.workspace_id;
    let mut conn = state.app.pool.acquire().await?;
    let token = admin::list_tokens(&mut conn, workspace_id)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(DomainError::NotFound("token"))?;
    let users = admin::list_users(&mut conn, workspace_id).await?;
    Ok(render(&RevokeTokenPage {
        shell: Shell::signed_in("Revoke a token", &session, Section::Tokens),
        token: token_row(token, &users),
    }))
}

/// `POST /ui/settings/tokens/{id}/revoke` (admins): revokes (idempotent).
pub async fn revoke(
    State(state): State<UiState>,
    Path(id): Path<String>,
    posted: VerifiedForm<NoFields>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, .. } = posted;
    require_admin(&session)?;
    let id = token_id(&id)?;
    let mut conn = state.app.pool.acquire().await?;
    let token = admin::revoke_token(&mut conn, session.auth.workspace_id, id).await?;
    // As the API: refused at once by this process; others' caches within their TTL.
    state.app.tokens.evict(&token.token_hash);
    tracing::info!(workspace_id = %session.auth.workspace_id, token_id = %id, "token revoked from the settings page");
    Ok(Redirect::to("/ui/settings/tokens?revoked=1").into_response())
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

fn sla_row(severity: Severity, policy: Option<&SlaPolicy>) -> SlaRow {
    SlaRow {
        severity: severity.to_string(),
        ack: policy
            .map(|p| p.ack_target_minutes.to_string())
            .unwrap_or_default(),
        resolve: policy
            .map(|p| p.resolve_target_minutes.to_string())
            .unwrap_or_default(),
        cadence: policy
            .and_then(|p| p.update_cadence_minutes)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        ratio: policy
            .map(|p| format!("{:.2}", p.warning_ratio))
            .unwrap_or_default(),
        error: None,
    }
}

async fn sla_page(
    conn: &mut PgConnection,
    session: &WebSession,
    refused: Option<SlaRow>,
    saved: Option<String>,
) -> Result<SlaPage, UiError> {
    let stored = sla_policy::list(conn, session.auth.workspace_id).await?;
    let policies = Severity::ALL
        .iter()
        .map(|&s| match &refused {
            Some(row) if row.severity == s.to_string() => row.clone(),
            _ => sla_row(s, stored.iter().find(|p| p.severity == s)),
        })
        .collect();
    Ok(SlaPage {
        shell: Shell::signed_in("SLA policies", session, Section::SlaPolicies),
        policies,
        saved,
    })
}

/// `GET /ui/settings/sla` (admins).
pub async fn sla(
    State(state): State<UiState>,
    session: WebSession,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&session)?;
    let saved = done
        .saved
        .and_then(|s| s.parse::<Severity>().ok())
        .map(|s| s.to_string());
    let mut conn = state.app.pool.acquire().await?;
    Ok(render(&sla_page(&mut conn, &session, None, saved).await?))
}

/// One severity's form.
#[derive(Debug, Clone, Deserialize)]
pub struct SlaForm {
    #[serde(default)]
    ack_target_minutes: String,
    #[serde(default)]
    resolve_target_minutes: String,
    #[serde(default)]
    update_cadence_minutes: String,
    #[serde(default)]
    warning_ratio: String,
}

impl SlaForm {
    /// The API's input, or the field that is not even a number (the ranges are
    /// [`sla_policy::put`]'s).
    fn input(&self) -> Result<PolicyInput, DomainError> {
        fn minutes(field: &str, text: &str) -> Result<i32, DomainError> {
            text.trim()
                .parse()
                .map_err(|_| DomainError::invalid(field, "must be a whole number of minutes"))
        }
        let cadence = self.update_cadence_minutes.trim();
        let ratio = self.warning_ratio.trim();
        Ok(PolicyInput {
            ack_target_minutes: minutes("ack_target_minutes", &self.ack_target_minutes)?,
            resolve_target_minutes: minutes(
                "resolve_target_minutes",
                &self.resolve_target_minutes,
            )?,
            update_cadence_minutes: if cadence.is_empty() {
                None
            } else {
                Some(minutes("update_cadence_minutes", cadence)?)
            },
            warning_ratio: if ratio.is_empty() {
                None
            } else {
                Some(ratio.parse().map_err(|_| {
                    DomainError::invalid("warning_ratio", "must be a number such as 0.8")
                })?)
            },
        })
    }
}

/// `POST /ui/settings/sla/{severity}` (admins): sets that severity's policy, or shows
/// the refused field next to it.
pub async fn save_sla(
    State(state): State<UiState>,
    Path(severity): Path<String>,
    posted: VerifiedForm<SlaForm>,
) -> Result<Response, UiError> {
    let VerifiedForm { session, form } = posted;
    require_admin(&session)?;
    let severity: Severity = severity
        .parse()
        .map_err(|_| UiError(DomainError::NotFound("severity")))?;
    let workspace_id = session.auth.workspace_id;
    let mut conn = state.app.pool.acquire().await?;
    let saved = match form.input() {
        Ok(input) => sla_policy::put(&mut conn, workspace_id, severity, &input).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(policy) => {
            tracing::info!(workspace_id = %workspace_id, severity = %severity, ack = policy.ack_target_minutes, "SLA policy changed from the settings page");
            Ok(
                Redirect::to(&format!("/ui/settings/sla?saved={severity}#sla-{severity}"))
                    .into_response(),
            )
        }
        Err(e) => {
            let error = refused(e)?;
            let row = SlaRow {
                severity: severity.to_string(),
                ack: form.ack_target_minutes,
                resolve: form.resolve_target_minutes,
                cadence: form.update_cadence_minutes,
                ratio: form.warning_ratio,
                error: Some(error),
            };
            let page = sla_page(&mut conn, &session, Some(row), None).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
