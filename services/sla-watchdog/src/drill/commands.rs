//! The watchdog's AMQP consumer: queue `sla-watchdog.commands`, bound to
//! `incidents.commands` with `drill.*`. `drill.start_run` (sent by the war room for
//! `/incident drill <scenario>`) starts a run through [`runner::start_now`], the function
//! `POST /api/v1/drills/runs` calls.
//!
//! It runs in the consumer runner's transaction, with its inbox row, so a duplicate
//! delivery does nothing; the command's idempotency key (stored as the run's) makes a
//! command resent under a new message id start one run too. A command naming no scenario
//! of its workspace, a file that no longer parses, a malformed key or an unknown `drill.*`
//! command cannot succeed on retry: it is dead-lettered with its reason logged.

use std::sync::LazyLock;

use futures_util::future::BoxFuture;
use incident_bus::dispatch::unknown_command;
use incident_bus::{Dispatch, Envelope, Handler, HandlerError, Handles, QueueSpec};
use incident_schema::contract::{Message, StartDrillRun};
use incident_schema::text::IdempotencyKey;
use sqlx::PgConnection;

use super::runner::{self, StartRefused, Started};

/// The queue of commands addressed to the watchdog.
pub fn commands_queue() -> QueueSpec {
    incident_bus::topology::queue(incident_bus::topology::SLA_WATCHDOG_COMMANDS)
}

/// Applies the watchdog's commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrillCommands;

static DISPATCH: LazyLock<Dispatch<DrillCommands>> = LazyLock::new(|| {
    Dispatch::new()
        .on::<StartDrillRun>()
        .otherwise(unknown_command)
});

impl Handler for DrillCommands {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        DISPATCH.dispatch(self, tx, message)
    }
}

impl Handles<StartDrillRun> for DrillCommands {
    #[tracing::instrument(skip_all, fields(workspace_id = %message.workspace_id, scenario_id = %command.scenario_id), err(Debug))]
    async fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        command: StartDrillRun,
    ) -> Result<(), HandlerError> {
        let key = IdempotencyKey::parse(&command.idempotency_key).map_err(|e| {
            HandlerError::permanent(format!("{}: idempotency_key: {e}", StartDrillRun::TYPE))
        })?;
        match runner::start_now(
            tx,
            message.workspace_id,
            command.scenario_id,
            Some(key.as_str()),
            command.actor_id,
        )
        .await
        {
            Ok(Started::New(run)) => {
                tracing::info!(run = %run.id, actor_id = ?command.actor_id, "drill run started by command");
                Ok(())
            }
            Ok(Started::Existing(run)) => {
                tracing::info!(run = %run.id, "drill run already started with this key");
                Ok(())
            }
            Err(StartRefused::Database(e)) => Err(e.into()),
            Err(e) => Err(HandlerError::permanent(format!(
                "{} refused: {e}",
                StartDrillRun::TYPE
            ))),
        }
    }
}
