//! Action items: the follow-ups a postmortem decides on, tracked to done. The view the API
//! shows ([`ActionItemView`]), the rules of their lifecycle ([`tracking`]) and their
//! queries ([`store`]).
//!
//! Lifecycle: `OPEN ⇄ IN_PROGRESS`, either of them → `DONE` or `WONT_DO` (with a reason);
//! `DONE` and `WONT_DO` are final. `completed_at` is stamped on the first arrival at DONE
//! and never moved. An item is *open* while OPEN or IN_PROGRESS (core refuses to close the
//! incident while its postmortem has open items, unless forced), and *overdue* while open
//! past its due date (UTC), the watchdog's definition; the watchdog reports it once
//! (`overdue_flagged_at`, `action_item.overdue`).

pub mod store;
pub mod tracking;

use chrono::{DateTime, NaiveDate, Utc};
use incident_schema::{ActionItemPriority, ActionItemStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An action item as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct ActionItemView {
    /// Its id.
    pub id: Uuid,
    /// The postmortem it came from.
    pub postmortem_id: Uuid,
    /// That postmortem's incident.
    pub incident_id: Uuid,
    /// What to do.
    pub description: String,
    /// Who does it (a user of the workspace).
    pub assignee_id: Option<Uuid>,
    /// The assignee's name.
    pub assignee_name: Option<String>,
    /// OPEN, IN_PROGRESS, DONE or WONT_DO.
    pub status: ActionItemStatus,
    /// P1 (most urgent) to P4.
    pub priority: ActionItemPriority,
    /// When it is due.
    pub due_date: Option<NaiveDate>,
    /// The ticket tracking it elsewhere (Jira, Linear, ...).
    pub external_url: Option<String>,
    /// Why it will not be done (WONT_DO).
    pub wont_do_reason: Option<String>,
    /// When it was done.
    pub completed_at: Option<DateTime<Utc>>,
    /// Open and past its due date.
    pub overdue: bool,
    /// When the watchdog reported it overdue.
    pub overdue_flagged_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Its issue in the workspace's tracker, once filing was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(json(nullable))]
    pub tracker: Option<TrackerLink>,
}

/// An action item's issue in the workspace's tracker (Jira, Linear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrackerLink {
    /// `jira` or `linear`.
    pub kind: String,
    /// `pending` until the issue exists, then `filed`.
    pub state: String,
    /// What people call it (`OPS-12`).
    pub key: Option<String>,
    /// Its web page.
    pub url: Option<String>,
    /// Its state there as last read (`In Progress`).
    pub status: Option<String>,
    /// Whether the tracker counts it as done.
    pub done: bool,
    /// When it was last read (or filed).
    pub synced_at: Option<DateTime<Utc>>,
    /// Attempts at filing it.
    pub attempts: i32,
    /// Why the last attempt or read failed, if it did.
    pub last_error: Option<String>,
}
