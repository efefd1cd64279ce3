//! Breaches: a deadline passed unmet is flagged once, with its flag, timeline entry and
//! event; a target met in time never is.

use incident_schema::event::{INCIDENT_SLA_BREACHED, INCIDENT_SLA_WARNING};
use incident_schema::{Severity, SlaEventKind, SlaTarget, TimelineKind};
use incident_sla_watchdog::sla::event::SlaDeadlineData;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_unacknowledged_incident_past_its_deadline_is_flagged_breached_once(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let incident = incident(&pool, ws.id, Spec::new(Severity::Sev3, 125)).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_breaches, 1);
    assert_eq!(report.flags(), 1);

    let after = reload(&pool, &incident).await;
    assert!(after.sla_breached);
    assert_eq!(after.version, incident.version + 1);
    let found = findings_of(&pool, incident.id).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].target, found[0].kind, found[0].slot),
        (SlaTarget::Acknowledge, SlaEventKind::Breach, 0)
    );
    assert_eq!(Some(found[0].deadline), incident.sla_deadline);
    assert!(!found[0].is_drill);
    assert_eq!(
        system_timeline(&pool, incident.id).await,
        vec![TimelineKind::SlaBreached]
    );

    let events = outbox_events(&pool, INCIDENT_SLA_BREACHED).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.workspace_id, ws.id);
    let data: SlaDeadlineData = event.data_as().expect("the event's data");
    assert_eq!(data.target, SlaTarget::Acknowledge);
    assert_eq!(Some(data.deadline), incident.sla_deadline);
    assert!(!data.is_drill);
    assert_eq!(data.incident.reference, "INC-1");
    assert_eq!(data.incident.id, incident.id);
    assert_eq!(
        data.incident.version, after.version,
        "the event carries the incident as it stands after the flag"
    );
    assert!(data.incident.sla_breached);

    let again = sweep_once(&pool).await;
    assert_eq!(again.flags(), 0, "a second sweep finds nothing new");
    assert_eq!(findings_of(&pool, incident.id).await.len(), 1);
    assert_eq!(system_timeline(&pool, incident.id).await.len(), 1);
    assert_eq!(outbox_events(&pool, INCIDENT_SLA_BREACHED).await.len(), 1);
    assert_eq!(reload(&pool, &incident).await.version, after.version);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_acknowledgement_after_the_deadline_but_before_the_sweep_still_breaches(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let late = incident(&pool, ws.id, Spec::new(Severity::Sev1, 25)).await;
    // Acknowledged at minute 20 of a 15-minute target, and no sweep ran in between.
    acknowledge(&pool, late.id, 20).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_breaches, 1);
    assert_eq!(
        finding_keys(&pool, late.id).await,
        vec![(SlaTarget::Acknowledge, SlaEventKind::Breach, 0)]
    );
    assert!(reload(&pool, &late).await.sla_breached);
    assert_eq!(sweep_once(&pool).await.flags(), 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_incident_acknowledged_in_time_never_breaches_its_acknowledge_target(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let on_time = incident(&pool, ws.id, Spec::new(Severity::Sev3, 200)).await;
    acknowledge(&pool, on_time.id, 119).await;
    let on_the_dot = incident(&pool, ws.id, Spec::new(Severity::Sev3, 200)).await;
    acknowledge(&pool, on_the_dot.id, 120).await;
    // Resolving straight away answers the page too.
    let quick_fix = incident(&pool, ws.id, Spec::new(Severity::Sev3, 200)).await;
    resolve(&pool, quick_fix.id, 10).await;

    assert_eq!(sweep_once(&pool).await.flags(), 0);
    for incident in [&on_time, &on_the_dot, &quick_fix] {
        assert_eq!(finding_keys(&pool, incident.id).await, vec![]);
        assert!(!reload(&pool, incident).await.sla_breached);
    }
    assert_eq!(outbox_events(&pool, INCIDENT_SLA_BREACHED).await.len(), 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_late_resolution_between_two_sweeps_breaches_the_resolve_target_of_an_incident_already_breached(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    // Unanswered for 100 minutes of a 20-minute target; 110 minutes to resolve.
    let incident = incident(
        &pool,
        ws.id,
        Spec::new(Severity::Sev3, 100)
            .ack_target(20)
            .resolve_target(110),
    )
    .await;
    let first = sweep_once(&pool).await;
    assert_eq!(first.acknowledge_breaches, 1);
    assert_eq!(
        first.resolve_warnings, 1,
        "100 of 110 minutes is past the 80% warning"
    );

    // Fifteen minutes later, resolved at minute 112: after its deadline, before any sweep.
    travel(&pool, incident.id, 15).await;
    acknowledge(&pool, incident.id, 101).await;
    resolve(&pool, incident.id, 112).await;
    let second = sweep_once(&pool).await;
    assert_eq!(second.resolve_breaches, 1);
    assert_eq!(second.flags(), 1);

    assert_eq!(
        finding_keys(&pool, incident.id).await,
        vec![
            (SlaTarget::Acknowledge, SlaEventKind::Breach, 0),
            (SlaTarget::Resolve, SlaEventKind::Warning, 0),
            (SlaTarget::Resolve, SlaEventKind::Breach, 0),
        ]
    );
    let targets: Vec<_> = events_about(&pool, INCIDENT_SLA_BREACHED, incident.id)
        .await
        .iter()
        .map(|e| {
            e.data_as::<SlaDeadlineData>()
                .expect("the event's data")
                .target
        })
        .collect();
    assert_eq!(targets, vec![SlaTarget::Acknowledge, SlaTarget::Resolve]);
    assert_eq!(
        system_timeline(&pool, incident.id).await,
        vec![
            TimelineKind::SlaBreached,
            TimelineKind::SlaWarning,
            TimelineKind::SlaBreached
        ]
    );
    assert_eq!(sweep_once(&pool).await.flags(), 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn resolved_and_closed_incidents_get_no_warning_and_no_update_due(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    // Ten minutes before its resolve deadline, an hour past its update cadence.
    let spec = Spec::new(Severity::Sev1, 230);
    let open = incident(&pool, ws.id, spec).await;
    acknowledge(&pool, open.id, 5).await;
    let resolved = incident(&pool, ws.id, spec).await;
    acknowledge(&pool, resolved.id, 5).await;
    resolve(&pool, resolved.id, 200).await;
    let closed = incident(&pool, ws.id, spec).await;
    acknowledge(&pool, closed.id, 5).await;
    resolve(&pool, closed.id, 200).await;
    sqlx::query(
        "UPDATE incidents SET status = 'CLOSED', closed_at = detected_at + interval '210 minutes'
         WHERE id = $1",
    )
    .bind(closed.id)
    .execute(&pool)
    .await
    .expect("close");

    let report = sweep_once(&pool).await;
    assert_eq!(
        finding_keys(&pool, open.id).await,
        vec![
            (SlaTarget::Resolve, SlaEventKind::Warning, 0),
            (SlaTarget::Update, SlaEventKind::UpdateDue, 1),
        ],
        "the open twin shows what would have fired"
    );
    assert_eq!(report.flags(), 2);
    assert_eq!(finding_keys(&pool, resolved.id).await, vec![]);
    assert_eq!(finding_keys(&pool, closed.id).await, vec![]);
    assert_eq!(system_timeline(&pool, resolved.id).await, vec![]);
    assert_eq!(system_timeline(&pool, closed.id).await, vec![]);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_severity_change_moves_the_deadline_and_a_later_deadline_no_longer_breaches(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    // A SEV1 twenty minutes old is five minutes past its 15-minute target...
    let downgraded = incident(&pool, ws.id, Spec::new(Severity::Sev1, 20)).await;
    // ...and a SEV4 twenty minutes old has hours left of its 480.
    let upgraded = incident(&pool, ws.id, Spec::new(Severity::Sev4, 20)).await;
    // Core changes both severities and recomputes the deadlines from detection.
    sqlx::query(
        "UPDATE incidents SET severity = 'SEV3',
                sla_deadline = detected_at + interval '120 minutes',
                sla_resolve_deadline = detected_at + interval '3 days'
         WHERE id = $1",
    )
    .bind(downgraded.id)
    .execute(&pool)
    .await
    .expect("downgrade");
    sqlx::query(
        "UPDATE incidents SET severity = 'SEV1',
                sla_deadline = detected_at + interval '15 minutes',
                sla_resolve_deadline = detected_at + interval '4 hours'
         WHERE id = $1",
    )
    .bind(upgraded.id)
    .execute(&pool)
    .await
    .expect("upgrade");

    sweep_once(&pool).await;
    assert_eq!(finding_keys(&pool, downgraded.id).await, vec![]);
    assert!(!reload(&pool, &downgraded).await.sla_breached);
    let upgraded_now = reload(&pool, &upgraded).await;
    assert!(upgraded_now.sla_breached);
    let found = findings_of(&pool, upgraded.id).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        Some(found[0].deadline),
        upgraded_now.sla_deadline,
        "the breach is of the moved deadline"
    );
    assert_eq!(outbox_events(&pool, INCIDENT_SLA_WARNING).await.len(), 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_drill_is_swept_like_any_incident_and_its_findings_say_so(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let drill = incident(&pool, ws.id, Spec::new(Severity::Sev2, 45).drill()).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_breaches, 1);
    assert_eq!(
        report.flags(),
        1,
        "a 60-minute update cadence is not due at 45"
    );
    let found = findings_of(&pool, drill.id).await;
    assert!(found.iter().all(|f| f.is_drill), "{found:?}");
    assert!(reload(&pool, &drill).await.sla_breached);
    let events = outbox_events(&pool, INCIDENT_SLA_BREACHED).await;
    assert_eq!(events.len(), 1);
    let data: SlaDeadlineData = events[0].data_as().expect("the event's data");
    assert!(data.is_drill);
    assert!(data.incident.is_drill);
}
