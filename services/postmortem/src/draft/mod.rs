//! Drafting a postmortem from a resolved incident: read the facts ([`facts`]), compute the
//! impact ([`impact`]), write every section from the template ([`template`]), let the
//! optional LLM ([`llm`]) rewrite the summary and what-happened sections, then store the
//! draft once and announce it (`postmortem.drafted`).
//!
//! Invariants:
//! - exactly one postmortem per incident, however many requests, deliveries or replicas
//!   race: the insert is `ON CONFLICT (incident_id) DO NOTHING`, and the loser answers with
//!   the winner's postmortem and emits nothing;
//! - a second request returns the existing postmortem; `regenerate` rewrites it only while
//!   it is a DRAFT no person edited (re-checked by the UPDATE itself);
//! - only RESOLVED or CLOSED incidents are drafted;
//! - `generation` records how each section was made (`template`, `llm`) and, under `llm`,
//!   whether the model was used, skipped (and why) or failed (and why).
//!
//! The work is split so that an HTTP request holds no database connection while the model
//! thinks: [`prepare`] reads, [`compose`] writes the text (and may call the model),
//! [`save`] writes in a transaction. A consumer, which already holds its transaction, calls
//! [`run`].

pub mod facts;
pub mod impact;
pub mod llm;
pub mod template;

use incident_bus::Envelope;
use incident_schema::contract::PostmortemDrafted;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use self::facts::DraftFacts;
use self::impact::Impact;
use self::llm::{Disclosure, LlmClient};
use self::template::Sections;
use crate::error::{DomainError, DomainResult};
use crate::events;
use crate::postmortem::{self, FrozenEntry, PostmortemRecord, store};

/// What asked for a draft (recorded in `postmortem.drafted`).
pub use incident_schema::contract::DraftTrigger as Trigger;

/// A request for a draft.
#[derive(Debug, Clone, Copy)]
pub struct DraftRequest {
    /// The workspace.
    pub workspace_id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// Rewrite an existing, unedited draft.
    pub regenerate: bool,
    /// Who asked, if a person.
    pub actor_id: Option<Uuid>,
    /// What asked.
    pub trigger: Trigger,
}

/// A composed draft, not stored yet.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The text sections.
    pub sections: Sections,
    /// The computed impact.
    pub impact: Impact,
    /// The frozen timeline.
    pub timeline: Vec<FrozenEntry>,
    /// How each section was made.
    pub generation: Value,
}

/// What a draft request came to.
#[derive(Debug, Clone)]
pub enum DraftOutcome {
    /// A new draft.
    Created(PostmortemRecord),
    /// The existing postmortem, untouched.
    Existing(PostmortemRecord),
    /// The existing draft, rewritten.
    Regenerated(PostmortemRecord),
}

impl DraftOutcome {
    /// The postmortem, whatever happened.
    pub fn record(&self) -> &PostmortemRecord {
        match self {
            Self::Created(r) | Self::Existing(r) | Self::Regenerated(r) => r,
        }
    }

