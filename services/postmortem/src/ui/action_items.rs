//! Action items on the pages: adding one to a postmortem, moving it (start, done, won't
//! do, reopen) and assigning it from the board or the list, and the workspace's list
//! with the API's filters (`/ui/postmortems/action-items`).
//!
//! An item is found like the API finds it ([`crate::http::readable_item`]): another
//! workspace's, one of a private incident the viewer may not read and a missing one are
//! the same 404. Forms come back (303) to the page they were posted from (`back`, only
//! ever a `/ui/postmortems` path), and call the API's domain functions.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use incident_schema::{ActionItemPriority, ActionItemStatus};
use incident_web::shell::{Section, Shell};
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;
use uuid::Uuid;

use super::error::{UiError, require_writer};
use super::pages::{Choice, ItemsPage};
use super::postmortems::card;
use super::store;
use crate::action_item::store::{AssigneeFilter, ItemFilter};
use crate::action_item::tracking::{self, ActionItemPatch, NewActionItem};
use crate::error::DomainError;
use crate::http::{readable_incident, readable_item};
use crate::postmortem::store as postmortems;
use crate::{Actor, AppState, action_item};

type PageResult = Result<Response, UiError>;

/// Items a list page shows.
const PAGE_SIZE: i64 = 100;

fn actor(session: &WebSession) -> Actor {
    Actor::from(&session.auth)
}

/// The new item form.
#[derive(Debug, Deserialize)]
pub struct NewItemPost {
    #[serde(default)]
    description: String,
    #[serde(default)]
    assignee_id: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    priority: String,
}

fn user_id(field: &str, value: &str) -> Result<Option<Uuid>, DomainError> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| DomainError::invalid(field, "must be a user's id")),
    }
}

/// `POST /ui/postmortems/{ref}/action-items`: adds an item to the incident's postmortem.
pub async fn create(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: VerifiedForm<NewItemPost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let mut tx = state.pool.begin().await?;
    let incident = readable_incident(&mut tx, &session.auth, &key).await?;
    let record = postmortems::of_incident(&mut tx, incident.workspace_id, incident.id)
        .await?
        .ok_or(DomainError::NotFound("postmortem"))?;
    require_writer(&session)?;
    let new = NewActionItem {
        description: form.description,
        assignee_id: user_id("assignee_id", &form.assignee_id)?,
        due_date: match form.due_date.trim() {
            "" => None,
            d => Some(
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| DomainError::invalid("due_date", "must be a date, YYYY-MM-DD"))?,
            ),
        },
        priority: match form.priority.trim() {
            "" => None,
            p => Some(
                p.parse::<ActionItemPriority>()
                    .map_err(|e| DomainError::invalid("priority", e.to_string()))?,
            ),
        },
        external_url: None,
    };
    let item = tracking::create(&mut tx, actor(&session), record.row.id, &new).await?;
    tx.commit().await?;
    if item.tracker.is_some() {
        state.trackers.wake.notify_one();
    }
    Ok(Redirect::to(&format!("/ui/postmortems/{}", incident.number)).into_response())
}

/// A card's forms: a move (`status`, with `wont_do_reason` for WONT_DO) or an assignment
/// (`assign` set, `assignee_id` empty for nobody).
#[derive(Debug, Deserialize)]
pub struct ChangePost {
    #[serde(default)]
    status: String,
    #[serde(default)]
    wont_do_reason: String,
    #[serde(default)]
    assign: String,
    #[serde(default)]
    assignee_id: String,
    #[serde(default)]
    back: String,
}

/// `POST /ui/postmortems/action-items/{id}`: moves or assigns an item.
pub async fn change(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: VerifiedForm<ChangePost>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let id: Uuid = id
        .parse()
        .map_err(|_| DomainError::NotFound("action item"))?;
    let mut tx = state.pool.begin().await?;
    let item = readable_item(&mut tx, &session.auth, id).await?;
    require_writer(&session)?;
    let mut patch = ActionItemPatch::default();
    if !form.assign.is_empty() {
        patch.assignee_id = Some(user_id("assignee_id", &form.assignee_id)?);
    }
    if !form.status.trim().is_empty() {
        let status: ActionItemStatus =
            form.status
                .trim()
                .parse()
                .map_err(|e: incident_schema::ParseError| {
                    DomainError::invalid("status", e.to_string())
                })?;
        if status == ActionItemStatus::WontDo {
            let reason = form.wont_do_reason.trim();
            patch.wont_do_reason = (!reason.is_empty()).then(|| reason.to_owned());
        }
        patch.status = Some(status);
    }
    tracking::update(&mut tx, actor(&session), id, &patch).await?;
    let incident = incident_schema::incident::get_incident(
        &mut tx,
        session.auth.workspace_id,
        item.incident_id,
    )
    .await?
    .ok_or(DomainError::NotFound("incident"))?;
    tx.commit().await?;
    let back = if form.back.starts_with("/ui/postmortems") && !form.back.starts_with("//") {
        form.back
    } else {
        format!("/ui/postmortems/{}", incident.number)
    };
    Ok(Redirect::to(&back).into_response())
}

