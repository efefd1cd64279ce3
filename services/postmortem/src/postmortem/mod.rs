//! The postmortem document: its row (with the computed impact of migration 0030), its
//! frozen timeline, how the API shows it, and its review ([`review`]: editing, status,
//! publishing, amendments). Queries live in [`store`].
//!
//! Invariants: one postmortem per incident (`postmortems.incident_id` is unique); the
//! timeline and impact are frozen when the draft is made and never follow later changes
//! to the incident; a section a person changed is marked `"human"` in `generation` and the
//! document is `edited_by_human`, after which nothing regenerates it.

pub mod review;
pub mod store;

use chrono::{DateTime, Utc};
use incident_schema::{Incident, Postmortem, PostmortemStatus, TimelineKind};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::action_item::{self, ActionItemView};
use crate::draft::facts::TimelineFact;
use crate::draft::impact::Impact;
use crate::error::{DomainError, DomainResult};

/// The sections of a postmortem, by the names `generation` and PATCH use.
pub const SECTIONS: [&str; 7] = [
    "summary",
    "what_happened",
    "why_it_happened",
    "what_went_well",
    "what_went_poorly",
    "where_we_got_lucky",
    "impact_assessment",
];

/// One entry of the postmortem's frozen copy of the incident timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FrozenEntry {
    /// The timeline entry it copies.
    pub entry_id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What it records.
    pub kind: TimelineKind,
    /// What people read.
    pub event: String,
    /// Who wrote it; none for the system.
    pub author_id: Option<Uuid>,
    /// The author's name when the draft was made.
    pub author: Option<String>,
    /// Whether it was shown on the status page.
    pub is_public: bool,
}

impl From<&TimelineFact> for FrozenEntry {
    fn from(t: &TimelineFact) -> Self {
        Self {
            entry_id: t.entry.id,
            at: t.entry.occurred_at,
            kind: t.entry.kind,
            event: t.entry.message.clone(),
            author_id: t.entry.author_id,
            author: t.author.clone(),
            is_public: t.entry.is_public,
        }
    }
}

/// A row of `postmortems` with the column migration 0030 added.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct PostmortemRecord {
    /// The row as `incident-schema` knows it.
    #[sqlx(flatten)]
    pub row: Postmortem,
    /// The computed impact (an [`Impact`]) the assessment was written from.
    pub impact: Json<serde_json::Value>,
}

/// Where the API serves a postmortem.
pub fn path(id: Uuid) -> String {
    format!("/api/v1/postmortems/{id}")
}

/// Where the API serves a postmortem as Markdown.
pub fn markdown_path(id: Uuid) -> String {
    format!("/api/v1/postmortems/{id}.md")
}

/// A postmortem as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PostmortemView {
    /// Its id.
    pub id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// The incident's reference (`INC-42`).
    pub incident_reference: String,
    /// The incident's title.
    pub incident_title: String,
    /// DRAFT, IN_REVIEW or PUBLISHED.
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
    /// The impact assessment (Markdown, editable).
    pub impact_assessment: String,
    /// The computed facts of the impact assessment, as drafted.
    #[schema(value_type = Impact)]
    pub impact: serde_json::Value,
    /// The incident's timeline, frozen when drafted.
    #[schema(value_type = Vec<FrozenEntry>)]
    pub timeline: serde_json::Value,
    /// How each section was made: `template`, `llm` or `human`; `llm` says how the model did.
    #[schema(value_type = Object)]
    pub generation: serde_json::Value,
    /// A person changed it; it is never regenerated.
    pub edited_by_human: bool,
    /// Who changed it last.
    pub updated_by: Option<Uuid>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When it was last changed after publishing.
    pub amended_at: Option<DateTime<Utc>>,
    /// When it was drafted.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Its action items, most urgent first.
    pub action_items: Vec<ActionItemView>,
    /// Where its Markdown export is.
    pub markdown_url: String,
}

/// The incident a postmortem belongs to (its row, scoped by workspace).
pub async fn incident_of(
    conn: &mut PgConnection,
    record: &PostmortemRecord,
) -> DomainResult<Incident> {
    incident_schema::incident::get_incident(conn, record.row.workspace_id, record.row.incident_id)
        .await?
        .ok_or(DomainError::NotFound("incident"))
}

impl PostmortemView {
    /// The view of `record` with its incident's reference and its action items.
    pub async fn load(conn: &mut PgConnection, record: PostmortemRecord) -> DomainResult<Self> {
        let incident = incident_of(conn, &record).await?;
        let action_items =
            action_item::store::of_postmortem(conn, record.row.workspace_id, record.row.id).await?;
        Ok(Self::of(record, &incident, action_items))
    }

    /// The view of `record`, given its incident and action items.
    pub fn of(
        record: PostmortemRecord,
        incident: &Incident,
        action_items: Vec<ActionItemView>,
    ) -> Self {
        let p = record.row;
        Self {
            id: p.id,
            incident_id: p.incident_id,
            incident_reference: incident.number.to_string(),
            incident_title: incident.title.clone(),
            status: p.status,
            summary: p.summary,
            what_happened: p.what_happened,
            why_it_happened: p.why_it_happened,
            what_went_well: p.what_went_well,
            what_went_poorly: p.what_went_poorly,
            where_we_got_lucky: p.where_we_got_lucky,
            impact_assessment: p.impact_assessment,
            impact: record.impact.0,
            timeline: p.timeline,
            generation: p.generation,
            edited_by_human: p.edited_by_human,
            updated_by: p.updated_by,
            published_at: p.published_at,
            amended_at: p.amended_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            action_items,
            markdown_url: markdown_path(p.id),
        }
    }
}
