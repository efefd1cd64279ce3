//! Channel care: the war room channel unarchived when its incident is reopened, and its
//! bookmarks — the incident's page (under `INCIDENT_PUBLIC_URL`) and, once published, the
//! postmortem — added once and edited when their link changes.
//!
//! An incident leaves CLOSED never, so the war room archives nothing an incident can come
//! back to; but people archive a resolved incident's channel by hand. A reopen
//! (`incident.status_changed` with `reopen`), or an open incident whose room the record
//! says is archived, asks Slack whether the channel is archived and unarchives it
//! (`conversations.unarchive`). Slack documents that bot tokens cannot currently
//! unarchive: that refusal, like any other for good, is an optional step's — recorded,
//! put on the timeline once, and the room carries on as far as Slack lets it.

use incident_schema::IncidentStatus;
use incident_schema::contract::{IncidentStatusChanged, Message as _, PostmortemPublished};
use serde_json::Value;

use super::{Run, StepError, tolerate};
use crate::notify::store as notify_store;
use crate::store::{self, Room};

impl Run<'_> {
    /// Whether this event reopened the incident.
    fn is_reopen(&self) -> bool {
        self.message.message_type == <IncidentStatusChanged>::TYPE
            && self.message.data.get("reopen").and_then(Value::as_bool) == Some(true)
    }

    /// Unarchives the channel of a reopened incident; returns the room as it now stands.
    pub(super) async fn reopen(
        &self,
        room: Room,
        channel: &str,
        newest: bool,
    ) -> Result<Room, StepError> {
        let open = self
            .snap
            .status
            .known()
            .is_some_and(|s| !matches!(s, IncidentStatus::Resolved | IncidentStatus::Closed));
        if !(newest && open && (room.archived || self.is_reopen())) {
            return Ok(room);
        }
        let info = self.slack.client.channel_info(channel).await;
        let Some(info) = self.optional("unarchive:info", info).await? else {
            return Ok(room);
        };
        if info.is_archived {
            let unarchived = tolerate(
                self.slack.client.unarchive(channel).await,
                &["not_archived"],
            );
            if self.optional("unarchive", unarchived).await?.is_none() {
                return Ok(room);
            }
            tracing::info!(incident = %self.snap.reference, %channel, "war room channel unarchived on reopen");
        }
        if room.archived {
            store::set(self.pool, self.snap.id, "archived", false).await?;
        }
        Ok(store::room(self.pool, self.snap.id).await?.unwrap_or(room))
    }

    /// The channel's bookmarks: the incident's page, and the postmortem once published.
    pub(super) async fn bookmarks(&self, channel: &str) -> Result<(), StepError> {
        let snap = self.snap;
        let mut wanted = Vec::new();
        if let Some(base) = self.public_url {
            let link = format!(
                "{}/ui/incidents/{}",
                base.trim_end_matches('/'),
                snap.reference
            );
            wanted.push((
                "incident",
                format!("Incident page ({})", snap.reference),
                link,
            ));
        }
        if self.message.message_type == <PostmortemPublished>::TYPE
            && let Some(url) = self.message.data.get("url").and_then(Value::as_str)
            && (url.starts_with("https://") || url.starts_with("http://"))
        {
            wanted.push(("postmortem", "Postmortem".to_owned(), url.to_owned()));
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let have = notify_store::bookmarks(self.pool, snap.id).await?;
        let client = &self.slack.client;
        for (name, title, link) in wanted {
            let existing = have.get(name);
            let id = existing.and_then(|b| b["id"].as_str());
            let same = existing.and_then(|b| b["link"].as_str()) == Some(link.as_str());
            let step = format!("bookmark:{name}");
            match id {
                Some(_) if same => {}
                Some(id) => {
                    let edited = client.edit_bookmark(channel, id, &title, &link).await;
                    if self.optional(&step, edited).await?.is_some() {
                        notify_store::set_bookmark(self.pool, snap.id, name, id, &link).await?;
                    }
                }
                None => {
                    let added = client.bookmark(channel, &title, &link).await;
                    if let Some(id) = self.optional(&step, added).await? {
                        notify_store::set_bookmark(self.pool, snap.id, name, &id, &link).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
