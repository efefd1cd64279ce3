//! The migrations: they apply to an empty database, re-applying is a no-op, racing
//! migrators serialise on the advisory lock, and the tables keep the tenancy rule.

use incident_schema::MIGRATOR;
use sqlx::PgPool;

async fn applied(pool: &PgPool) -> sqlx::Result<Vec<(i64, bool)>> {
    sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await
}

fn expected_versions() -> Vec<(i64, bool)> {
    MIGRATOR.iter().map(|m| (m.version, true)).collect()
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database_and_applying_again_is_a_no_op(
    pool: PgPool,
) -> anyhow::Result<()> {
    incident_schema::migrate(&pool).await?;
    let first = applied(&pool).await?;
    assert_eq!(first, expected_versions());
    assert!(first.len() >= 2, "0001_domain and 0002_messaging at least");
    let installed: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await?;

    incident_schema::migrate(&pool).await?;

    assert_eq!(applied(&pool).await?, first);
    let installed_again: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await?;
    assert_eq!(installed_again, installed, "nothing was re-applied");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn two_migrators_racing_on_a_fresh_database_both_succeed(pool: PgPool) -> anyhow::Result<()> {
    let (first, second) = tokio::join!(MIGRATOR.run(&pool), MIGRATOR.run(&pool));

    first?;
    second?;
    assert_eq!(applied(&pool).await?, expected_versions());
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_domain_table_but_workspaces_carries_a_workspace_id(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut with_workspace: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'workspace_id'
         ORDER BY table_name",
    )
    .fetch_all(&pool)
    .await?;
    with_workspace.sort();

    // Services add tables of their own in later migrations; every domain table of the
    // shared schema must be among those scoped by workspace.
    for table in [
        "action_items",
        "affected_services",
        "alert_groups",
        "alerts",
        "api_tokens",
        "incident_timeline",
        "incidents",
        "integrations",
        "postmortems",
        "sla_events",
        "sla_policies",
        "users",
    ] {
        assert!(
            with_workspace.iter().any(|t| t == table),
            "{table} has no workspace_id: {with_workspace:?}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn deleting_a_workspace_deletes_everything_in_it(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let doomed = crate::fixture::workspace(&mut conn, "doomed").await?;
    let kept = crate::fixture::workspace(&mut conn, "kept").await?;
    for ws in [&doomed, &kept] {
        let user = crate::fixture::user(&mut conn, ws.id, "a@example.com").await?;
        let incident = crate::fixture::incident(&mut conn, ws.id, "Checkout down").await?;
        sqlx::query("UPDATE incidents SET commander_id = $2 WHERE id = $1")
            .bind(incident.id)
            .bind(user.id)
            .execute(&mut *conn)
            .await?;
    }

    sqlx::query("DELETE FROM workspaces WHERE id = $1")
        .bind(doomed.id)
        .execute(&mut *conn)
        .await?;

    let left: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'incidents', count(*) FROM incidents
         UNION ALL SELECT 'users', count(*) FROM users
         UNION ALL SELECT 'sla_policies', count(*) FROM sla_policies",
    )
    .fetch_all(&mut *conn)
    .await?;
    assert_eq!(
        left,
        [
            ("incidents".to_owned(), 1),
            ("users".to_owned(), 1),
            ("sla_policies".to_owned(), 4)
        ]
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn an_older_binary_starts_against_a_schema_a_newer_release_migrated(
    pool: PgPool,
) -> anyhow::Result<()> {
    incident_schema::migrate(&pool).await?;
    // What a later release leaves behind: a migration this binary has never heard of.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999999, 'from a newer release', true, '\\x00'::bytea, 1)",
    )
    .execute(&pool)
    .await?;

    let strict = MIGRATOR.run(&pool).await;
    assert!(strict.is_err(), "the plain migrator refuses: {strict:?}");
    incident_schema::migrate(&pool).await?;
    Ok(())
}
