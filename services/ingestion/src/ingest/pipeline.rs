//! The pipeline's steps, in the order of the module doc of [`crate::ingest`]: lock the
//! keys and load what the notification touches, classify each alert into its group, mark
//! the groups that resolve, decide, note resolutions, record everything, and report the
//! outcome. [`ingest`] runs them in the caller's transaction; each step is a function of
//! its own over the pass's state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use incident_bus::{Envelope, outbox};
use incident_schema::{AlertStatus, Integration};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::classify::{self, Occurrence, Verdict};
use super::decide::Decisions;
use super::messages::{GroupSummary, Messages};
use super::{
    Decision, Group, GroupKey, GroupOutcome, Groups, IngestOutcome, MessageOutcome, Settings,
    Tracked, store,
};
use crate::SERVICE;
use crate::error::IngestResult;
use crate::source::{IncomingAlert, Labels, Notification};

/// Applies one notification in the caller's transaction (see the module doc of
/// [`crate::ingest`]). `cause` is the AMQP message it came in, if any; the events and
/// commands continue its correlation chain.
#[tracing::instrument(skip_all, fields(workspace_id = %integration.workspace_id, integration_id = %integration.id, alerts = notification.alerts.len()), err)]
pub async fn ingest(
    conn: &mut PgConnection,
    integration: &Integration,
    notification: &Notification,
    cause: Option<&Envelope>,
) -> IngestResult<IngestOutcome> {
    let settings = Settings::of(integration);
    let mut pass = Pass::load(conn, integration, notification, &settings).await?;
    pass.classify_all();
    pass.mark_resolving();
    let mut messages = Messages::new(integration.workspace_id, cause);
    let mut decisions = Decisions::new(
        integration.workspace_id,
        integration.id,
        integration.max_incidents_per_minute,
    );
    pass.decide_all(conn, &settings, &mut decisions, &mut messages)
        .await?;
    pass.find_incidents_of_resolving(conn).await?;
    write(
        conn,
        integration,
        notification,
        &pass.groups.list,
        &pass.tracked,
    )
    .await?;
    let summaries = pass.summaries(integration, &mut messages);
    outbox::enqueue(conn, SERVICE, &messages.out).await?;
    Ok(pass.outcome(summaries, &messages))
}

/// One notification's pass: its alerts' keys, the groups and stored alerts it touches
/// (locked), and how each alert moves.
struct Pass<'n> {
    notification: &'n Notification,
    keys: Vec<GroupKey>,
    now: DateTime<Utc>,
    groups: Groups,
    tracked: HashMap<String, Tracked>,
    stale: usize,
}

impl<'n> Pass<'n> {
    /// Step 1: every alert's key, one advisory lock per key (sorted, so notifications on
    /// the same groups queue), the stored alerts (locked) and the groups of both.
    async fn load(
        conn: &mut PgConnection,
        integration: &Integration,
        notification: &'n Notification,
        settings: &Settings,
    ) -> IngestResult<Self> {
        let keys: Vec<GroupKey> = notification
            .alerts
            .iter()
            .map(|a| settings.key_of(a, notification.source_grouping))
            .collect();
        let locked = sorted_unique(keys.iter().map(|k| k.stored.clone()));
        let now = store::lock_keys(conn, integration.id, &locked).await?;
        let fingerprints =
            sorted_unique(notification.alerts.iter().map(|a| a.fingerprint.as_str()));
        let stored = store::lock_alerts(conn, integration.id, &fingerprints).await?;
        // Alerts that sit in groups of other keys: lock those keys too, so the groups they
        // leave or resolve are as exact as ours.
        let extra = sorted_unique(
            stored
                .iter()
                .map(|a| &a.group_key)
                .filter(|k| locked.binary_search(k).is_err())
                .cloned(),
        );
        if !extra.is_empty() {
            store::lock_keys(conn, integration.id, &extra).await?;
        }
        let group_ids = sorted_unique(stored.iter().map(|a| a.alert_group_id));
        let groups =
            Groups::new(store::load_groups(conn, integration.id, &locked, &group_ids).await?);
        let mut tracked = HashMap::with_capacity(notification.alerts.len());
        for a in stored {
            let Some(group) = groups.index_of(a.alert_group_id) else {
                continue;
            };
            let occurrence = Occurrence {
                status: a.status,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
            };
            tracked.insert(a.fingerprint, Tracked::stored(a.id, group, occurrence));
        }
        Ok(Self {
            notification,
            keys,
            now,
            groups,
            tracked,
            stale: 0,
        })
    }

