//! Reviewing a postmortem: people edit its sections, move it `DRAFT ⇄ IN_REVIEW`, and
//! publish it (`POST .../publish`: stamps `published_at`, emits `postmortem.published`).
//! A published postmortem can still be amended: each change stamps `amended_at`.
//!
//! Invariants: publishing happens once (publishing again answers the published document
//! and emits nothing); nothing leaves PUBLISHED; a changed section is marked `"human"` in
//! `generation` and makes the document `edited_by_human`.

use incident_schema::PostmortemStatus;
use incident_schema::contract::PostmortemPublished;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, Revision};
use super::{PostmortemRecord, incident_of};
use crate::Actor;
use crate::error::{DomainError, DomainResult};
use crate::events;

/// Longest section accepted, in characters.
pub const MAX_SECTION: usize = 100_000;

/// A change to a postmortem: each section given replaces it; `status` moves it between
/// DRAFT and IN_REVIEW (publish with `POST /api/v1/postmortems/{id}/publish`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemPatch {
    /// Summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// What happened.
    #[serde(default)]
    pub what_happened: Option<String>,
    /// Why it happened.
    #[serde(default)]
    pub why_it_happened: Option<String>,
    /// What went well.
    #[serde(default)]
    pub what_went_well: Option<String>,
    /// What went poorly.
    #[serde(default)]
    pub what_went_poorly: Option<String>,
    /// Where we got lucky; null clears it.
    #[serde(default, deserialize_with = "crate::patch::nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub where_we_got_lucky: Option<Option<String>>,
    /// The impact assessment (Markdown).
    #[serde(default)]
    pub impact_assessment: Option<String>,
    /// DRAFT or IN_REVIEW.
    #[serde(default)]
    pub status: Option<PostmortemStatus>,
}

/// Where a postmortem may go from `from` by PATCH (PUBLISHED only by publishing).
pub const fn allowed_next(from: PostmortemStatus) -> &'static [PostmortemStatus] {
    match from {
        PostmortemStatus::Draft => &[PostmortemStatus::InReview, PostmortemStatus::Published],
        PostmortemStatus::InReview => &[PostmortemStatus::Draft, PostmortemStatus::Published],
        PostmortemStatus::Published => &[],
    }
}

fn section(field: &str, value: &str) -> DomainResult<String> {
    if value.chars().count() > MAX_SECTION {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_SECTION} characters"),
        ));
    }
    Ok(value.trim().to_owned())
}

