//! The timeline: appended and listed oldest first, scoped to the incident's workspace.

use chrono::{TimeDelta, Utc};
use incident_schema::TimelineKind;
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry, list_timeline};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::fixture;

fn entry(
    workspace_id: Uuid,
    incident_id: Uuid,
    kind: TimelineKind,
    message: &str,
) -> NewTimelineEntry<'_> {
    NewTimelineEntry {
        workspace_id,
        incident_id,
        author_id: None,
        kind,
        message,
        is_public: false,
        data: None,
        occurred_at: None,
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_inserted_entry_keeps_its_fields(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let dana = fixture::user(&mut conn, ws.id, "dana@example.com").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;
    let data = serde_json::json!({"from": "INVESTIGATING", "to": "IDENTIFIED"});

    let stored = insert_timeline_entry(
        &mut conn,
        &NewTimelineEntry {
            author_id: Some(dana.id),
            is_public: true,
            data: Some(&data),
            ..entry(
                ws.id,
                incident.id,
                TimelineKind::StatusChange,
                "Cause found",
            )
        },
    )
    .await?;
    let system = insert_timeline_entry(
        &mut conn,
        &entry(
            ws.id,
            incident.id,
            TimelineKind::SlaWarning,
            "Acknowledge soon",
        ),
    )
    .await?;

    assert_eq!(stored.kind, TimelineKind::StatusChange);
    assert_eq!((stored.author_id, stored.is_public), (Some(dana.id), true));
    assert_eq!(stored.data, data);
    assert_eq!(
        (system.author_id, system.data.clone()),
        (None, serde_json::json!({}))
    );
    assert_eq!(
        list_timeline(&mut conn, ws.id, incident.id).await?,
        [stored, system]
    );
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_timeline_lists_oldest_first_and_same_instant_entries_in_insertion_order(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let ws = fixture::workspace(&mut conn, "acme").await?;
    let incident = fixture::incident(&mut conn, ws.id, "Checkout down").await?;
    let earlier = Utc::now() - TimeDelta::minutes(10);

    // One transaction: now() is the same for all three entries written without a time.
    let mut tx = conn.begin().await?;
    for (kind, message) in [
        (TimelineKind::Detected, "detected"),
        (TimelineKind::WarroomOpened, "war room"),
        (TimelineKind::Note, "note"),
    ] {
        insert_timeline_entry(&mut tx, &entry(ws.id, incident.id, kind, message)).await?;
    }
    // Back-dated: happened before the others, written after them.
    insert_timeline_entry(
        &mut tx,
        &NewTimelineEntry {
            occurred_at: Some(earlier),
            ..entry(ws.id, incident.id, TimelineKind::AlertLinked, "first alert")
        },
    )
    .await?;
    tx.commit().await?;

    let messages: Vec<String> = list_timeline(&mut conn, ws.id, incident.id)
        .await?
        .into_iter()
        .map(|e| e.message)
        .collect();

    assert_eq!(messages, ["first alert", "detected", "war room", "note"]);
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_timeline_is_not_listed_nor_written(pool: PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let acme = fixture::workspace(&mut conn, "acme").await?;
    let other = fixture::workspace(&mut conn, "other").await?;
    let theirs = fixture::incident(&mut conn, other.id, "Their outage").await?;
    insert_timeline_entry(
        &mut conn,
        &entry(other.id, theirs.id, TimelineKind::Detected, "x"),
    )
    .await?;

    let listed = list_timeline(&mut conn, acme.id, theirs.id).await?;
    let written = insert_timeline_entry(
        &mut conn,
        &entry(acme.id, theirs.id, TimelineKind::Note, "sneaky"),
    )
    .await
    .err();

    assert!(listed.is_empty());
    assert_eq!(
        written.as_ref().and_then(fixture::sqlstate).as_deref(),
        Some("23503")
    );
    assert_eq!(
        list_timeline(&mut conn, other.id, theirs.id).await?.len(),
        1
    );
    Ok(())
}
