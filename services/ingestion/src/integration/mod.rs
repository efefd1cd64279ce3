//! Integrations: where alerts come from. Each belongs to a workspace and has a kind
//! (which payload format its webhook accepts), a name, a secret, declare rules, an
//! optional grouping key and an optional storm guard.
//!
//! The secret is random (`ing_` + 48 hex characters), shown once (at creation and at
//! rotation) and stored only as its SHA-256; webhooks present it as a bearer token or
//! `?token=`. Management is for workspace admins; every query is scoped by workspace.

pub mod rules;
pub mod store;

use chrono::{DateTime, Utc};
use incident_runtime::api::token;
use incident_schema::{Integration, IntegrationKind};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{IngestError, IngestResult};
use rules::DeclareRule;

/// Every integration secret starts with this, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "ing_";
/// Longest integration name.
pub const MAX_NAME: usize = 100;
/// Highest storm guard.
pub const MAX_INCIDENTS_PER_MINUTE: i32 = 1_000;

/// What `POST /api/v1/integrations` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    /// Which payload format its webhook accepts.
    pub kind: IntegrationKind,
    /// Unique per workspace, 1 to 100 characters.
    pub name: String,
    /// Declare rules, in order; absent: the default rules (see [`rules::default_rules`]);
    /// empty: declare nothing.
    #[serde(default)]
    pub rules: Option<Vec<DeclareRule>>,
    /// Labels alerts are grouped by, comma-separated (`"alertname,service"`); absent: the
    /// source's own grouping (Alertmanager's `groupKey`, the generic `group_key`), else
    /// the alert's dedup key.
    #[serde(default)]
    pub grouping_key: Option<String>,
    /// Storm guard: at most this many incidents declared per minute; the groups beyond it
    /// join the latest incident the integration declared.
    #[serde(default)]
    pub max_incidents_per_minute: Option<i32>,
}

/// What `PATCH /api/v1/integrations/{id}` takes; absent fields stay as they are, `null`
/// clears the optional ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New declare rules.
    #[serde(default)]
    pub rules: Option<Vec<DeclareRule>>,
    /// New grouping labels; `null`: the source's own grouping.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub grouping_key: Option<Option<String>>,
    /// New storm guard; `null`: no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub max_incidents_per_minute: Option<Option<i32>>,
    /// Enable or disable (a disabled integration refuses every alert with 403).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A field that is present (possibly `null`) deserializes to `Some(..)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An integration as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationView {
    /// Its id (the last segment of its webhook URL).
    pub id: Uuid,
    /// Which payload format its webhook accepts.
    pub kind: IntegrationKind,
    /// Its name.
    pub name: String,
    /// Whether it accepts alerts.
    pub enabled: bool,
    /// Declare rules, in order.
    pub rules: Vec<DeclareRule>,
    /// Labels alerts are grouped by; none: the source's own grouping.
    pub grouping_key: Option<String>,
    /// Storm guard; none: no limit.
    pub max_incidents_per_minute: Option<i32>,
    /// Where its source sends alerts (with the secret as bearer token or `?token=`).
    pub webhook_url: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl IntegrationView {
    /// The view of `row`, with webhook URLs under `base` (`https://host`).
    pub fn new(row: Integration, base: &str) -> Self {
        let rules = rules::from_stored(&row.rules).unwrap_or_else(|e| {
            tracing::warn!(integration_id = %row.id, error = %e, "stored declare rules do not parse");
            Vec::new()
        });
        Self {
            webhook_url: webhook_url(base, row.kind, row.id),
            id: row.id,
            kind: row.kind,
            name: row.name,
            enabled: row.disabled_at.is_none(),
            rules,
            grouping_key: row.grouping_key,
            max_incidents_per_minute: row.max_incidents_per_minute,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An integration with its secret: the answer to creating one or rotating its secret,
/// the only time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationWithSecret {
    /// The integration.
    #[serde(flatten)]
    pub integration: IntegrationView,
    /// The secret: send it as `Authorization: Bearer <secret>` or `?token=<secret>`.
    pub secret: String,
    /// The webhook URL with the secret as `?token=`, ready to paste into Alertmanager's
    /// or Grafana's configuration.
    pub webhook_url_with_token: String,
}

impl IntegrationWithSecret {
    fn new(row: Integration, secret: String, base: &str) -> Self {
        let integration = IntegrationView::new(row, base);
        Self {
            webhook_url_with_token: format!("{}?token={secret}", integration.webhook_url),
            integration,
            secret,
        }
    }
}

/// `{base}/webhooks/{kind}/{id}`.
pub fn webhook_url(base: &str, kind: IntegrationKind, id: Uuid) -> String {
    format!("{}/webhooks/{kind}/{id}", base.trim_end_matches('/'))
}

/// A fresh secret and its stored hash.
pub fn generate_secret() -> (String, Vec<u8>) {
    let material = token::generate();
    let random = material
        .secret
        .strip_prefix(token::PREFIX)
        .unwrap_or(&material.secret);
    let secret = format!("{SECRET_PREFIX}{random}");
    let hash = token::hash(&secret);
    (secret, hash)
}

fn check_name(name: &str) -> IngestResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(IngestError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    Ok(name)
}

fn check_limit(limit: Option<i32>) -> IngestResult<()> {
    if limit.is_some_and(|n| !(1..=MAX_INCIDENTS_PER_MINUTE).contains(&n)) {
        return Err(IngestError::invalid(
            "max_incidents_per_minute",
            format!("must be 1 to {MAX_INCIDENTS_PER_MINUTE}, or null for no limit"),
        ));
    }
    Ok(())
}

fn name_conflict(e: sqlx::Error, name: &str) -> IngestError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("integrations_workspace_name_key") => {
            IngestError::Conflict(format!("an integration named {name:?} already exists"))
        }
        _ => e.into(),
    }
}

