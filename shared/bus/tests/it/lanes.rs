//! A consumer applying several deliveries at once: lanes run side by side, the messages
//! of one lane one after another in the order they were sent, each exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use incident_bus::topology::EVENTS;
use incident_bus::{BusBuilder, Envelope, Handler, HandlerError, OutgoingMessage, QueueSpec};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::*;

/// Records `(lane, seq)` of each message, holding it a few milliseconds so that
/// deliveries overlap when they may; counts how many it held at once.
struct Laned {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Handler for Laned {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let seq = message.data["seq"].as_i64().unwrap_or_default();
            // Later messages of a lane are quicker, so a lane run out of order would show.
            tokio::time::sleep(Duration::from_millis(20 - (seq as u64 % 20))).await;
            let result = sqlx::query("INSERT INTO test_lanes (lane, seq) VALUES ($1, $2)")
                .bind(message.data["lane"].as_str().unwrap_or_default())
                .bind(seq)
                .execute(&mut *tx)
                .await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            result?;
            Ok(())
        })
    }

    fn lane(&self, message: &Envelope) -> Option<String> {
        message.data["lane"].as_str().map(str::to_owned)
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn lanes_run_side_by_side_and_each_lane_in_the_order_it_was_sent(pool: PgPool) {
    sqlx::query("CREATE TABLE test_lanes (n bigserial, lane text NOT NULL, seq bigint NOT NULL)")
        .execute(&pool)
        .await
        .expect("create test_lanes");
    let vhost = TestVhost::create();
    let (in_flight, most) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .retry_policy(quick_retries(3))
        .consume_in_lanes(
            QueueSpec::new("test.lanes").bind(EVENTS, "test.*"),
            pool.clone(),
            Laned {
                in_flight,
                most: most.clone(),
            },
            4,
        )
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");

    const LANES: usize = 6;
    const PER_LANE: i64 = 10;
    let mut sent = Vec::new();
    for seq in 0..PER_LANE {
        for lane in 0..LANES {
            let e = Envelope::new(
                "test.laned",
                Uuid::nil(),
                serde_json::json!({ "lane": format!("lane-{lane}"), "seq": seq }),
            )
            .expect("envelope");
            sent.push(e);
        }
    }
    for e in &sent {
        bus.publish(&OutgoingMessage::event(e.clone()))
            .await
            .expect("confirmed");
    }
    // A redelivered copy of a few is absorbed by the inbox.
    for e in sent.iter().step_by(7) {
        bus.publish(&OutgoingMessage::event(e.clone()))
            .await
            .expect("confirmed");
    }
    let total = LANES as i64 * PER_LANE;
    eventually(
        Duration::from_secs(20),
        "every message is applied",
        || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM test_lanes")
                .fetch_one(&pool)
                .await
                .expect("count");
            n >= total
        },
    )
    .await;
    // Let any stray duplicate land before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for lane in 0..LANES {
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM test_lanes WHERE lane = $1 ORDER BY n")
                .bind(format!("lane-{lane}"))
                .fetch_all(&pool)
                .await
                .expect("seqs");
        assert_eq!(
            seqs,
            (0..PER_LANE).collect::<Vec<_>>(),
            "lane-{lane}: each once, in order"
        );
    }
    let most = most.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&most),
        "lanes overlapped, never beyond the concurrency: {most} at once"
    );

    shutdown.cancel();
    task.await.expect("supervisor ends");
}