/// The list's filters: `status` is `open` (OPEN or IN_PROGRESS, the default), `all` or
/// one status; `assignee` is empty (anyone), `me`, `none` or a user id.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ItemsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    offset: i64,
}

impl ItemsQuery {
    fn query_string(&self, offset: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("status", self.status.clone()),
            ("assignee", self.assignee.clone()),
            ("overdue", self.overdue.clone()),
        ];
        if let Some(o) = offset {
            pairs.push(("offset", o.to_string()));
        }
        let pairs: Vec<_> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// `GET /ui/postmortems/action-items`.
pub async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Query(q): Query<ItemsQuery>,
) -> PageResult {
    let statuses = match q.status.trim() {
        "" | "open" => vec![ActionItemStatus::Open, ActionItemStatus::InProgress],
        "all" => Vec::new(),
        s => vec![
            s.parse::<ActionItemStatus>()
                .map_err(|e| DomainError::invalid("status", e.to_string()))?,
        ],
    };
    let assignee = match q.assignee.trim() {
        "" => None,
        "none" => Some(AssigneeFilter::Nobody),
        "me" => Some(AssigneeFilter::User(session.auth.user_id.ok_or_else(
            || DomainError::invalid("assignee", "`me` needs a sign-in that belongs to a user"),
        )?)),
        s => Some(AssigneeFilter::User(s.parse().map_err(|_| {
            DomainError::invalid("assignee", "must be a user id, `me` or `none`")
        })?)),
    };
    let offset = q.offset.max(0);
    let filter = ItemFilter {
        statuses,
        assignee,
        overdue: (q.overdue == "true").then_some(true),
        postmortem_id: None,
        incident_id: None,
        limit: PAGE_SIZE + 1,
        offset,
    };
    let workspace = session.auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let mut items = action_item::store::list(&mut conn, &session.auth.reader(), &filter).await?;
    let more = items.len() as i64 > PAGE_SIZE;
    items.truncate(PAGE_SIZE as usize);
    let people = store::people(&mut conn, workspace).await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.incident_id).collect();
    let numbers: HashMap<Uuid, String> = store::numbers(&mut conn, workspace, &ids)
        .await?
        .into_iter()
        .map(|(id, n)| (id, n.to_string()))
        .collect();
    let here = format!("/ui/postmortems/action-items?{}", q.query_string(None));
    let cards = items
        .iter()
        .map(|i| {
            let reference = numbers.get(&i.incident_id).cloned().unwrap_or_default();
            card(i, &reference, &people, &here)
        })
        .collect();
    let status = q.status.trim();
    let mut statuses = vec![
        Choice::new(
            "open",
            "Open or in progress",
            status.is_empty() || status == "open",
        ),
        Choice::new("all", "Any", status == "all"),
    ];
    statuses.extend(
        ActionItemStatus::ALL
            .iter()
            .map(|s| Choice::new(s.as_str(), s.as_str(), status == s.as_str())),
    );
    let chosen = q.assignee.trim();
    let mut assignees = vec![
        Choice::new("", "Anyone", chosen.is_empty()),
        Choice::new("none", "Nobody", chosen == "none"),
    ];
    if session.auth.user_id.is_some() {
        assignees.push(Choice::new("me", "Me", chosen == "me"));
    }
    assignees.extend(people.iter().map(|p| {
        Choice::new(
            &p.id.to_string(),
            &p.display_name,
            chosen == p.id.to_string(),
        )
    }));
    Ok(render(&ItemsPage {
        shell: Shell::signed_in("Action items", &session, Section::ActionItems),
        statuses,
        assignees,
        overdue: q.overdue == "true",
        cards,
        next: more.then(|| {
            format!(
                "/ui/postmortems/action-items?{}",
                q.query_string(Some(offset + PAGE_SIZE))
            )
        }),
        here,
    }))
}
