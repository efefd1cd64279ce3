//! The steps that converge an existing channel onto the snapshot, in order: topic,
//! invites of the role holders, the pinned summary and the bookmarks (only for the newest
//! snapshot), then the event's own post. (Role holders are told what their role asks of
//! them by `roles`, with or without a war room.) Each is recorded right after its
//! Slack call, so a redelivery repeats nothing that was done.

use super::{Run, StepError, hash, tolerate};
use crate::naming;
use crate::slack::blocks::Summary;
use crate::slack::mrkdwn::escape;
use crate::store::{self, Room};

impl Run<'_> {
    pub(super) async fn converge(
        &self,
        room: &Room,
        channel: &str,
        newest: bool,
    ) -> Result<(), StepError> {
        if newest {
            let commander = self.display_name(self.snap.commander_id).await?;
            self.topic(room, channel, commander.as_deref()).await?;
            self.invites(room, channel).await?;
            self.summary(room, channel, commander.as_deref()).await?;
            self.bookmarks(channel).await?;
        }
        self.event_post(channel).await
    }

    async fn topic(
        &self,
        room: &Room,
        channel: &str,
        commander: Option<&str>,
    ) -> Result<(), StepError> {
        let snap = self.snap;
        let client = &self.slack.client;
        // Topic.
        let topic = naming::topic(
            snap.severity.as_str(),
            (!self.private).then_some(snap.title.as_str()),
            snap.status.as_str(),
            commander,
            snap.is_drill,
        );
        let topic_hash = hash(&topic);
        if room.topic_hash.as_deref() != Some(topic_hash.as_str()) {
            client.set_topic(channel, &topic).await?;
            store::set(self.pool, snap.id, "topic_hash", topic_hash).await?;
        }
        Ok(())
    }

    async fn invites(&self, room: &Room, channel: &str) -> Result<(), StepError> {
        let snap = self.snap;
        let client = &self.slack.client;
        // Invites of the role holders.
        let mut holders = Vec::new();
        for user in [snap.commander_id, snap.tech_lead_id, snap.comms_lead_id]
            .into_iter()
            .flatten()
        {
            if !holders.contains(&user) {
                holders.push(user);
            }
        }
        for user in holders {
            let Some((slack_user, _)) = self.slack_id(user).await? else {
                continue;
            };
            if room.invited.contains(&slack_user) {
                continue;
            }
            let invited = tolerate(
                client
                    .invite(channel, std::slice::from_ref(&slack_user))
                    .await,
                &["already_in_channel"],
            );
            // A refused invite is tried again on a later event (the account may be
            // fixed by then); its refusal reaches the timeline once.
            if self
                .optional(&format!("invite:{slack_user}"), invited)
                .await?
                .is_some()
            {
                store::add_invited(self.pool, snap.id, &slack_user).await?;
            }
        }
        Ok(())
    }

    async fn summary(
        &self,
        room: &Room,
        channel: &str,
        commander: Option<&str>,
    ) -> Result<(), StepError> {
        let snap = self.snap;
        let client = &self.slack.client;
        // The summary.
        let commander_label = match snap.commander_id {
            Some(user) => self
                .slack_id(user)
                .await?
                .map(|(id, _)| format!("<@{id}>"))
                .or(commander.map(escape)),
            None => None,
        };
        let services = store::services(self.pool, snap.id).await?;
        let summary = Summary {
            reference: &snap.reference,
            incident_id: snap.id.to_string(),
            title: &snap.title,
            description: &snap.description,
            severity: snap.severity.as_str(),
            status: snap.status.as_str(),
            commander: commander_label,
            detected_at: snap.detected_at.timestamp(),
            services,
            is_drill: snap.is_drill,
        };
        let blocks = summary.blocks();
        let text = summary.text();
        let summary_hash = hash(&format!("{text}\n{blocks}"));
        match &room.summary_ts {
            None => {
                let ts = client.post_message(channel, &text, Some(&blocks)).await?;
                store::set(self.pool, snap.id, "summary_ts", ts.clone()).await?;
                store::set(self.pool, snap.id, "summary_hash", summary_hash).await?;
                tolerate(client.pin(channel, &ts).await, &["already_pinned"])?;
                store::set(self.pool, snap.id, "pinned", true).await?;
            }
            Some(ts) => {
                if room.summary_hash.as_deref() != Some(summary_hash.as_str()) {
                    client
                        .update_message(channel, ts, &text, Some(&blocks))
                        .await?;
                    store::set(self.pool, snap.id, "summary_hash", summary_hash).await?;
                }
                if !room.pinned {
                    tolerate(client.pin(channel, ts).await, &["already_pinned"])?;
                    store::set(self.pool, snap.id, "pinned", true).await?;
                }
            }
        }
        Ok(())
    }

    async fn event_post(&self, channel: &str) -> Result<(), StepError> {
        let snap = self.snap;
        let client = &self.slack.client;
        // The event's own post.
        if let Some(text) = self.post_text().await?
            && !store::posted(self.pool, snap.id, self.message.id).await?
        {
            let ts = client.post_message(channel, &text, None).await?;
            store::record_post(self.pool, snap.id, self.message.id, &ts).await?;
        }
        Ok(())
    }
}
