//! The private-incident rule: admins, role holders and members read a PRIVATE incident;
//! other users, tokens without a person and other workspaces do not; PUBLIC is read by all
//! of its workspace.

use incident_schema::access::{self, Reader};
use incident_schema::incident::insert_incident;
use incident_schema::{Visibility, workspace};
use sqlx::PgPool;

use crate::fixture;

fn reader(workspace_id: uuid::Uuid, user_id: Option<uuid::Uuid>, is_admin: bool) -> Reader {
    Reader {
        workspace_id,
        user_id,
        is_admin,
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_private_incident_is_readable_by_admins_role_holders_and_members_only(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let commander = fixture::user(&mut conn, ws.id, "ic@example.com").await?;
    let member = fixture::user(&mut conn, ws.id, "member@example.com").await?;
    let stranger = fixture::user(&mut conn, ws.id, "stranger@example.com").await?;
    let number = workspace::next_incident_number(&mut conn, ws.id).await?;
    let private = insert_incident(
        &mut conn,
        &incident_schema::incident::NewIncident {
            visibility: Visibility::Private,
            commander_id: Some(commander.id),
            ..fixture::new_incident(ws.id, number, "Secret breach")
        },
    )
    .await?;
    let public = fixture::incident(&mut conn, ws.id, "Public outage").await?;
    assert!(access::add_member(&mut conn, ws.id, private.id, member.id, Some(commander.id)).await?);
    assert!(!access::add_member(&mut conn, ws.id, private.id, member.id, None).await?);

    let cases = [
        ("admin without a person", reader(ws.id, None, true), true),
        ("commander", reader(ws.id, Some(commander.id), false), true),
        ("member", reader(ws.id, Some(member.id), false), true),
        ("stranger", reader(ws.id, Some(stranger.id), false), false),
        ("service token", reader(ws.id, None, false), false),
        (
            "another workspace's admin",
            reader(other.id, None, true),
            false,
        ),
    ];
    for (who, r, expected) in cases {
        assert_eq!(
            access::can_read(&mut conn, &r, private.id).await?,
            expected,
            "{who}"
        );
        let sees_public = r.workspace_id == ws.id;
        assert_eq!(
            access::can_read(&mut conn, &r, public.id).await?,
            sees_public,
            "{who}"
        );
    }

    assert_eq!(
        access::list_members(&mut conn, ws.id, private.id).await?,
        vec![member.id]
    );
    assert!(access::remove_member(&mut conn, ws.id, private.id, member.id).await?);
    assert!(!access::remove_member(&mut conn, ws.id, private.id, member.id).await?);
    assert!(
        !access::can_read(
            &mut conn,
            &reader(ws.id, Some(member.id), false),
            private.id
        )
        .await?
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_member_must_be_a_user_of_the_incidents_workspace(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let outsider = fixture::user(&mut conn, other.id, "out@example.com").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Outage").await?;

    let err = access::add_member(&mut conn, ws.id, incident.id, outsider.id, None)
        .await
        .expect_err("a user of another workspace cannot be a member");
    assert_eq!(fixture::sqlstate(&err).as_deref(), Some("23503"));
    Ok(())
}
