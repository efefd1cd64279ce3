//! SLA policies: the defaults of a new workspace and the deadlines they give.

use chrono::{DateTime, TimeDelta};
use incident_schema::Severity;
use incident_schema::sla::{DEFAULT_SLA_POLICIES, DEFAULT_WARNING_RATIO, get_sla_policy};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_new_workspace_gets_the_default_targets_for_every_severity(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;

    let mut targets = Vec::new();
    for &severity in Severity::ALL {
        let policy = get_sla_policy(&mut conn, ws.id, severity).await?;
        let policy = policy.ok_or_else(|| anyhow::anyhow!("no policy for {severity}"))?;
        assert_eq!((policy.workspace_id, policy.severity), (ws.id, severity));
        assert_eq!(policy.warning_ratio, DEFAULT_WARNING_RATIO);
        targets.push((
            policy.ack_target_minutes,
            policy.resolve_target_minutes,
            policy.update_cadence_minutes,
        ));
    }

    assert_eq!(
        targets,
        [
            (15, 240, Some(30)),
            (30, 480, Some(60)),
            (120, 3 * 24 * 60, None),
            (480, 7 * 24 * 60, None),
        ]
    );
    assert_eq!(
        DEFAULT_SLA_POLICIES.map(|d| d.severity),
        [
            Severity::Sev1,
            Severity::Sev2,
            Severity::Sev3,
            Severity::Sev4
        ]
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_unknown_workspace_has_no_policy(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;

    assert_eq!(
        get_sla_policy(&mut conn, Uuid::new_v4(), Severity::Sev1).await?,
        None
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn deadlines_count_the_targets_from_detection(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let policy = get_sla_policy(&mut conn, ws.id, Severity::Sev1)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no SEV1 policy"))?;
    let detected = DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")?.to_utc();

    assert_eq!(
        policy.acknowledge_deadline(detected),
        detected + TimeDelta::minutes(15)
    );
    assert_eq!(
        policy.resolve_deadline(detected),
        detected + TimeDelta::hours(4)
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_sla_finding_is_recorded_once_per_incident_target_kind_and_slot(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;
    let insert = "INSERT INTO sla_events (incident_id, workspace_id, target, kind, slot, deadline)
                  VALUES ($1, $2, $3::sla_target, $4::sla_event_kind, $5, now())
                  ON CONFLICT DO NOTHING";

    let mut inserted = Vec::new();
    for (target, kind, slot) in [
        ("ACKNOWLEDGE", "BREACH", 0),
        ("ACKNOWLEDGE", "BREACH", 0),
        ("ACKNOWLEDGE", "WARNING", 0),
        ("UPDATE", "UPDATE_DUE", 1),
        ("UPDATE", "UPDATE_DUE", 2),
        ("UPDATE", "UPDATE_DUE", 2),
    ] {
        let done = sqlx::query(insert)
            .bind(incident.id)
            .bind(ws.id)
            .bind(target)
            .bind(kind)
            .bind(slot)
            .execute(&mut *conn)
            .await?;
        inserted.push(done.rows_affected());
    }

    assert_eq!(inserted, [1, 0, 1, 1, 1, 0]);
    Ok(())
}
