//! The incident pages: the list, the declare form, an incident's page with its
//! fragments (header, timeline) and live event stream, and its forms (status, roles,
//! timeline entries).
//!
//! Every form is a plain POST answered with 303 to the incident's page (htmx boosts it;
//! without JavaScript the browser follows). Each calls the domain function the API's
//! handler calls, in a transaction, as the session's actor. A viewer is offered no
//! control, and a viewer's POST is refused (403) all the same.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use incident_schema::{
    Incident, IncidentStatus, Role, ServiceImpact, Severity, TimelineKind, User, Visibility,
};
use incident_web::shell::{Section, Shell, render_status};
use incident_web::{VerifiedForm, WebSession, render};
use serde::Deserialize;
use uuid::Uuid;

use super::UiState;
use super::error::{UiError, require_writer};
use super::pages::{
    Choice, DeclarePage, Entry, Filters, Head, HeadFragment, IncidentPage, ListPage, ListRow,
    ListRows, RoleRow, ServiceInput, TimelineFragment, When,
};
use crate::access::admin;
use crate::error::DomainError;
use crate::incident::change::{self, NewEntry};
use crate::incident::declare::{self, DeclareIncident};
use crate::incident::query::{self, ListFilter};
use crate::incident::view::IncidentView;
use crate::incident::{Actor, lifecycle};
use incident_schema::text::{IncidentTitle, ServiceName};

type PageResult = Result<Response, UiError>;

/// Rows a list page shows.
const PAGE_SIZE: i64 = 25;
/// Service rows of the declare form.
const SERVICE_ROWS: usize = 3;

fn actor(session: &WebSession) -> Actor {
    Actor::from(&session.auth)
}

/// The list's query: the API's filters, with empty fields meaning "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    drill: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl ListQuery {
    fn filter(&self) -> ListFilter {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        ListFilter {
            status: some(&self.status),
            severity: some(&self.severity),
            drill: match self.drill.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            service: some(&self.service),
            q: some(&self.q),
            limit: Some(PAGE_SIZE),
            cursor: some(&self.cursor),
        }
    }

    /// The query string of these filters, with `cursor` instead of the current one.
    fn query_string(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("status", &self.status),
            ("severity", &self.severity),
            ("drill", &self.drill),
            ("service", &self.service),
            ("q", &self.q),
        ];
        if let Some(c) = cursor {
            pairs.push(("cursor", c));
        }
        let pairs: Vec<_> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn filters(&self) -> Filters {
        let statuses: Vec<&str> = IncidentStatus::ALL.iter().map(|s| s.as_str()).collect();
        let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        Filters {
            statuses: Choice::of(&statuses, &self.status),
            severities: Choice::of(&severities, &self.severity),
            drills: vec![
                choice("", "Included", self.drill.is_empty()),
                choice("false", "Real incidents only", self.drill == "false"),
                choice("true", "Drills only", self.drill == "true"),
            ],
            service: self.service.clone(),
            q: self.q.clone(),
        }
    }
}

fn choice(value: &str, label: &str, selected: bool) -> Choice {
    Choice {
        value: value.to_owned(),
        label: label.to_owned(),
        selected,
    }
}

fn list_row(view: &IncidentView) -> ListRow {
    ListRow {
        reference: view.reference.clone(),
        title: view.title.clone(),
        severity: view.severity.to_string(),
        status: view.status.to_string(),
        services: view
            .affected_services
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        drill: view.is_drill,
        private: view.visibility == Visibility::Private,
        created: When::of(view.created_at),
    }
}

async fn rows(state: &UiState, session: &WebSession, q: &ListQuery) -> Result<ListRows, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    let page = query::list(&mut conn, &session.auth.reader(), &q.filter()).await?;
    Ok(ListRows {
        rows: page.items.iter().map(list_row).collect(),
        next: page
            .next_cursor
            .as_deref()
            .map(|c| format!("/ui/incidents?{}", q.query_string(Some(c)))),
    })
}

/// `GET /ui/incidents`: newest first, filtered like the API, 25 a page.
pub async fn list(
    State(state): State<UiState>,
    session: WebSession,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let found = rows(&state, &session, &q).await?;
    Ok(render(&ListPage {
        shell: Shell::signed_in("Incidents", &session, Section::Incidents),
        filters: q.filters(),
        rows: found.rows,
        next: found.next,
        refresh: format!("/ui/incidents/rows?{}", q.query_string(None)),
    }))
}

