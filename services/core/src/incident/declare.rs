//! Declaring an incident.
//!
//! The number comes from the workspace's counter row, incremented in the declaring
//! transaction: the row lock serialises declares per workspace, so numbers are unique
//! and gap-free (a rolled-back declare gives its number back). The same lock makes
//! idempotency safe: a retry with the same key waits for the first declare to commit,
//! then finds its incident and returns it instead of creating a second. A key a client
//! sent is bound to its request ([`DeclareKey::of_request`]): reused with another
//! body it is refused (422 naming `Idempotency-Key`), like Stripe does; a command's key
//! is not, so re-sent commands are absorbed as before.
//!
//! An alert group already linked to another incident that is still open is not taken
//! away from it: the declare is refused (409) instead.
//!
//! The declarer of a PRIVATE incident becomes its member, so they can still read it.

use chrono::DateTime;
use incident_bus::Envelope;
use incident_schema::contract::{IncidentAlertGroupLinked, IncidentDeclared};
use incident_schema::incident::{IncidentNumber, NewIncident, insert_numbered_incident};
use incident_schema::sla::get_sla_policy;
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry};
use incident_schema::user::get_user;
use incident_schema::workspace::give_back_incident_number;
use incident_schema::{Incident, ServiceImpact, Severity, TimelineKind, Timestamp, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{emit, snapshot};
use super::view::ServiceView;
use super::{Actor, MAX_DESCRIPTION, MAX_TEXT, members, store};
use crate::error::{DomainError, DomainResult};
use incident_schema::text::{IdempotencyKey, IncidentTitle, ServiceName};

/// What a declare asks for (the HTTP body and the `incident.declare` command's data).
// Serialised, it is the canonical form an idempotency fingerprint is taken of.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareIncident {
    /// One-line summary, 1 to 200 characters.
    #[schema(value_type = String)]
    pub title: IncidentTitle,
    /// Longer description, up to 20,000 characters.
    #[serde(default)]
    pub description: String,
    /// SEV1 (critical) to SEV4 (low).
    pub severity: Severity,
    /// When the problem was detected (RFC 3339); defaults to now. Not in the future.
    #[serde(default)]
    pub detected_at: Option<Timestamp>,
    /// Who or what is affected, in words.
    #[serde(default)]
    pub impact: Option<String>,
    /// Affected services.
    #[serde(default)]
    pub affected_services: Vec<ServiceInput>,
    /// Alert groups that triggered it.
    #[serde(default)]
    pub alert_group_ids: Vec<Uuid>,
    /// A practice run: the whole flow, left out of statistics.
    #[serde(default)]
    pub is_drill: bool,
    /// PUBLIC (default) or PRIVATE.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// The Incident Commander, a user of the workspace.
    #[serde(default)]
    pub commander_id: Option<Uuid>,
}

/// The idempotency key of a declare, and what a reuse of it must match.
#[derive(Debug, Clone, Copy)]
pub struct DeclareKey<'a> {
    key: &'a IdempotencyKey,
    /// SHA-256 of the request's canonical JSON; none for commands.
    fingerprint: Option<[u8; 32]>,
}

impl<'a> DeclareKey<'a> {
    /// A key a client sent with `input` (`Idempotency-Key`): a reuse with the same request
    /// is a retry, a reuse with another one is refused.
    pub fn of_request(key: &'a IdempotencyKey, input: &DeclareIncident) -> DomainResult<Self> {
        let canonical = serde_json::to_vec(
            &serde_json::to_value(input)
                .map_err(|e| DomainError::invalid("body", e.to_string()))?,
        )
        .map_err(|e| DomainError::invalid("body", e.to_string()))?;
        Ok(Self {
            key,
            fingerprint: Some(Sha256::digest(&canonical).into()),
        })
    }

    /// A key a command carries (`incident.declare` from another service, e.g. the alert
    /// group's id): any declare with it gets the first incident, so a re-sent command is
    /// absorbed whatever else changed in it.
    pub fn of_command(key: &'a IdempotencyKey) -> Self {
        Self {
            key,
            fingerprint: None,
        }
    }

    /// The first incident for a repeat of this key, unless the request differs.
    fn reuse(&self, found: store::Keyed) -> DomainResult<Declared> {
        if let (Some(mine), Some(first)) = (self.fingerprint, &found.declare_fingerprint)
            && first.as_slice() != mine.as_slice()
        {
            return Err(DomainError::invalid(
                "Idempotency-Key",
                format!(
                    "the key {:?} was already used to declare an incident with a different request; \
                     retry with the same body, or use a new key for a new incident",
                    self.key.as_str()
                ),
            ));
        }
        Ok(Declared {
            incident: found.incident,
            created: false,
        })
    }
}

/// The outcome of a declare.
#[derive(Debug)]
pub struct Declared {
    /// The incident (the existing one for a repeated key).
    pub incident: Incident,
    /// False when the idempotency key matched an earlier declare.
    pub created: bool,
}

