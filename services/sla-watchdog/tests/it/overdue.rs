//! Overdue action items: an open item past its due date is reported once.

use chrono::NaiveDate;
use incident_schema::Severity;
use incident_schema::event::ACTION_ITEM_OVERDUE;
use incident_sla_watchdog::sla::event::ActionItemOverdueData;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

/// A postmortem for the incident, as the postmortem service would write it.
pub async fn postmortem(pool: &PgPool, workspace_id: Uuid, incident_id: Uuid) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO postmortems (workspace_id, incident_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_one(pool)
    .await
    .expect("postmortem")
}

/// An action item due `due_in_days` from today (UTC), in `status`.
pub async fn action_item(
    pool: &PgPool,
    workspace_id: Uuid,
    postmortem_id: Uuid,
    description: &str,
    status: &str,
    due_in_days: Option<i32>,
) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO action_items (workspace_id, postmortem_id, description, status, due_date,
                                   completed_at, wont_do_reason)
         VALUES ($1, $2, $3, $4::action_item_status,
                 (now() AT TIME ZONE 'UTC')::date + $5::int,
                 CASE WHEN $4 = 'DONE' THEN now() END,
                 CASE WHEN $4 = 'WONT_DO' THEN 'superseded' END)
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(postmortem_id)
    .bind(description)
    .bind(status)
    .bind(due_in_days)
    .fetch_one(pool)
    .await
    .expect("action item")
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_open_action_item_past_its_due_date_is_reported_overdue_once(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let real = incident(&pool, ws.id, Spec::new(Severity::Sev3, 10)).await;
    let drill = incident(&pool, ws.id, Spec::new(Severity::Sev3, 10).drill()).await;
    let pm = postmortem(&pool, ws.id, real.id).await;
    let drill_pm = postmortem(&pool, ws.id, drill.id).await;

    let yesterday = action_item(&pool, ws.id, pm, "Add an alert", "OPEN", Some(-1)).await;
    let long_ago = action_item(
        &pool,
        ws.id,
        pm,
        "Fix the retry storm",
        "IN_PROGRESS",
        Some(-10),
    )
    .await;
    let drill_item = action_item(&pool, ws.id, drill_pm, "Rehearse", "OPEN", Some(-2)).await;
    let today = action_item(&pool, ws.id, pm, "Due today", "OPEN", Some(0)).await;
    let done = action_item(&pool, ws.id, pm, "Done late", "DONE", Some(-3)).await;
    let dropped = action_item(&pool, ws.id, pm, "Dropped", "WONT_DO", Some(-3)).await;
    let undated = action_item(&pool, ws.id, pm, "Someday", "OPEN", None).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.overdue_action_items, 3);
    let events = outbox_events(&pool, ACTION_ITEM_OVERDUE).await;
    let mut reported: Vec<ActionItemOverdueData> = events
        .iter()
        .map(|e| {
            assert_eq!(e.workspace_id, ws.id);
            e.data_as().expect("the event's data")
        })
        .collect();
    reported.sort_by_key(|d| d.due_date);
    let ids: Vec<_> = reported.iter().map(|d| d.action_item_id).collect();
    assert_eq!(ids, vec![long_ago, drill_item, yesterday]);
    let first = &reported[0];
    assert_eq!(first.postmortem_id, pm);
    assert_eq!(first.incident_id, real.id);
    assert_eq!(first.description, "Fix the retry storm");
    assert_eq!(first.assignee_id, None);
    assert!(!first.is_drill);
    assert!(reported[1].is_drill);
    let today_utc: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date")
        .fetch_one(&pool)
        .await
        .expect("today");
    assert_eq!(
        reported[2].due_date,
        today_utc.pred_opt().expect("yesterday")
    );

    let flagged: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM action_items WHERE overdue_flagged_at IS NOT NULL ORDER BY due_date",
    )
    .fetch_all(&pool)
    .await
    .expect("flagged");
    assert_eq!(flagged, vec![long_ago, drill_item, yesterday]);
    for untouched in [today, done, dropped, undated] {
        assert!(!flagged.contains(&untouched));
    }

    assert_eq!(sweep_once(&pool).await.overdue_action_items, 0);
    assert_eq!(outbox_events(&pool, ACTION_ITEM_OVERDUE).await.len(), 3);
}
