//! The postmortem's pages: the list, the document (sections, computed impact, frozen
//! timeline, action item board), its forms (a section, every section, review, publish,
//! draft) and its Markdown download.
//!
//! A postmortem is named by its incident's reference (`/ui/postmortems/INC-42`), so the
//! incident page links to it without knowing whether it was drafted yet; before it is,
//! the page offers to draft it. `{ref}` is resolved like the API's `{id}` under the
//! session's reader: another workspace's, a private one the viewer may not read and a
//! missing one are the same 404 page. Every form is a plain POST answered with 303 to the
//! document (htmx boosts it) and calls the domain function the API's handler calls.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use incident_schema::{ActionItemStatus, Incident, IncidentStatus, PostmortemStatus};
use incident_web::shell::{Section, Shell, render_status};
use incident_web::sse::Hub;
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;

use super::error::{UiError, require_writer};
use super::pages::{
    BoardFragment, Card, Choice, Column, Document, DocumentFragment, EditPage, Fact, FrozenRow,
    ListPage, ListRow, MissingPage, PostmortemPage, SectionForm, SectionView, When,
};
use super::store::{self, Person};
use crate::action_item::ActionItemView;
use crate::draft::impact::{Impact, TargetStatus};
use crate::error::DomainError;
use crate::http::readable_incident;
use crate::postmortem::review::{self, PostmortemPatch};
use crate::postmortem::{FrozenEntry, PostmortemRecord, store as postmortems};
use crate::{Actor, AppState, action_item, draft, export, settings};

type PageResult = Result<Response, UiError>;

/// Postmortems a list page shows.
const PAGE_SIZE: i64 = 50;

/// The sections' headings, in order (the keys are [`crate::postmortem::SECTIONS`]).
pub const SECTION_TITLES: [(&str, &str); 7] = [
    ("summary", "Summary"),
    ("what_happened", "What happened"),
    ("why_it_happened", "Why it happened"),
    ("what_went_well", "What went well"),
    ("what_went_poorly", "What went poorly"),
    ("where_we_got_lucky", "Where we got lucky"),
    ("impact_assessment", "Impact assessment"),
];

fn actor(session: &WebSession) -> Actor {
    Actor::from(&session.auth)
}

fn page_of(reference: &str) -> String {
    format!("/ui/postmortems/{reference}")
}

/// The sections of `record`, with how each was made.
pub fn sections(record: &PostmortemRecord) -> Vec<SectionView> {
    let p = &record.row;
    SECTION_TITLES
        .iter()
        .map(|(key, title)| {
            let text = match *key {
                "summary" => p.summary.clone(),
                "what_happened" => p.what_happened.clone(),
                "why_it_happened" => p.why_it_happened.clone(),
                "what_went_well" => p.what_went_well.clone(),
                "what_went_poorly" => p.what_went_poorly.clone(),
                "where_we_got_lucky" => p.where_we_got_lucky.clone().unwrap_or_default(),
                _ => p.impact_assessment.clone(),
            };
            let made_by = match p.generation.get(*key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Object(o)) => o
                    .get("source")
                    .and_then(|v| v.as_str())
                    .unwrap_or("llm")
                    .to_owned(),
                _ => "template".to_owned(),
            };
            SectionView {
                key: (*key).to_owned(),
                title: (*title).to_owned(),
                text,
                made_by,
            }
        })
        .collect()
}

