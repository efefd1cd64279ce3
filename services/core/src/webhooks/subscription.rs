//! Subscriptions as the API manages them (admins of the workspace): validation of what a
//! client sends, the views it gets back, and the domain calls the handlers make. A
//! secret is shown in the answer that issues it (creation, rotation) and never again.
//!
//! Rules kept here: a URL is `http` or `https` with a host, at most 2,048 characters;
//! event types are exact contract event names ([`incident_schema::contract::ALL`]) or
//! `*`; a rotation keeps the previous secret signing for [`ROTATION_OVERLAP`]; re-enabling
//! resets the failure count and makes the pending deliveries due at once.

use chrono::{DateTime, Utc};
use incident_schema::contract::{ALL, Kind};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::signature::generate_secret;
use super::store::{self, NewRow, SubscriptionRow};
use crate::error::{DomainError, DomainResult};

/// How long a rotated-out secret keeps signing deliveries beside the new one.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// A subscription to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Contract event names (`incident.declared`, ...) or `"*"` for every event.
    pub event_types: Vec<String>,
    /// Deliver events about PRIVATE incidents too (default false: they are left out).
    #[serde(default)]
    pub include_private: bool,
}

/// Changes to a subscription; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// New opt-in to PRIVATE incidents.
    pub include_private: Option<bool>,
    /// `false` stops deliveries; `true` re-enables a disabled subscription, resetting its
    /// failure count and sending what waited.
    pub enabled: Option<bool>,
}

/// A subscription as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Id.
    pub id: Uuid,
    /// Receiver URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Event names, or `*`.
    pub event_types: Vec<String>,
    /// Whether PRIVATE incidents' events are delivered.
    pub include_private: bool,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// When it was disabled (by an admin or for failing).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Deliveries in a row that failed for good since the last success.
    pub consecutive_failures: i32,
    /// Until when the previous secret still signs, during a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<SubscriptionRow> for SubscriptionView {
    fn from(r: SubscriptionRow) -> Self {
        let rotating = r.previous_secret_expires_at.filter(|at| *at > Utc::now());
        Self {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            include_private: r.include_private,
            enabled: r.enabled,
            disabled_at: r.disabled_at,
            disabled_reason: r.disabled_reason,
            consecutive_failures: r.consecutive_failures,
            previous_secret_expires_at: rotating,
            created_at: r.created_at,
        }
    }
}

/// A subscription just created, with its secret (shown this once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedSubscription {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The signing secret, `whsec_…`: keep it, it is not shown again.
    pub secret: String,
}

/// A new secret after a rotation (shown this once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new signing secret, `whsec_…`.
    pub secret: String,
    /// Until when deliveries are signed with the previous secret too.
    pub previous_secret_expires_at: DateTime<Utc>,
}

fn validate_url(url: &str) -> DomainResult<String> {
    let url = url.trim();
    if url.len() > MAX_URL_LEN {
        return Err(DomainError::invalid(
            "url",
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| DomainError::invalid("url", format!("must be an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DomainError::invalid("url", "must be an http or https URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(DomainError::invalid("url", "must name a host"));
    }
    Ok(parsed.to_string())
}

fn validate_description(description: &str) -> DomainResult<String> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(description.to_owned())
}

/// Whether `name` is an event of the contract.
pub fn is_event(name: &str) -> bool {
    ALL.iter()
        .any(|(known, kind)| *kind == Kind::Event && *known == name)
}

fn validate_event_types(types: &[String]) -> DomainResult<Vec<String>> {
    if types.is_empty() {
        return Err(DomainError::invalid(
            "event_types",
            "must name at least one event type (or \"*\")",
        ));
    }
    let mut valid: Vec<String> = Vec::with_capacity(types.len());
    for (i, name) in types.iter().enumerate() {
        if name != "*" && !is_event(name) {
            return Err(DomainError::invalid(
                format!("event_types[{i}]"),
                format!(
                    "{name:?} is not an event type; expected \"*\" or one of the contract's events such as incident.declared"
                ),
            ));
        }
        if !valid.contains(name) {
            valid.push(name.clone());
        }
    }
    Ok(valid)
}

/// Creates a subscription with a new secret.
pub async fn create(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    new: &NewSubscription,
) -> DomainResult<CreatedSubscription> {
    let url = validate_url(&new.url)?;
    let description = validate_description(&new.description)?;
    let event_types = validate_event_types(&new.event_types)?;
    let secret = generate_secret();
    let row = store::insert(
        conn,
        workspace_id,
        &NewRow {
            url: &url,
            description: &description,
            event_types: &event_types,
            include_private: new.include_private,
            secret: &secret,
        },
    )
    .await?;
    Ok(CreatedSubscription {
        subscription: row.into(),
        secret,
    })
}

/// The workspace's subscriptions.
pub async fn list(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> DomainResult<Vec<SubscriptionView>> {
    let rows = store::list(conn, workspace_id).await?;
    Ok(rows.into_iter().map(SubscriptionView::from).collect())
}

/// One subscription of the workspace (404 for another workspace's).
pub async fn get(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> DomainResult<SubscriptionRow> {
    store::get(conn, workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("webhook"))
}

async fn locked(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> DomainResult<SubscriptionRow> {
    store::get_for_update(conn, workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("webhook"))
}

/// Applies `patch`.
pub async fn update(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &SubscriptionPatch,
) -> DomainResult<SubscriptionView> {
    let mut row = locked(conn, workspace_id, id).await?;
    if let Some(url) = &patch.url {
        row.url = validate_url(url)?;
    }
    if let Some(description) = &patch.description {
        row.description = validate_description(description)?;
    }
    if let Some(types) = &patch.event_types {
        row.event_types = validate_event_types(types)?;
    }
    if let Some(include) = patch.include_private {
        row.include_private = include;
    }
    let resume = match patch.enabled {
        Some(true) if !row.enabled => {
            row.enabled = true;
            row.disabled_at = None;
            row.disabled_reason = None;
            row.consecutive_failures = 0;
            true
        }
        Some(false) if row.enabled => {
            row.enabled = false;
            row.disabled_at = Some(Utc::now());
            row.disabled_reason = Some("disabled by an admin".into());
            false
        }
        _ => false,
    };
    let row = store::update(conn, &row).await?;
    if resume {
        store::resume_pending(conn, row.id).await?;
    }
    Ok(row.into())
}

/// Deletes a subscription with its deliveries.
pub async fn delete(conn: &mut PgConnection, workspace_id: Uuid, id: Uuid) -> DomainResult<()> {
    if store::delete(conn, workspace_id, id).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("webhook"))
    }
}

/// Issues a new secret; the current one keeps signing for [`ROTATION_OVERLAP`] (a
/// rotation during an overlap drops the older secret of the two).
pub async fn rotate(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> DomainResult<RotatedSecret> {
    let mut row = locked(conn, workspace_id, id).await?;
    let secret = generate_secret();
    let until = Utc::now() + ROTATION_OVERLAP;
    row.previous_secret = Some(std::mem::replace(&mut row.secret, secret.clone()));
    row.previous_secret_expires_at = Some(until);
    let row = store::update(conn, &row).await?;
    Ok(RotatedSecret {
        secret,
        // As stored (Postgres keeps microseconds), so it reads the same in GET.
        previous_secret_expires_at: row.previous_secret_expires_at.unwrap_or(until),
    })
}
