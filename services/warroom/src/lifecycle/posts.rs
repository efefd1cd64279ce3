//! What each event says in the war room channel, if anything.

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
        let person = store::person(self.pool, self.snap.workspace_id, user).await?;
        Ok(match person {
            Some(p) => match p.slack_user_id {
                Some(id) => format!("<@{id}>"),
                None => escape(&p.display_name),
            },
            None => "someone".to_owned(),
        })
    }

    /// What this event says in the channel, if anything.
    pub(super) async fn post_text(&self) -> Result<Option<String>, StepError> {
        let data = &self.message.data;
        let actor = || {
            data.get("actor_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        };
        let s = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(match self.message.message_type.as_str() {
            event::INCIDENT_ACKNOWLEDGED => Some(format!(
                "✅ Acknowledged by {}",
                self.mention(actor()).await?
            )),
            event::INCIDENT_STATUS_CHANGED => {
                let mut text = format!(
                    "🔄 Status: *{}* → *{}* (by {})",
                    s("from"),
                    s("to"),
                    self.mention(actor()).await?
                );
                let message = s("message");
                if !message.trim().is_empty() {
                    text.push_str(&format!(
                        "\n> {}",
                        naming::truncate(&escape(message.trim()), 3000)
                    ));
                }
                Some(text)
            }
            event::INCIDENT_SEVERITY_CHANGED => Some(format!(
                "📈 Severity: *{}* → *{}* (by {})",
                s("from"),
                s("to"),
                self.mention(actor()).await?
            )),
            event::INCIDENT_ROLE_ASSIGNED => {
                let role = s("role").replace('_', " ");
                let user = data
                    .get("user_id")
                    .and_then(Value::as_str)
                    .and_then(|u| u.parse().ok());
                Some(match user {
                    Some(user) => {
                        format!("👤 {} is now the {role}", self.mention(Some(user)).await?)
                    }
                    None => format!("👤 The {role} role is unassigned"),
                })
            }
            event::INCIDENT_TIMELINE_ENTRY_ADDED => {
                let entry = data.get("entry").cloned().unwrap_or_default();
                let kind = entry
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let public = entry
                    .get("is_public")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let message = entry
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (kind == "UPDATE").then(|| {
                    format!(
                        "📣 {} update: {}",
                        if public { "Public" } else { "Internal" },
                        naming::truncate(&escape(message), 3000)
                    )
                })
            }
            event::INCIDENT_SLA_WARNING => Some(format!(
                "⚠️ SLA warning: the {} deadline is {}",
                s("target").to_lowercase(),
                s("deadline")
            )),
            event::INCIDENT_SLA_BREACHED => Some(format!(
                "🔴 SLA breached: the {} deadline ({}) passed",
                s("target").to_lowercase(),
                s("deadline")
            )),
            event::INCIDENT_UPDATE_DUE => Some(format!(
                "⏰ An update is due (since {}). Use *Add update* on the pinned summary.",
                s("due_at")
            )),
            event::POSTMORTEM_PUBLISHED => Some("📝 The postmortem is published.".to_owned()),
            _ => None,
        })
    }
}