fn duration(secs: i64) -> String {
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("{secs} s"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

fn target(status: TargetStatus) -> &'static str {
    match status {
        TargetStatus::Met => "met",
        TargetStatus::Breached => "breached",
        TargetStatus::Pending => "pending",
        TargetStatus::NoTarget => "no target",
    }
}

/// The computed impact as label and value pairs (none if it does not read).
pub fn facts(impact: &serde_json::Value) -> Vec<Fact> {
    let Ok(impact) = serde_json::from_value::<Impact>(impact.clone()) else {
        return Vec::new();
    };
    let fact = |label: &str, value: String| Fact {
        label: label.to_owned(),
        value,
    };
    let mut out = Vec::new();
    for (label, secs) in [
        ("Time to acknowledge", impact.time_to_acknowledge_secs),
        ("Time to mitigate", impact.time_to_mitigate_secs),
        ("Time to resolve", impact.time_to_resolve_secs),
    ] {
        if let Some(secs) = secs {
            out.push(fact(label, duration(secs)));
        }
    }
    out.push(fact(
        "SLA",
        format!(
            "{}: acknowledge {}, resolve {}; {} missed update(s)",
            impact.sla.severity,
            target(impact.sla.acknowledge.status),
            target(impact.sla.resolve.status),
            impact.sla.missed_updates
        ),
    ));
    if !impact.services.is_empty() {
        out.push(fact(
            "Services",
            impact
                .services
                .iter()
                .map(|s| format!("{} ({})", s.name, s.impact))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if !impact.alert_groups.is_empty() {
        out.push(fact(
            "Alerts",
            format!(
                "{} in {} group(s)",
                impact.alerts_total,
                impact.alert_groups.len()
            ),
        ));
    }
    out
}

/// The frozen timeline (none if it does not read).
pub fn frozen(timeline: &serde_json::Value) -> Vec<FrozenRow> {
    serde_json::from_value::<Vec<FrozenEntry>>(timeline.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|e| FrozenRow {
            at: When::of(e.at),
            kind: e.kind.to_string(),
            event: e.event,
            author: e.author,
            public: e.is_public,
        })
        .collect()
}

/// The people as choices, `chosen` selected.
pub fn people_choices(people: &[Person], chosen: Option<uuid::Uuid>) -> Vec<Choice> {
    people
        .iter()
        .map(|p| Choice::new(&p.id.to_string(), &p.display_name, Some(p.id) == chosen))
        .collect()
}

fn move_label(to: ActionItemStatus) -> &'static str {
    match to {
        ActionItemStatus::Open => "Reopen",
        ActionItemStatus::InProgress => "Start",
        ActionItemStatus::Done => "Done",
        ActionItemStatus::WontDo => "Won't do",
    }
}

/// An item as a card; its forms come back to `back`.
pub fn card(item: &ActionItemView, reference: &str, people: &[Person], back: &str) -> Card {
    Card {
        id: item.id.to_string(),
        description: item.description.clone(),
        status: item.status.to_string(),
        priority: item.priority.to_string(),
        assignee: item.assignee_name.clone(),
        due: item.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        overdue: item.overdue,
        wont_do_reason: item.wont_do_reason.clone(),
        link: item
            .tracker
            .as_ref()
            .and_then(|t| t.url.clone())
            .or_else(|| item.external_url.clone()),
        moves: action_item::tracking::allowed_next(item.status)
            .iter()
            .map(|s| (s.to_string(), move_label(*s).to_owned()))
            .collect(),
        people: people_choices(people, item.assignee_id),
        reference: reference.to_owned(),
        back: back.to_owned(),
    }
}

/// The board: open, in progress, and done (with won't do).
pub fn board(items: &[ActionItemView], reference: &str, people: &[Person]) -> Vec<Column> {
    let back = page_of(reference);
    let column = |key: &str, title: &str, statuses: &[ActionItemStatus]| Column {
        key: key.to_owned(),
        title: title.to_owned(),
        cards: items
            .iter()
            .filter(|i| statuses.contains(&i.status))
            .map(|i| card(i, reference, people, &back))
            .collect(),
    };
    vec![
        column("open", "Open", &[ActionItemStatus::Open]),
        column(
            "in-progress",
            "In progress",
            &[ActionItemStatus::InProgress],
        ),
        column(
            "done",
            "Done",
            &[ActionItemStatus::Done, ActionItemStatus::WontDo],
        ),
    ]
}

async fn document(
    state: &AppState,
    incident: &Incident,
    record: PostmortemRecord,
) -> Result<Document, UiError> {
    let mut conn = state.pool.acquire().await?;
    let items =
        action_item::store::of_postmortem(&mut conn, incident.workspace_id, record.row.id).await?;
    let people = store::people(&mut conn, incident.workspace_id).await?;
    let reference = incident.number.to_string();
    let status = record.row.status;
    let review = match status {
        PostmortemStatus::Draft => vec![("IN_REVIEW".to_owned(), "Ask for review".to_owned())],
        PostmortemStatus::InReview => {
            vec![("DRAFT".to_owned(), "Back to draft".to_owned())]
        }
        PostmortemStatus::Published => Vec::new(),
    };
    Ok(Document {
        incident_title: incident.title.clone(),
        status: status.to_string(),
        published: record.row.published_at.map(When::of),
        amended: record.row.amended_at.map(When::of),
        sections: sections(&record),
        impact: facts(&record.impact.0),
        timeline: frozen(&record.row.timeline),
        board: board(&items, &reference, &people),
        people: people_choices(&people, None),
        review,
        can_publish: status != PostmortemStatus::Published,
        reference,
    })
}

/// The incident `key` names and its postmortem, if drafted.
async fn find(
    state: &AppState,
    session: &WebSession,
    key: &str,
) -> Result<(Incident, Option<PostmortemRecord>), UiError> {
    let mut conn = state.pool.acquire().await?;
    let incident = readable_incident(&mut conn, &session.auth, key).await?;
    let record = postmortems::of_incident(&mut conn, incident.workspace_id, incident.id).await?;
    Ok((incident, record))
}

/// The incident `key` names and its postmortem; 404 if not drafted.
async fn find_drafted(
    state: &AppState,
    session: &WebSession,
    key: &str,
) -> Result<(Incident, PostmortemRecord), UiError> {
    let (incident, record) = find(state, session, key).await?;
    let record = record.ok_or(DomainError::NotFound("postmortem"))?;
    Ok((incident, record))
}

async fn show(
    state: &AppState,
    session: &WebSession,
    incident: &Incident,
    record: PostmortemRecord,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    let doc = document(state, incident, record).await?;
    let title = format!("Postmortem {} {}", doc.reference, doc.incident_title);
    Ok(render_status(
        status,
        &PostmortemPage {
            shell: Shell::signed_in(title, session, Section::Postmortems),
            doc,
            error,
        },
    ))
}

/// `GET /ui/postmortems/{ref}/document`: the status, review controls and sections, for
/// the page's live refresh.
pub async fn document_fragment(
    State(state): State<AppState>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    let doc = document(&state, &incident, record).await?;
    Ok(render(&DocumentFragment {
        shell: Shell::signed_in("", &session, Section::Postmortems),
        doc,
        error: None,
    }))
}

/// `GET /ui/postmortems/{ref}/board`: the action item board, for the page's live refresh.
pub async fn board_fragment(
    State(state): State<AppState>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    let doc = document(&state, &incident, record).await?;
    Ok(render(&BoardFragment {
        shell: Shell::signed_in("", &session, Section::Postmortems),
        doc,
    }))
}

/// `GET /ui/postmortems/{ref}/events`: `changed` whenever the incident's outbox records
/// a change (an action item created or changed, by the API, the board or a tracker's
/// poll; the postmortem drafted or published) or a section is edited; the page then
/// re-fetches its document and board under its own session. An incident the viewer may
/// not read answers 404 before any stream opens.
pub async fn events(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, _) = find(&state, &session, &key).await?;
    let id = incident.id;
    Ok(incident_web::sse::changes(hub.subscribe(), move |c| c.incident_id == id).into_response())
}

/// `GET /ui/postmortems/{ref}`: the document, or the offer to draft it.
pub async fn page(
    State(state): State<AppState>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, record) = find(&state, &session, &key).await?;
    match record {
        Some(record) => show(&state, &session, &incident, record, StatusCode::OK, None).await,
        None => {
            let reference = incident.number.to_string();
            Ok(render_status(
                StatusCode::NOT_FOUND,
                &MissingPage {
                    shell: Shell::signed_in(
                        format!("Postmortem {reference}"),
                        &session,
                        Section::Postmortems,
                    ),
                    over: matches!(
                        incident.status,
                        IncidentStatus::Resolved | IncidentStatus::Closed
                    ),
                    incident_title: incident.title,
                    reference,
                },
            ))
        }
    }
}

/// The list's query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    offset: i64,
}

