//! What each event says in the war room channel, if anything.

use serde::Deserialize as _;
use serde_json::Value;
use uuid::Uuid;

use super::{Run, StepError};
use crate::naming;
use crate::slack::mrkdwn::escape;
use crate::store;
use incident_schema::event;

impl Run<'_> {
    async fn mention(&self, user: Option<Uuid>) -> Result<String, StepError> {
        let Some(user) = user else {
            return Ok("someone".to_owned());
        };
        // By stored Slack id, else by email (a Comms Lead without a stored id is
        // mentioned, not printed); without a Slack account, their name.
        if let Some((id, _)) = self.slack_id(user).await? {
            return Ok(format!("<@{id}>"));
        }
        let person = store::person(self.pool, self.snap.workspace_id, user).await?;
        Ok(person.map_or_else(|| "someone".to_owned(), |p| escape(&p.display_name)))
    }

    /// What this event says in the channel, if anything: one renderer per event kind.
    pub(super) async fn post_text(&self) -> Result<Option<String>, StepError> {
        Ok(match self.message.message_type.as_str() {
            event::INCIDENT_ACKNOWLEDGED => Some(self.acknowledged().await?),
            event::INCIDENT_STATUS_CHANGED => Some(self.status_changed().await?),
            event::INCIDENT_SEVERITY_CHANGED => Some(self.severity_changed().await?),
            event::INCIDENT_ROLE_ASSIGNED => Some(self.role_assigned().await?),
            event::INCIDENT_TIMELINE_ENTRY_ADDED => self.update_posted(),
            event::INCIDENT_SLA_WARNING => Some(self.sla_warning()),
            event::INCIDENT_SLA_BREACHED => Some(self.sla_breached()),
            event::INCIDENT_UPDATE_DUE => Some(self.update_due()),
            event::POSTMORTEM_PUBLISHED => Some("📝 The postmortem is published.".to_owned()),
            _ => None,
        })
    }

    /// `data.<key>` as text (empty when absent).
    fn text(&self, key: &str) -> String {
        let value = self.message.data.get(key).and_then(Value::as_str);
        value.unwrap_or_default().to_owned()
    }

    /// `data.<key>` as a user id, if it is one.
    fn user(&self, key: &str) -> Option<Uuid> {
        let value = self.message.data.get(key).and_then(Value::as_str);
        value.and_then(|s| s.parse().ok())
    }

    async fn acknowledged(&self) -> Result<String, StepError> {
        let by = self.mention(self.user("actor_id")).await?;
        Ok(format!("✅ Acknowledged by {by}"))
    }

    async fn status_changed(&self) -> Result<String, StepError> {
        let by = self.mention(self.user("actor_id")).await?;
        let (from, to) = (self.text("from"), self.text("to"));
        let mut text = format!("🔄 Status: *{from}* → *{to}* (by {by})");
        let message = self.text("message");
        if !message.trim().is_empty() {
            let quoted = naming::truncate(&escape(message.trim()), 3000);
            text.push_str(&format!("\n> {quoted}"));
        }
        Ok(text)
    }

    async fn severity_changed(&self) -> Result<String, StepError> {
        let by = self.mention(self.user("actor_id")).await?;
        let (from, to) = (self.text("from"), self.text("to"));
        Ok(format!("📈 Severity: *{from}* → *{to}* (by {by})"))
    }

    async fn role_assigned(&self) -> Result<String, StepError> {
        let role = self.message.data.get("role").map_or_else(
            || self.text("role").replace('_', " "),
            |r| {
                incident_schema::Role::deserialize(r).map_or_else(
                    |_| self.text("role").replace('_', " "),
                    |r| r.title().to_owned(),
                )
            },
        );
        Ok(match self.user("user_id") {
            Some(user) => format!("👤 {} is now the {role}", self.mention(Some(user)).await?),
            None => format!("👤 The {role} role is unassigned"),
        })
    }

    /// An UPDATE entry on the timeline, public or internal; other entries say nothing.
    fn update_posted(&self) -> Option<String> {
        let entry = self.message.data.get("entry")?;
        let field = |key: &str| entry.get(key);
        if field("kind").and_then(Value::as_str) != Some("UPDATE") {
            return None;
        }
        let public = field("is_public").and_then(Value::as_bool).unwrap_or(false);
        let message = field("message").and_then(Value::as_str).unwrap_or_default();
        Some(format!(
            "📣 {} update: {}",
            if public { "Public" } else { "Internal" },
            naming::truncate(&escape(message), 3000)
        ))
    }

    fn sla_warning(&self) -> String {
        let target = self.text("target").to_lowercase();
        format!(
            "⚠️ SLA warning: the {target} deadline is {}",
            self.text("deadline")
        )
    }

    fn sla_breached(&self) -> String {
        let target = self.text("target").to_lowercase();
        format!(
            "🔴 SLA breached: the {target} deadline ({}) passed",
            self.text("deadline")
        )
    }

    fn update_due(&self) -> String {
        format!(
            "⏰ An update is due (since {}). Use *Add update* on the pinned summary.",
            self.text("due_at")
        )
    }
}
