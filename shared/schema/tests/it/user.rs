//! Users: created and read within their workspace; email unique ignoring case.

use incident_schema::user::{NewUser, create_user, get_user, get_user_by_email};
use sqlx::PgPool;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_created_user_is_found_in_its_workspace_only(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;

    let user = create_user(
        &mut conn,
        &NewUser {
            workspace_id: acme.id,
            email: "Dana@Example.com",
            display_name: "Dana",
            slack_user_id: Some("U012AB3CD"),
        },
    )
    .await?;

    assert_eq!(user.email, "Dana@Example.com");
    assert_eq!(user.slack_user_id.as_deref(), Some("U012AB3CD"));
    assert_eq!(
        get_user(&mut conn, acme.id, user.id).await?,
        Some(user.clone())
    );
    assert_eq!(get_user(&mut conn, other.id, user.id).await?, None);
    assert_eq!(
        get_user_by_email(&mut conn, acme.id, "dana@example.COM").await?,
        Some(user.clone())
    );
    assert_eq!(
        get_user_by_email(&mut conn, other.id, "dana@example.com").await?,
        None
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_email_is_unique_per_workspace_whatever_its_case(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    fixture::user(&mut conn, acme.id, "dana@example.com").await?;

    let error = fixture::user(&mut conn, acme.id, "DANA@example.com")
        .await
        .err();

    assert_eq!(
        error
            .as_ref()
            .and_then(fixture::violated_constraint)
            .as_deref(),
        Some("users_workspace_email_key")
    );
    fixture::user(&mut conn, other.id, "dana@example.com").await?;
    Ok(())
}