/// `GET /ui/postmortems`: newest first, 50 a page, by status.
pub async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let status = match q.status.trim() {
        "" => None,
        s => Some(
            s.parse::<PostmortemStatus>()
                .map_err(|e| DomainError::invalid("status", e.to_string()))?,
        ),
    };
    let offset = q.offset.max(0);
    let mut conn = state.pool.acquire().await?;
    let listed = store::list(
        &mut conn,
        &session.auth.reader(),
        status,
        PAGE_SIZE + 1,
        offset,
    )
    .await?;
    let more = listed.len() as i64 > PAGE_SIZE;
    let rows = listed
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|l| ListRow {
            reference: l.number.to_string(),
            incident_title: l.title,
            status: l.status.to_string(),
            open_items: l.open_items,
            items: l.items,
            created: When::of(l.created_at),
        })
        .collect();
    let statuses: Vec<&str> = PostmortemStatus::ALL.iter().map(|s| s.as_str()).collect();
    let next = more.then(|| {
        let mut pairs = vec![("offset", (offset + PAGE_SIZE).to_string())];
        if !q.status.is_empty() {
            pairs.push(("status", q.status.clone()));
        }
        format!(
            "/ui/postmortems?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    Ok(render(&ListPage {
        shell: Shell::signed_in("Postmortems", &session, Section::Postmortems),
        statuses: Choice::of(&statuses, q.status.trim()),
        rows,
        next,
    }))
}

