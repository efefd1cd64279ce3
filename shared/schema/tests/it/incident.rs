//! Incidents: inserted with their defaults, read back scoped to their workspace, and
//! kept consistent by the schema (tenancy, idempotency, version, lifecycle stamps).

use chrono::{TimeDelta, Utc};
use incident_schema::incident::{get_incident, get_incident_by_number, insert_incident};
use incident_schema::{IncidentNumber, IncidentStatus, Role, Severity, Visibility};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_inserted_incident_starts_investigating_at_version_one(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let dana = fixture::user(&mut conn, ws.id, "dana@example.com").await?;
    let detected_at = Utc::now() - TimeDelta::minutes(3);

    let incident = insert_incident(
        &mut conn,
        &incident_schema::incident::NewIncident {
            description: "Payments fail with 502",
            severity: Severity::Sev1,
            impact: Some("All card payments"),
            detected_at,
            sla_deadline: Some(detected_at + TimeDelta::minutes(15)),
            sla_resolve_deadline: Some(detected_at + TimeDelta::hours(4)),
            commander_id: Some(dana.id),
            is_drill: true,
            visibility: Visibility::Private,
            declared_by: Some(dana.id),
            idempotency_key: Some("alert-group-1"),
            ..fixture::new_incident(ws.id, IncidentNumber(1), "Checkout down")
        },
    )
    .await?;

    assert_eq!(incident.status, IncidentStatus::Investigating);
    assert_eq!(incident.version, 1);
    assert_eq!(incident.number.to_string(), "INC-1");
    assert_eq!(incident.severity, Severity::Sev1);
    assert_eq!(incident.role_holder(Role::Commander), Some(dana.id));
    assert_eq!(incident.role_holder(Role::TechLead), None);
    assert_eq!(incident.idempotency_key.as_deref(), Some("alert-group-1"));
    assert!(incident.is_drill && !incident.sla_breached);
    assert_eq!(incident.visibility, Visibility::Private);
    assert!(incident.acknowledged_at.is_none() && incident.resolved_at.is_none());
    // Postgres keeps microseconds.
    assert_eq!(
        incident.detected_at.timestamp_micros(),
        detected_at.timestamp_micros()
    );
    let json = serde_json::to_value(&incident)?;
    assert_eq!(
        (json["number"].clone(), json["status"].clone()),
        (1.into(), "INVESTIGATING".into())
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_incident_is_found_by_id_and_by_number_in_its_workspace(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    fixture::incident(&mut conn, ws.id, "First").await?;
    let second = fixture::incident(&mut conn, ws.id, "Second").await?;

    assert_eq!(
        get_incident(&mut conn, ws.id, second.id).await?,
        Some(second.clone())
    );
    assert_eq!(
        get_incident_by_number(&mut conn, ws.id, IncidentNumber(2)).await?,
        Some(second)
    );
    assert_eq!(get_incident(&mut conn, ws.id, Uuid::new_v4()).await?, None);
    assert_eq!(
        get_incident_by_number(&mut conn, ws.id, IncidentNumber(3)).await?,
        None
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_incident_is_not_returned_by_the_scoped_getters(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let theirs = fixture::incident(&mut conn, other.id, "Their outage").await?;

    assert_eq!(get_incident(&mut conn, acme.id, theirs.id).await?, None);
    assert_eq!(
        get_incident_by_number(&mut conn, acme.id, theirs.number).await?,
        None
    );
    assert!(
        get_incident(&mut conn, other.id, theirs.id)
            .await?
            .is_some()
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_same_number_is_used_once_per_workspace(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    insert_incident(
        &mut conn,
        &fixture::new_incident(acme.id, IncidentNumber(1), "A"),
    )
    .await?;

    let again = insert_incident(
        &mut conn,
        &fixture::new_incident(acme.id, IncidentNumber(1), "B"),
    )
    .await
    .err();
    insert_incident(
        &mut conn,
        &fixture::new_incident(other.id, IncidentNumber(1), "C"),
    )
    .await?;

    assert_eq!(
        again
            .as_ref()
            .and_then(fixture::violated_constraint)
            .as_deref(),
        Some("incidents_workspace_number_key")
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_idempotency_key_creates_one_incident_per_workspace(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let keyed = |ws, n| incident_schema::incident::NewIncident {
        idempotency_key: Some("group-42"),
        ..fixture::new_incident(ws, IncidentNumber(n), "Keyed")
    };
    insert_incident(&mut conn, &keyed(acme.id, 1)).await?;

    let retried = insert_incident(&mut conn, &keyed(acme.id, 2)).await.err();
    insert_incident(&mut conn, &keyed(other.id, 1)).await?;
    // Incidents without a key never collide.
    insert_incident(
        &mut conn,
        &fixture::new_incident(acme.id, IncidentNumber(3), "x"),
    )
    .await?;
    insert_incident(
        &mut conn,
        &fixture::new_incident(acme.id, IncidentNumber(4), "y"),
    )
    .await?;

    assert_eq!(
        retried
            .as_ref()
            .and_then(fixture::violated_constraint)
            .as_deref(),
        Some("incidents_workspace_idempotency_key")
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_numbered_insert_takes_the_next_number_and_yields_to_an_existing_key(
    pool: PgPool,
) -> anyhow::Result<()> {
    use incident_schema::incident::insert_numbered_incident;
    use incident_schema::workspace::give_back_incident_number;
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let keyed = incident_schema::incident::NewIncident {
        idempotency_key: Some("group-42"),
        ..fixture::new_incident(acme.id, IncidentNumber(0), "Keyed")
    };
    let last = || async {
        sqlx::query_scalar::<_, i32>("SELECT last_incident_number FROM workspaces WHERE id = $1")
            .bind(acme.id)
            .fetch_one(&pool)
            .await
    };

    let first = insert_numbered_incident(&mut conn, &keyed, None).await?;
    let plain = fixture::new_incident(acme.id, IncidentNumber(0), "Plain");
    let second = insert_numbered_incident(&mut conn, &plain, None).await?;
    assert_eq!(
        (first.map(|i| i.number), second.map(|i| i.number)),
        (Some(IncidentNumber(1)), Some(IncidentNumber(2)))
    );
    assert_eq!(last().await?, 2);

    // The same key again: nothing inserted, the number taken and given back.
    let mut tx = pool.begin().await?;
    assert!(
        insert_numbered_incident(&mut tx, &keyed, None)
            .await?
            .is_none()
    );
    give_back_incident_number(&mut tx, acme.id).await?;
    tx.commit().await?;
    assert_eq!(last().await?, 2, "gap-free");

    let nowhere = fixture::new_incident(Uuid::now_v7(), IncidentNumber(0), "Nowhere");
    assert!(
        insert_numbered_incident(&mut conn, &nowhere, None)
            .await?
            .is_none(),
        "no workspace, no incident"
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_user_cannot_hold_a_role(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let stranger = fixture::user(&mut conn, other.id, "eve@example.com").await?;

    let error = insert_incident(
        &mut conn,
        &incident_schema::incident::NewIncident {
            commander_id: Some(stranger.id),
            ..fixture::new_incident(acme.id, IncidentNumber(1), "Checkout down")
        },
    )
    .await
    .err();

    assert_eq!(
        error.as_ref().and_then(fixture::sqlstate).as_deref(),
        Some("23503")
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_change_increments_the_version_once_and_stamps_updated_at(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;

    let versions: Vec<i64> = {
        let mut versions = Vec::new();
        for sql in [
            // a change
            "UPDATE incidents SET title = 'Checkout slow' WHERE id = $1 RETURNING version",
            // a change that also bumps the version explicitly: still one step
            "UPDATE incidents SET severity = 'SEV1', version = version + 1 WHERE id = $1 RETURNING version",
            // no change at all
            "UPDATE incidents SET title = title WHERE id = $1 RETURNING version",
        ] {
            versions.push(
                sqlx::query_scalar(sql)
                    .bind(incident.id)
                    .fetch_one(&mut *conn)
                    .await?,
            );
        }
        versions
    };

    assert_eq!(versions, [2, 3, 3]);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_status_without_its_first_arrival_timestamp_is_refused(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;

    let unstamped = sqlx::query("UPDATE incidents SET status = 'RESOLVED' WHERE id = $1")
        .bind(incident.id)
        .execute(&mut *conn)
        .await
        .err();
    sqlx::query("UPDATE incidents SET status = 'RESOLVED', resolved_at = now() WHERE id = $1")
        .bind(incident.id)
        .execute(&mut *conn)
        .await?;
    // A reopen keeps resolved_at; INVESTIGATING needs no stamp.
    sqlx::query("UPDATE incidents SET status = 'INVESTIGATING' WHERE id = $1")
        .bind(incident.id)
        .execute(&mut *conn)
        .await?;

    assert_eq!(
        unstamped
            .as_ref()
            .and_then(fixture::violated_constraint)
            .as_deref(),
        Some("incidents_status_stamped")
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_declared_incident_keeps_its_request_fingerprint_at_version_one(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let fingerprint = [7u8; 32];
    let incident = incident_schema::incident::insert_declared_incident(
        &mut conn,
        &incident_schema::incident::NewIncident {
            idempotency_key: Some("deploy-42"),
            ..fixture::new_incident(ws.id, IncidentNumber(1), "Checkout down")
        },
        Some(&fingerprint),
    )
    .await?;
    assert_eq!(incident.version, 1, "stored at insert, not by an update");
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT declare_fingerprint FROM incidents WHERE id = $1")
            .bind(incident.id)
            .fetch_one(&mut *conn)
            .await?;
    assert_eq!(stored.as_deref(), Some(&fingerprint[..]));
    let plain = insert_incident(
        &mut conn,
        &fixture::new_incident(ws.id, IncidentNumber(2), "Search slow"),
    )
    .await?;
    let none: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT declare_fingerprint FROM incidents WHERE id = $1")
            .bind(plain.id)
            .fetch_one(&mut *conn)
            .await?;
    assert_eq!(none, None);
    Ok(())
}
