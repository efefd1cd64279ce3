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

use chrono::{DateTime, Utc};
use incident_bus::Envelope;
use incident_bus::outbox::{self, OutgoingMessage};
use incident_schema::contract::{IncidentAlertGroupLinked, IncidentDeclared};
use incident_schema::incident::{IncidentNumber, NewIncident, insert_numbered_incidents};
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry};
use incident_schema::user::get_user;
use incident_schema::{Incident, ServiceImpact, Severity, TimelineKind, Timestamp, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tracing::Instrument as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{emit, snapshot};
use super::view::ServiceView;
use super::{Actor, MAX_DESCRIPTION, MAX_TEXT, members, store};
use crate::SERVICE;
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
#[derive(Debug, Clone)]
pub struct DeclareKey {
    key: IdempotencyKey,
    /// SHA-256 of the request's canonical JSON; none for commands.
    fingerprint: Option<[u8; 32]>,
}

impl DeclareKey {
    /// A key a client sent with `input` (`Idempotency-Key`): a reuse with the same request
    /// is a retry, a reuse with another one is refused.
    pub fn of_request(key: &IdempotencyKey, input: &DeclareIncident) -> DomainResult<Self> {
        let canonical = serde_json::to_vec(
            &serde_json::to_value(input)
                .map_err(|e| DomainError::invalid("body", e.to_string()))?,
        )
        .map_err(|e| DomainError::invalid("body", e.to_string()))?;
        Ok(Self {
            key: key.clone(),
            fingerprint: Some(Sha256::digest(&canonical).into()),
        })
    }

    /// A key a command carries (`incident.declare` from another service, e.g. the alert
    /// group's id): any declare with it gets the first incident, so a re-sent command is
    /// absorbed whatever else changed in it.
    pub fn of_command(key: &IdempotencyKey) -> Self {
        Self {
            key: key.clone(),
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

/// One declare of a batch ([`declare_all`]): who asks, for what, with which key, caused by
/// which command.
#[derive(Debug, Clone, Copy)]
pub struct DeclareRequest<'a> {
    /// Who declares (all of a batch in one workspace).
    pub actor: Actor,
    /// What they ask for.
    pub input: &'a DeclareIncident,
    /// The idempotency key, if any.
    pub key: Option<&'a DeclareKey>,
    /// The command it comes from, if any.
    pub cause: Option<&'a Envelope>,
    /// The span of the caller when it is not the current one (a batch applied by another
    /// task): its events continue that caller's trace.
    pub span: Option<&'a tracing::Span>,
}

impl DeclareRequest<'_> {
    /// `message`, continuing this declare's trace.
    fn traced(&self, message: OutgoingMessage) -> OutgoingMessage {
        match self.span {
            Some(span) => message.traced(span),
            None => message,
        }
    }
}

/// Declares an incident, or returns the one an earlier declare with `idempotency_key` made.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id), err)]
pub async fn declare(
    conn: &mut PgConnection,
    actor: Actor,
    input: &DeclareIncident,
    idempotency_key: Option<&DeclareKey>,
    cause: Option<&Envelope>,
) -> DomainResult<Declared> {
    let request = DeclareRequest {
        actor,
        input,
        key: idempotency_key,
        cause,
        span: None,
    };
    declare_all(conn, actor.workspace_id, &[request])
        .await?
        .pop()
        .unwrap_or(Err(DomainError::NotFound("workspace")))
}

/// What the checks decided about one declare of a batch.
enum Checked {
    /// Refused, or answered with an existing incident.
    Done(Box<DomainResult<Declared>>),
    /// The same key as declare `i` of the batch, which creates the incident.
    SameAs(usize),
    /// To be created.
    Create {
        detected_at: DateTime<Utc>,
        /// The declarer, when they become a member of the PRIVATE incident.
        member: Option<incident_schema::User>,
    },
}

/// Declares the incidents `requests` ask for, all in `workspace_id`, in the caller's
/// transaction: one answer per request, in order. An `Err` of the whole is a database
/// failure and leaves the transaction unusable (roll back; none of them happened).
///
/// Every refusal (invalid, unknown commander or group, a held alert group, a key reused
/// with another body) is decided by reads before anything is written, so a refused
/// declare takes no number and writes nothing, and the rest of the batch goes on. The
/// workspace's counter row is locked first, until commit: the keys are then looked up
/// with no other declare able to take them, a key repeated inside the batch gets the
/// incident its first use creates, and the numbers the batch takes, in one statement with
/// the incidents, are consecutive and in request order. Services, `DETECTED` entries and
/// `incident.declared` events are one statement each for the whole batch.
pub async fn declare_all(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    requests: &[DeclareRequest<'_>],
) -> DomainResult<Vec<DomainResult<Declared>>> {
    let now = store::now(conn).await?;
    let mut checked = Vec::with_capacity(requests.len());
    let mut first_of_key: std::collections::HashMap<&str, usize> = Default::default();
    for (i, r) in requests.iter().enumerate() {
        debug_assert_eq!(r.actor.workspace_id, workspace_id);
        let c = match check(conn, r, now, &first_of_key).await {
            Ok(c) => c,
            Err(DomainError::Database(e)) => return Err(e.into()),
            Err(refused) => Checked::Done(Box::new(Err(refused))),
        };
        if let (Checked::Create { .. }, Some(key)) = (&c, r.key) {
            first_of_key.insert(key.key.as_str(), i);
        }
        checked.push(c);
    }

    let creating: Vec<usize> = (0..requests.len())
        .filter(|i| matches!(checked[*i], Checked::Create { .. }))
        .collect();
    let policies = if creating.is_empty() {
        Vec::new()
    } else {
        store::sla_policies(conn, workspace_id).await?
    };
    let fingerprints: Vec<Option<&[u8]>> = creating
        .iter()
        .map(|&i| {
            requests[i]
                .key
                .and_then(|k| k.fingerprint.as_ref())
                .map(|f| f.as_slice())
        })
        .collect();
    let news: Vec<NewIncident<'_>> = creating
        .iter()
        .map(|&i| {
            let Checked::Create { detected_at, .. } = &checked[i] else {
                unreachable!("only creates")
            };
            let r = &requests[i];
            let detected_at = *detected_at;
            let policy = policies.iter().find(|p| p.severity == r.input.severity);
            NewIncident {
                workspace_id,
                // Taken by the statement itself.
                number: IncidentNumber(0),
                title: r.input.title.as_str(),
                description: &r.input.description,
                severity: r.input.severity,
                impact: r.input.impact.as_deref(),
                detected_at,
                sla_deadline: policy.map(|p| p.acknowledge_deadline(detected_at)),
                sla_resolve_deadline: policy.map(|p| p.resolve_deadline(detected_at)),
                commander_id: r.input.commander_id,
                is_drill: r.input.is_drill,
                visibility: r.input.visibility.unwrap_or(Visibility::Public),
                declared_by: r.actor.user_id,
                idempotency_key: r.key.map(|k| k.key.as_str()),
            }
        })
        .collect();
    let incidents = insert_numbered_incidents(conn, workspace_id, &news, &fingerprints).await?;
    if incidents.len() != creating.len() {
        if !store::workspace_exists(conn, workspace_id).await? {
            return Ok(requests
                .iter()
                .map(|_| Err(DomainError::NotFound("workspace")))
                .collect());
        }
        // Another process declared with one of the keys since we looked: numbers were
        // skipped, so none of this may commit; a retry finds that incident.
        return Err(key_taken());
    }
    let mut services = Vec::new();
    let mut entries = Vec::with_capacity(incidents.len());
    let mut events = Vec::with_capacity(incidents.len());
    for (&i, incident) in creating.iter().zip(&incidents) {
        let r = &requests[i];
        services.extend(
            r.input
                .affected_services
                .iter()
                .map(|s| (incident.id, s.name.to_string(), s.impact)),
        );
        let drill = if incident.is_drill { " (drill)" } else { "" };
        entries.push((
            incident.id,
            r.actor.user_id,
            TimelineKind::Detected,
            format!(
                "{} declared{drill}: {} [{}]",
                incident.number, incident.title, incident.severity
            ),
            json!({ "detected_at": incident.detected_at, "severity": incident.severity }),
        ));
        let payload = IncidentDeclared {
            incident: snapshot(incident),
            is_drill: incident.is_drill,
            actor_id: r.actor.user_id,
            affected_services: r
                .input
                .affected_services
                .iter()
                .map(ServiceView::from)
                .collect(),
            alert_group_ids: r.input.alert_group_ids.clone(),
        };
        events.push(
            r.traced(
                OutgoingMessage::of(workspace_id, &payload)
                    .map_err(|e| DomainError::invalid("event", e.to_string()))?
                    .caused_by(r.cause),
            ),
        );
        // Its alert groups, unless the declarer becomes a member first (below).
        if matches!(checked[i], Checked::Create { member: None, .. }) {
            for &group in &r.input.alert_group_ids {
                entries.push((
                    incident.id,
                    r.actor.user_id,
                    TimelineKind::AlertLinked,
                    format!("Alert group {group} linked"),
                    json!({ "alert_group_id": group }),
                ));
                let payload = IncidentAlertGroupLinked {
                    incident: snapshot(incident),
                    is_drill: incident.is_drill,
                    alert_group_id: group,
                    actor_id: r.actor.user_id,
                };
                events.push(
                    r.traced(
                        OutgoingMessage::of(workspace_id, &payload)
                            .map_err(|e| DomainError::invalid("event", e.to_string()))?
                            .caused_by(r.cause),
                    ),
                );
            }
        }
    }
    store::insert_affected_services(conn, workspace_id, &services).await?;
    store::insert_declare_entries(conn, workspace_id, &entries).await?;
    outbox::enqueue(conn, SERVICE, &events).await?;

    // The rarer part one by one: the declarer's membership of a PRIVATE incident, then its
    // alert groups.
    let mut created: Vec<Option<Incident>> = vec![None; requests.len()];
    for (&i, incident) in creating.iter().zip(incidents) {
        let r = &requests[i];
        let incident = match &checked[i] {
            Checked::Create {
                member: Some(user), ..
            } => {
                let span = r.span.cloned().unwrap_or_else(tracing::Span::current);
                async {
                    let incident = members::added(conn, r.actor, incident, user, r.cause).await?;
                    for group in &r.input.alert_group_ids {
                        link_alert_group_entry(conn, r.actor, &incident, *group, r.cause).await?;
                    }
                    DomainResult::Ok(incident)
                }
                .instrument(span)
                .await?
            }
            _ => incident,
        };
        created[i] = Some(incident);
    }

    let answers = checked
        .into_iter()
        .enumerate()
        .map(|(i, c)| match c {
            Checked::Done(answer) => *answer,
            Checked::Create { .. } => Ok(Declared {
                incident: created[i].clone().expect("created above"),
                created: true,
            }),
            Checked::SameAs(first) => {
                let incident = created[first].clone().expect("created above");
                let key = requests[i].key.expect("a key repeated");
                let first_print = requests[first].key.and_then(|k| k.fingerprint);
                key.reuse(store::Keyed {
                    incident,
                    declare_fingerprint: first_print.map(|f| f.to_vec()),
                })
            }
        })
        .collect();
    Ok(answers)
}

/// The error of a batch that lost an idempotency key to another process between its
/// checks and its insert: transient (503, a command is redelivered); a retry finds the
/// other declare's incident.
fn key_taken() -> DomainError {
    DomainError::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "an idempotency key of the batch was used by another declare meanwhile",
    )))
}

