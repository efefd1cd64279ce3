//! Workspaces and the per-workspace incident counter.

use incident_schema::workspace::{self, create_workspace, get_workspace, get_workspace_by_slug};
use incident_schema::{IncidentNumber, incident};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_new_workspace_starts_with_no_incidents_and_one_sla_policy_per_severity(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;

    let ws = create_workspace(&mut conn, "acme", "Acme Corp").await?;

    assert_eq!((ws.slug.as_str(), ws.name.as_str()), ("acme", "Acme Corp"));
    assert_eq!(ws.last_incident_number, 0);
    assert_eq!(ws.settings, serde_json::json!({}));
    let severities: Vec<String> = sqlx::query_scalar(
        "SELECT severity::text FROM sla_policies WHERE workspace_id = $1 ORDER BY severity",
    )
    .bind(ws.id)
    .fetch_all(&mut *conn)
    .await?;
    assert_eq!(severities, ["SEV1", "SEV2", "SEV3", "SEV4"]);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn workspaces_are_found_by_id_and_by_slug(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    fixture::workspace(&mut conn, "other").await?;

    assert_eq!(get_workspace(&mut conn, ws.id).await?, Some(ws.clone()));
    assert_eq!(get_workspace_by_slug(&mut conn, "acme").await?, Some(ws));
    assert_eq!(get_workspace(&mut conn, Uuid::new_v4()).await?, None);
    assert_eq!(get_workspace_by_slug(&mut conn, "nobody").await?, None);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_taken_slug_is_refused_and_leaves_no_policies_behind(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    fixture::workspace(&mut conn, "acme").await?;

    let error = create_workspace(&mut conn, "acme", "Another Acme")
        .await
        .err();

    assert_eq!(
        error.as_ref().and_then(fixture::sqlstate).as_deref(),
        Some("23505")
    );
    let policies: i64 = sqlx::query_scalar("SELECT count(*) FROM sla_policies")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(policies, 4);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn slugs_must_be_url_safe(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    for bad in ["", "Acme", "acme corp", "-acme", "acme-", "ac/me"] {
        let error = create_workspace(&mut conn, bad, "Acme").await.err();
        assert_eq!(
            error
                .as_ref()
                .and_then(fixture::violated_constraint)
                .as_deref(),
            Some("workspaces_slug_format"),
            "{bad:?}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn creating_a_workspace_inside_a_transaction_uses_a_savepoint(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;

    let ws = create_workspace(&mut tx, "acme", "Acme").await?;
    tx.rollback().await?;

    assert_eq!(get_workspace(&mut conn, ws.id).await?, None);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn incident_numbers_count_up_from_one_per_workspace(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;

    let mut taken = Vec::new();
    for ws in [acme.id, acme.id, other.id, acme.id] {
        taken.push(workspace::next_incident_number(&mut conn, ws).await?);
    }

    assert_eq!(taken, [1, 2, 1, 3].map(IncidentNumber));
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_unknown_workspace_has_no_incident_numbers(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;

    let error = workspace::next_incident_number(&mut conn, Uuid::new_v4())
        .await
        .err();

    assert!(matches!(error, Some(sqlx::Error::RowNotFound)), "{error:?}");
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_rolled_back_transaction_gives_its_number_back(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    fixture::incident(&mut conn, ws.id, "First").await?;

    let mut tx = conn.begin().await?;
    let abandoned = fixture::incident(&mut tx, ws.id, "Abandoned").await?;
    tx.rollback().await?;
    let next = fixture::incident(&mut conn, ws.id, "Second").await?;

    assert_eq!(abandoned.number, IncidentNumber(2));
    assert_eq!(next.number, IncidentNumber(2));
    Ok(())
}

/// 50 transactions, up to 10 at once, each takes a number, inserts its incident and
/// holds the counter a moment before committing.
#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn fifty_concurrent_transactions_get_numbers_one_to_fifty_without_gap_or_duplicate(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) -> anyhow::Result<()> {
    let pool = pool_options
        .max_connections(10)
        .connect_with(connect_options)
        .await?;
    let ws = fixture::workspace(&mut *pool.acquire().await?, "acme").await?;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut tx = pool.begin().await?;
            let number = workspace::next_incident_number(&mut tx, ws.id).await?;
            let title = format!("Concurrent {i}");
            incident::insert_incident(&mut tx, &fixture::new_incident(ws.id, number, &title))
                .await?;
            sqlx::query("SELECT pg_sleep(0.002)")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(number)
        });
    }
    let mut numbers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        numbers.push(joined??);
    }
    numbers.sort();

    assert_eq!(numbers, (1..=50).map(IncidentNumber).collect::<Vec<_>>());
    let stored: Vec<i32> =
        sqlx::query_scalar("SELECT number FROM incidents WHERE workspace_id = $1 ORDER BY number")
            .bind(ws.id)
            .fetch_all(&pool)
            .await?;
    assert_eq!(stored, (1..=50).collect::<Vec<_>>());
    let counter = workspace::get_workspace(&mut *pool.acquire().await?, ws.id).await?;
    assert_eq!(counter.map(|w| w.last_incident_number), Some(50));
    pool.close().await;
    Ok(())
}
