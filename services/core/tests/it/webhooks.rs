//! Outbound webhooks, end to end: the app writes events to its outbox, the relay
//! publishes them, the `core.webhooks` consumer fans them out and the sender posts them
//! to a receiver in this process, which verifies each delivery by the Standard Webhooks
//! algorithm written out here (independently of the service's signing code).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use incident_bus::{BusBuilder, Envelope, OutboxRelay, OutgoingMessage};
use incident_core::webhooks::{self, Fanout, Sender};
use incident_schema::contract::{IncidentDeclared, Message as _};
use incident_testkit::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::{ADMIN, TestApp};

/// The tolerance receivers apply to `webhook-timestamp` against replays.
const TOLERANCE_SECS: i64 = 300;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: Bytes,
    verified: Result<(), String>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// The Standard Webhooks verification: some `v1,` signature of
/// `{id}.{timestamp}.{body}` under one of `secrets` matches, and the timestamp is within
/// the tolerance of `now`.
fn verify(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(format!("timestamp {timestamp} is outside the tolerance"));
    }
    for secret in secrets {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
            .expect("base64 key");
        for candidate in signature.split(' ') {
            let Some(sig) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(sig) = STANDARD.decode(sig) else {
                continue;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            if mac.verify_slice(&sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err("no signature matches".into())
}

/// A receiver: records every request, verified against `secrets`, and answers `status`.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    secrets: Arc<Mutex<Vec<String>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    let signature = header("webhook-signature");
    let secrets = r.secrets.lock().expect("lock").clone();
    let now = chrono::Utc::now().timestamp();
    let verified = verify(&secrets, &id, timestamp, &signature, &body, now);
    r.received.lock().expect("lock").push(Received {
        id,
        timestamp,
        signature,
        body,
        verified,
    });
    AxumStatus::from_u16(r.status.load(Ordering::SeqCst)).expect("status")
}

impl Receiver {
    async fn start(shutdown: CancellationToken) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let receiver = Self {
            url,
            status: Arc::new(AtomicU16::new(204)),
            secrets: Arc::default(),
            received: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
        receiver
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn trust(&self, secret: &str) {
        self.secrets.lock().expect("lock").push(secret.to_owned());
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

/// The app, its messaging (relay, fan-out consumer) and a sender, and a receiver.
struct Harness {
    app: TestApp,
    receiver: Receiver,
    shutdown: CancellationToken,
    /// Stops the first sender only (a restart).
    sender_stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A sender that retries quickly, so a test sees several attempts in seconds.
fn quick_sender(pool: &PgPool) -> Sender {
    Sender::new(pool.clone())
        .poll_interval(Duration::from_millis(100))
        .retry_delays(Duration::from_millis(200), Duration::from_millis(800))
        .timeout(Duration::from_secs(2))
}

impl Harness {
    async fn start(pool: PgPool, sender: impl FnOnce(&PgPool) -> Sender) -> Self {
        // The recorder must exist before the sender records.
        let _ = incident_runtime::metrics::handle();
        let app = TestApp::spawn(pool).await;
        let shutdown = CancellationToken::new();
        let (bus, _task) = BusBuilder::new(&app.vhost().url, incident_core::SERVICE)
            .consume(webhooks::queue(), app.pool.clone(), Fanout)
            .start(shutdown.clone());
        bus.wait_connected(&shutdown).await.expect("connects");
        tokio::spawn(
            OutboxRelay::new(app.pool.clone(), bus.clone(), incident_core::SERVICE)
                .poll_interval(Duration::from_millis(200))
                .run(shutdown.clone()),
        );
        let sender_stop = shutdown.child_token();
        tokio::spawn(sender(&app.pool).run(sender_stop.clone()));
        let receiver = Receiver::start(shutdown.clone()).await;
        Self {
            app,
            receiver,
            shutdown,
            sender_stop,
        }
    }

    /// Subscribes the receiver to `types`; returns the subscription and trusts its secret.
    async fn subscribe(&self, types: Value, include_private: bool) -> Value {
        let body = json!({ "url": self.receiver.url, "event_types": types, "include_private": include_private, "description": "test receiver" });
        let created = self.app.create(ADMIN, "/api/v1/webhooks", body).await;
        self.receiver
            .trust(created["secret"].as_str().expect("secret"));
        created
    }

    async fn declare(&self, title: &str) -> String {
        let incident = self.app.declare(ADMIN, title).await;
        incident["id"].as_str().expect("id").to_owned()
    }

    async fn acknowledge_and_resolve(&self, id: &str) {
        let (status, body) = self
            .app
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{id}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = self
            .app
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{id}/status"),
                json!({ "status": "RESOLVED", "message": "fixed" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The outbox's event ids about `incident`, in publishing order.
    async fn outbox_ids(&self, incident: &str) -> Vec<String> {
        self.app
            .events_of(incident)
            .await
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// The ids the receiver got about `incident`, in arrival order.
    fn received_ids(&self, incident: &str) -> Vec<String> {
        self.receiver
            .received()
            .iter()
            .filter(|r| r.json()["data"]["incident_id"] == incident)
            .map(|r| r.id.clone())
            .collect()
    }

    async fn wait_all_delivered(&self, expected: i64) {
        let pool = self.app.pool.clone();
        eventually(
            Duration::from_secs(30),
            &format!("{expected} deliveries delivered"),
            || {
                let pool = pool.clone();
                async move {
                    incident_testkit::db::count(
                        &pool,
                        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'",
                    )
                    .await
                        == expected
                }
            },
        )
        .await;
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_event_of_a_declared_then_resolved_incident_arrives_once_in_order_and_verified(
    pool: PgPool,
) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["*"]), false).await;
    let incident = h.declare("Checkout is down").await;
    h.acknowledge_and_resolve(&incident).await;
    let published = h.outbox_ids(&incident).await;
    assert!(
        published.len() >= 3,
        "declared, acknowledged, resolved: {published:?}"
    );
    h.wait_all_delivered(published.len() as i64).await;

    assert_eq!(h.received_ids(&incident), published, "once each, in order");
    let received = h.receiver.received();
    for r in &received {
        assert_eq!(r.verified, Ok(()), "{r:?}");
    }
    let first = received[0].json();
    assert_eq!(first["type"], <IncidentDeclared>::TYPE);
    assert_eq!(first["data"]["incident"]["title"], "Checkout is down");
    assert!(first["data"]["workspace_id"].is_string());
    chrono::DateTime::parse_from_rfc3339(first["timestamp"].as_str().expect("timestamp"))
        .expect("RFC 3339");
    let types: Vec<Value> = received.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        h.app
            .event_types(&incident)
            .await
            .into_iter()
            .map(Value::from)
            .collect::<Vec<_>>()
    );

    // The log shows each delivery with its attempt and the receiver's answer.
    let id = h.app.get(ADMIN, "/api/v1/webhooks").await.1[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, log) = h
        .app
        .get(ADMIN, &format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let log = log.as_array().expect("array");
    assert_eq!(log.len(), published.len());
    assert_eq!(
        log[0]["event_id"],
        Value::from(published.last().cloned()),
        "newest first"
    );
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["recent_attempts"][0]["status_code"], 204);
    let metrics = incident_runtime::metrics::handle().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("incident_webhook_deliveries_total{outcome=\"delivered\"}")),
        "{metrics}"
    );
    assert!(metrics.contains("incident_webhook_attempt_duration_seconds_bucket"));

    // Settled deliveries leave the log after the retention, their attempts with them.
    assert_eq!(
        webhooks::sender::prune(&h.app.pool, Duration::from_secs(3600))
            .await
            .expect("prune"),
        0
    );
    let pruned = webhooks::sender::prune(&h.app.pool, Duration::ZERO)
        .await
        .expect("prune");
    assert_eq!(pruned, published.len() as u64);
    assert_eq!(
        incident_testkit::db::count(&h.app.pool, "SELECT count(*) FROM webhook_attempts").await,
        0
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_receiver_down_for_a_while_gets_every_delivery_once_in_order_when_it_is_back(
    pool: PgPool,
) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["*"]), false).await;
    h.receiver.answer(503);
    let a = h.declare("Payments slow").await;
    let b = h.declare("Search broken").await;
    h.acknowledge_and_resolve(&a).await;
    h.acknowledge_and_resolve(&b).await;
    let pool = h.app.pool.clone();
    eventually(
        Duration::from_secs(20),
        "retries while the receiver is down",
        || {
            let pool = pool.clone();
            async move {
                incident_testkit::db::count(
                    &pool,
                    "SELECT count(*) FROM webhook_attempts WHERE status_code = 503",
                )
                .await
                    >= 6
            }
        },
    )
    .await;
    // Only the head of each incident's chain was tried: the rest waited their turn.
    let tried: i64 = incident_testkit::db::count(
        &pool,
        "SELECT count(DISTINCT delivery_id) FROM webhook_attempts",
    )
    .await;
    assert_eq!(tried, 2, "one delivery per incident at a time");

    h.receiver.answer(200);
    let (pa, pb) = (h.outbox_ids(&a).await, h.outbox_ids(&b).await);
    h.wait_all_delivered((pa.len() + pb.len()) as i64).await;
    let received = h.receiver.received();
    assert!(received.iter().all(|r| r.verified.is_ok()), "all signed");
    // Refused attempts repeat an id; the accepted one is the last of its id.
    let after: Vec<String> = received.iter().map(|r| r.id.clone()).collect();
    let unique: HashSet<&String> = after.iter().collect();
    assert_eq!(unique.len(), pa.len() + pb.len(), "every event arrived");
    // In order per incident: the last occurrence of each id (the accepted one) follows
    // the incident's publishing order.
    for published in [&pa, &pb] {
        let mut last_seen: HashMap<&String, usize> = HashMap::new();
        for (i, id) in after.iter().enumerate() {
            last_seen.insert(id, i);
        }
        let positions: Vec<usize> = published.iter().map(|id| last_seen[id]).collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        assert_eq!(positions, sorted, "in order: {published:?}");
    }
    let delivered_twice: i64 = incident_testkit::db::count(
        &pool,
        "SELECT count(*) FROM (SELECT delivery_id FROM webhook_attempts WHERE status_code = 200 GROUP BY delivery_id HAVING count(*) > 1) x",
    )
    .await;
    assert_eq!(delivered_twice, 0, "nothing accepted twice");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_sender_restarted_during_an_outage_loses_nothing_and_keeps_the_order(pool: PgPool) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["*"]), false).await;
    h.receiver.answer(503);
    let incident = h.declare("Login loops").await;
    h.acknowledge_and_resolve(&incident).await;
    let pool = h.app.pool.clone();
    let attempts = |pool: PgPool| async move {
        incident_testkit::db::count(&pool, "SELECT count(*) FROM webhook_attempts").await
    };
    eventually(Duration::from_secs(20), "attempts while down", || {
        attempts(pool.clone()).then(|n| async move { n >= 2 })
    })
    .await;
    // The process stops: nothing is sent while no sender runs.
    h.sender_stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.receiver.answer(200);
    let stopped_at = attempts(pool.clone()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        attempts(pool.clone()).await,
        stopped_at,
        "no sender, no attempt"
    );

    // A new process's sender picks up every pending delivery.
    tokio::spawn(quick_sender(&pool).run(h.shutdown.clone()));
    let published = h.outbox_ids(&incident).await;
    h.wait_all_delivered(published.len() as i64).await;
    let received = h.received_ids(&incident);
    let accepted: Vec<&String> = received
        .iter()
        .enumerate()
        .filter(|(i, id)| !received[i + 1..].contains(id))
        .map(|(_, id)| id)
        .collect();
    assert_eq!(
        accepted,
        published.iter().collect::<Vec<_>>(),
        "each once, in order"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_bus_redelivery_of_the_same_event_makes_no_second_delivery(pool: PgPool) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["*"]), false).await;
    let workspace: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'default'")
            .fetch_one(&h.app.pool)
            .await
            .expect("workspace");
    let incident = uuid::Uuid::now_v7();
    let envelope = Envelope::new(
        <IncidentDeclared>::TYPE,
        workspace,
        json!({ "incident": { "id": incident, "visibility": "PUBLIC", "title": "Twice" } }),
    )
    .expect("envelope");
    let (bus, _task) = BusBuilder::new(&h.app.vhost().url, "publisher").start(h.shutdown.clone());
    bus.wait_connected(&h.shutdown).await.expect("connects");
    for _ in 0..2 {
        bus.publish(&OutgoingMessage::event(envelope.clone()))
            .await
            .expect("routed");
    }
    h.wait_all_delivered(1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        incident_testkit::db::count(&h.app.pool, "SELECT count(*) FROM webhook_deliveries").await,
        1
    );
    let received = h.receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].id,
        envelope.id.to_string(),
        "the event id is the webhook-id"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_forged_delivery_fails_verification_and_a_replayed_one_is_recognisable(pool: PgPool) {
    let h = Harness::start(pool, quick_sender).await;
    let created = h.subscribe(json!(["*"]), false).await;
    let id = created["id"].as_str().expect("id");
    let (status, ping) = h
        .app
        .post(ADMIN, &format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    h.wait_all_delivered(1).await;
    let real = h.receiver.received().remove(0);
    assert_eq!(real.id, ping["event_id"].as_str().expect("id"));
    assert_eq!(real.json()["type"], "webhook.test");
    let secrets = vec![created["secret"].as_str().expect("secret").to_owned()];
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        verify(
            &secrets,
            &real.id,
            real.timestamp,
            &real.signature,
            &real.body,
            now
        ),
        Ok(())
    );

    // Forged: another body under the same signature, or a signature by another key.
    let forged_body = br#"{"type":"incident.declared","data":{}}"#;
    assert!(
        verify(
            &secrets,
            &real.id,
            real.timestamp,
            &real.signature,
            forged_body,
            now
        )
        .is_err()
    );
    let other_key = incident_core::webhooks::signature::generate_secret();
    let forged_signature = incident_core::webhooks::signature::header(
        [other_key.as_str()],
        &real.id,
        real.timestamp,
        &real.body,
    );
    assert!(
        verify(
            &secrets,
            &real.id,
            real.timestamp,
            &forged_signature,
            &real.body,
            now
        )
        .is_err()
    );
    // Re-signing with a fresh timestamp needs the key: the old signature does not cover it.
    assert!(
        verify(
            &secrets,
            &real.id,
            now + 1,
            &real.signature,
            &real.body,
            now
        )
        .is_err()
    );

    // Replayed: the same request later has the id already seen and a stale timestamp.
    let later = real.timestamp + TOLERANCE_SECS + 1;
    let replay = verify(
        &secrets,
        &real.id,
        real.timestamp,
        &real.signature,
        &real.body,
        later,
    );
    assert!(replay.expect_err("stale").contains("tolerance"));
    let client = reqwest::Client::new();
    let answer = client
        .post(&h.receiver.url)
        .header("webhook-id", &real.id)
        .header("webhook-timestamp", real.timestamp.to_string())
        .header("webhook-signature", &real.signature)
        .body(real.body.clone())
        .send()
        .await
        .expect("replay");
    assert!(answer.status().is_success());
    let seen = h.receiver.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].id, seen[1].id,
        "a replay carries an id already seen"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn during_a_rotation_both_secrets_verify_and_afterwards_only_the_new_one(pool: PgPool) {
    let h = Harness::start(pool, quick_sender).await;
    let created = h.subscribe(json!(["*"]), false).await;
    let id = created["id"].as_str().expect("id");
    let old = vec![created["secret"].as_str().expect("secret").to_owned()];
    let (status, rotated) = h
        .app
        .post(
            ADMIN,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = vec![rotated["secret"].as_str().expect("secret").to_owned()];
    assert_ne!(old, new);
    let (_, shown) = h.app.get(ADMIN, &format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");
    assert_eq!(
        shown["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );

    h.app
        .post(ADMIN, &format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    h.wait_all_delivered(1).await;
    let during = h.receiver.received().remove(0);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        during.signature.split(' ').count(),
        2,
        "{}",
        during.signature
    );
    for secrets in [&old, &new] {
        assert_eq!(
            verify(
                secrets,
                &during.id,
                during.timestamp,
                &during.signature,
                &during.body,
                now
            ),
            Ok(())
        );
    }

    // The overlap over, deliveries are signed with the new secret only.
    sqlx::query(
        "UPDATE webhook_subscriptions SET previous_secret_expires_at = now() - interval '1 second'",
    )
    .execute(&h.app.pool)
    .await
    .expect("expire");
    h.app
        .post(ADMIN, &format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    h.wait_all_delivered(2).await;
    let after = h.receiver.received().remove(1);
    assert_eq!(after.signature.split(' ').count(), 1);
    assert!(
        verify(
            &old,
            &after.id,
            after.timestamp,
            &after.signature,
            &after.body,
            now
        )
        .is_err()
    );
    assert_eq!(
        verify(
            &new,
            &after.id,
            after.timestamp,
            &after.signature,
            &after.body,
            now
        ),
        Ok(())
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_continuously_failing_subscription_is_disabled_its_admins_told_and_it_resumes_when_enabled(
    pool: PgPool,
) {
    // Each delivery's retry window is a second; two failed deliveries disable it.
    let h = Harness::start(pool, |pool| {
        quick_sender(pool)
            .max_age(Duration::from_secs(1))
            .disable_after(2)
    })
    .await;
    let created = h.subscribe(json!(["*"]), false).await;
    let id = created["id"].as_str().expect("id").to_owned();
    h.receiver.answer(500);
    for _ in 0..3 {
        h.app
            .post(ADMIN, &format!("/api/v1/webhooks/{id}/test"), json!({}))
            .await;
    }
    let app = &h.app;
    let path = format!("/api/v1/webhooks/{id}");
    let disabled = incident_testkit::eventually_some(
        Duration::from_secs(20),
        "the subscription is disabled",
        || async {
            let (_, shown) = app.get(ADMIN, &path).await;
            (shown["enabled"] == false).then_some(shown)
        },
    )
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("2 deliveries in a row")),
        "{disabled}"
    );
    assert!(disabled["consecutive_failures"].as_i64() >= Some(2));
    let told = incident_testkit::db::outbox(&h.app.pool, "webhook.subscription_disabled").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["data"]["subscription_id"], Value::from(id.clone()));
    assert_eq!(told[0]["data"]["url"], Value::from(h.receiver.url.clone()));

    // The log shows the failed attempts and the receiver's answers.
    let (_, log) = h.app.get(ADMIN, &format!("{path}/deliveries")).await;
    let failed: Vec<&Value> = log
        .as_array()
        .expect("array")
        .iter()
        .filter(|d| d["status"] == "failed")
        .collect();
    assert!(failed.len() >= 2, "{log}");
    assert_eq!(failed[0]["last_status_code"], 500);
    assert_eq!(failed[0]["recent_attempts"][0]["status_code"], 500);

    // Re-enabled and retried: the pending ping goes out, a failed one by hand.
    h.receiver.answer(200);
    let (status, enabled) = h.app.patch(ADMIN, &path, json!({ "enabled": true })).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["consecutive_failures"], 0);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    let delivery = failed[0]["id"].as_i64().expect("id");
    let (status, _) = h
        .app
        .post(
            ADMIN,
            &format!("{path}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let pool = h.app.pool.clone();
    eventually(
        Duration::from_secs(20),
        "the retried delivery is delivered",
        || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(
                    "SELECT status::text FROM webhook_deliveries WHERE id = $1",
                )
                .bind(delivery)
                .fetch_one(&pool)
                .await
                .expect("status")
                    == "delivered"
            }
        },
    )
    .await;
    h.app
        .api
        .send(
            Method::POST,
            &format!("{path}/deliveries/{delivery}/retry"),
            ADMIN,
            &json!({}),
        )
        .await
        .assert_problem(409, "conflict");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_subscription_gets_only_its_event_types_and_no_private_incident_unless_it_opted_in(
    pool: PgPool,
) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["incident.acknowledged"]), false).await;
    let public = h.declare("Public outage").await;
    let private = h
        .app
        .create(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Secret breach", "severity": "SEV2", "visibility": "PRIVATE" }),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.acknowledge_and_resolve(&public).await;
    h.acknowledge_and_resolve(&private).await;
    h.wait_all_delivered(1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = h.receiver.received();
    assert_eq!(received.len(), 1, "only the public acknowledgement");
    assert_eq!(received[0].json()["type"], "incident.acknowledged");
    assert_eq!(
        received[0].json()["data"]["incident_id"],
        Value::from(public)
    );
    assert!(!String::from_utf8_lossy(&received[0].body).contains("Secret breach"));

    // A subscription that opted in gets the private incident's events too.
    h.subscribe(json!(["incident.status_changed"]), true).await;
    h.app
        .post(
            ADMIN,
            &format!("/api/v1/incidents/{private}/status"),
            json!({ "status": "CLOSED" }),
        )
        .await;
    eventually(
        Duration::from_secs(20),
        "the private incident's change arrives",
        || async {
            h.receiver
                .received()
                .iter()
                .any(|r| r.json()["data"]["incident_id"] == private.as_str())
        },
    )
    .await;
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn no_subscription_gets_an_event_about_a_drill_incident(pool: PgPool) {
    let h = Harness::start(pool, quick_sender).await;
    h.subscribe(json!(["*"]), true).await;
    let drill = h
        .app
        .create(
            ADMIN,
            "/api/v1/incidents",
            json!({ "title": "Fire drill", "severity": "SEV1", "is_drill": true }),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.acknowledge_and_resolve(&drill).await;
    let real = h.declare("Real outage").await;
    h.acknowledge_and_resolve(&real).await;
    let expected = h.outbox_ids(&real).await.len();
    h.wait_all_delivered(i64::try_from(expected).expect("count"))
        .await;
    // The drill's events were published before the real one's: all consumed by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !h.outbox_ids(&drill).await.is_empty(),
        "the drill had events"
    );
    assert!(
        h.received_ids(&drill).is_empty(),
        "none reached the webhook"
    );
    assert_eq!(h.received_ids(&real), h.outbox_ids(&real).await);
    let for_drill = incident_testkit::db::count(
        &h.app.pool,
        &format!("SELECT count(*) FROM webhook_deliveries WHERE incident_id = '{drill}'"),
    )
    .await;
    assert_eq!(for_drill, 0, "no delivery was even written for the drill");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_webhook_answers_404_and_is_not_listed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .create(
            ADMIN,
            "/api/v1/webhooks",
            json!({ "url": "https://hooks.example.com/in", "event_types": ["*"] }),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let other = app.other_workspace("acme").await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}")),
        (Method::PATCH, format!("/api/v1/webhooks/{id}")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::POST, format!("/api/v1/webhooks/{id}/rotate-secret")),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (
            Method::POST,
            format!("/api/v1/webhooks/{id}/deliveries/1/retry"),
        ),
    ] {
        app.api
            .send(method.clone(), &path, &other, &json!({}))
            .await
            .assert_problem(404, "not-found");
    }
    let (_, listed) = app.get(&other, "/api/v1/webhooks").await;
    assert_eq!(listed, json!([]));
    let (status, _) = app.get(ADMIN, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "still there for its own workspace");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn invalid_subscriptions_and_non_admins_are_refused_with_problem_json(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cases = [
        (
            json!({ "url": "ftp://hooks.example.com", "event_types": ["*"] }),
            "url",
        ),
        (json!({ "url": "not a url", "event_types": ["*"] }), "url"),
        (
            json!({ "url": "https://hooks.example.com", "event_types": [] }),
            "event_types",
        ),
        (
            json!({ "url": "https://hooks.example.com", "event_types": ["incident.declared", "incident.exploded"] }),
            "event_types[1]",
        ),
        (
            json!({ "url": "https://hooks.example.com", "event_types": ["incident.declare"] }),
            "event_types[0]",
        ),
    ];
    for (body, field) in cases {
        let problem = app
            .api
            .send(Method::POST, "/api/v1/webhooks", ADMIN, &body)
            .await
            .assert_problem(422, "validation");
        assert_eq!(problem["field"], field, "{problem}");
    }
    insta::assert_json_snapshot!(
        "webhook_unknown_event_type",
        app.api
            .send(
                Method::POST,
                "/api/v1/webhooks",
                ADMIN,
                &json!({ "url": "https://hooks.example.com", "event_types": ["incident.exploded"] }),
            )
            .await
            .assert_problem(422, "validation")
    );
    let responder = app.token(ADMIN, "responder").await;
    app.api
        .send(
            Method::POST,
            "/api/v1/webhooks",
            &responder,
            &json!({ "url": "https://hooks.example.com", "event_types": ["*"] }),
        )
        .await
        .assert_problem(403, "forbidden");
    app.api
        .get("/api/v1/webhooks", &responder)
        .await
        .assert_problem(403, "forbidden");
    let created = app
        .create(
            ADMIN,
            "/api/v1/webhooks",
            json!({ "url": "https://hooks.example.com/in", "event_types": ["*"] }),
        )
        .await;
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let id = created["id"].as_str().expect("id");
    app.api
        .get(&format!("/api/v1/webhooks/{id}/deliveries?limit=0"), ADMIN)
        .await
        .assert_problem(422, "validation");
    app.api
        .send(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            ADMIN,
            &json!({ "url": "mailto:x@example.com" }),
        )
        .await
        .assert_problem(422, "validation");
    app.api
        .get("/api/v1/webhooks/not-a-uuid", ADMIN)
        .await
        .assert_problem(404, "not-found");
}
