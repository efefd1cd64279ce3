//! The row types of tables whose queries live in their owning service decode from their
//! tables' columns (a renamed or retyped column fails here, not in production), and the
//! schema keeps those tables' invariants.

use incident_schema::{
    ActionItem, ActionItemPriority, ActionItemStatus, AffectedService, Alert, AlertGroup,
    AlertGroupStatus, AlertStatus, Integration, IntegrationKind, Postmortem, PostmortemStatus,
    ServiceImpact, SlaEvent, SlaEventKind, SlaTarget,
};
use sqlx::PgPool;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_row_type_decodes_from_its_table(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let dana = fixture::user(&mut conn, ws.id, "dana@example.com").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;

    let integration: Integration = sqlx::query_as(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash, max_incidents_per_minute)
         VALUES ($1, 'alertmanager', 'prod', $2, 5) RETURNING *",
    )
    .bind(ws.id)
    .bind(&[0u8; 32][..])
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(integration.kind, IntegrationKind::Alertmanager);
    assert_eq!(integration.rules, serde_json::json!([]));
    assert!(
        serde_json::to_value(&integration)?
            .get("secret_hash")
            .is_none()
    );

    let group: AlertGroup = sqlx::query_as(
        "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title, incident_id)
         VALUES ($1, $2, 'alertname=HighLatency', 'High latency', $3) RETURNING *",
    )
    .bind(ws.id)
    .bind(integration.id)
    .bind(incident.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(
        (group.status, group.incident_id),
        (AlertGroupStatus::Open, Some(incident.id))
    );

    let alert: Alert = sqlx::query_as(
        "INSERT INTO alerts (workspace_id, integration_id, alert_group_id, fingerprint, status, starts_at)
         VALUES ($1, $2, $3, 'abc123', 'FIRING', now()) RETURNING *",
    )
    .bind(ws.id)
    .bind(integration.id)
    .bind(group.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(
        (alert.status, alert.notification_count),
        (AlertStatus::Firing, 1)
    );

    let postmortem: Postmortem = sqlx::query_as(
        "INSERT INTO postmortems (incident_id, workspace_id, summary, updated_by)
         VALUES ($1, $2, 'It broke', $3) RETURNING *",
    )
    .bind(incident.id)
    .bind(ws.id)
    .bind(dana.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(postmortem.status, PostmortemStatus::Draft);
    assert_eq!(postmortem.timeline, serde_json::json!([]));

    let item: ActionItem = sqlx::query_as(
        "INSERT INTO action_items (postmortem_id, workspace_id, description, assignee_id, due_date)
         VALUES ($1, $2, 'Add a retry budget', $3, '2025-04-01') RETURNING *",
    )
    .bind(postmortem.id)
    .bind(ws.id)
    .bind(dana.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(
        (item.status, item.priority),
        (ActionItemStatus::Open, ActionItemPriority::P3)
    );
    assert_eq!(
        item.due_date.map(|d| d.to_string()).as_deref(),
        Some("2025-04-01")
    );

    let service: AffectedService = sqlx::query_as(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
         VALUES ($1, $2, 'checkout', 'DEGRADED') RETURNING *",
    )
    .bind(incident.id)
    .bind(ws.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(service.impact, ServiceImpact::Degraded);

    let event: SlaEvent = sqlx::query_as(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, is_drill)
         VALUES ($1, $2, 'ACKNOWLEDGE', 'BREACH', now(), true) RETURNING *",
    )
    .bind(incident.id)
    .bind(ws.id)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(
        (event.target, event.kind, event.slot),
        (SlaTarget::Acknowledge, SlaEventKind::Breach, 0)
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn at_most_one_group_per_integration_and_key_is_open(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let integration_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'generic', 'prod', $2) RETURNING id",
    )
    .bind(ws.id)
    .bind(&[0u8; 32][..])
    .fetch_one(&mut *conn)
    .await?;
    let open = "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title)
                VALUES ($1, $2, 'k', 't') RETURNING id";
    let first: uuid::Uuid = sqlx::query_scalar(open)
        .bind(ws.id)
        .bind(integration_id)
        .fetch_one(&mut *conn)
        .await?;

    let second = sqlx::query(open)
        .bind(ws.id)
        .bind(integration_id)
        .execute(&mut *conn)
        .await
        .err();
    sqlx::query("UPDATE alert_groups SET status = 'RESOLVED', resolved_at = now() WHERE id = $1")
        .bind(first)
        .execute(&mut *conn)
        .await?;
    sqlx::query(open)
        .bind(ws.id)
        .bind(integration_id)
        .execute(&mut *conn)
        .await?;

    assert_eq!(
        second
            .as_ref()
            .and_then(fixture::violated_constraint)
            .as_deref(),
        Some("alert_groups_open_key")
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_done_action_item_needs_its_completion_time_and_a_wont_do_its_reason(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;
    let postmortem_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO postmortems (incident_id, workspace_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(incident.id)
    .bind(ws.id)
    .fetch_one(&mut *conn)
    .await?;
    let item: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO action_items (postmortem_id, workspace_id, description)
         VALUES ($1, $2, 'Fix it') RETURNING id",
    )
    .bind(postmortem_id)
    .bind(ws.id)
    .fetch_one(&mut *conn)
    .await?;

    let mut refused = Vec::new();
    for sql in [
        "UPDATE action_items SET status = 'DONE' WHERE id = $1",
        "UPDATE action_items SET status = 'WONT_DO' WHERE id = $1",
        "UPDATE postmortems SET status = 'PUBLISHED' WHERE id = $1",
    ] {
        let id = if sql.contains("postmortems") {
            postmortem_id
        } else {
            item
        };
        let error = sqlx::query(sql).bind(id).execute(&mut *conn).await.err();
        refused.push(error.as_ref().and_then(fixture::violated_constraint));
    }

    assert_eq!(
        refused,
        [
            Some("action_items_done_stamped".to_owned()),
            Some("action_items_wont_do_explained".to_owned()),
            Some("postmortems_published_stamped".to_owned()),
        ]
    );
    Ok(())
}
