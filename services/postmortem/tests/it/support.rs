//! `TestApp`: core's and the postmortem service's routers merged on a free port (as the
//! stack serves them), a bootstrapped `default` workspace with an admin token, a RabbitMQ
//! vhost, and helpers to call the API, build incidents with fixed times, and read the
//! outbox.

use std::ops::Deref;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use incident_core::access::bootstrap::bootstrap;
use incident_postmortem::draft::llm::LlmClient;
use incident_postmortem::tracker::Trackers;
use incident_runtime::Config;
use incident_runtime::sealed::SealingKey;
use incident_schema::incident::{NewIncident, insert_incident};
use incident_schema::timeline::{NewTimelineEntry, insert_timeline_entry};
use incident_schema::workspace::next_incident_number;
use incident_schema::{Severity, TimelineKind, Visibility};
use incident_testkit::app::Api;
use incident_testkit::{db, eventually, fixtures};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub use incident_testkit::app::ADMIN;

/// 2026-03-02 10:00:00 UTC: the detection time of the fixture incidents.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// `t0` plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(minutes)
}

/// Core's and the postmortem service's routers on the kit's [`Api`], and the
/// `default` workspace.
pub struct TestApp {
    api: Api,
    pub workspace_id: Uuid,
    /// The issue trackers' client and sealing key the router was given.
    pub trackers: Trackers,
}

/// The sealing key the test app is configured with (base64 of 32 bytes).
pub const SECRETS_KEY: &str = "dGVzdC1zZWFsaW5nLWtleS0zMi1ieXRlcy1sb25nISE=";

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// The app with the template only (no LLM) and no broker: the routers write events
    /// to the outbox, which the tests read.
    pub async fn spawn(pool: PgPool) -> Self {
        Self::start(pool, None, false).await
    }

    /// The app with a RabbitMQ vhost of its own, for running the services' consumers.
    pub async fn spawn_with_broker(pool: PgPool) -> Self {
        Self::start(pool, None, true).await
    }

    /// The app drafting with `llm`.
    pub async fn spawn_with(pool: PgPool, llm: Option<LlmClient>) -> Self {
        Self::start(pool, llm, false).await
    }

    async fn start(pool: PgPool, llm: Option<LlmClient>, broker: bool) -> Self {
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        assert!(bootstrap(&pool, &secret).await.expect("bootstrap"));
        let workspace_id = fixtures::workspace_id(&pool, "default").await;
        let trackers = Trackers::new(
            Some(SealingKey::parse(SECRETS_KEY).expect("key")),
            Some("https://incidents.example.com".into()),
        );
        let router_trackers = trackers.clone();
        let api = Api::start(pool, "test", broker, |pool, bus| {
            let trackers = router_trackers;
            let core = incident_core::router(incident_core::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
                tokens: Default::default(),
            });
            core.merge(incident_postmortem::router(incident_postmortem::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
                llm: llm.map(Arc::new),
                public_url: Some("https://incidents.example.com".into()),
                trackers,
                tokens: Default::default(),
            }))
        })
        .await;
        Self {
            api,
            workspace_id,
            trackers,
        }
    }

    /// A configuration pointing at this app's vhost (the pool is passed separately).
    pub fn config(&self) -> Config {
        Config::for_urls(
            "postgres://postgres@127.0.0.1:5432/unused",
            &self.vhost().url,
        )
        .expect("config")
    }

    /// The Markdown export of a postmortem: status, template header, body.
    pub async fn markdown(&self, token: &str, id: &str) -> (StatusCode, String, String) {
        let response = self
            .client
            .get(format!("{}/api/v1/postmortems/{id}.md", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let template = response
            .headers()
            .get("x-postmortem-template")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, template, response.text().await.expect("body"))
    }

    /// Declares an incident through core and returns it.
    pub async fn declare(&self, token: &str, body: Value) -> Value {
        self.create(token, "/api/v1/incidents", body).await
    }

    /// Moves an incident to `status` through core.
    pub async fn set_status(&self, token: &str, id: &str, status: &str) -> (StatusCode, Value) {
        self.post(
            token,
            &format!("/api/v1/incidents/{id}/status"),
            json!({ "status": status }),
        )
        .await
    }

    /// Declares and resolves an incident through core; returns its id.
    pub async fn resolved_incident(&self, title: &str) -> String {
        let incident = self
            .declare(ADMIN, json!({ "title": title, "severity": "SEV2" }))
            .await;
        let id = incident["id"].as_str().expect("id").to_owned();
        let (status, body) = self.set_status(ADMIN, &id, "RESOLVED").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// Drafts the incident's postmortem over HTTP; returns it.
    pub async fn draft(&self, incident_id: &str) -> Value {
        let (status, body) = self
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{incident_id}/postmortem"),
                json!({}),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}: {body}"
        );
        body
    }

    /// The postmortem service's outbox envelopes of `message_type`, oldest first.
    pub async fn events(&self, message_type: &str) -> Vec<Value> {
        db::outbox_of(&self.pool, "postmortem", message_type).await
    }

    /// Runs `sql` (a count bound to `bind`) until it answers `expected`; fails after 30 s.
    pub async fn wait_for(&self, sql: &'static str, bind: Uuid, expected: i64) {
        eventually(
            Duration::from_secs(30),
            &format!("{sql} = {expected}"),
            || async {
                let n: i64 = sqlx::query_scalar(sql)
                    .bind(bind)
                    .fetch_one(&self.pool)
                    .await
                    .expect("count");
                n == expected
            },
        )
        .await;
    }

    /// Waits until `queue` holds no message, ready or unacknowledged (every delivery
    /// settled); fails after 30 s.
    pub async fn wait_until_settled(&self, queue: &str) {
        let what = format!("{queue} to settle");
        eventually(Duration::from_secs(30), &what, || async {
            self.pending(queue).await.as_deref() == Some("0")
        })
        .await;
    }

    /// The messages in `queue`, ready or unacknowledged, as `rabbitmqctl` lists them.
    async fn pending(&self, queue: &str) -> Option<String> {
        let vhost = &self.vhost().name;
        let out = Command::new("rabbitmqctl")
            .args(["-q", "list_queues", "-p", vhost, "name", "messages"])
            .output()
            .expect("rabbitmqctl");
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        listing.lines().find_map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next() == Some(queue)).then(|| cols.next().map(str::to_owned))?
        })
    }
}

