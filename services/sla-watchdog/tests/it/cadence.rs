//! The update cadence: one `incident.update_due` per missed slot of an open SEV1/SEV2,
//! counted again from each public update.

use chrono::{DateTime, Utc};
use incident_schema::event::INCIDENT_UPDATE_DUE;
use incident_schema::{Severity, TimelineKind};
use incident_sla_watchdog::sla::event::UpdateDueData;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

async fn reminders(pool: &PgPool, incident_id: Uuid) -> Vec<UpdateDueData> {
    events_about(pool, INCIDENT_UPDATE_DUE, incident_id)
        .await
        .iter()
        .map(|e| e.data_as().expect("the event's data"))
        .collect()
}

async fn post_public_update(pool: &PgPool, incident_id: Uuid, minutes_ago: i64) {
    sqlx::query(
        "UPDATE incidents SET last_public_update_at = now() - make_interval(mins => $2::int)
         WHERE id = $1",
    )
    .bind(incident_id)
    .bind(minutes_ago as i32)
    .execute(pool)
    .await
    .expect("public update");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_open_sev1_gets_one_update_due_per_missed_slot_and_a_public_update_restarts_the_count(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let incident = incident(&pool, ws.id, Spec::new(Severity::Sev1, 35)).await;
    acknowledge(&pool, incident.id, 2).await;
    let detected: DateTime<Utc> = incident.detected_at;

    // 35 minutes without an update on a 30-minute cadence: slot 1, due at minute 30.
    assert_eq!(sweep_once(&pool).await.updates_due, 1);
    assert_eq!(sweep_once(&pool).await.flags(), 0, "once per slot");
    let first = reminders(&pool, incident.id).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].slot, 1);
    assert_eq!(first[0].due_at, detected + minutes(30));
    assert_eq!(first[0].cadence_minutes, 30);
    assert!(!first[0].is_drill);

    // Half an hour later (minute 65): the second slot, due at minute 60.
    travel(&pool, incident.id, 30).await;
    assert_eq!(sweep_once(&pool).await.updates_due, 1);
    assert_eq!(sweep_once(&pool).await.flags(), 0);

    // A public update five minutes ago restarts the count: nothing due.
    post_public_update(&pool, incident.id, 5).await;
    assert_eq!(sweep_once(&pool).await.flags(), 0);

    // Thirty minutes after that update: due again, as the third reminder.
    travel(&pool, incident.id, 26).await;
    assert_eq!(sweep_once(&pool).await.updates_due, 1);
    assert_eq!(sweep_once(&pool).await.flags(), 0);

    let all = reminders(&pool, incident.id).await;
    let slots: Vec<_> = all.iter().map(|r| (r.slot, r.missed_updates)).collect();
    assert_eq!(slots, vec![(1, 1), (2, 2), (3, 1)]);
    let update = reload(&pool, &incident)
        .await
        .last_public_update_at
        .expect("updated");
    assert_eq!(
        all[2].due_at,
        update + minutes(30),
        "due one cadence after the update"
    );
    assert_eq!(
        system_timeline(&pool, incident.id).await,
        vec![TimelineKind::UpdateDue; 3]
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn update_reminders_are_for_open_sev1_and_sev2_incidents_only(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    // Even with a cadence configured for SEV3, the reminder is for SEV1/SEV2.
    sqlx::query(
        "UPDATE sla_policies SET update_cadence_minutes = 30
         WHERE workspace_id = $1 AND severity = 'SEV3'",
    )
    .bind(ws.id)
    .execute(&pool)
    .await
    .expect("policy");
    let sev3 = incident(&pool, ws.id, Spec::new(Severity::Sev3, 70)).await;
    acknowledge(&pool, sev3.id, 2).await;
    let resolved = incident(&pool, ws.id, Spec::new(Severity::Sev2, 70)).await;
    acknowledge(&pool, resolved.id, 2).await;
    resolve(&pool, resolved.id, 20).await;
    let open = incident(&pool, ws.id, Spec::new(Severity::Sev2, 70)).await;
    acknowledge(&pool, open.id, 2).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.updates_due, 1);
    assert_eq!(report.flags(), 1);
    assert_eq!(reminders(&pool, open.id).await.len(), 1);
    assert_eq!(reminders(&pool, sev3.id).await.len(), 0);
    assert_eq!(reminders(&pool, resolved.id).await.len(), 0);
}