    /// The postmortem, whatever happened.
    pub fn into_record(self) -> PostmortemRecord {
        match self {
            Self::Created(r) | Self::Existing(r) | Self::Regenerated(r) => r,
        }
    }
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Prepared {
    /// Nothing to write: the existing postmortem answers.
    Existing(Box<PostmortemRecord>),
    /// A draft is to be composed from these facts (replacing `existing`, if any).
    Compose {
        /// The facts.
        facts: Box<DraftFacts>,
        /// The postmortem to regenerate.
        existing: Option<Uuid>,
    },
}

fn regenerable(record: &PostmortemRecord) -> bool {
    record.row.status == incident_schema::PostmortemStatus::Draft && !record.row.edited_by_human
}

/// Reads what a draft request needs: the existing postmortem, or the facts to draft from.
pub async fn prepare(conn: &mut PgConnection, request: &DraftRequest) -> DomainResult<Prepared> {
    let existing = store::of_incident(conn, request.workspace_id, request.incident_id).await?;
    if let Some(existing) = &existing {
        if !request.regenerate {
            return Ok(Prepared::Existing(Box::new(existing.clone())));
        }
        if !regenerable(existing) {
            return Err(DomainError::NotRegenerable(existing.row.status.to_string()));
        }
    }
    let facts = facts::gather(conn, request.workspace_id, request.incident_id).await?;
    if facts.incident.status.is_open() {
        return Err(DomainError::IncidentOpen(facts.incident.number.to_string()));
    }
    Ok(Prepared::Compose {
        facts: Box::new(facts),
        existing: existing.map(|e| e.row.id),
    })
}

/// Writes the draft: the template for every section, then the model (when configured and
/// allowed) for the summary and what happened, falling back section by section.
pub async fn compose(facts: &DraftFacts, llm: Option<&LlmClient>) -> Draft {
    let impact = impact::assess(facts);
    let mut sections = template::sections(facts, &impact);
    let mut generation = serde_json::Map::new();
    for section in postmortem::SECTIONS {
        generation.insert(section.into(), json!("template"));
    }
    generation.insert("timeline".into(), json!("incident"));
    let llm_record = match llm {
        None => json!({ "outcome": "not_configured" }),
        Some(client) => match llm::disclosure(facts, &impact) {
            Disclosure::Withhold(reason) => {
                tracing::info!(reason, "nothing sent to the LLM; template draft");
                json!({ "outcome": "skipped", "reason": reason })
            }
            Disclosure::Send(prompt) => match client.draft(&prompt).await {
                Ok(answer) => {
                    let mut missing = Vec::new();
                    match answer.summary {
                        Some(text) => {
                            sections.summary = text;
                            generation.insert("summary".into(), json!("llm"));
                        }
                        None => missing.push("summary"),
                    }
                    match answer.what_happened {
                        Some(text) => {
                            sections.what_happened = text;
                            generation.insert("what_happened".into(), json!("llm"));
                        }
                        None => missing.push("what_happened"),
                    }
                    if missing.is_empty() {
                        json!({ "outcome": "used", "model": client.model() })
                    } else {
                        json!({ "outcome": "partial", "model": client.model(), "reason": "empty", "template_sections": missing })
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "the LLM draft failed; template draft");
                    json!({ "outcome": "fallback", "model": client.model(), "reason": error.code(), "detail": error.to_string() })
                }
            },
        },
    };
    generation.insert("llm".into(), llm_record);
    Draft {
        sections,
        timeline: facts.timeline.iter().map(FrozenEntry::from).collect(),
        impact,
        generation: Value::Object(generation),
    }
}

/// Stores a composed draft (insert, or regenerate `existing`) and emits
/// `postmortem.drafted`, in the caller's transaction.
pub async fn save(
    conn: &mut PgConnection,
    request: &DraftRequest,
    facts: &DraftFacts,
    existing: Option<Uuid>,
    draft: &Draft,
    cause: Option<&Envelope>,
) -> DomainResult<DraftOutcome> {
    let (ws, incident_id) = (request.workspace_id, request.incident_id);
    let outcome = match existing {
        None => match store::insert_draft(conn, ws, incident_id, draft).await? {
            Some(created) => DraftOutcome::Created(created),
            // Another request or replica drafted it meanwhile: theirs stands.
            None => {
                let theirs = store::of_incident(conn, ws, incident_id)
                    .await?
                    .ok_or(DomainError::NotFound("postmortem"))?;
                return Ok(DraftOutcome::Existing(theirs));
            }
        },
        Some(id) => match store::regenerate(conn, ws, id, draft).await? {
            Some(updated) => DraftOutcome::Regenerated(updated),
            None => {
                let now = store::get(conn, ws, id)
                    .await?
                    .ok_or(DomainError::NotFound("postmortem"))?;
                return Err(DomainError::NotRegenerable(now.row.status.to_string()));
            }
        },
    };
    let record = outcome.record();
    let drafted = PostmortemDrafted {
        incident: events::snapshot(&facts.incident),
        postmortem_id: record.row.id,
        trigger: request.trigger,
        regenerated: matches!(outcome, DraftOutcome::Regenerated(_)),
        generation: record.row.generation.clone(),
        link: postmortem::path(record.row.id),
        markdown_link: postmortem::markdown_path(record.row.id),
        actor_id: request.actor_id,
    };
    events::emit(conn, facts.incident.workspace_id, &drafted, cause).await?;
    tracing::info!(
        postmortem_id = %record.row.id,
        incident_id = %incident_id,
        regenerated = matches!(outcome, DraftOutcome::Regenerated(_)),
        "postmortem drafted"
    );
    Ok(outcome)
}

/// The whole draft request on one connection (a consumer's transaction).
#[tracing::instrument(skip_all, fields(workspace_id = %request.workspace_id, incident_id = %request.incident_id), err)]
pub async fn run(
    conn: &mut PgConnection,
    llm: Option<&LlmClient>,
    request: &DraftRequest,
    cause: Option<&Envelope>,
) -> DomainResult<DraftOutcome> {
    match prepare(conn, request).await? {
        Prepared::Existing(record) => Ok(DraftOutcome::Existing(*record)),
        Prepared::Compose { facts, existing } => {
            let draft = compose(&facts, llm).await;
            save(conn, request, &facts, existing, &draft, cause).await
        }
    }
}