fn section_of(record: &PostmortemRecord, key: &str) -> Result<SectionView, UiError> {
    sections(record)
        .into_iter()
        .find(|s| s.key == key)
        .ok_or(UiError::Domain(DomainError::NotFound("section")))
}

/// `GET /ui/postmortems/{ref}/sections/{section}`: one section's form, which htmx swaps
/// in place of the section; a browser without htmx is sent to the whole edit form.
pub async fn section_form(
    State(state): State<AppState>,
    session: WebSession,
    headers: HeaderMap,
    Path((key, section)): Path<(String, String)>,
) -> PageResult {
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    require_writer(&session)?;
    let reference = incident.number.to_string();
    let section = section_of(&record, &section)?;
    if !headers.contains_key("hx-request") {
        return Ok(Redirect::to(&format!(
            "/ui/postmortems/{reference}/edit#field-{}",
            section.key
        ))
        .into_response());
    }
    Ok(render(&SectionForm {
        shell: Shell::signed_in("", &session, Section::Postmortems),
        reference,
        section,
    }))
}

/// `GET /ui/postmortems/{ref}/edit`: every section in one form.
pub async fn edit_form(
    State(state): State<AppState>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    require_writer(&session)?;
    let reference = incident.number.to_string();
    Ok(render(&EditPage {
        shell: Shell::signed_in(
            format!("Edit the postmortem of {reference}"),
            &session,
            Section::Postmortems,
        ),
        reference,
        incident_title: incident.title,
        sections: sections(&record),
        error: None,
    }))
}