/// What the fixture incident looks like: fixed times, two services, an alert group of
/// three alerts, a named author, internal and public entries.
pub struct Fixture {
    pub incident_id: Uuid,
    pub author_id: Uuid,
}

/// A fixture timeline entry: minute after detection, kind, text, public, author, data.
type FixtureEntry<'a> = (i64, TimelineKind, &'a str, bool, Option<Uuid>, Value);

/// An incident of `workspace_id` with fixed times, written directly (as core and
/// ingestion would have), RESOLVED 42 minutes after detection:
/// detected 10:00, acknowledged 10:05, mitigated 10:20, resolved 10:42; SEV2 targets
/// 30 min / 8 h; one missed update recorded by the watchdog.
pub async fn fixture(pool: &PgPool, workspace_id: Uuid, visibility: Visibility) -> Fixture {
    let mut conn = pool.acquire().await.expect("conn");
    let author_id: Uuid = sqlx::query_scalar(
        "INSERT INTO users (workspace_id, email, display_name)
         VALUES ($1, 'dana-' || gen_random_uuid() || '@example.com', 'Dana Responder')
         RETURNING id",
    )
    .bind(workspace_id)
    .fetch_one(&mut *conn)
    .await
    .expect("user");
    let number = next_incident_number(&mut conn, workspace_id)
        .await
        .expect("number");
    let incident = insert_incident(
        &mut conn,
        &NewIncident {
            workspace_id,
            number,
            title: "Checkout fails for card payments",
            description: "Card payments failed with HTTP 502 at checkout.",
            severity: Severity::Sev2,
            impact: Some("About 30% of checkouts failed"),
            detected_at: t0(),
            sla_deadline: Some(at(30)),
            sla_resolve_deadline: Some(at(8 * 60)),
            commander_id: Some(author_id),
            is_drill: false,
            visibility,
            declared_by: Some(author_id),
            idempotency_key: None,
        },
    )
    .await
    .expect("incident");
    sqlx::query(
        "UPDATE incidents SET status = 'RESOLVED', acknowledged_at = $2, mitigated_at = $3,
                resolved_at = $4, root_cause = 'An expired TLS certificate on the card gateway'
         WHERE id = $1",
    )
    .bind(incident.id)
    .bind(at(5))
    .bind(at(20))
    .bind(at(42))
    .execute(&mut *conn)
    .await
    .expect("lifecycle");
    let entries: [FixtureEntry<'_>; 7] = [
        (
            0,
            TimelineKind::Detected,
            "Declared: Checkout fails for card payments",
            false,
            Some(author_id),
            json!({}),
        ),
        (
            2,
            TimelineKind::AlertLinked,
            "Alert group linked: Checkout 5xx | card",
            false,
            None,
            json!({}),
        ),
        (
            5,
            TimelineKind::Acknowledged,
            "Acknowledged",
            false,
            Some(author_id),
            json!({}),
        ),
        (
            12,
            TimelineKind::Note,
            "Gateway logs show TLS handshake failures\nsecond line",
            false,
            Some(author_id),
            json!({}),
        ),
        (
            15,
            TimelineKind::Update,
            "We are investigating failed card payments.",
            true,
            Some(author_id),
            json!({}),
        ),
        (
            20,
            TimelineKind::StatusChange,
            "Status changed from IDENTIFIED to MONITORING",
            false,
            Some(author_id),
            json!({ "from": "IDENTIFIED", "to": "MONITORING", "reopen": false }),
        ),
        (
            42,
            TimelineKind::StatusChange,
            "Status changed from MONITORING to RESOLVED",
            false,
            Some(author_id),
            json!({ "from": "MONITORING", "to": "RESOLVED", "reopen": false }),
        ),
    ];
    for (minute, kind, message, is_public, author, data) in &entries {
        insert_timeline_entry(
            &mut conn,
            &NewTimelineEntry {
                workspace_id,
                incident_id: incident.id,
                author_id: *author,
                kind: *kind,
                message,
                is_public: *is_public,
                data: Some(data),
                occurred_at: Some(at(*minute)),
            },
        )
        .await
        .expect("entry");
    }
    sqlx::query(
        "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
         VALUES ($1, $2, 'web', 'DEGRADED'), ($1, $2, 'payments', 'PARTIAL_OUTAGE')",
    )
    .bind(incident.id)
    .bind(workspace_id)
    .execute(&mut *conn)
    .await
    .expect("services");
    let integration: Uuid = sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'alertmanager', 'prod-' || gen_random_uuid(), $2) RETURNING id",
    )
    .bind(workspace_id)
    .bind(&[0u8; 32][..])
    .fetch_one(&mut *conn)
    .await
    .expect("integration");
    let group: Uuid = sqlx::query_scalar(
        "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title, incident_id,
                                   status, opened_at, resolved_at, alert_count)
         VALUES ($1, $2, 'alertname=Checkout5xx', 'Checkout 5xx | card', $3, 'RESOLVED', $4, $5, 3)
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(integration)
    .bind(incident.id)
    .bind(at(-1))
    .bind(at(40))
    .fetch_one(&mut *conn)
    .await
    .expect("group");
    for fingerprint in ["a1", "a2", "a3"] {
        sqlx::query(
            "INSERT INTO alerts (workspace_id, integration_id, alert_group_id, fingerprint,
                                 status, starts_at)
             VALUES ($1, $2, $3, $4, 'RESOLVED', $5)",
        )
        .bind(workspace_id)
        .bind(integration)
        .bind(group)
        .bind(fingerprint)
        .bind(at(-1))
        .execute(&mut *conn)
        .await
        .expect("alert");
    }
    sqlx::query(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, slot, deadline, detected_at)
         VALUES ($1, $2, 'UPDATE', 'UPDATE_DUE', 1, $3, $3)",
    )
    .bind(incident.id)
    .bind(workspace_id)
    .bind(at(60))
    .execute(&mut *conn)
    .await
    .expect("sla event");
    Fixture {
        incident_id: incident.id,
        author_id,
    }
}
