//! `/incident drill [<scenario>]`: without a name, the workspace's drill scenarios; with
//! one, `drill.start_run` to the SLA watchdog (which owns the drill tables and starts the
//! run as `POST /api/v1/drills/runs` does), written to the outbox and answered at once.
//!
//! The name is matched against the workspace's scenarios here (a read of the watchdog's
//! table), so an unknown name is answered with the list and nothing is sent. The command's
//! idempotency key is the Slack request's `trigger_id` (`slack:drill:<trigger>`), unique
//! per invocation: the watchdog starts one run for it however often it is delivered.

use incident_schema::contract::StartDrillRun;
use uuid::Uuid;

use super::command;
use crate::AppState;
use crate::error::InboundError;
use crate::slack::mrkdwn;
use crate::store::{self, Person};

/// Answers `/incident drill <name>` (`name` empty: the list).
pub(super) async fn drill(
    state: &AppState,
    person: &Person,
    name: &str,
    trigger: &str,
) -> Result<String, InboundError> {
    let ws = person.workspace_id;
    let scenarios = store::drill_scenarios(&state.pool, ws)
        .await
        .map_err(InboundError::failed)?;
    let name = name.trim();
    if name.is_empty() {
        return Ok(listing("*Drill scenarios*", &scenarios));
    }
    let Some(id) = matching(&scenarios, name) else {
        let heading = format!(
            "No drill scenario is named *{}*; nothing was started.",
            mrkdwn::escape(name)
        );
        return Ok(listing(&heading, &scenarios));
    };
    command(
        state,
        ws,
        &StartDrillRun {
            scenario_id: id,
            actor_id: Some(person.id),
            idempotency_key: format!("slack:drill:{trigger}"),
        },
    )
    .await?;
    let name = scenarios
        .iter()
        .find(|(s, _)| *s == id)
        .map_or(name, |(_, n)| n.as_str());
    Ok(format!(
        "Starting the drill *{}*. Its `drill-` war room opens when the drill incident is \
         declared; nothing outside its participants is paged.",
        mrkdwn::escape(name)
    ))
}

/// The scenario called `name`: its exact name first, else the one name equal to it
/// ignoring case (two such: none, the person picks the exact one).
fn matching(scenarios: &[(Uuid, String)], name: &str) -> Option<Uuid> {
    if let Some((id, _)) = scenarios.iter().find(|(_, n)| n == name) {
        return Some(*id);
    }
    let mut folded = scenarios
        .iter()
        .filter(|(_, n)| n.eq_ignore_ascii_case(name));
    match (folded.next(), folded.next()) {
        (Some((id, _)), None) => Some(*id),
        _ => None,
    }
}

fn listing(heading: &str, scenarios: &[(Uuid, String)]) -> String {
    if scenarios.is_empty() {
        return format!(
            "{heading}\nThis workspace has no drill scenarios yet: upload one with \
             `POST /api/v1/drills/scenarios` (see `deploy/drills/`)."
        );
    }
    let names: Vec<String> = scenarios
        .iter()
        .map(|(_, n)| format!("• {}", mrkdwn::escape(n)))
        .collect();
    format!(
        "{heading}\nStart one with `/incident drill <scenario>`:\n{}",
        names.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_matches_exactly_then_ignoring_case_when_that_is_unambiguous() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let scenarios = vec![
            (a, "DB failover".to_owned()),
            (b, "db failover".to_owned()),
            (c, "Queue backlog".to_owned()),
        ];
        assert_eq!(matching(&scenarios, "db failover"), Some(b));
        assert_eq!(matching(&scenarios, "DB failover"), Some(a));
        assert_eq!(matching(&scenarios, "DB FAILOVER"), None, "two fold to it");
        assert_eq!(matching(&scenarios, "queue BACKLOG"), Some(c));
        assert_eq!(matching(&scenarios, "Queue"), None);
    }
}