async fn apply(
    state: &AppState,
    session: &WebSession,
    key: &str,
    patch: &PostmortemPatch,
) -> PageResult {
    let (incident, record) = find_drafted(state, session, key).await?;
    require_writer(session)?;
    let mut tx = state.pool.begin().await?;
    match review::edit(&mut tx, actor(session), record.row.id, patch).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&page_of(&incident.number.to_string())).into_response())
        }
        Err(e @ (DomainError::Validation { .. } | DomainError::IllegalTransition { .. })) => {
            drop(tx);
            let message = e.to_string();
            let status = UiError::Domain(e).status();
            show(state, session, &incident, record, status, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// One section's form.
#[derive(Debug, Deserialize)]
pub struct SectionPost {
    #[serde(default)]
    text: String,
}

fn patch_of(key: &str, text: String) -> Result<PostmortemPatch, UiError> {
    let mut patch = PostmortemPatch::default();
    match key {
        "summary" => patch.summary = Some(text),
        "what_happened" => patch.what_happened = Some(text),
        "why_it_happened" => patch.why_it_happened = Some(text),
        "what_went_well" => patch.what_went_well = Some(text),
        "what_went_poorly" => patch.what_went_poorly = Some(text),
        "where_we_got_lucky" => {
            patch.where_we_got_lucky = Some((!text.trim().is_empty()).then_some(text));
        }
        "impact_assessment" => patch.impact_assessment = Some(text),
        _ => return Err(UiError::Domain(DomainError::NotFound("section"))),
    }
    Ok(patch)
}

/// `POST /ui/postmortems/{ref}/sections/{section}`: saves one section.
pub async fn save_section(
    State(state): State<AppState>,
    Path((key, section)): Path<(String, String)>,
    posted: VerifiedForm<SectionPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let patch = patch_of(&section, form.text)?;
    apply(&state, &session, &key, &patch).await
}

/// The whole edit form: every section (an absent one stays as it is).
#[derive(Debug, Deserialize)]
pub struct EditPost {
    summary: Option<String>,
    what_happened: Option<String>,
    why_it_happened: Option<String>,
    what_went_well: Option<String>,
    what_went_poorly: Option<String>,
    where_we_got_lucky: Option<String>,
    impact_assessment: Option<String>,
}

/// `POST /ui/postmortems/{ref}`: saves every section of the edit form.
pub async fn save_all(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: VerifiedForm<EditPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let patch = PostmortemPatch {
        summary: form.summary,
        what_happened: form.what_happened,
        why_it_happened: form.why_it_happened,
        what_went_well: form.what_went_well,
        what_went_poorly: form.what_went_poorly,
        where_we_got_lucky: form
            .where_we_got_lucky
            .map(|t| (!t.trim().is_empty()).then_some(t)),
        impact_assessment: form.impact_assessment,
        status: None,
    };
    apply(&state, &session, &key, &patch).await
}

/// The review form: `DRAFT` or `IN_REVIEW`.
#[derive(Debug, Deserialize)]
pub struct ReviewPost {
    status: String,
}

/// `POST /ui/postmortems/{ref}/review`.
pub async fn review(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: VerifiedForm<ReviewPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let status: PostmortemStatus = form
        .status
        .parse()
        .map_err(|e: incident_schema::ParseError| DomainError::invalid("status", e.to_string()))?;
    let patch = PostmortemPatch {
        status: Some(status),
        ..PostmortemPatch::default()
    };
    apply(&state, &session, &key, &patch).await
}

/// Nothing but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /ui/postmortems/{ref}/publish`: publishes (once; again changes nothing).
pub async fn publish(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: VerifiedForm<Empty>,
) -> PageResult {
    let session = posted.session;
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    require_writer(&session)?;
    let mut tx = state.pool.begin().await?;
    review::publish(
        &mut tx,
        actor(&session),
        record.row.id,
        state.public_url.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&page_of(&incident.number.to_string())).into_response())
}

/// `POST /ui/postmortems/{ref}/draft`: drafts the resolved incident's postmortem (an
/// existing one is kept), then shows it.
pub async fn draft(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: VerifiedForm<Empty>,
) -> PageResult {
    let session = posted.session;
    let mut conn = state.pool.acquire().await?;
    let incident = readable_incident(&mut conn, &session.auth, &key).await?;
    require_writer(&session)?;
    let request = draft::DraftRequest {
        workspace_id: incident.workspace_id,
        incident_id: incident.id,
        regenerate: false,
        actor_id: session.auth.user_id,
        trigger: draft::Trigger::Request,
    };
    if let draft::Prepared::Compose { facts, existing } =
        draft::prepare(&mut conn, &request).await?
    {
        // No connection is held while the model (if any) writes.
        drop(conn);
        let composed = draft::compose(&facts, state.llm.as_deref()).await;
        let mut tx = state.pool.begin().await?;
        draft::save(&mut tx, &request, &facts, existing, &composed, None).await?;
        tx.commit().await?;
    }
    Ok(Redirect::to(&page_of(&incident.number.to_string())).into_response())
}

/// `GET /ui/postmortems/{ref}/export.md`: the Markdown export as a download.
pub async fn export_markdown(
    State(state): State<AppState>,
    session: WebSession,
    Path(key): Path<String>,
) -> PageResult {
    let (incident, record) = find_drafted(&state, &session, &key).await?;
    let mut conn = state.pool.acquire().await?;
    let items =
        action_item::store::of_postmortem(&mut conn, incident.workspace_id, record.row.id).await?;
    let template = settings::template(&mut conn, incident.workspace_id).await?;
    drop(conn);
    let context = export::ExportContext::new(&record, &incident, items);
    let rendered = export::render(template.as_deref(), &context)?;
    let mut response = rendered.markdown.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-postmortem.md\"",
        incident.number
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
