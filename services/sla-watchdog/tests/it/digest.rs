//! The daily digest: once per occurrence and workspace, whoever claims it, with figures
//! that leave drills out.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use incident_schema::Severity;
use incident_schema::event::WORKSPACE_DAILY_DIGEST;
use incident_sla_watchdog::digest::{self, DailyDigestData, DigestOutcome};
use incident_sla_watchdog::schedule::{self, CalendarSchedule};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use crate::overdue::{action_item, postmortem};
use crate::support::*;

async fn digests(pool: &PgPool) -> Vec<(uuid::Uuid, DailyDigestData)> {
    outbox_events(pool, WORKSPACE_DAILY_DIGEST)
        .await
        .into_iter()
        .map(|e| (e.workspace_id, e.data_as().expect("the digest's data")))
        .collect()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_daily_digest_is_emitted_once_per_occurrence_even_with_two_replicas_claiming(
    _options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            PgPoolOptions::new()
                .max_connections(2)
                .connect_with(connect.clone())
                .await
                .expect("replica pool"),
        );
    }
    let pool = replicas[0].clone();
    workspace(&pool, "acme").await;
    workspace(&pool, "globex").await;

    // Both replicas claim the same occurrence at the same moment: one emits.
    let occurrence: DateTime<Utc> = Utc::now().trunc_subsecs(0) - chrono::TimeDelta::days(1);
    let attempts = replicas.iter().enumerate().map(|(i, pool)| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.acquire().await.expect("connection");
            digest::emit_daily_digest(&mut conn, occurrence, &format!("replica-{i}"))
                .await
                .expect("digest")
        })
    });
    let mut outcomes = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        outcomes.push(attempt.await.expect("attempt"));
    }
    outcomes.sort_by_key(|o| matches!(o, DigestOutcome::AlreadyClaimed));
    assert_eq!(
        outcomes,
        vec![
            DigestOutcome::Emitted { workspaces: 2 },
            DigestOutcome::AlreadyClaimed
        ]
    );
    assert_eq!(digests(&pool).await.len(), 2);

    // Both replicas run a every-second schedule for a while.
    let every_second = CalendarSchedule::parse("* * * * * *").expect("a schedule");
    let shutdown = CancellationToken::new();
    let loops: Vec<_> = replicas
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            tokio::spawn(schedule::digest_on_schedule(
                pool.clone(),
                every_second.clone(),
                format!("replica-{i}"),
                shutdown.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    shutdown.cancel();
    for running in loops {
        running.await.expect("the schedule stops");
    }

    let claims: Vec<(DateTime<Utc>, String)> =
        sqlx::query_as("SELECT scheduled_for, claimed_by FROM job_runs ORDER BY scheduled_for")
            .fetch_all(&pool)
            .await
            .expect("claims");
    assert!(claims.len() >= 3, "{claims:?}");
    let mut per_occurrence: HashMap<DateTime<Utc>, Vec<uuid::Uuid>> = HashMap::new();
    for (workspace_id, data) in digests(&pool).await {
        per_occurrence
            .entry(data.scheduled_for)
            .or_default()
            .push(workspace_id);
    }
    assert_eq!(per_occurrence.len(), claims.len(), "a digest per claim");
    for (occurrence, workspaces) in &per_occurrence {
        assert_eq!(
            workspaces.len(),
            2,
            "one digest per workspace at {occurrence}"
        );
    }
    eprintln!("claims: {claims:?}");
    for pool in replicas {
        pool.close().await;
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_daily_digest_counts_open_incidents_breaches_and_overdue_items_without_drills(
    pool: PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let quiet = workspace(&pool, "quiet").await;
    incident(&pool, ws.id, Spec::new(Severity::Sev1, 5)).await;
    let breached = incident(&pool, ws.id, Spec::new(Severity::Sev3, 130)).await;
    incident(&pool, ws.id, Spec::new(Severity::Sev3, 10)).await;
    let resolved = incident(&pool, ws.id, Spec::new(Severity::Sev2, 10)).await;
    resolve(&pool, resolved.id, 5).await;
    let drill = incident(&pool, ws.id, Spec::new(Severity::Sev1, 30).drill()).await;
    let item_pm = postmortem(&pool, ws.id, breached.id).await;
    let overdue = action_item(&pool, ws.id, item_pm, "Add a canary", "OPEN", Some(-2)).await;
    action_item(&pool, ws.id, item_pm, "Later", "OPEN", Some(3)).await;
    let drill_pm = postmortem(&pool, ws.id, drill.id).await;
    action_item(&pool, ws.id, drill_pm, "Rehearse", "OPEN", Some(-2)).await;
    // The breaches: the SEV3 one and the drill's.
    let report = sweep_once(&pool).await;
    assert_eq!(report.acknowledge_breaches, 2);

    let mut conn = pool.acquire().await.expect("connection");
    let scheduled_for = Utc::now().trunc_subsecs(0);
    let all = digest::build_digests(&mut conn, scheduled_for)
        .await
        .expect("digests");
    let digest = &all[&ws.id];
    assert_eq!(digest.scheduled_for, scheduled_for);
    assert_eq!(digest.open_incidents.total, 3);
    let by_severity: BTreeMap<String, i64> = [("SEV1", 1), ("SEV2", 0), ("SEV3", 2), ("SEV4", 0)]
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect();
    assert_eq!(digest.open_incidents.by_severity, by_severity);
    assert_eq!(digest.breaches_last_24h.total, 1);
    assert_eq!(digest.breaches_last_24h.acknowledge, 1);
    assert_eq!(digest.breaches_last_24h.resolve, 0);
    assert_eq!(digest.overdue_action_items.total, 1);
    assert_eq!(digest.overdue_action_items.items.len(), 1);
    let item = &digest.overdue_action_items.items[0];
    assert_eq!(item.action_item_id, overdue);
    assert_eq!(item.incident_id, breached.id);
    assert_eq!(item.description, "Add a canary");

    let empty = &all[&quiet.id];
    assert_eq!(empty.open_incidents.total, 0);
    assert_eq!(empty.open_incidents.by_severity.len(), 4);
    assert_eq!(empty.breaches_last_24h.total, 0);
    assert_eq!(empty.overdue_action_items.total, 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_daily_digest_leaves_private_incidents_out_of_every_figure(pool: PgPool) {
    let ws = workspace(&pool, "acme").await;
    let public = incident(&pool, ws.id, Spec::new(Severity::Sev3, 130)).await;
    let secret = incident(&pool, ws.id, Spec::new(Severity::Sev3, 130)).await;
    sqlx::query("UPDATE incidents SET visibility = 'PRIVATE', title = 'Acquisition of Initech' WHERE id = $1")
        .bind(secret.id)
        .execute(&pool)
        .await
        .expect("private");
    let public_pm = postmortem(&pool, ws.id, public.id).await;
    action_item(&pool, ws.id, public_pm, "Add a canary", "OPEN", Some(-2)).await;
    let secret_pm = postmortem(&pool, ws.id, secret.id).await;
    action_item(
        &pool,
        ws.id,
        secret_pm,
        "Brief the Initech board",
        "OPEN",
        Some(-2),
    )
    .await;
    let report = sweep_once(&pool).await;
    assert_eq!(
        report.acknowledge_breaches, 2,
        "both breach; one is private"
    );

    let mut conn = pool.acquire().await.expect("connection");
    let all = digest::build_digests(&mut conn, Utc::now().trunc_subsecs(0))
        .await
        .expect("digests");
    let digest = &all[&ws.id];
    assert_eq!(digest.open_incidents.total, 1);
    assert_eq!(digest.breaches_last_24h.total, 1);
    assert_eq!(digest.overdue_action_items.total, 1);
    assert_eq!(digest.overdue_action_items.items[0].incident_id, public.id);
    let text = serde_json::to_string(digest).expect("json");
    assert!(
        !text.contains("Initech") && !text.contains(&secret.id.to_string()),
        "{text}"
    );
}
