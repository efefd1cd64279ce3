//! Warnings: one per target once the policy's ratio of it has passed, none without a
//! policy.

use incident_schema::event::{INCIDENT_SLA_WARNING, INCIDENT_UPDATE_DUE};
use incident_schema::{Severity, SlaEventKind, SlaTarget, TimelineKind};
use incident_sla_watchdog::sla::event::SlaDeadlineData;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_incident_nearing_its_deadlines_gets_one_warning_per_target(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    // 100 of 120 minutes to acknowledge: past 80%.
    let unanswered = incident(&pool, ws.id, Spec::new(Severity::Sev3, 100)).await;
    // 62 of 72 hours to resolve: past 80%; acknowledged long ago.
    let slow = incident(&pool, ws.id, Spec::new(Severity::Sev3, 62 * 60)).await;
    acknowledge(&pool, slow.id, 10).await;
    // 90 of 120 minutes: not yet.
    let early = incident(&pool, ws.id, Spec::new(Severity::Sev3, 90)).await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_warnings, 1);
    assert_eq!(report.resolve_warnings, 1);
    assert_eq!(report.flags(), 2);
    assert_eq!(
        finding_keys(&pool, unanswered.id).await,
        vec![(SlaTarget::Acknowledge, SlaEventKind::Warning, 0)]
    );
    assert_eq!(
        finding_keys(&pool, slow.id).await,
        vec![(SlaTarget::Resolve, SlaEventKind::Warning, 0)]
    );
    assert_eq!(finding_keys(&pool, early.id).await, vec![]);
    assert_eq!(
        system_timeline(&pool, unanswered.id).await,
        vec![TimelineKind::SlaWarning]
    );

    // A warning changes nothing on the incident.
    let unanswered_now = reload(&pool, &unanswered).await;
    assert!(!unanswered_now.sla_breached);
    assert_eq!(unanswered_now.version, unanswered.version);

    let events = events_about(&pool, INCIDENT_SLA_WARNING, unanswered.id).await;
    assert_eq!(events.len(), 1);
    let data: SlaDeadlineData = events[0].data_as().expect("the event's data");
    assert_eq!(data.target, SlaTarget::Acknowledge);
    assert_eq!(Some(data.deadline), unanswered.sla_deadline);

    assert_eq!(sweep_once(&pool).await.flags(), 0, "one warning per target");
    assert_eq!(outbox_events(&pool, INCIDENT_SLA_WARNING).await.len(), 2);

    // The deadline then passes: the breach follows, no second warning.
    travel(&pool, unanswered.id, 25).await;
    let later = sweep_once(&pool).await;
    assert_eq!(later.acknowledge_breaches, 1);
    assert_eq!(later.flags(), 1);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_incident_whose_severity_has_no_policy_gets_no_warning_and_no_update_due(pool: PgPool) {
    let without = workspace(&pool, "no-sev1-policy").await;
    sqlx::query("DELETE FROM sla_policies WHERE workspace_id = $1 AND severity = 'SEV1'")
        .bind(without.id)
        .execute(&pool)
        .await
        .expect("drop the policy");
    let with = workspace(&pool, "defaults").await;
    // 40 minutes old, 2 minutes before its acknowledge deadline: with a policy this is a
    // warning and a missed 30-minute update.
    let spec = Spec::new(Severity::Sev1, 40).ack_target(42);
    let orphan = incident(&pool, without.id, spec).await;
    let twin = incident(&pool, with.id, spec).await;
    // Deadlines are stamped on the incident, so a breach needs no policy.
    let overdue = incident(&pool, without.id, Spec::new(Severity::Sev1, 20)).await;

    sweep_once(&pool).await;
    assert_eq!(finding_keys(&pool, orphan.id).await, vec![]);
    assert_eq!(system_timeline(&pool, orphan.id).await, vec![]);
    assert_eq!(
        finding_keys(&pool, twin.id).await,
        vec![
            (SlaTarget::Acknowledge, SlaEventKind::Warning, 0),
            (SlaTarget::Update, SlaEventKind::UpdateDue, 1),
        ]
    );
    assert_eq!(
        finding_keys(&pool, overdue.id).await,
        vec![(SlaTarget::Acknowledge, SlaEventKind::Breach, 0)]
    );
    assert_eq!(
        events_about(&pool, INCIDENT_UPDATE_DUE, orphan.id)
            .await
            .len(),
        0
    );
}

/// The acknowledge warning's candidates are bounded by the longest span from detection to
/// deadline among unanswered incidents and the smallest warning ratio (migration 0120):
/// every warning due is still found, whatever the mix of spans and ratios.
#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn acknowledge_warnings_are_found_across_short_and_long_spans_and_low_ratios(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    sqlx::query(
        "UPDATE sla_policies SET warning_ratio = 0.5 WHERE workspace_id = $1 AND severity = 'SEV4'",
    )
    .bind(ws.id)
    .execute(&pool)
    .await
    .expect("a low ratio");
    // 13 of 15 minutes: past 80%, next to a long span that widens nothing it should not.
    let short = incident(&pool, ws.id, Spec::new(Severity::Sev1, 13).ack_target(15)).await;
    // 250 of 480 minutes at a ratio of 0.5: due, its deadline almost 4 hours ahead.
    let long = incident(&pool, ws.id, Spec::new(Severity::Sev4, 250).ack_target(480)).await;
    // 230 of 480 minutes: not yet at 0.5.
    let early = incident(&pool, ws.id, Spec::new(Severity::Sev4, 230).ack_target(480)).await;
    // A day-long span stamped before a policy change, 2 hours in: not yet.
    let stamped = incident(
        &pool,
        ws.id,
        Spec::new(Severity::Sev3, 120).ack_target(24 * 60),
    )
    .await;

    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_warnings, 2, "{report:?}");
    for warned in [&short, &long] {
        assert_eq!(
            finding_keys(&pool, warned.id).await,
            vec![(SlaTarget::Acknowledge, SlaEventKind::Warning, 0)]
        );
    }
    for quiet in [&early, &stamped] {
        assert_eq!(finding_keys(&pool, quiet.id).await, vec![]);
    }
    // 20 hours in, the day-long span is past 80% of its own deadline, far ahead.
    travel(&pool, stamped.id, 18 * 60).await;
    let later = sweep_once(&pool).await;
    assert_eq!(later.acknowledge_warnings, 1, "{later:?}");
    assert_eq!(
        finding_keys(&pool, stamped.id).await,
        vec![(SlaTarget::Acknowledge, SlaEventKind::Warning, 0)]
    );
}
