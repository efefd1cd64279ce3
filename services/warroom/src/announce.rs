//! What the workspace's announcement channel (`announcement_channel` in the war-room
//! settings) is told: the weekly digest (`workspace.weekly_digest`, from the SLA watchdog)
//! as Block Kit, this week's figures against the previous week's, with the change; and an
//! outbound webhook subscription disabled for failing (`webhook.subscription_disabled`,
//! from core), so its admins learn it stopped and how to turn it back on.
//!
//! Once per event: the post is recorded in `warroom_announcements` (through the pool,
//! right after Slack answered), so a redelivered event posts nothing again. Without an
//! announcement channel the event is acknowledged and nothing is posted. A Slack failure
//! is handled as the war room's own steps are: transient ones retry the delivery, a
//! permanent refusal (`channel_not_found`, `not_in_channel`) is logged and the delivery
//! acknowledged, since retrying cannot help.

use incident_bus::{Envelope, HandlerError};
use incident_schema::contract::{WebhookSubscriptionDisabled, WeekFigures, WorkspaceWeeklyDigest};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::lifecycle::Slack;
use crate::store;

/// Posts the digest in `message` once, if the workspace has an announcement channel.
pub async fn weekly_digest(
    pool: &PgPool,
    slack: &Slack,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let digest: WorkspaceWeeklyDigest = message
        .data_as()
        .map_err(|e| HandlerError::permanent(format!("workspace.weekly_digest: {e}")))?;
    let (text, blocks) = render(&digest);
    announce(pool, slack, message, &text, &blocks).await
}

/// Tells the announcement channel that a webhook subscription was disabled, once.
pub async fn webhook_disabled(
    pool: &PgPool,
    slack: &Slack,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let disabled: WebhookSubscriptionDisabled = message
        .data_as()
        .map_err(|e| HandlerError::permanent(format!("webhook.subscription_disabled: {e}")))?;
    let text = format!(
        "Outbound webhook to {} was disabled after {} failed deliveries in a row: {}. \
         Pending deliveries are kept; an admin re-enables it with PATCH /api/v1/webhooks/{} {{\"enabled\": true}}.",
        disabled.url, disabled.consecutive_failures, disabled.reason, disabled.subscription_id
    );
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": format!(":warning: {text}") } }]);
    announce(pool, slack, message, &text, &blocks).await
}

/// Posts `text` and `blocks` for `message` to the workspace's announcement channel once,
/// if it has one.
async fn announce(
    pool: &PgPool,
    slack: &Slack,
    message: &Envelope,
    text: &str,
    blocks: &Value,
) -> Result<(), HandlerError> {
    let settings = store::settings(pool, message.workspace_id).await?;
    let Some(channel) = settings.announcement_channel else {
        tracing::debug!(workspace_id = %message.workspace_id, kind = %message.message_type,
            "no announcement channel; not posted");
        return Ok(());
    };
    if store::announced(pool, message.id).await? {
        return Ok(());
    }
    match slack
        .client
        .post_message(&channel, text, Some(blocks))
        .await
    {
        Ok(ts) => {
            store::record_announcement(pool, message.id, message.workspace_id, &channel, &ts)
                .await?;
            Ok(())
        }
        Err(e) if e.is_transient() => Err(HandlerError::transient(e)),
        Err(e) => {
            tracing::warn!(workspace_id = %message.workspace_id, %channel, error = %e,
                kind = %message.message_type, "Slack refused the announcement for good; not posted");
            Ok(())
        }
    }
}

fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "–".to_owned();
    };
    let s = s.round() as i64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

/// The change from the previous week: `▲ 2`, `▼ 5m`, `=`; nothing to compare: empty.
fn change<T: PartialOrd + Copy>(
    now: Option<T>,
    before: Option<T>,
    show: impl Fn(T, T) -> String,
) -> String {
    match (now, before) {
        (Some(n), Some(b)) if n > b => format!(" (▲ {})", show(n, b)),
        (Some(n), Some(b)) if n < b => format!(" (▼ {})", show(b, n)),
        (Some(_), Some(_)) => " (=)".to_owned(),
        _ => String::new(),
    }
}

fn count_line(name: &str, now: i64, before: i64) -> String {
    format!(
        "*{name}*\n{now}{}",
        change(Some(now), Some(before), |a, b| (a - b).to_string())
    )
}

fn duration_line(name: &str, now: Option<f64>, before: Option<f64>) -> String {
    format!(
        "*{name}*\n{}{}",
        duration(now),
        change(now, before, |a, b| duration(Some(a - b)))
    )
}

fn share_line(name: &str, now: Option<f64>, before: Option<f64>) -> String {
    format!(
        "*{name}*\n{}{}",
        percent(now),
        change(now, before, |a, b| format!("{:.0} pts", (a - b) * 100.0))
    )
}

fn field(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

/// The message: a plain-text fallback and its blocks.
pub fn render(digest: &WorkspaceWeeklyDigest) -> (String, Value) {
    let (w, p): (&WeekFigures, &WeekFigures) = (&digest.week, &digest.previous);
    let text = format!(
        "Incident digest {}: {} incidents (previous week {}), median time to resolve {}",
        w.label,
        w.incidents,
        p.incidents,
        duration(w.mttr_median_seconds)
    );
    let severities = w
        .by_severity
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let blocks = json!([
        { "type": "header", "text": { "type": "plain_text", "text": format!("Incident digest {}", w.label) } },
        { "type": "context", "elements": [{ "type": "mrkdwn",
            "text": format!("Incidents detected {} – {} ({}), against {}. Drills left out.",
                w.starts_at.format("%Y-%m-%d"), (w.ends_at - chrono::TimeDelta::days(1)).format("%Y-%m-%d"),
                digest.time_zone, p.label) }] },
        { "type": "section", "fields": [
            field(count_line("Incidents", w.incidents, p.incidents)),
            field(format!("*By severity*\n{severities}")),
            field(duration_line("Median time to acknowledge", w.mtta_median_seconds, p.mtta_median_seconds)),
            field(duration_line("Median time to resolve", w.mttr_median_seconds, p.mttr_median_seconds)),
            field(share_line("Acknowledged in time", w.acknowledge_met_share, p.acknowledge_met_share)),
            field(share_line("Resolved in time", w.resolve_met_share, p.resolve_met_share)),
            field(count_line("SLA breaches", w.sla_breaches, p.sla_breaches)),
            field(count_line("Postmortems published", w.postmortems_published, p.postmortems_published)),
        ] },
    ]);
    (text, blocks)
}