    /// Steps 2 and 3: each incoming alert judged against its stored occurrence and moved
    /// into (or out of) its group.
    fn classify_all(&mut self) {
        let notification = self.notification;
        for (i, alert) in notification.alerts.iter().enumerate() {
            let current = self.tracked.get(&alert.fingerprint).map(|t| t.occurrence);
            let verdict = classify::classify(current.as_ref(), alert, self.now);
            let next = classify::apply(current.as_ref(), alert, verdict, self.now);
            let known = self.tracked.contains_key(&alert.fingerprint);
            match verdict {
                Verdict::NewFiring | Verdict::NewResolved => self.track_new(i, alert, next),
                _ if !known => self.track_new(i, alert, next),
                Verdict::Stale => self.count_stale(alert),
                Verdict::Repeat | Verdict::Resolve => self.update(i, alert, next, verdict),
                Verdict::Refire => self.refire(i, alert, next),
            }
        }
    }

    /// A first occurrence joins the open group of its key (or opens it).
    fn track_new(&mut self, i: usize, alert: &IncomingAlert, next: Occurrence) {
        let g = self.groups.open(&self.keys[i], alert);
        let group = &mut self.groups.list[g];
        group.alert_count += 1;
        group.absorb(&alert.labels);
        if next.status == AlertStatus::Firing {
            group.firing_count += 1;
            group.fresh_firing.push(i);
        }
        self.tracked
            .insert(alert.fingerprint.clone(), Tracked::new(g, next, i));
    }

    /// An out-of-order notification: counted, nothing else.
    fn count_stale(&mut self, alert: &IncomingAlert) {
        self.stale += 1;
        if let Some(t) = self.tracked.get_mut(&alert.fingerprint) {
            t.notifications += 1;
            self.groups.list[t.group].touched = true;
        }
    }

    /// A repeat or a resolution of a stored alert, in its group.
    fn update(&mut self, i: usize, alert: &IncomingAlert, next: Occurrence, verdict: Verdict) {
        let Some(t) = self.tracked.get_mut(&alert.fingerprint) else {
            return;
        };
        t.notifications += 1;
        t.occurrence = next;
        let group = &mut self.groups.list[t.group];
        group.touched = true;
        if verdict == Verdict::Resolve {
            group.firing_count -= 1;
        }
        // A notification that only names the alert (a PagerDuty resolve) keeps its
        // stored content and the group's shared labels.
        if alert.refreshes {
            t.content = Some(i);
            group.absorb(&alert.labels);
        }
    }

    /// A resolved alert firing again; if its group resolved meanwhile, the new occurrence
    /// belongs to the open group of its key.
    fn refire(&mut self, i: usize, alert: &IncomingAlert, next: Occurrence) {
        let Some(t) = self.tracked.get_mut(&alert.fingerprint) else {
            return;
        };
        t.notifications += 1;
        t.content = Some(i);
        t.occurrence = next;
        if !self.groups.list[t.group].was_open {
            let old = &mut self.groups.list[t.group];
            old.alert_count -= 1;
            old.touched = true;
            let g = self.groups.open(&self.keys[i], alert);
            self.groups.list[g].alert_count += 1;
            t.group = g;
        }
        let group = &mut self.groups.list[t.group];
        group.firing_count += 1;
        group.fresh_firing.push(i);
        group.absorb(&alert.labels);
    }

