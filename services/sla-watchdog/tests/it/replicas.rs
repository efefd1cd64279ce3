//! Several watchdog replicas sweeping the same database report each finding once.

use std::collections::HashSet;
use std::time::Instant;

use incident_schema::Severity;
use incident_schema::event::INCIDENT_SLA_BREACHED;
use incident_sla_watchdog::sla::sweep::{self, SweepOptions, SweepReport};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::support::*;

const INCIDENTS: usize = 2_000;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn three_sweepers_over_2000_incidents_past_their_deadline_flag_each_breach_exactly_once(
    _options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(connect.clone())
        .await
        .expect("pool");
    let ws = workspace(&pool, "acme").await;
    // An hour old with a 30-minute acknowledge target, days left to resolve, and no
    // update cadence (SEV3): one acknowledge breach each, nothing else.
    let spec = Spec::new(Severity::Sev3, 60).ack_target(30);
    let ids: HashSet<_> = incidents(&pool, ws.id, spec, INCIDENTS)
        .await
        .into_iter()
        .collect();

    // Three replicas: each its own pool, sweeping three times over, all at once.
    let started = Instant::now();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let replica_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await
            .expect("replica pool");
        replicas.push(tokio::spawn(async move {
            let options = SweepOptions {
                batch_size: 50,
                ..SweepOptions::default()
            };
            let mut total = SweepReport::default();
            for _ in 0..3 {
                let mut conn = replica_pool.acquire().await.expect("connection");
                let report = sweep::sweep(&mut conn, &options).await.expect("sweep");
                total.acknowledge_breaches += report.acknowledge_breaches;
                total.incidents_examined += report.incidents_examined;
                assert_eq!(report.flags(), report.acknowledge_breaches);
            }
            replica_pool.close().await;
            total
        }));
    }
    let mut shares = Vec::new();
    for replica in replicas {
        shares.push(replica.await.expect("replica"));
    }
    let took = started.elapsed();
    let flagged: usize = shares.iter().map(|r| r.acknowledge_breaches).sum();
    eprintln!(
        "3 replicas flagged {flagged} breaches in {took:?}: {:?}",
        shares
            .iter()
            .map(|r| (r.acknowledge_breaches, r.incidents_examined))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        flagged, INCIDENTS,
        "the replicas' reports add up to one each"
    );

    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM sla_events WHERE target = 'ACKNOWLEDGE' AND kind = 'BREACH'"
        )
        .await,
        INCIDENTS as i64
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM sla_events").await,
        INCIDENTS as i64
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incident_timeline WHERE kind = 'SLA_BREACHED'"
        )
        .await,
        INCIDENTS as i64
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incidents WHERE sla_breached AND version = 2"
        )
        .await,
        INCIDENTS as i64,
        "each incident flagged by exactly one update"
    );
    let events = outbox_events(&pool, INCIDENT_SLA_BREACHED).await;
    assert_eq!(events.len(), INCIDENTS);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM outbox").await,
        INCIDENTS as i64,
        "nothing else was queued"
    );
    let about: HashSet<_> = events
        .iter()
        .map(|e| {
            serde_json::from_value::<uuid::Uuid>(e.data["incident"]["id"].clone())
                .expect("an incident id")
        })
        .collect();
    assert_eq!(about, ids, "one event about each incident");
    pool.close().await;
}
