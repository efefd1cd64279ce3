//! The report of a drill run (`drill.run_completed`, from the SLA watchdog), posted to the
//! drill incident's channel: the score, then each expectation met or missed with its
//! measured time, the scenario's target, the SLA target and how it compares with the run
//! before.
//!
//! Once per event, as the announcements are: the post is recorded in
//! `warroom_announcements` right after Slack answered, so a redelivered event posts
//! nothing again. A run without an incident, or whose incident has no channel, posts
//! nothing. Transient Slack failures retry the delivery; a permanent refusal is logged and
//! the delivery acknowledged.

use incident_bus::{Envelope, HandlerError};
use incident_schema::contract::DrillRunCompleted;
use incident_schema::drill::{ExpectationScore, Trend};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::lifecycle::Slack;
use crate::slack::mrkdwn::escape;
use crate::store;

/// Posts the report in `message` to the drill's channel once.
pub async fn post(pool: &PgPool, slack: &Slack, message: &Envelope) -> Result<(), HandlerError> {
    let done: DrillRunCompleted = message
        .data_as()
        .map_err(|e| HandlerError::permanent(format!("drill.run_completed: {e}")))?;
    let Some(incident_id) = done.incident_id else {
        return Ok(());
    };
    let Some(channel) = store::room(pool, incident_id)
        .await?
        .and_then(|room| room.channel_id)
    else {
        tracing::debug!(run = %done.run_id, "the drill has no channel; its report is not posted");
        return Ok(());
    };
    if store::announced(pool, message.id).await? {
        return Ok(());
    }
    let (text, blocks) = render(&done);
    match slack
        .client
        .post_message(&channel, &text, Some(&blocks))
        .await
    {
        Ok(ts) => {
            store::record_announcement(pool, message.id, message.workspace_id, &channel, &ts)
                .await?;
            Ok(())
        }
        Err(e) if e.is_transient() => Err(HandlerError::transient(e)),
        Err(e) => {
            tracing::warn!(run = %done.run_id, %channel, error = %e,
                "Slack refused the drill report for good; not posted");
            Ok(())
        }
    }
}

fn time(seconds: Option<u64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        Some(s) => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

fn line(e: &ExpectationScore) -> String {
    let mark = if e.met { "✅" } else { "❌" };
    let mut text = format!(
        "{mark} *{}*: {}",
        e.expectation.label(),
        if e.measured_seconds.is_some() {
            time(e.measured_seconds)
        } else {
            "not done".to_owned()
        }
    );
    if let Some(target) = e.target_seconds {
        text.push_str(&format!(" (target {})", time(Some(target))));
    }
    if let (Some(sla), Some(met)) = (e.sla_target_seconds, e.met_sla) {
        let verdict = if met { "met" } else { "missed" };
        text.push_str(&format!(", SLA {} {verdict}", time(Some(sla))));
    }
    if let Some(trend) = e.trend {
        let word = match trend {
            Trend::Faster => "faster",
            Trend::Slower => "slower",
            Trend::Same => "as fast",
        };
        text.push_str(&format!(
            ", {word} than last run ({})",
            time(e.previous_seconds)
        ));
    }
    text
}

/// The report: a plain-text fallback and its blocks.
pub fn render(done: &DrillRunCompleted) -> (String, Value) {
    let score = &done.score;
    let how = if done.state == "timed_out" {
        "timed out"
    } else {
        "completed"
    };
    let title = |name: &str| {
        format!(
            "[DRILL] {name} {how}: {} of {} expectations met ({}%)",
            score.met, score.total, score.percent
        )
    };
    let lines: Vec<String> = score.expectations.iter().map(line).collect();
    let text = format!(
        "{}\n{}",
        title(&escape(&done.scenario_name)),
        lines.join("\n")
    );
    // A header is plain text: the name as it is, cut to Slack's 150 characters.
    let header: String = title(&done.scenario_name).chars().take(150).collect();
    let blocks = json!([
        { "type": "header", "text": { "type": "plain_text", "text": header } },
        { "type": "section", "text": { "type": "mrkdwn", "text": lines.join("\n") } },
    ]);
    (text, blocks)
}