    /// A touched open group with nothing firing any more resolves.
    fn mark_resolving(&mut self) {
        for group in self.groups.list.iter_mut().filter(|g| g.touched) {
            if group.was_open && group.firing_count == 0 {
                group.resolving = true;
                if group.is_new {
                    group.explain_decision(
                        Decision::Nothing,
                        "every alert of the group arrived resolved: nothing to declare",
                        json!({}),
                    );
                }
            }
        }
    }

    /// Step 4: a touched group with newly firing alerts and no decision yet decides. The
    /// rules are evaluated for every such group first; the locks their decisions need
    /// are taken together ([`Decisions::lock`]); then each decides, in group order.
    async fn decide_all(
        &mut self,
        conn: &mut PgConnection,
        settings: &Settings,
        decisions: &mut Decisions,
        messages: &mut Messages<'_>,
    ) -> IngestResult<()> {
        let rules = settings.rules.as_deref().map_err(String::as_str);
        let (mut deciding, mut plans) = (Vec::new(), Vec::new());
        for g in 0..self.groups.list.len() {
            let group = &self.groups.list[g];
            if !group.touched || group.resolving || group.decision != Decision::Nothing {
                continue;
            }
            let firing = self.still_firing_in(g);
            if firing.is_empty() {
                continue;
            }
            if let Some(plan) = decisions.plan(rules, &mut self.groups.list[g], &firing) {
                deciding.push((g, firing));
                plans.push(plan);
            }
        }
        decisions.lock(conn, &plans).await?;
        for ((g, firing), plan) in deciding.into_iter().zip(plans) {
            decisions
                .decide(
                    conn,
                    &mut self.groups.list[g],
                    plan,
                    &firing,
                    messages,
                    self.now,
                )
                .await?;
        }
        Ok(())
    }

    /// The group's fresh firing alerts that are still firing in it, once each.
    fn still_firing_in(&self, g: usize) -> Vec<&'n IncomingAlert> {
        let notification = self.notification;
        let mut firing: Vec<&IncomingAlert> = Vec::new();
        for i in &self.groups.list[g].fresh_firing {
            let alert = &notification.alerts[*i];
            let still_here = self
                .tracked
                .get(&alert.fingerprint)
                .is_some_and(|t| t.group == g && t.occurrence.status == AlertStatus::Firing);
            if still_here && !firing.iter().any(|a| a.fingerprint == alert.fingerprint) {
                firing.push(alert);
            }
        }
        firing
    }

    /// A group resolving now gets its timeline note if it has an incident. Core's
    /// confirmation may be committing concurrently ([`crate::links`]); the resolving
    /// groups' rows are locked here, so either it committed first and its incident is
    /// read here, or it waits for us and sees the group resolved: one of the two sends
    /// the note.
    async fn find_incidents_of_resolving(&mut self, conn: &mut PgConnection) -> IngestResult<()> {
        let resolving: Vec<Uuid> = self
            .groups
            .list
            .iter()
            .filter(|g| g.resolving && !g.is_new)
            .map(|g| g.id)
            .collect();
        if resolving.is_empty() {
            return Ok(());
        }
        for (id, incident) in store::lock_incident_ids(conn, &resolving).await? {
            if let Some(i) = self.groups.index_of(id) {
                self.groups.list[i].incident_id = incident;
            }
        }
        Ok(())
    }

    /// The touched groups' summaries, with the events they cause (opened, resolved and
    /// the resolution note) added to `messages`.
    fn summaries(
        &self,
        integration: &Integration,
        messages: &mut Messages<'_>,
    ) -> Vec<(usize, GroupSummary)> {
        let summaries: Vec<(usize, GroupSummary)> = self
            .groups
            .list
            .iter()
            .enumerate()
            .filter(|(_, g)| g.touched)
            .map(|(i, g)| (i, g.summary(integration.id)))
            .collect();
        for (i, summary) in &summaries {
            let group = &self.groups.list[*i];
            if group.is_new {
                let reason = group
                    .explanation
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("opened");
                messages.opened(summary, reason);
            }
            if group.resolving {
                messages.resolved(summary);
                if let Some(incident) = group.incident_id {
                    messages.resolved_note(incident, &group.title, group.alert_count);
                }
            }
        }
        summaries
    }

    /// What the notification did.
    fn outcome(
        &self,
        summaries: Vec<(usize, GroupSummary)>,
        messages: &Messages<'_>,
    ) -> IngestOutcome {
        let new_alerts = self.tracked.values().filter(|t| t.is_new).count();
        let updated_alerts = self
            .tracked
            .values()
            .filter(|t| !t.is_new && t.content.is_some())
            .count();
        IngestOutcome {
            alerts: self.notification.alerts.len(),
            new_alerts,
            updated_alerts,
            stale_notifications: self.stale,
            alert_groups: summaries
                .into_iter()
                .map(|(i, s)| group_outcome(&self.groups.list[i], s))
                .collect(),
            messages: messages
                .out
                .iter()
                .map(|m| MessageOutcome {
                    kind: if m.mandatory { "command" } else { "event" },
                    message_type: m.envelope.message_type.clone(),
                    data: m.envelope.data.clone(),
                })
                .collect(),
        }
    }
}

