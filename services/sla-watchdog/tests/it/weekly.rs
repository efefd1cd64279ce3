//! The weekly digest: once per occurrence and workspace, the last complete ISO week in
//! the workspace's time zone against the one before, figures from the analytics (drills
//! left out).

use chrono::{DateTime, SubsecRound as _, Utc};
use incident_schema::Severity;
use incident_schema::contract::{Message as _, WorkspaceWeeklyDigest};
use incident_sla_watchdog::digest::DigestOutcome;
use incident_sla_watchdog::weekly;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// An incident detected at `detected`, acknowledged and resolved minutes later.
async fn past(pool: &PgPool, ws: Uuid, spec: Spec, detected: &str, ack: i32, resolved: i32) {
    let id = incident(pool, ws, spec).await.id;
    sqlx::query(
        "UPDATE incidents SET detected_at = $2, status = 'RESOLVED',
                acknowledged_at = $2 + make_interval(mins => $3),
                resolved_at = $2 + make_interval(mins => $4),
                sla_deadline = $2 + interval '15 minutes',
                sla_resolve_deadline = $2 + interval '4 hours'
         WHERE id = $1",
    )
    .bind(id)
    .bind(at(detected))
    .bind(ack)
    .bind(resolved)
    .execute(pool)
    .await
    .expect("history");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_weekly_digest_compares_the_last_week_with_the_one_before_once_per_occurrence(
    pool: PgPool,
) {
    let acme = workspace(&pool, "acme").await.id;
    let globex = workspace(&pool, "globex").await.id;
    sqlx::query("UPDATE workspaces SET time_zone = 'America/New_York' WHERE id = $1")
        .bind(globex)
        .execute(&pool)
        .await
        .expect("zone");
    past(
        &pool,
        acme,
        Spec::new(Severity::Sev1, 0),
        "2026-11-24T10:00:00Z",
        5,
        60,
    )
    .await;
    past(
        &pool,
        acme,
        Spec::new(Severity::Sev2, 0),
        "2026-11-25T10:00:00Z",
        15,
        120,
    )
    .await;
    past(
        &pool,
        acme,
        Spec::new(Severity::Sev1, 0).drill(),
        "2026-11-26T10:00:00Z",
        1,
        1,
    )
    .await;
    past(
        &pool,
        acme,
        Spec::new(Severity::Sev1, 0),
        "2026-11-17T10:00:00Z",
        10,
        30,
    )
    .await;

    // Monday 09:00 UTC: the week is 2026-W48 (23–29 November), against W47.
    let occurrence = at("2026-11-30T09:00:00Z");
    let mut conn = pool.acquire().await.expect("connection");
    let first = weekly::emit_weekly_digest(&mut conn, occurrence, "replica-1")
        .await
        .expect("digest");
    let again = weekly::emit_weekly_digest(&mut conn, occurrence, "replica-2")
        .await
        .expect("digest");
    assert_eq!(first, DigestOutcome::Emitted { workspaces: 2 });
    assert_eq!(again, DigestOutcome::AlreadyClaimed);

    let events = outbox_events(&pool, WorkspaceWeeklyDigest::TYPE).await;
    assert_eq!(events.len(), 2, "one per workspace, once");
    let of = |ws: Uuid| -> WorkspaceWeeklyDigest {
        events
            .iter()
            .find(|e| e.workspace_id == ws)
            .expect("the workspace's digest")
            .data_as()
            .expect("the digest's data")
    };
    let a = of(acme);
    assert_eq!(a.scheduled_for, occurrence);
    assert_eq!(a.time_zone, "UTC");
    assert_eq!(
        (a.week.label.as_str(), a.week.starts_at, a.week.ends_at),
        (
            "2026-W48",
            at("2026-11-23T00:00:00Z"),
            at("2026-11-30T00:00:00Z")
        )
    );
    assert_eq!(a.week.incidents, 2, "the drill is left out");
    assert_eq!(a.week.by_severity["SEV1"], 1);
    assert_eq!(a.week.by_severity["SEV2"], 1);
    assert_eq!(a.week.mtta_median_seconds, Some(600.0));
    assert_eq!(a.week.mttr_median_seconds, Some(5400.0));
    assert_eq!(a.week.acknowledge_met_share, Some(1.0));
    assert_eq!(a.week.resolve_met_share, Some(1.0));
    assert_eq!(a.previous.label, "2026-W47");
    assert_eq!(a.previous.incidents, 1);
    assert_eq!(a.previous.mttr_median_seconds, Some(1800.0));

    // New York's week starts at its own midnight; nothing happened there.
    let g = of(globex);
    assert_eq!(g.time_zone, "America/New_York");
    assert_eq!(
        (g.week.label.as_str(), g.week.starts_at),
        ("2026-W48", at("2026-11-23T05:00:00Z"))
    );
    assert_eq!(g.week.incidents, 0);
    assert_eq!(g.week.mttr_median_seconds, None, "null, never 0");
    assert_eq!(g.week.acknowledge_met_share, None);
}

/// A claim of either digest older than the retention goes when that job claims its next
/// occurrence; the other job's old claims stay until it claims one of its own.
#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn each_digest_prunes_its_own_old_claims_when_it_claims_the_next(pool: PgPool) {
    let old: DateTime<Utc> = "2020-01-06T09:00:00Z".parse().expect("time");
    for job in [weekly::JOB, incident_sla_watchdog::digest::JOB] {
        sqlx::query("INSERT INTO job_runs (job, scheduled_for, claimed_by) VALUES ($1, $2, 'old')")
            .bind(job)
            .bind(old)
            .execute(&pool)
            .await
            .expect("old claim");
    }
    let claims = |job: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, DateTime<Utc>>(
                "SELECT scheduled_for FROM job_runs WHERE job = $1 ORDER BY scheduled_for",
            )
            .bind(job)
            .fetch_all(&pool)
            .await
            .expect("claims")
        }
    };
    let now = Utc::now();
    let mut conn = pool.acquire().await.expect("connection");
    weekly::emit_weekly_digest(&mut conn, now, "replica-1")
        .await
        .expect("weekly digest");
    assert_eq!(claims(weekly::JOB).await, [now.trunc_subsecs(6)]);
    assert_eq!(claims(incident_sla_watchdog::digest::JOB).await, [old]);

    incident_sla_watchdog::digest::emit_daily_digest(&mut conn, now, "replica-1")
        .await
        .expect("daily digest");
    assert_eq!(
        claims(incident_sla_watchdog::digest::JOB).await,
        [now.trunc_subsecs(6)]
    );
}