/// `GET /ui/incidents/rows`: the list's rows alone (the live region refreshes them).
pub async fn list_rows(
    State(state): State<UiState>,
    session: WebSession,
    Query(q): Query<ListQuery>,
) -> PageResult {
    Ok(render(&rows(&state, &session, &q).await?))
}

/// `GET /ui/incidents/events`: a change to any incident of the workspace.
pub async fn list_events(State(state): State<UiState>, session: WebSession) -> Response {
    let workspace = session.auth.workspace_id;
    incident_web::sse::changes(state.hub.subscribe(), move |c| c.workspace_id == workspace)
        .into_response()
}

fn declare_page(session: &WebSession, form: &DeclareForm, error: Option<String>) -> DeclarePage {
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let impacts: Vec<&str> = ServiceImpact::ALL.iter().map(|s| s.as_str()).collect();
    let chosen = if form.severity.is_empty() {
        "SEV3"
    } else {
        &form.severity
    };
    let services = (0..SERVICE_ROWS)
        .map(|index| {
            let (name, impact) = form.service(index);
            ServiceInput {
                index,
                name: name.to_owned(),
                impacts: Choice::of(
                    &impacts,
                    if impact.is_empty() {
                        "DEGRADED"
                    } else {
                        impact
                    },
                ),
            }
        })
        .collect();
    DeclarePage {
        shell: Shell::signed_in("Declare an incident", session, Section::Declare),
        error,
        title: form.title.clone(),
        description: form.description.clone(),
        severities: Choice::of(&severities, chosen),
        services,
        drill: form.drill.is_some(),
        private: form.private.is_some(),
    }
}

/// `GET /ui/incidents/new`.
pub async fn declare_form(session: WebSession) -> PageResult {
    require_writer(&session)?;
    Ok(render(&declare_page(
        &session,
        &DeclareForm::default(),
        None,
    )))
}

/// The declare form's fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    service_0: String,
    #[serde(default)]
    impact_0: String,
    #[serde(default)]
    service_1: String,
    #[serde(default)]
    impact_1: String,
    #[serde(default)]
    service_2: String,
    #[serde(default)]
    impact_2: String,
    #[serde(default)]
    drill: Option<String>,
    #[serde(default)]
    private: Option<String>,
}

impl DeclareForm {
    fn service(&self, index: usize) -> (&str, &str) {
        match index {
            0 => (&self.service_0, &self.impact_0),
            1 => (&self.service_1, &self.impact_1),
            _ => (&self.service_2, &self.impact_2),
        }
    }

    /// The declare the form asks for, refusing what does not parse as the API would.
    fn to_declare(&self) -> Result<DeclareIncident, DomainError> {
        let severity: Severity =
            self.severity
                .parse()
                .map_err(|e: incident_schema::ParseError| {
                    DomainError::invalid("severity", e.to_string())
                })?;
        let mut affected_services = Vec::new();
        for index in 0..SERVICE_ROWS {
            let (name, impact) = self.service(index);
            if name.trim().is_empty() {
                continue;
            }
            let impact: ServiceImpact =
                impact.parse().map_err(|e: incident_schema::ParseError| {
                    DomainError::invalid(format!("impact of service {}", index + 1), e.to_string())
                })?;
            affected_services.push(declare::ServiceInput {
                name: ServiceName::try_from(name.trim().to_owned()).map_err(|e| {
                    DomainError::invalid(format!("service {}", index + 1), e.to_string())
                })?,
                impact,
            });
        }
        Ok(DeclareIncident {
            title: IncidentTitle::try_from(self.title.clone())
                .map_err(|e| DomainError::invalid("title", e.to_string()))?,
            description: self.description.clone(),
            severity,
            detected_at: None,
            impact: None,
            affected_services,
            alert_group_ids: Vec::new(),
            is_drill: self.drill.is_some(),
            visibility: Some(if self.private.is_some() {
                Visibility::Private
            } else {
                Visibility::Public
            }),
            commander_id: None,
        })
    }
}

