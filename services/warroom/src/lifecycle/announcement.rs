//! The incident in the workspace's announcement channel (`announcement_channel` of the
//! war-room settings): one message per incident, posted when it is first seen open (any
//! severity: a SEV3 without a war room is announced too) and updated in place
//! (`chat.update`) when what it shows changes — severity, status, commander, the war room
//! once it opens — through resolution and close. The message's `ts` and a hash of what
//! it shows are recorded (`warroom_incident_announcements`) right after Slack answered,
//! so a redelivered event posts nothing twice and an older snapshot changes nothing.
//!
//! Without a war room the message carries a "Join" button (the person becomes a member
//! of the incident: `incident.add_member`); with one, a link to its channel.
//!
//! Left out: PRIVATE incidents (nobody outside learns they exist; one made private after
//! its announcement is updated to say only that it is private) and **drills**. Drills
//! stay inside the war room, like the status page, the digests and analytics leave them
//! out: the announcement channel is read by people who are not taking part, and a drill
//! announced there — even marked — reads as an incident to someone skimming it, while
//! the drill exercises nothing by being announced (the post is automatic).
//!
//! The publication of the incident's postmortem is posted there too, once per event.

use incident_schema::IncidentStatus;
use incident_schema::contract::{Message as _, PostmortemPublished};
use serde_json::{Value, json};

use super::{Run, StepError, hash};
use crate::naming::truncate;
use crate::notify::store as notify_store;
use crate::slack::blocks::action;
use crate::slack::mrkdwn::escape;
use crate::store;

/// What the announcement shows.
struct Shown<'a> {
    reference: &'a str,
    incident_id: String,
    title: &'a str,
    severity: &'a str,
    status: &'a str,
    open: bool,
    commander: Option<String>,
    detected_at: i64,
    /// The war room's channel id and link.
    war_room: Option<(String, String)>,
    /// The incident's page.
    page: Option<String>,
}

fn link_button(text: &str, action_id: &str, url: &str) -> Value {
    json!({ "type": "button", "text": { "type": "plain_text", "text": text, "emoji": true },
            "action_id": action_id, "url": url })
}

impl Shown<'_> {
    fn render(&self) -> (String, Value) {
        let mark = if self.open { "🚨" } else { "✅" };
        let text = truncate(
            &format!(
                "{mark} {}: {} ({}, {})",
                self.reference,
                escape(self.title),
                self.severity,
                self.status
            ),
            3000,
        );
        let field = |label: &str, value: &str| json!({ "type": "mrkdwn", "text": truncate(&format!("*{label}*\n{value}"), 2000) });
        let detected = format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            self.detected_at,
            chrono::DateTime::from_timestamp(self.detected_at, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        );
        let war_room = match &self.war_room {
            Some((channel, _)) => format!("<#{channel}>"),
            None => "none: join to take part".to_owned(),
        };
        let mut blocks = vec![
            json!({ "type": "header", "text": { "type": "plain_text", "emoji": true,
                "text": truncate(&format!("{mark} {}: {}", self.reference, self.title), 150) } }),
            json!({ "type": "section", "fields": [
                field("Severity", self.severity),
                field("Status", self.status),
                field("Commander", self.commander.as_deref().unwrap_or("unassigned")),
                field("Detected", &detected),
                field("War room", &war_room),
            ] }),
        ];
        let mut buttons = Vec::new();
        match &self.war_room {
            Some((_, url)) => {
                buttons.push(link_button("Open war room", action::OPEN_WAR_ROOM, url))
            }
            None if self.open => buttons.push(json!({ "type": "button",
                "text": { "type": "plain_text", "text": "Join", "emoji": true },
                "action_id": action::JOIN, "value": self.incident_id, "style": "primary" })),
            None => {}
        }
        if let Some(page) = &self.page {
            buttons.push(link_button("Incident page", action::OPEN_PAGE, page));
        }
        if !buttons.is_empty() {
            blocks.push(json!({ "type": "actions", "elements": buttons }));
        }
        (text, Value::Array(blocks))
    }
}

/// What an announcement made private shows.
fn private_notice(reference: &str) -> (String, Value) {
    let text = format!("🔒 {reference} is private: its details are kept to its members.");
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
    (text, blocks)
}