/// Applies `patch` to postmortem `id`.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, postmortem_id = %id), err)]
pub async fn edit(
    conn: &mut PgConnection,
    actor: Actor,
    id: Uuid,
    patch: &PostmortemPatch,
) -> DomainResult<PostmortemRecord> {
    let record = store::lock(conn, actor.workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    let p = &record.row;
    let from = p.status;
    let to = patch.status.unwrap_or(from);
    if to != from && (!allowed_next(from).contains(&to) || to == PostmortemStatus::Published) {
        return Err(if to == PostmortemStatus::Published {
            DomainError::invalid(
                "status",
                "publish with POST /api/v1/postmortems/{id}/publish",
            )
        } else {
            DomainError::IllegalTransition {
                what: "postmortem",
                from: from.to_string(),
                to: to.to_string(),
                allowed: allowed_next(from)
                    .iter()
                    .filter(|s| **s != PostmortemStatus::Published)
                    .map(|s| s.to_string())
                    .collect(),
            }
        });
    }
    let mut generation = p.generation.clone();
    let mut edited = false;
    let mut take = |name: &str, new: &Option<String>, old: &str| -> DomainResult<String> {
        match new {
            Some(value) => {
                let value = section(name, value)?;
                if value != old {
                    edited = true;
                    if let Some(map) = generation.as_object_mut() {
                        map.insert(name.into(), json!("human"));
                    }
                }
                Ok(value)
            }
            None => Ok(old.to_owned()),
        }
    };
    let summary = take("summary", &patch.summary, &p.summary)?;
    let what_happened = take("what_happened", &patch.what_happened, &p.what_happened)?;
    let why_it_happened = take(
        "why_it_happened",
        &patch.why_it_happened,
        &p.why_it_happened,
    )?;
    let what_went_well = take("what_went_well", &patch.what_went_well, &p.what_went_well)?;
    let what_went_poorly = take(
        "what_went_poorly",
        &patch.what_went_poorly,
        &p.what_went_poorly,
    )?;
    let impact_assessment = take(
        "impact_assessment",
        &patch.impact_assessment,
        &p.impact_assessment,
    )?;
    let where_we_got_lucky = match &patch.where_we_got_lucky {
        Some(Some(value)) => Some(take(
            "where_we_got_lucky",
            &Some(value.clone()),
            p.where_we_got_lucky.as_deref().unwrap_or_default(),
        )?),
        Some(None) => {
            if p.where_we_got_lucky.is_some() {
                edited = true;
                if let Some(map) = generation.as_object_mut() {
                    map.insert("where_we_got_lucky".into(), json!("human"));
                }
            }
            None
        }
        None => p.where_we_got_lucky.clone(),
    };
    if !edited && to == from {
        return Ok(record);
    }
    // A section edit or a review move writes no event (none is in the contract; nothing
    // else acts on it), so open pages are told directly, on commit like the outbox's.
    incident_web::sse::notify(conn, actor.workspace_id, p.incident_id, "postmortem.edited").await?;
    store::revise(
        conn,
        actor.workspace_id,
        id,
        &Revision {
            status: to,
            summary: &summary,
            what_happened: &what_happened,
            why_it_happened: &why_it_happened,
            what_went_well: &what_went_well,
            what_went_poorly: &what_went_poorly,
            where_we_got_lucky: where_we_got_lucky.as_deref(),
            impact_assessment: &impact_assessment,
            generation: &generation,
            edited_by_human: p.edited_by_human || edited,
            updated_by: actor.user_id,
            publish: false,
            amend: edited && from == PostmortemStatus::Published,
        },
    )
    .await
    .map_err(DomainError::from)
}

/// Publishes postmortem `id`: stamps `published_at` and emits `postmortem.published`
/// (`url` is the Markdown export under `public_url`, when configured). Publishing a
/// published postmortem changes nothing.
#[tracing::instrument(skip_all, fields(workspace_id = %actor.workspace_id, postmortem_id = %id), err)]
pub async fn publish(
    conn: &mut PgConnection,
    actor: Actor,
    id: Uuid,
    public_url: Option<&str>,
) -> DomainResult<PostmortemRecord> {
    let record = store::lock(conn, actor.workspace_id, id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    let p = &record.row;
    if p.status == PostmortemStatus::Published {
        return Ok(record);
    }
    let published = store::revise(
        conn,
        actor.workspace_id,
        id,
        &Revision {
            status: PostmortemStatus::Published,
            summary: &p.summary,
            what_happened: &p.what_happened,
            why_it_happened: &p.why_it_happened,
            what_went_well: &p.what_went_well,
            what_went_poorly: &p.what_went_poorly,
            where_we_got_lucky: p.where_we_got_lucky.as_deref(),
            impact_assessment: &p.impact_assessment,
            generation: &p.generation,
            edited_by_human: p.edited_by_human,
            updated_by: actor.user_id,
            publish: true,
            amend: false,
        },
    )
    .await?;
    let incident = incident_of(conn, &published).await?;
    let markdown = super::markdown_path(id);
    let url = public_url.map(|base| format!("{}{markdown}", base.trim_end_matches('/')));
    let event = PostmortemPublished {
        incident: events::snapshot(&incident),
        postmortem_id: id,
        summary: published.row.summary.clone(),
        link: super::path(id),
        markdown_link: markdown,
        url,
        published_at: published.row.published_at,
        actor_id: actor.user_id,
    };
    events::emit(conn, incident.workspace_id, &event, None).await?;
    tracing::info!(postmortem_id = %id, "postmortem published");
    Ok(published)
}