/// Creates an integration; the answer carries its secret, shown this once.
#[tracing::instrument(skip_all, fields(workspace_id = %workspace_id), err)]
pub async fn create(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    input: &NewIntegration,
    base: &str,
) -> IngestResult<IntegrationWithSecret> {
    let name = check_name(&input.name)?;
    let rules = input.rules.clone().unwrap_or_else(rules::default_rules);
    rules::validate(&rules)?;
    let grouping_key = input
        .grouping_key
        .as_deref()
        .map(rules::parse_grouping_key)
        .transpose()?;
    check_limit(input.max_incidents_per_minute)?;
    let (secret, hash) = generate_secret();
    let row = store::insert(
        conn,
        &store::NewRow {
            workspace_id,
            kind: input.kind,
            name,
            secret_hash: &hash,
            rules: &rules,
            grouping_key: grouping_key.as_deref(),
            max_incidents_per_minute: input.max_incidents_per_minute,
        },
    )
    .await
    .map_err(|e| name_conflict(e, name))?;
    tracing::info!(integration_id = %row.id, kind = %row.kind, "integration created");
    Ok(IntegrationWithSecret::new(row, secret, base))
}

/// Changes an integration.
#[tracing::instrument(skip_all, fields(workspace_id = %workspace_id, integration_id = %id), err)]
pub async fn update(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &IntegrationPatch,
) -> IngestResult<Integration> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    if let Some(rules) = &patch.rules {
        rules::validate(rules)?;
    }
    let grouping_key = match &patch.grouping_key {
        Some(Some(key)) => Some(Some(rules::parse_grouping_key(key)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(limit) = patch.max_incidents_per_minute {
        check_limit(limit)?;
    }
    store::update(
        conn,
        workspace_id,
        id,
        &store::Change {
            name,
            rules: patch.rules.as_deref(),
            grouping_key: grouping_key.as_ref().map(|k| k.as_deref()),
            max_incidents_per_minute: patch.max_incidents_per_minute,
            enabled: patch.enabled,
        },
    )
    .await
    .map_err(|e| name_conflict(e, name.unwrap_or_default()))?
    .ok_or(IngestError::NotFound("integration"))
}

/// Replaces the secret; the old one stops working at once.
#[tracing::instrument(skip_all, fields(workspace_id = %workspace_id, integration_id = %id), err)]
pub async fn rotate_secret(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    base: &str,
) -> IngestResult<IntegrationWithSecret> {
    let (secret, hash) = generate_secret();
    let row = store::set_secret(conn, workspace_id, id, &hash)
        .await?
        .ok_or(IngestError::NotFound("integration"))?;
    tracing::info!("integration secret rotated");
    Ok(IntegrationWithSecret::new(row, secret, base))
}

/// The integration a webhook addresses, if `secret` is its secret.
///
/// Unknown, or of another kind than the webhook's: 404. No secret or a wrong one: 401.
/// Disabled: 403.
pub async fn authenticate(
    conn: &mut PgConnection,
    id: Uuid,
    kind: IntegrationKind,
    secret: Option<&str>,
) -> IngestResult<Integration> {
    let integration = store::find(conn, id)
        .await?
        .filter(|i| i.kind == kind)
        .ok_or(IngestError::NotFound("integration"))?;
    let secret = secret.ok_or(IngestError::Unauthorized(
        "missing integration secret: send `Authorization: Bearer <secret>` or `?token=<secret>`",
    ))?;
    if !same_bytes(&token::hash(secret), &integration.secret_hash) {
        return Err(IngestError::Unauthorized("wrong integration secret"));
    }
    if integration.disabled_at.is_some() {
        return Err(IngestError::Disabled);
    }
    Ok(integration)
}

/// The integration of `kind` whose secret `secret` is (PagerDuty's and Opsgenie's shared
/// URLs, where the routing key or the API key alone names the integration).
///
/// No secret, or one no integration of the kind has: 401. Disabled: 403.
pub async fn authenticate_by_secret(
    conn: &mut PgConnection,
    kind: IntegrationKind,
    secret: Option<&str>,
) -> IngestResult<Integration> {
    let secret = secret.ok_or(IngestError::Unauthorized(
        "missing integration secret: send it as the event's `routing_key` (PagerDuty), as `Authorization: GenieKey <secret>` (Opsgenie) or as `Authorization: Bearer <secret>`",
    ))?;
    // Looked up by its hash, as API tokens are: the lookup reveals nothing a wrong
    // secret could be compared against.
    let integration = store::find_by_secret(conn, kind, &token::hash(secret))
        .await?
        .ok_or(IngestError::Unauthorized("wrong integration secret"))?;
    if integration.disabled_at.is_some() {
        return Err(IngestError::Disabled);
    }
    Ok(integration)
}

/// Compares in time independent of where the inputs differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let (a, hash_a) = generate_secret();
        let (b, _) = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 48);
        assert_eq!(hash_a, token::hash(&a));
        assert_eq!(hash_a.len(), 32);
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let patch: IntegrationPatch =
            serde_json::from_str(r#"{"grouping_key": null}"#).expect("parses");
        assert_eq!(patch.grouping_key, Some(None));
        assert_eq!(patch.max_incidents_per_minute, None);
    }

    #[test]
    fn webhook_urls_join_the_base_without_a_double_slash() {
        let id = Uuid::nil();
        assert_eq!(
            webhook_url("https://inc.example/", IntegrationKind::Alertmanager, id),
            format!("https://inc.example/webhooks/alertmanager/{id}")
        );
    }
}