fn group_outcome(g: &Group, s: GroupSummary) -> GroupOutcome {
    GroupOutcome {
        id: s.id,
        group_key: s.group_key,
        title: s.title,
        status: s.status,
        opened: g.is_new,
        resolved: g.resolving,
        alert_count: s.alert_count,
        firing_count: s.firing_count,
        decision: s.decision,
        decided: g.decided_now,
        incident_id: s.incident_id,
        join_alert_group_id: g.join_group_id,
        explanation: g.explanation.clone(),
    }
}

/// The values, sorted, each once (lock order and `ANY($1)` lists).
fn sorted_unique<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = values.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Step 5: groups, alerts and their counts, one statement each.
async fn write(
    conn: &mut PgConnection,
    integration: &Integration,
    notification: &Notification,
    groups: &[Group],
    tracked: &HashMap<String, Tracked>,
) -> Result<(), sqlx::Error> {
    let empty = Labels::new();
    let new_groups: Vec<store::GroupWrite<'_>> = groups
        .iter()
        .filter(|g| g.is_new)
        .map(|g| group_write(g, &empty))
        .collect();
    store::insert_groups(conn, integration.workspace_id, integration.id, &new_groups).await?;

    let mut new_alerts = Vec::new();
    let mut old_alerts = Vec::new();
    for (fingerprint, t) in tracked {
        if t.notifications == 0 {
            continue;
        }
        let write = store::AlertWrite {
            id: t.id,
            alert_group_id: groups[t.group].id,
            fingerprint,
            status: t.occurrence.status,
            starts_at: t.occurrence.starts_at,
            ends_at: t.occurrence.ends_at,
            content: t.content.map(|i| {
                let a = &notification.alerts[i];
                store::AlertContent {
                    labels: &a.labels,
                    annotations: &a.annotations,
                    generator_url: a.generator_url.as_deref(),
                    raw: &a.raw,
                }
            }),
            notifications: t.notifications,
        };
        if t.is_new {
            new_alerts.push(write);
        } else {
            old_alerts.push(write);
        }
    }
    store::insert_alerts(conn, integration.workspace_id, integration.id, &new_alerts).await?;
    store::update_alerts(conn, &old_alerts).await?;

    let old_groups: Vec<store::GroupWrite<'_>> = groups
        .iter()
        .filter(|g| !g.is_new && g.touched)
        .map(|g| group_write(g, &empty))
        .collect();
    store::update_groups(conn, &old_groups).await
}

fn group_write<'a>(g: &'a Group, empty: &'a Labels) -> store::GroupWrite<'a> {
    store::GroupWrite {
        id: g.id,
        group_key: &g.key,
        status: g.status(),
        title: &g.title,
        labels: g.labels.as_ref().unwrap_or(empty),
        alert_count: g.alert_count,
        firing_count: g.firing_count,
        decision: g.decision,
        decided_now: g.decided_now,
        severity: g.severity,
        service: g.service.as_deref(),
        join_group_id: g.join_group_id,
        explanation: &g.explanation,
    }
}
