//! The war room's channel: created once per incident, `name_taken` resolved by finding
//! our own channel (one a previous attempt created before its id could be stored) or by
//! a suffix.

use super::{Run, Snapshot, StepError};
use crate::naming;
use crate::slack::SlackError;
use crate::slack::client::Identity;
use crate::store::{self, Room};

impl Run<'_> {
    /// Creates the channel once; returns the room with its channel.
    pub(super) async fn ensure_channel(&self, room: Option<Room>) -> Result<Room, StepError> {
        let snap = self.snap;
        let identity = self.slack.identity().await?.clone();
        let (mut attempt, mut name) = match &room {
            Some(r) => (r.name_attempt, r.channel_name.clone()),
            None => (0, None),
        };
        for _ in 0..50 {
            let current = name.take().unwrap_or_else(|| {
                let attempt = u32::try_from(attempt).unwrap_or(0);
                if self.private {
                    naming::private_channel_name(number(snap), snap.is_drill, attempt)
                } else {
                    naming::channel_name(number(snap), &snap.title, snap.is_drill, attempt)
                }
            });
            store::begin_create(self.pool, snap.id, snap.workspace_id, &current, attempt).await?;
            let created = self
                .slack
                .client
                .create_conversation(&current, self.private)
                .await;
            let channel = match created {
                Ok(channel) => Some(channel),
                Err(e) if e.is("name_taken") => self.find_own(&current, &identity).await?,
                Err(e) => return Err(e.into()),
            };
            if let Some(channel) = channel {
                let url = channel_url(&identity, &channel.id);
                store::set_channel(self.pool, snap.id, &channel.id, &url).await?;
                tracing::info!(incident = %snap.reference, channel = %channel.id, name = %current, "war room channel created");
                return store::room(self.pool, snap.id)
                    .await?
                    .ok_or_else(|| sqlx::Error::RowNotFound.into());
            }
            attempt += 1;
        }
        Err(SlackError::Api {
            method: "conversations.create",
            code: "name_taken".to_owned(),
            needed: None,
        }
        .into())
    }

    /// Our own unarchived channel named `name` that no other incident has: the one a
    /// previous attempt created before its id could be stored.
    async fn find_own(
        &self,
        name: &str,
        identity: &Identity,
    ) -> Result<Option<crate::slack::client::Channel>, StepError> {
        let mut cursor = String::new();
        loop {
            let (channels, next) = self
                .slack
                .client
                .list_conversations(&cursor, self.private)
                .await?;
            for channel in channels {
                if channel.name == name
                    && channel.is_private == self.private
                    && !channel.is_archived
                    && channel.creator.as_deref() == Some(identity.user_id.as_str())
                    && !store::channel_claimed(self.pool, &channel.id, self.snap.id).await?
                {
                    return Ok(Some(channel));
                }
            }
            if next.is_empty() {
                return Ok(None);
            }
            cursor = next;
        }
    }
}

fn channel_url(identity: &Identity, channel: &str) -> String {
    match &identity.url {
        Some(url) => format!("{}/archives/{channel}", url.trim_end_matches('/')),
        None => format!(
            "https://app.slack.com/client/{}/{channel}",
            identity.team_id
        ),
    }
}

/// The incident's number, as the channel names take it.
fn number(snap: &Snapshot) -> i64 {
    i64::from(snap.number.get())
}
