//! Queries on `postmortems`. Every read and write is scoped by workspace: another
//! workspace's postmortem is never found.

use incident_schema::PostmortemStatus;
use incident_schema::access::Reader;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::PostmortemRecord;
use crate::draft::Draft;

/// The postmortem `id` of `workspace_id`.
pub async fn get(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<PostmortemRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM postmortems WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The postmortem `id` of `workspace_id`, locked for the rest of the transaction.
pub async fn lock(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<PostmortemRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM postmortems WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The postmortem of incident `incident_id` of `workspace_id`, if drafted.
pub async fn of_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Option<PostmortemRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM postmortems WHERE workspace_id = $1 AND incident_id = $2")
        .bind(workspace_id)
        .bind(incident_id)
        .fetch_optional(conn)
        .await
}

/// The postmortems of the reader's workspace whose incident they may read, newest first,
/// optionally of one status.
pub async fn list(
    conn: &mut PgConnection,
    reader: &Reader,
    status: Option<PostmortemStatus>,
    limit: i64,
    offset: i64,
) -> Result<Vec<PostmortemRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.* FROM postmortems p
         JOIN incidents i ON i.workspace_id = p.workspace_id AND i.id = p.incident_id
         WHERE p.workspace_id = $1 AND ($2::postmortem_status IS NULL OR p.status = $2)
           AND incident_readable(i, $5, $6)
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT $3 OFFSET $4",
    )
    .bind(reader.workspace_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .bind(reader.user_id)
    .bind(reader.is_admin)
    .fetch_all(conn)
    .await
}

/// Inserts the draft of incident `incident_id`, unless it already has a postmortem: the
/// unique `incident_id` makes a concurrent second insert wait for the first and then do
/// nothing, so however many deliveries or replicas race, one draft is written.
pub async fn insert_draft(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    draft: &Draft,
) -> Result<Option<PostmortemRecord>, sqlx::Error> {
    let s = &draft.sections;
    sqlx::query_as(
        "INSERT INTO postmortems (
             incident_id, workspace_id, summary, what_happened, why_it_happened,
             what_went_well, what_went_poorly, where_we_got_lucky, impact_assessment,
             timeline, generation, impact
         )
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (incident_id) DO NOTHING
         RETURNING *",
    )
    .bind(incident_id)
    .bind(workspace_id)
    .bind(&s.summary)
    .bind(&s.what_happened)
    .bind(&s.why_it_happened)
    .bind(&s.what_went_well)
    .bind(&s.what_went_poorly)
    .bind(&s.where_we_got_lucky)
    .bind(&s.impact_assessment)
    .bind(Json(&draft.timeline))
    .bind(&draft.generation)
    .bind(Json(&draft.impact))
    .fetch_optional(conn)
    .await
}

/// Replaces the drafted content of postmortem `id`, only while it is a DRAFT no person
/// edited (re-checked here, so an edit committed meanwhile wins and this returns none).
pub async fn regenerate(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    draft: &Draft,
) -> Result<Option<PostmortemRecord>, sqlx::Error> {
    let s = &draft.sections;
    sqlx::query_as(
        "UPDATE postmortems SET
             summary = $3, what_happened = $4, why_it_happened = $5, what_went_well = $6,
             what_went_poorly = $7, where_we_got_lucky = $8, impact_assessment = $9,
             timeline = $10, generation = $11, impact = $12
         WHERE workspace_id = $1 AND id = $2 AND status = 'DRAFT' AND NOT edited_by_human
         RETURNING *",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(&s.summary)
    .bind(&s.what_happened)
    .bind(&s.why_it_happened)
    .bind(&s.what_went_well)
    .bind(&s.what_went_poorly)
    .bind(&s.where_we_got_lucky)
    .bind(&s.impact_assessment)
    .bind(Json(&draft.timeline))
    .bind(&draft.generation)
    .bind(Json(&draft.impact))
    .fetch_optional(conn)
    .await
}

/// The fields of a reviewed postmortem, written back whole.
#[derive(Debug, Clone)]
pub struct Revision<'a> {
    /// Review status.
    pub status: PostmortemStatus,
    /// Summary.
    pub summary: &'a str,
    /// What happened.
    pub what_happened: &'a str,
    /// Why it happened.
    pub why_it_happened: &'a str,
    /// What went well.
    pub what_went_well: &'a str,
    /// What went poorly.
    pub what_went_poorly: &'a str,
    /// Where we got lucky.
    pub where_we_got_lucky: Option<&'a str>,
    /// The impact assessment.
    pub impact_assessment: &'a str,
    /// How each section was made.
    pub generation: &'a serde_json::Value,
    /// A person changed a section.
    pub edited_by_human: bool,
    /// Who made the change.
    pub updated_by: Option<Uuid>,
    /// Stamp `published_at` now (publishing).
    pub publish: bool,
    /// Stamp `amended_at` now (a change after publishing).
    pub amend: bool,
}

/// Writes a revision of postmortem `id` (locked by the caller).
pub async fn revise(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    r: &Revision<'_>,
) -> Result<PostmortemRecord, sqlx::Error> {
    sqlx::query_as(
        "UPDATE postmortems SET
             status = $3, summary = $4, what_happened = $5, why_it_happened = $6,
             what_went_well = $7, what_went_poorly = $8, where_we_got_lucky = $9,
             impact_assessment = $10, generation = $11, edited_by_human = $12,
             updated_by = $13,
             published_at = CASE WHEN $14 THEN now() ELSE published_at END,
             amended_at = CASE WHEN $15 THEN now() ELSE amended_at END
         WHERE workspace_id = $1 AND id = $2
         RETURNING *",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(r.status)
    .bind(r.summary)
    .bind(r.what_happened)
    .bind(r.why_it_happened)
    .bind(r.what_went_well)
    .bind(r.what_went_poorly)
    .bind(r.where_we_got_lucky)
    .bind(r.impact_assessment)
    .bind(r.generation)
    .bind(r.edited_by_human)
    .bind(r.updated_by)
    .bind(r.publish)
    .bind(r.amend)
    .fetch_one(conn)
    .await
}