impl Run<'_> {
    /// The announcement channel first, then the role holders.
    pub(super) async fn tell_everyone(&self) -> Result<(), StepError> {
        self.announce_incident().await?;
        self.announce_postmortem().await?;
        self.tell_role_holders().await
    }

    async fn announce_incident(&self) -> Result<(), StepError> {
        let snap = self.snap;
        if snap.is_drill {
            return Ok(());
        }
        let existing = notify_store::announcement(self.pool, snap.id).await?;
        if existing
            .as_ref()
            .is_some_and(|a| snap.version < a.applied_version)
        {
            return Ok(());
        }
        let open = snap
            .status
            .known()
            .is_some_and(|s| !matches!(s, IncidentStatus::Resolved | IncidentStatus::Closed));
        let channel = match &existing {
            Some(a) => a.channel_id.clone(),
            None => {
                // A private incident, or one first seen over, is not announced.
                if self.private || !open {
                    return Ok(());
                }
                let settings = store::settings(self.pool, snap.workspace_id).await?;
                let Some(channel) = settings.announcement_channel else {
                    return Ok(());
                };
                channel
            }
        };
        let (text, blocks) = if self.private {
            private_notice(&snap.reference)
        } else {
            let commander = match snap.commander_id {
                Some(user) => Some(self.label(user).await?),
                None => None,
            };
            let war_room = store::room(self.pool, snap.id)
                .await?
                .and_then(|r| r.channel_id.zip(r.channel_url));
            let page = self.public_url.map(|base| {
                format!(
                    "{}/ui/incidents/{}",
                    base.trim_end_matches('/'),
                    snap.reference
                )
            });
            Shown {
                reference: &snap.reference,
                incident_id: snap.id.to_string(),
                title: &snap.title,
                severity: snap.severity.as_str(),
                status: snap.status.as_str(),
                open,
                commander,
                detected_at: snap.detected_at.timestamp(),
                war_room,
                page,
            }
            .render()
        };
        let content = hash(&format!("{text}\n{blocks}"));
        let client = &self.slack.client;
        let ts = match existing {
            None => client.post_message(&channel, &text, Some(&blocks)).await?,
            Some(a) if a.content_hash != content => {
                client
                    .update_message(&channel, &a.ts, &text, Some(&blocks))
                    .await?;
                a.ts
            }
            Some(a) => a.ts,
        };
        notify_store::record_announcement(
            self.pool,
            snap.id,
            snap.workspace_id,
            &channel,
            &ts,
            &content,
            snap.version,
        )
        .await?;
        Ok(())
    }

    /// The person as a mention (stored Slack id, else by email), else their name.
    pub(super) async fn label(&self, user: uuid::Uuid) -> Result<String, StepError> {
        let found =
            crate::notify::slack_user(self.pool, &self.slack.client, self.snap.workspace_id, user)
                .await?;
        Ok(match found {
            Ok(id) => format!("<@{id}>"),
            Err(_) => match store::person(self.pool, self.snap.workspace_id, user).await? {
                Some(p) => escape(&p.display_name),
                None => "someone".to_owned(),
            },
        })
    }

    /// The postmortem's publication, once per event, in the announcement channel.
    async fn announce_postmortem(&self) -> Result<(), StepError> {
        let snap = self.snap;
        if self.message.message_type != <PostmortemPublished>::TYPE || snap.is_drill || self.private
        {
            return Ok(());
        }
        let published: PostmortemPublished = match self.message.data_as() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "postmortem.published does not parse; not announced");
                return Ok(());
            }
        };
        let link = published
            .url
            .as_deref()
            .map(|u| format!(" <{u}|Read it>."))
            .unwrap_or_default();
        let text = format!(
            "📝 The postmortem of {}: {} is published.{link}",
            snap.reference,
            escape(&snap.title)
        );
        let mut body = text.clone();
        if !published.summary.trim().is_empty() {
            body.push_str(&format!(
                "\n> {}",
                truncate(&escape(published.summary.trim()), 2500)
            ));
        }
        let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": body } }]);
        let settings = store::settings(self.pool, snap.workspace_id).await?;
        let Some(channel) = settings.announcement_channel else {
            return Ok(());
        };
        // Once per event, as the digest is (`warroom_announcements`).
        if store::announced(self.pool, self.message.id).await? {
            return Ok(());
        }
        let ts = self
            .slack
            .client
            .post_message(&channel, &text, Some(&blocks))
            .await?;
        store::record_announcement(self.pool, self.message.id, snap.workspace_id, &channel, &ts)
            .await?;
        Ok(())
    }
}
