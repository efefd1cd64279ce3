//! API tokens: stored by hash, found only while neither revoked nor expired.

use chrono::{TimeDelta, Utc};
use incident_schema::AccessRole;
use incident_schema::auth::{NewApiToken, find_active_api_token, insert_api_token};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixture;

fn token(workspace_id: Uuid, hash: &[u8; 32]) -> NewApiToken<'_> {
    NewApiToken {
        workspace_id,
        user_id: None,
        name: "ci",
        role: AccessRole::Responder,
        is_instance_admin: false,
        prefix: "inc_ab12",
        token_hash: hash,
        expires_at: None,
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_stored_token_is_found_by_its_hash(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let user = fixture::user(&mut conn, ws.id, "dana@example.com").await?;

    let stored = insert_api_token(
        &mut conn,
        &NewApiToken {
            user_id: Some(user.id),
            role: AccessRole::Admin,
            is_instance_admin: true,
            ..token(ws.id, &[7; 32])
        },
    )
    .await?;

    assert_eq!(stored.token_hash, [7; 32]);
    assert_eq!(
        (stored.role, stored.is_instance_admin),
        (AccessRole::Admin, true)
    );
    assert_eq!(
        find_active_api_token(&mut conn, &[7; 32]).await?,
        Some(stored)
    );
    assert_eq!(find_active_api_token(&mut conn, &[8; 32]).await?, None);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn revoked_and_expired_tokens_are_not_found(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let revoked = insert_api_token(&mut conn, &token(ws.id, &[1; 32])).await?;
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(revoked.id)
        .execute(&mut *conn)
        .await?;
    let expired = NewApiToken {
        expires_at: Some(Utc::now() - TimeDelta::seconds(1)),
        ..token(ws.id, &[2; 32])
    };
    insert_api_token(&mut conn, &expired).await?;
    let expiring_later = NewApiToken {
        expires_at: Some(Utc::now() + TimeDelta::hours(1)),
        ..token(ws.id, &[3; 32])
    };
    insert_api_token(&mut conn, &expiring_later).await?;

    assert_eq!(find_active_api_token(&mut conn, &[1; 32]).await?, None);
    assert_eq!(find_active_api_token(&mut conn, &[2; 32]).await?, None);
    assert!(find_active_api_token(&mut conn, &[3; 32]).await?.is_some());
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn token_hashes_are_unique_sha256_sized_and_never_serialised(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let stored = insert_api_token(&mut conn, &token(ws.id, &[9; 32])).await?;

    let duplicate = insert_api_token(&mut conn, &token(ws.id, &[9; 32]))
        .await
        .err();
    let short = insert_api_token(
        &mut conn,
        &NewApiToken {
            token_hash: &[1; 16],
            ..token(ws.id, &[0; 32])
        },
    )
    .await
    .err();

    assert_eq!(
        duplicate.as_ref().and_then(fixture::sqlstate).as_deref(),
        Some("23505")
    );
    assert_eq!(
        short.as_ref().and_then(fixture::sqlstate).as_deref(),
        Some("23514")
    );
    let json = serde_json::to_value(&stored)?;
    assert!(json.get("token_hash").is_none(), "{json}");
    assert_eq!(json["role"], "responder");
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_token_cannot_act_for_another_workspaces_user(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let stranger = fixture::user(&mut conn, other.id, "eve@example.com").await?;

    let error = insert_api_token(
        &mut conn,
        &NewApiToken {
            user_id: Some(stranger.id),
            ..token(acme.id, &[4; 32])
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
