//! Role holders told what their role asks of them: on `incident.declared` each holder the
//! incident starts with, on `incident.role_assigned` the new holder — once per assignment
//! (the notification is keyed by the event and the role, so a redelivery tells nobody
//! twice, and a holder assigned again later hears again). A DM, or, when Slack refuses it,
//! a mention in the war room channel (or in the thread of the incident's announcement
//! when there is no war room); a refusal with a war room is also one of its optional
//! steps (`dm:<user>`), recorded and put on the timeline once. Invites stay the war room's
//! own step (`converge`), with or without the DM.

use incident_schema::Role;
use incident_schema::contract::{IncidentDeclared, IncidentRoleAssigned, Message as _};
use serde::Deserialize as _;
use serde_json::Value;
use uuid::Uuid;

use super::{Run, StepError};
use crate::notify::{self, Fallback, Notice, store as notify_store};
use crate::slack::mrkdwn::escape;
use crate::store;

/// What the role asks of its holder.
fn duties(role: Role) -> &'static str {
    match role {
        Role::Commander => {
            "acknowledge, set the status as it moves, post an update at least every 30 minutes, \
             assign the Tech Lead and Comms Lead, and hand over explicitly if you step away."
        }
        Role::TechLead => {
            "lead the technical investigation: form and test hypotheses, direct the responders, \
             decide mitigations with the Incident Commander, and put findings on the timeline."
        }
        Role::CommsLead => {
            "own the communication: write the stakeholder updates (public ones reach the status \
             page) on the update cadence, and be the one voice to people outside the response."
        }
    }
}

impl Run<'_> {
    /// The (role, holder) pairs this event assigns.
    fn assignments(&self) -> Vec<(Role, Uuid)> {
        let snap = self.snap;
        let data = &self.message.data;
        match self.message.message_type.as_str() {
            t if t == <IncidentDeclared>::TYPE => [
                (Role::Commander, snap.commander_id),
                (Role::TechLead, snap.tech_lead_id),
                (Role::CommsLead, snap.comms_lead_id),
            ]
            .into_iter()
            .filter_map(|(role, user)| user.map(|u| (role, u)))
            .collect(),
            t if t == <IncidentRoleAssigned>::TYPE => {
                let role = data.get("role").and_then(|r| Role::deserialize(r).ok());
                let user = data
                    .get("user_id")
                    .and_then(Value::as_str)
                    .and_then(|u| u.parse().ok());
                role.zip(user).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    pub(super) async fn tell_role_holders(&self) -> Result<(), StepError> {
        let assignments = self.assignments();
        if assignments.is_empty() {
            return Ok(());
        }
        let snap = self.snap;
        let room = store::room(self.pool, snap.id).await?;
        let war_room = room
            .as_ref()
            .filter(|r| !r.archived)
            .and_then(|r| r.channel_id.clone());
        let announcement = notify_store::announcement(self.pool, snap.id).await?;
        let fallback = match (&war_room, &announcement) {
            (Some(channel), _) => Some(Fallback {
                channel,
                thread_ts: None,
            }),
            (None, Some(a)) => Some(Fallback {
                channel: &a.channel_id,
                thread_ts: Some(&a.ts),
            }),
            (None, None) => None,
        };
        let drill = if snap.is_drill { "[DRILL] " } else { "" };
        let join = match &war_room {
            Some(channel) => format!("Join <#{channel}> and "),
            None => "There is no war room channel; ".to_owned(),
        };
        for (role, user) in assignments {
            let key = format!("role:{}:{}", self.message.id, role.as_str());
            let text = format!(
                "You are the {} of *{drill}{}: {}* ({}). {join}{}",
                role.title(),
                snap.reference,
                escape(&snap.title),
                snap.severity,
                duties(role)
            );
            let notice = Notice {
                key: &key,
                workspace_id: snap.workspace_id,
                incident_id: Some(snap.id),
                user_id: user,
                text: &text,
                fallback,
            };
            let told = notify::tell(self.pool, &self.slack.client, &notice).await?;
            // With a war room, a refused DM is one of its optional steps too.
            if let (Some(outcome), Some(_)) = (told, &room)
                && let Some((method, code)) = outcome.refusal
                && method == "chat.postMessage"
            {
                store::record_failure(self.pool, snap.id, &format!("dm:{user}"), method, &code)
                    .await?;
            }
        }
        Ok(())
    }
}