/// `POST /ui/incidents`: declares, then lands on the new incident's page. A refused
/// field shows the form again with what was typed and why (422).
pub async fn declare(
    State(state): State<UiState>,
    posted: VerifiedForm<DeclareForm>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    require_writer(&session)?;
    let attempt = async {
        let input = form.to_declare()?;
        let mut tx = state.app.pool.begin().await?;
        let declared = declare::declare(&mut tx, actor(&session), &input, None, None).await?;
        tx.commit().await?;
        Ok::<Incident, DomainError>(declared.incident)
    };
    match attempt.await {
        Ok(incident) => {
            Ok(Redirect::to(&format!("/ui/incidents/{}", incident.number)).into_response())
        }
        Err(e @ DomainError::Validation { .. }) => {
            let page = declare_page(&session, &form, Some(e.to_string()));
            Ok(render_status(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                &page,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

async fn find(state: &UiState, session: &WebSession, key: &str) -> Result<Incident, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    Ok(query::find(&mut conn, &session.auth.reader(), key).await?)
}

fn name_of(users: &[User], id: Option<Uuid>) -> Option<String> {
    let id = id?;
    Some(
        users
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| "a former user".to_owned(), |u| u.display_name.clone()),
    )
}

fn sla_line(incident: &Incident) -> Option<String> {
    if !incident.status.is_open() {
        return None;
    }
    let now = Utc::now();
    let (what, deadline) = if incident.acknowledged_at.is_none() {
        ("acknowledge", incident.sla_deadline?)
    } else {
        ("resolve", incident.sla_resolve_deadline?)
    };
    let left = deadline - now;
    Some(if incident.sla_breached || left.num_seconds() < 0 {
        format!("breached: {what} was due {}", When::of(deadline).label)
    } else {
        format!(
            "{}h {:02}m left to {what} (due {})",
            left.num_hours(),
            left.num_minutes() % 60,
            When::of(deadline).label
        )
    })
}

async fn head_of(state: &UiState, incident: Incident) -> Result<Head, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    let users = admin::list_users(&mut conn, incident.workspace_id).await?;
    let view = IncidentView::load(&mut conn, incident.clone()).await?;
    let roles = Role::ALL
        .iter()
        .map(|role| {
            let holder = match role {
                Role::Commander => incident.commander_id,
                Role::TechLead => incident.tech_lead_id,
                Role::CommsLead => incident.comms_lead_id,
            };
            RoleRow {
                key: role.as_str().to_owned(),
                title: role.title().to_owned(),
                holder: name_of(&users, holder),
                people: users
                    .iter()
                    .map(|u| choice(&u.id.to_string(), &u.display_name, Some(u.id) == holder))
                    .collect(),
            }
        })
        .collect();
    Ok(Head {
        reference: view.reference.clone(),
        title: view.title.clone(),
        description: view.description.clone(),
        severity: view.severity.to_string(),
        status: view.status.to_string(),
        drill: view.is_drill,
        private: view.visibility == Visibility::Private,
        services: view
            .affected_services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.impact))
            .collect(),
        roles,
        next_statuses: incident
            .status
            .allowed_next()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        created: When::of(view.created_at),
        sla: sla_line(&incident),
        warroom: view.slack_channel_url.clone(),
        postmortem: (!incident.status.is_open())
            .then(|| format!("/ui/postmortems/{}", view.reference)),
    })
}

/// A role entry written before entries carried names says "assigned to user <id>"; pages
/// show the name.
fn with_names(users: &[User], message: String, data: &serde_json::Value) -> String {
    let Some(id) = data.get("user_id").and_then(|v| v.as_str()) else {
        return message;
    };
    match users.iter().find(|u| u.id.to_string() == id) {
        Some(user) => message.replace(&format!("user {id}"), &user.display_name),
        None => message,
    }
}

async fn timeline_of(state: &UiState, incident: &Incident) -> Result<Vec<Entry>, UiError> {
    let mut conn = state.app.pool.acquire().await?;
    let users = admin::list_users(&mut conn, incident.workspace_id).await?;
    let entries =
        incident_schema::timeline::list_timeline(&mut conn, incident.workspace_id, incident.id)
            .await?;
    Ok(entries
        .into_iter()
        .map(|e| Entry {
            kind: e.kind.to_string(),
            message: with_names(&users, e.message, &e.data),
            public: e.is_public,
            author: name_of(&users, e.author_id),
            at: When::of(e.occurred_at),
        })
        .collect())
}

