//! What makes drafts arrive without an HTTP request: the AMQP consumers.
//!
//! - queue `postmortem.events`, bound to `incidents.events` with `incident.status_changed`:
//!   when `data.to` is RESOLVED or CLOSED and the workspace's `draft_trigger` asks for it
//!   (`ON_RESOLVE`: RESOLVED, or CLOSED for an incident that skipped RESOLVED; `ON_CLOSE`:
//!   CLOSED; `ON_REQUEST`: never), the incident is drafted unless it already has a
//!   postmortem. An incident reopened since the event is left alone.
//! - queue `postmortem.commands`, bound to `incidents.commands` with `postmortem.*`:
//!   `postmortem.generate` `{ "incident_id": …, "regenerate": false, "actor_id": … }`
//!   drafts (or, with `regenerate`, rewrites an unedited draft). A missing or still open
//!   incident is a contract violation (dead-lettered); a refused regeneration is logged
//!   and acknowledged.
//!
//! Both run in the consumer runner's transaction, with its inbox row: a duplicate delivery
//! does nothing, and the unique `postmortems.incident_id` makes racing replicas write one
//! draft. The LLM, when configured, is called inside that transaction (the runner owns
//! it); its timeout bounds how long the transaction stays open.

use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use incident_bus::dispatch::unknown_command;
use incident_bus::{Dispatch, Envelope, Handler, HandlerError, Handles, QueueSpec};
use incident_schema::contract::{GeneratePostmortem, IncidentRef, IncidentStatusChanged, Message};
use sqlx::PgConnection;

use crate::draft::llm::LlmClient;
use crate::draft::{self, DraftOutcome, DraftRequest, Trigger};
use crate::error::DomainError;
use crate::settings;

/// The queue of incident events the service drafts from.
pub fn events_queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::POSTMORTEM_EVENTS)
}

/// The queue of commands addressed to the service.
pub fn commands_queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::POSTMORTEM_COMMANDS)
}

/// Drafts postmortems from events and commands.
#[derive(Clone)]
pub struct Drafts {
    llm: Option<Arc<LlmClient>>,
}

impl Drafts {
    /// A handler drafting with `llm` (none: the template only).
    pub fn new(llm: Option<Arc<LlmClient>>) -> Self {
        Self { llm }
    }
}

/// The status changes (read as far as the incident's id) and the generate command.
static DISPATCH: LazyLock<Dispatch<Drafts>> = LazyLock::new(|| {
    Dispatch::new()
        .on::<IncidentStatusChanged<IncidentRef>>()
        .on::<GeneratePostmortem>()
        .otherwise(not_ours)
});

/// A command addressed to postmortem (its commands queue takes every one under the
/// service's prefix) that it does not know violates the contract; another event type
/// routed here by a wider binding is not ours to act on.
fn not_ours(message: &Envelope) -> Result<(), HandlerError> {
    let prefix = GeneratePostmortem::TYPE.split('.').next();
    if message.message_type.split('.').next() == prefix {
        unknown_command(message)
    } else {
        Ok(())
    }
}

impl Drafts {
    async fn status_changed(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        event: IncidentStatusChanged<IncidentRef>,
    ) -> Result<(), HandlerError> {
        let workspace_id = message.workspace_id;
        let trigger = settings::get(conn, workspace_id).await?.draft_trigger;
        if !trigger.fires_on(event.to) {
            return Ok(());
        }
        let request = DraftRequest {
            workspace_id,
            incident_id: event.incident.id,
            regenerate: false,
            actor_id: event.actor_id,
            trigger: Trigger::StatusChanged,
        };
        match draft::run(conn, self.llm.as_deref(), &request, Some(message)).await {
            Ok(outcome) => {
                log(&outcome, &request);
                Ok(())
            }
            // Reopened (or deleted) since the event: nothing to draft from.
            Err(e @ (DomainError::IncidentOpen(_) | DomainError::NotFound(_))) => {
                tracing::info!(incident_id = %request.incident_id, reason = %e, "no draft");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn generate(
        &self,
        conn: &mut PgConnection,
        message: &Envelope,
        command: GeneratePostmortem,
    ) -> Result<(), HandlerError> {
        let request = DraftRequest {
            workspace_id: message.workspace_id,
            incident_id: command.incident_id,
            regenerate: command.regenerate,
            actor_id: command.actor_id,
            trigger: Trigger::Command,
        };
        match draft::run(conn, self.llm.as_deref(), &request, Some(message)).await {
            Ok(outcome) => {
                log(&outcome, &request);
                Ok(())
            }
            Err(e @ DomainError::NotRegenerable(_)) => {
                tracing::info!(incident_id = %request.incident_id, reason = %e, "not regenerated");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn log(outcome: &DraftOutcome, request: &DraftRequest) {
    let what = match outcome {
        DraftOutcome::Created(_) => "created",
        DraftOutcome::Existing(_) => "already drafted",
        DraftOutcome::Regenerated(_) => "regenerated",
    };
    tracing::info!(incident_id = %request.incident_id, postmortem_id = %outcome.record().row.id, what, "draft request applied");
}

impl Handler for Drafts {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        DISPATCH.dispatch(self, tx, message)
    }
}

impl Handles<IncidentStatusChanged<IncidentRef>> for Drafts {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        event: IncidentStatusChanged<IncidentRef>,
    ) -> Result<(), HandlerError> {
        self.status_changed(tx, message, event).await
    }
}

impl Handles<GeneratePostmortem> for Drafts {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        command: GeneratePostmortem,
    ) -> Result<(), HandlerError> {
        self.generate(tx, message, command).await
    }
}
