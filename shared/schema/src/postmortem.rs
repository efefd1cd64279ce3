//! Postmortems (one per incident) and their action items, tracked to completion.
//! Written by the postmortem service.
//!
//! Invariants: a PUBLISHED postmortem has `published_at`; a DONE item has
//! `completed_at`; a WONT_DO item says why.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::parse::domain_enum;

domain_enum! {
    /// Where a postmortem is in review.
    pub enum PostmortemStatus (kind = "postmortem status", postgres = "postmortem_status") {
        /// Being written (generated, then edited).
        Draft = "DRAFT",
        /// Written, under review.
        InReview = "IN_REVIEW",
        /// Published; later changes are amendments.
        Published = "PUBLISHED",
    }
}

domain_enum! {
    /// Where an action item is.
    pub enum ActionItemStatus (kind = "action item status", postgres = "action_item_status") {
        /// Not started.
        Open = "OPEN",
        /// Being worked on.
        InProgress = "IN_PROGRESS",
        /// Done.
        Done = "DONE",
        /// Decided against, with a reason.
        WontDo = "WONT_DO",
    }
}

domain_enum! {
    /// How urgent an action item is: P1 most, P4 least. Postgres orders them that way.
    pub enum ActionItemPriority (kind = "action item priority", postgres = "action_item_priority") {
        /// Urgent: do it now.
        P1 = "P1",
        /// High.
        P2 = "P2",
        /// Normal (the default).
        P3 = "P3",
        /// Low.
        P4 = "P4",
    }
}

impl ActionItemStatus {
    /// Whether the item still needs work (OPEN or IN_PROGRESS).
    pub const fn is_open(self) -> bool {
        matches!(self, ActionItemStatus::Open | ActionItemStatus::InProgress)
    }
}

/// A row of `postmortems`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Postmortem {
    /// Primary key.
    pub id: Uuid,
    /// The incident; one postmortem per incident.
    pub incident_id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// Review status.
    pub status: PostmortemStatus,
    /// Summary.
    pub summary: String,
    /// What happened.
    pub what_happened: String,
    /// Why it happened.
    pub why_it_happened: String,
    /// What went well.
    pub what_went_well: String,
    /// What went poorly.
    pub what_went_poorly: String,
    /// Where we got lucky.
    pub where_we_got_lucky: Option<String>,
    /// The impact, assessed.
    pub impact_assessment: String,
    /// The timeline as the postmortem tells it.
    pub timeline: serde_json::Value,
    /// How each section was made (e.g. `{"summary": "llm"}`).
    pub generation: serde_json::Value,
    /// A person changed it: regenerating must not overwrite it.
    pub edited_by_human: bool,
    /// Who changed it last.
    pub updated_by: Option<Uuid>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When it was last changed after publishing.
    pub amended_at: Option<DateTime<Utc>>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A row of `action_items`.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActionItem {
    /// Primary key.
    pub id: Uuid,
    /// The postmortem it came from.
    pub postmortem_id: Uuid,
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// What to do.
    pub description: String,
    /// Who does it.
    pub assignee_id: Option<Uuid>,
    /// Where it is.
    pub status: ActionItemStatus,
    /// How urgent.
    pub priority: ActionItemPriority,
    /// When it is due.
    pub due_date: Option<NaiveDate>,
    /// The ticket tracking it elsewhere.
    pub external_url: Option<String>,
    /// Why it will not be done.
    pub wont_do_reason: Option<String>,
    /// When it was done.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was reported overdue (once).
    pub overdue_flagged_at: Option<DateTime<Utc>>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