/// Checks the lengths and values the types do not hold (the title is an
/// [`IncidentTitle`] already).
fn validate(input: &DeclareIncident) -> DomainResult<()> {
    if input.description.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if input
        .impact
        .as_deref()
        .is_some_and(|i| i.chars().count() > MAX_TEXT)
    {
        return Err(DomainError::invalid(
            "impact",
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    validate_services(&input.affected_services, "affected_services")?;
    if input.alert_group_ids.len() > 100 {
        return Err(DomainError::invalid(
            "alert_group_ids",
            "at most 100 alert groups",
        ));
    }
    Ok(())
}

// An affected service as a request names it (a declare's `affected_services`, a command's,
// `PUT /incidents/{id}/services`): the name parsed. It is documented as the `ServiceView`
// it becomes, with the same docs, so the OpenAPI document shows one schema.
/// An affected service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[schema(as = ServiceView)]
pub struct ServiceInput {
    /// The service's name.
    #[schema(value_type = String)]
    pub name: ServiceName,
    /// How badly it is affected.
    pub impact: ServiceImpact,
}

impl ServiceInput {
    /// `services` as sent, each name parsed; a refusal names `{field}[i].name`.
    pub fn parse_all(services: &[ServiceView], field: &str) -> DomainResult<Vec<Self>> {
        let parse = |(i, s): (usize, &ServiceView)| {
            Ok(Self {
                name: ServiceName::parse(&s.name).map_err(|e| {
                    DomainError::invalid(format!("{field}[{i}].name"), e.to_string())
                })?,
                impact: s.impact,
            })
        };
        services.iter().enumerate().map(parse).collect()
    }
}

impl From<&ServiceInput> for ServiceView {
    fn from(s: &ServiceInput) -> Self {
        Self {
            name: s.name.to_string(),
            impact: s.impact,
        }
    }
}

/// At most 100 services, each named once (whatever the case).
pub fn validate_services(services: &[ServiceInput], field: &str) -> DomainResult<()> {
    if services.len() > 100 {
        return Err(DomainError::invalid(field, "at most 100 services"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in services.iter().enumerate() {
        if !seen.insert(s.name.key()) {
            return Err(DomainError::invalid(
                format!("{field}[{i}].name"),
                format!("{} is listed twice", s.name),
            ));
        }
    }
    Ok(())
}

/// Declares an incident, or returns the one an earlier declare with `idempotency_key` made.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id), err)]
pub async fn declare(
    conn: &mut PgConnection,
    actor: Actor,
    input: &DeclareIncident,
    idempotency_key: Option<DeclareKey<'_>>,
    cause: Option<&Envelope>,
) -> DomainResult<Declared> {
    validate(input)?;
    let now = store::now(conn).await?;
    let detected_at = input.detected_at.map_or(now, DateTime::from);
    if detected_at > now + chrono::Duration::minutes(5) {
        return Err(DomainError::invalid(
            "detected_at",
            "must not be in the future",
        ));
    }
    if let Some(commander) = input.commander_id
        && !store::user_exists(conn, actor.workspace_id, commander).await?
    {
        return Err(DomainError::invalid(
            "commander_id",
            "no such user in this workspace",
        ));
    }
    if !input.alert_group_ids.is_empty() {
        let found =
            store::existing_alert_groups(conn, actor.workspace_id, &input.alert_group_ids).await?;
        if let Some((i, missing)) = input
            .alert_group_ids
            .iter()
            .enumerate()
            .find(|(_, id)| !found.contains(id))
        {
            return Err(DomainError::invalid(
                format!("alert_group_ids[{i}]"),
                format!("no alert group {missing} in this workspace"),
            ));
        }
    }

    // The common retry finds its incident without touching the counter.
    if let Some(key) = idempotency_key
        && let Some(existing) =
            store::find_by_idempotency_key(conn, actor.workspace_id, key.key.as_str()).await?
    {
        return key.reuse(existing);
    }
    // Only now: a retry's groups are linked to the incident its first try declared.
    refuse_held_alert_groups(conn, actor, &input.alert_group_ids).await?;

    // Everything that can happen before the number does: the counter's row lock is held
    // from here to commit, and every declare of the workspace waits on it.
    let policy = get_sla_policy(conn, actor.workspace_id, input.severity).await?;

    // Taking the number locks the workspace's counter row until commit; the same
    // statement inserts the incident, or finds that a declare with the same key, which
    // held the lock until it committed, got there first.
    let inserted = insert_numbered_incident(
        conn,
        &NewIncident {
            workspace_id: actor.workspace_id,
            // Taken by the statement itself.
            number: IncidentNumber(0),
            title: input.title.as_str(),
            description: &input.description,
            severity: input.severity,
            impact: input.impact.as_deref(),
            detected_at,
            sla_deadline: policy.as_ref().map(|p| p.acknowledge_deadline(detected_at)),
            sla_resolve_deadline: policy.as_ref().map(|p| p.resolve_deadline(detected_at)),
            commander_id: input.commander_id,
            is_drill: input.is_drill,
            visibility: input.visibility.unwrap_or(Visibility::Public),
            declared_by: actor.user_id,
            idempotency_key: idempotency_key.map(|k| k.key.as_str()),
        },
        idempotency_key
            .and_then(|k| k.fingerprint)
            .as_ref()
            .map(|f| f.as_slice()),
    )
    .await?;
    let Some(incident) = inserted else {
        if let Some(key) = idempotency_key
            && let Some(existing) =
                store::find_by_idempotency_key(conn, actor.workspace_id, key.key.as_str()).await?
        {
            // Give the number back: we still hold the counter's row lock, so nobody took one since.
            give_back_incident_number(conn, actor.workspace_id).await?;
            return key.reuse(existing);
        }
        return Err(DomainError::NotFound("workspace"));
    };

    let services: Vec<(String, ServiceImpact)> = input
        .affected_services
        .iter()
        .map(|s| (s.name.to_string(), s.impact))
        .collect();
    if !services.is_empty() {
        store::replace_affected_services(conn, actor.workspace_id, incident.id, &services).await?;
    }

    let drill = if incident.is_drill { " (drill)" } else { "" };
    insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id: incident.id,
            author_id: actor.user_id,
            kind: TimelineKind::Detected,
            message: &format!(
                "{} declared{drill}: {} [{}]",
                incident.number, incident.title, incident.severity
            ),
            is_public: false,
            data: Some(&json!({ "detected_at": detected_at, "severity": incident.severity })),
            occurred_at: None,
        },
    )
    .await?;
    emit(
        conn,
        &incident,
        &IncidentDeclared {
            incident: snapshot(&incident),
            is_drill: incident.is_drill,
            actor_id: actor.user_id,
            affected_services: input
                .affected_services
                .iter()
                .map(ServiceView::from)
                .collect(),
            alert_group_ids: input.alert_group_ids.clone(),
        },
        cause,
    )
    .await?;
    // The declarer of a PRIVATE incident keeps reading it, whatever their role.
    let incident = match actor.user_id {
        Some(user_id) if incident.visibility == Visibility::Private => {
            let user = get_user(conn, actor.workspace_id, user_id)
                .await?
                .ok_or(DomainError::NotFound("user"))?;
            members::added(conn, actor, incident, &user, cause).await?
        }
        _ => incident,
    };
    for group in &input.alert_group_ids {
        link_alert_group_entry(conn, actor, &incident, *group, cause).await?;
    }
    Ok(Declared {
        incident,
        created: true,
    })
}

/// Refuses to take an alert group away from an incident that is still open (not RESOLVED
/// or CLOSED): 409 naming the group and, when that incident is PUBLIC, its reference (a
/// PRIVATE one is not named: the caller may not know it exists).
async fn refuse_held_alert_groups(
    conn: &mut PgConnection,
    actor: Actor,
    ids: &[Uuid],
) -> DomainResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let held = store::alert_groups_held_open(conn, actor.workspace_id, ids).await?;
    let first = ids
        .iter()
        .find_map(|id| held.iter().find(|(group, _, _)| group == id));
    match first {
        Some((group, number, Visibility::Public)) => Err(DomainError::Conflict(format!(
            "alert group {group} is already linked to {number}, which is still open; \
             work it there, or resolve {number} before declaring another incident with it"
        ))),
        Some((group, _, Visibility::Private)) => Err(DomainError::Conflict(format!(
            "alert group {group} is already linked to another incident that is still open"
        ))),
        None => Ok(()),
    }
}

/// Records that an alert group belongs to an incident (the timeline entry and the event
/// ingestion uses to link the group: ingestion owns `alert_groups`).
pub async fn link_alert_group_entry(
    conn: &mut PgConnection,
    actor: Actor,
    incident: &Incident,
    alert_group_id: Uuid,
    cause: Option<&Envelope>,
) -> DomainResult<()> {
    insert_timeline_entry(
        conn,
        &NewTimelineEntry {
            workspace_id: actor.workspace_id,
            incident_id: incident.id,
            author_id: actor.user_id,
            kind: TimelineKind::AlertLinked,
            message: &format!("Alert group {alert_group_id} linked"),
            is_public: false,
            data: Some(&json!({ "alert_group_id": alert_group_id })),
            occurred_at: None,
        },
    )
    .await?;
    emit(
        conn,
        incident,
        &IncidentAlertGroupLinked {
            incident: snapshot(incident),
            is_drill: incident.is_drill,
            alert_group_id,
            actor_id: actor.user_id,
        },
        cause,
    )
    .await
}
