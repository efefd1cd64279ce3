//! The watchdog extends the analytics rollups (`incident_schema::analytics::rollup`) on
//! its own: a past day's incidents end up in a cell, and two replicas build it once.

use std::time::Duration;

use incident_sla_watchdog::schedule::rollups_periodically;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn two_replicas_roll_up_a_past_day_once(pool: PgPool) {
    let ws = crate::support::workspace(&pool, "rollups").await;
    sqlx::query(
        "INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at,
             acknowledged_at, resolved_at)
         SELECT id, n, 'old', 'SEV2', 'RESOLVED', '2021-01-05T09:00:00Z'::timestamptz + n * interval '1 minute',
                '2021-01-05T09:10:00Z', '2021-01-05T11:00:00Z'
         FROM workspaces, generate_series(1, 3) AS n WHERE id = $1",
    )
    .bind(ws.id)
    .execute(&pool)
    .await
    .expect("incidents");
    let shutdown = CancellationToken::new();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(rollups_periodically(
                pool.clone(),
                Duration::from_millis(50),
                shutdown.clone(),
            ))
        })
        .collect();
    let built = async {
        loop {
            let cell: Option<(i64, Vec<f64>)> = sqlx::query_as(
                "SELECT incidents, ack FROM analytics_cells WHERE day = '2021-01-05'",
            )
            .fetch_optional(&pool)
            .await
            .expect("cell");
            if let Some(cell) = cell {
                break cell;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (incidents, ack) = tokio::time::timeout(Duration::from_secs(120), built)
        .await
        .expect("the day is rolled up");
    assert_eq!(incidents, 3);
    assert_eq!(ack, [420.0, 480.0, 540.0], "sorted seconds to acknowledge");
    shutdown.cancel();
    for replica in replicas {
        replica.await.expect("replica stops");
    }
    let days: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analytics_days WHERE day = '2021-01-05'")
            .fetch_one(&pool)
            .await
            .expect("days");
    assert_eq!(days, 1);
}