/// Whether `e` is [`key_taken`]'s: the batch may simply be applied again.
pub fn is_key_taken(e: &DomainError) -> bool {
    matches!(e, DomainError::Database(sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::AlreadyExists)
}

/// The checks of one declare, all reads, before the counter's lock: what it may do.
async fn check(
    conn: &mut PgConnection,
    r: &DeclareRequest<'_>,
    now: DateTime<Utc>,
    first_of_key: &std::collections::HashMap<&str, usize>,
) -> DomainResult<Checked> {
    let (actor, input) = (r.actor, r.input);
    validate(input)?;
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
    // A retry finds its incident, or the declare of this batch that first used the key
    // (one that commits meanwhile makes the insert fail the batch: [`key_taken`]).
    if let Some(key) = r.key {
        if let Some(existing) =
            store::find_by_idempotency_key(conn, actor.workspace_id, key.key.as_str()).await?
        {
            return Ok(Checked::Done(Box::new(key.reuse(existing))));
        }
        if let Some(&first) = first_of_key.get(key.key.as_str()) {
            return Ok(Checked::SameAs(first));
        }
    }
    // Only now: a retry's groups are linked to the incident its first try declared.
    refuse_held_alert_groups(conn, actor, &input.alert_group_ids).await?;
    // The declarer of a PRIVATE incident keeps reading it, whatever their role.
    let member = match actor.user_id {
        Some(user_id) if input.visibility == Some(Visibility::Private) => Some(
            get_user(conn, actor.workspace_id, user_id)
                .await?
                .ok_or(DomainError::NotFound("user"))?,
        ),
        _ => None,
    };
    Ok(Checked::Create {
        detected_at,
        member,
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
