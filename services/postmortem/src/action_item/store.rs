//! Queries on `action_items`, scoped by workspace. Views join the postmortem (for the
//! incident) and the assignee (for the name), and compute `overdue` with the database's
//! clock, as the watchdog does.

use chrono::NaiveDate;
use incident_schema::access::Reader;
use incident_schema::{ActionItem, ActionItemPriority, ActionItemStatus};
use sqlx::{AssertSqlSafe, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::ActionItemView;

const VIEW: &str = "SELECT a.id, a.postmortem_id, p.incident_id, a.description, a.assignee_id,
        u.display_name AS assignee_name, a.status, a.priority, a.due_date, a.external_url,
        a.wont_do_reason, a.completed_at,
        (a.status IN ('OPEN', 'IN_PROGRESS') AND a.due_date IS NOT NULL
         AND a.due_date < (now() AT TIME ZONE 'UTC')::date) AS overdue,
        a.overdue_flagged_at, a.created_at, a.updated_at,
        CASE WHEN l.action_item_id IS NOT NULL THEN jsonb_build_object(
            'kind', l.kind,
            'state', CASE WHEN l.remote_id IS NULL THEN 'pending' ELSE 'filed' END,
            'key', l.remote_key, 'url', l.remote_url, 'status', l.remote_status,
            'done', l.remote_done, 'synced_at', l.synced_at, 'attempts', l.attempts,
            'last_error', l.last_error) END AS tracker
 FROM action_items a
 JOIN postmortems p ON p.id = a.postmortem_id
 LEFT JOIN users u ON u.workspace_id = a.workspace_id AND u.id = a.assignee_id
 LEFT JOIN action_item_links l ON l.action_item_id = a.id";

const ORDER: &str = " ORDER BY a.due_date NULLS LAST, a.priority, a.created_at, a.id";

/// The view of item `id` of `workspace_id`.
pub async fn view(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ActionItemView>, sqlx::Error> {
    // Constants only: no input reaches the SQL text.
    sqlx::query_as(AssertSqlSafe(format!(
        "{VIEW} WHERE a.workspace_id = $1 AND a.id = $2"
    )))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The items of postmortem `postmortem_id`, due first.
pub async fn of_postmortem(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    postmortem_id: Uuid,
) -> Result<Vec<ActionItemView>, sqlx::Error> {
    // Constants only: no input reaches the SQL text.
    sqlx::query_as(AssertSqlSafe(format!(
        "{VIEW} WHERE a.workspace_id = $1 AND a.postmortem_id = $2{ORDER}"
    )))
    .bind(workspace_id)
    .bind(postmortem_id)
    .fetch_all(conn)
    .await
}

/// Who an item listing is filtered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Items assigned to this user.
    User(Uuid),
    /// Items assigned to nobody.
    Nobody,
}

/// A listing's filters (all optional).
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Only these statuses.
    pub statuses: Vec<ActionItemStatus>,
    /// Only this assignee.
    pub assignee: Option<AssigneeFilter>,
    /// Only overdue items (`true`) or only items that are not (`false`).
    pub overdue: Option<bool>,
    /// Only items of this postmortem.
    pub postmortem_id: Option<Uuid>,
    /// Only items of this incident's postmortem.
    pub incident_id: Option<Uuid>,
    /// At most this many.
    pub limit: i64,
    /// Skipping this many.
    pub offset: i64,
}

/// The items of the reader's workspace matching `filter` whose incident they may read, due
/// first (undated last), then most urgent.
pub async fn list(
    conn: &mut PgConnection,
    reader: &Reader,
    filter: &ItemFilter,
) -> Result<Vec<ActionItemView>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT * FROM ({VIEW}"));
    q.push(" WHERE a.workspace_id = ")
        .push_bind(reader.workspace_id);
    q.push(
        " AND EXISTS (SELECT 1 FROM incidents i WHERE i.workspace_id = a.workspace_id
              AND i.id = p.incident_id AND incident_readable(i, ",
    )
    .push_bind(reader.user_id)
    .push(", ")
    .push_bind(reader.is_admin)
    .push("))");
    if !filter.statuses.is_empty() {
        q.push(" AND a.status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
    }
    match filter.assignee {
        Some(AssigneeFilter::User(id)) => {
            q.push(" AND a.assignee_id = ").push_bind(id);
        }
        Some(AssigneeFilter::Nobody) => {
            q.push(" AND a.assignee_id IS NULL");
        }
        None => {}
    }
    if let Some(id) = filter.postmortem_id {
        q.push(" AND a.postmortem_id = ").push_bind(id);
    }
    if let Some(id) = filter.incident_id {
        q.push(" AND p.incident_id = ").push_bind(id);
    }
    q.push(") AS v");
    if let Some(overdue) = filter.overdue {
        q.push(" WHERE v.overdue = ").push_bind(overdue);
    }
    q.push(" ORDER BY v.due_date NULLS LAST, v.priority, v.created_at, v.id LIMIT ")
        .push_bind(filter.limit)
        .push(" OFFSET ")
        .push_bind(filter.offset);
    q.build_query_as().fetch_all(conn).await
}

/// The item `id` of `workspace_id`, locked for the rest of the transaction.
pub async fn lock(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ActionItem>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM action_items WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The fields of an item, as written.
#[derive(Debug, Clone)]
pub struct ItemFields<'a> {
    /// What to do.
    pub description: &'a str,
    /// Who does it.
    pub assignee_id: Option<Uuid>,
    /// Where it is.
    pub status: ActionItemStatus,
    /// How urgent.
    pub priority: ActionItemPriority,
    /// When it is due.
    pub due_date: Option<NaiveDate>,
    /// The ticket elsewhere.
    pub external_url: Option<&'a str>,
    /// Why it will not be done.
    pub wont_do_reason: Option<&'a str>,
}

/// Inserts an item of postmortem `postmortem_id`; returns its id.
pub async fn insert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    postmortem_id: Uuid,
    f: &ItemFields<'_>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO action_items (postmortem_id, workspace_id, description, assignee_id,
                                   status, priority, due_date, external_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id",
    )
    .bind(postmortem_id)
    .bind(workspace_id)
    .bind(f.description)
    .bind(f.assignee_id)
    .bind(f.status)
    .bind(f.priority)
    .bind(f.due_date)
    .bind(f.external_url)
    .fetch_one(conn)
    .await
}

/// Writes the fields of item `id`; stamps `completed_at` on its first arrival at DONE.
pub async fn update(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    f: &ItemFields<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE action_items SET
             description = $3, assignee_id = $4, status = $5, priority = $6, due_date = $7,
             external_url = $8, wont_do_reason = $9,
             completed_at = CASE WHEN $5 = 'DONE' THEN COALESCE(completed_at, now())
                                 ELSE completed_at END
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(f.description)
    .bind(f.assignee_id)
    .bind(f.status)
    .bind(f.priority)
    .bind(f.due_date)
    .bind(f.external_url)
    .bind(f.wont_do_reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether `user_id` is a user of `workspace_id`.
pub async fn user_exists(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE workspace_id = $1 AND id = $2)")
        .bind(workspace_id)
        .bind(user_id)
        .fetch_one(conn)
        .await
}
