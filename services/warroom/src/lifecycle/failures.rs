//! Optional steps Slack refused for good: recorded in `warroom_step_failures`, skipped,
//! and put on the incident's timeline once per step and code.

use incident_bus::{Envelope, HandlerError};
use sqlx::PgConnection;

use super::{Run, Snapshot, StepError, note, send_command};
use crate::slack::SlackError;
use crate::store;

impl Run<'_> {
    /// The result of an optional step: its value, `None` when Slack refused it for good
    /// (recorded and skipped), or the transient failure that retries the delivery.
    pub(super) async fn optional<T>(
        &self,
        step: &str,
        result: Result<T, SlackError>,
    ) -> Result<Option<T>, StepError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                let code = refusal_code(&e);
                tracing::warn!(
                    incident = %self.snap.reference, step, method = e.method(), code = %code, error = %e,
                    "slack refused an optional war room step; carrying on without it"
                );
                store::record_failure(self.pool, self.snap.id, step, e.method(), &code).await?;
                Ok(None)
            }
        }
    }
}

/// The code a refusal is recorded under: Slack's own, else what the answer was.
fn refusal_code(e: &SlackError) -> String {
    match e {
        SlackError::Http { status, .. } => format!("http_{status}"),
        other => other.code().unwrap_or("unexpected_answer").to_owned(),
    }
}

/// What an optional step's key means, for the timeline.
fn describe_step(step: &str) -> &'static str {
    match step.split_once(':').map_or(step, |(kind, _)| kind) {
        "dm" => "a role holder's DM",
        "unarchive" => "unarchiving the war room channel",
        "bookmark" => "a bookmark of the war room channel",
        "invite" => "the invite of a role holder",
        "lookup" => "the Slack lookup of a role holder",
        _ => "an optional step",
    }
}

/// Asks core for one timeline note per optional step refused since the last delivery, in
/// the delivery's transaction.
pub(super) async fn note_failures(
    conn: &mut PgConnection,
    snap: &Snapshot,
    message: &Envelope,
) -> Result<(), HandlerError> {
    for failure in store::take_unnoted_failures(conn, snap.id).await? {
        let text = format!(
            "Slack war room: {} ({}) failed with `{}`; the war room carries on without it",
            describe_step(&failure.step),
            failure.method,
            failure.code
        );
        send_command(conn, snap.workspace_id, &note(snap.id, text), Some(message)).await?;
    }
    Ok(())
}
