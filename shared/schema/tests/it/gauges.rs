//! The per-workspace gauge figures: open incidents by severity and SLA breaches, drills
//! left out, PRIVATE incidents counted, every severity present, each workspace apart.

use incident_schema::analytics::gauges::workspace_gauges;
use incident_schema::incident::insert_incident;
use incident_schema::{IncidentNumber, Severity};
use sqlx::PgPool;

use crate::fixture;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn gauges_count_open_incidents_and_breaches_per_workspace_without_drills(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("connection");
    let acme = fixture::workspace(&mut conn, "acme").await.expect("acme");
    let globex = fixture::workspace(&mut conn, "globex")
        .await
        .expect("globex");
    let mut ids = Vec::new();
    for (n, severity, drill) in [
        (1, Severity::Sev1, false),
        (2, Severity::Sev1, false),
        (3, Severity::Sev3, false),
        (4, Severity::Sev1, true),
    ] {
        let mut new = fixture::new_incident(acme.id, IncidentNumber(n), "gauge");
        new.severity = severity;
        new.is_drill = drill;
        ids.push(insert_incident(&mut conn, &new).await.expect("incident").id);
    }
    sqlx::query("UPDATE incidents SET visibility = 'PRIVATE' WHERE id = $1")
        .bind(ids[1])
        .execute(&mut *conn)
        .await
        .expect("private");
    // The third is resolved: no longer open.
    sqlx::query("UPDATE incidents SET status = 'RESOLVED', resolved_at = now() WHERE id = $1")
        .bind(ids[2])
        .execute(&mut *conn)
        .await
        .expect("resolve");
    for (id, drill) in [(ids[0], false), (ids[2], false), (ids[3], true)] {
        sqlx::query(
            "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, is_drill)
             VALUES ($1, $2, 'ACKNOWLEDGE', 'BREACH', now(), $3)",
        )
        .bind(id)
        .bind(acme.id)
        .bind(drill)
        .execute(&mut *conn)
        .await
        .expect("breach");
    }

    let gauges = workspace_gauges(&mut conn).await.expect("gauges");
    assert_eq!(gauges.len(), 2);
    let a = &gauges[0];
    assert_eq!(a.workspace, "acme");
    assert_eq!(
        a.open_by_severity
            .iter()
            .map(|(s, n)| (*s, *n))
            .collect::<Vec<_>>(),
        [("SEV1", 2), ("SEV2", 0), ("SEV3", 0), ("SEV4", 0)],
        "the private one counts, the drill and the resolved one do not"
    );
    assert_eq!(a.sla_breaches, 2, "the drill's breach is left out");
    let g = &gauges[1];
    assert_eq!(g.workspace, globex.slug);
    assert!(g.open_by_severity.values().all(|n| *n == 0));
    assert_eq!(g.sla_breaches, 0);
}