/// `GET /ui/incidents/{id}`: `{id}` is `INC-42`, `42` or the id.
pub async fn page(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
) -> PageResult {
    let incident = find(&state, &session, &id).await?;
    let title = format!("{} {}", incident.number, incident.title);
    let timeline = timeline_of(&state, &incident).await?;
    let head = head_of(&state, incident).await?;
    Ok(render(&IncidentPage {
        shell: Shell::signed_in(title, &session, Section::Incidents),
        head,
        timeline,
    }))
}

/// `GET /ui/incidents/{id}/head`: the header fragment.
pub async fn head(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
) -> PageResult {
    let incident = find(&state, &session, &id).await?;
    let head = head_of(&state, incident).await?;
    Ok(render(&HeadFragment {
        shell: Shell::signed_in("", &session, Section::Incidents),
        head,
    }))
}

/// `GET /ui/incidents/{id}/timeline`: the timeline fragment.
pub async fn timeline(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
) -> PageResult {
    let incident = find(&state, &session, &id).await?;
    Ok(render(&TimelineFragment {
        timeline: timeline_of(&state, &incident).await?,
    }))
}

/// `GET /ui/incidents/{id}/events`: `changed` whenever anything changes the incident
/// (any service's event about it). Checked once, like the page: 404 otherwise.
pub async fn events(
    State(state): State<UiState>,
    session: WebSession,
    Path(id): Path<String>,
) -> PageResult {
    let incident = find(&state, &session, &id).await?;
    let (workspace, incident_id) = (incident.workspace_id, incident.id);
    Ok(incident_web::sse::changes(state.hub.subscribe(), move |c| {
        c.workspace_id == workspace && c.incident_id == incident_id
    })
    .into_response())
}

fn back_to(incident: &Incident) -> Response {
    Redirect::to(&format!("/ui/incidents/{}", incident.number)).into_response()
}

/// The status form.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    message: String,
}

/// `POST /ui/incidents/{id}/status`.
pub async fn change_status(
    State(state): State<UiState>,
    Path(id): Path<String>,
    posted: VerifiedForm<StatusForm>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let incident = find(&state, &session, &id).await?;
    require_writer(&session)?;
    let status: IncidentStatus = form
        .status
        .parse()
        .map_err(|e: incident_schema::ParseError| DomainError::invalid("status", e.to_string()))?;
    let message = Some(form.message.trim()).filter(|m| !m.is_empty());
    let mut tx = state.app.pool.begin().await?;
    lifecycle::change_status(
        &mut tx,
        actor(&session),
        incident.id,
        status,
        message,
        false,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(back_to(&incident))
}

/// The role form: an empty `user_id` clears the role.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
    #[serde(default)]
    user_id: String,
}

/// `POST /ui/incidents/{id}/roles`.
pub async fn assign_role(
    State(state): State<UiState>,
    Path(id): Path<String>,
    posted: VerifiedForm<RoleForm>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let incident = find(&state, &session, &id).await?;
    require_writer(&session)?;
    let role: Role = form
        .role
        .parse()
        .map_err(|e: incident_schema::ParseError| DomainError::invalid("role", e.to_string()))?;
    let user = match form.user_id.trim() {
        "" => None,
        other => Some(
            other
                .parse::<Uuid>()
                .map_err(|_| DomainError::invalid("user_id", "must be a user's id"))?,
        ),
    };
    let mut tx = state.app.pool.begin().await?;
    change::assign_role(&mut tx, actor(&session), incident.id, role, user, None).await?;
    tx.commit().await?;
    Ok(back_to(&incident))
}

/// The timeline form: `kind` is `note` (internal) or `public_update`.
#[derive(Debug, Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// `POST /ui/incidents/{id}/entries`.
pub async fn add_entry(
    State(state): State<UiState>,
    Path(id): Path<String>,
    posted: VerifiedForm<EntryForm>,
) -> PageResult {
    let VerifiedForm { session, form } = posted;
    let incident = find(&state, &session, &id).await?;
    require_writer(&session)?;
    let entry = match form.kind.as_str() {
        "public_update" => NewEntry {
            kind: TimelineKind::Update,
            message: form.message,
            is_public: true,
        },
        "note" | "" => NewEntry {
            kind: TimelineKind::Note,
            message: form.message,
            is_public: false,
        },
        other => {
            return Err(DomainError::invalid("kind", format!("unknown kind {other:?}")).into());
        }
    };
    let mut tx = state.app.pool.begin().await?;
    change::add_entry(&mut tx, actor(&session), incident.id, &entry, None).await?;
    tx.commit().await?;
    Ok(back_to(&incident))
}
