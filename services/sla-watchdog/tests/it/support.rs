//! Rows the tests build on and the questions they ask the database.
//!
//! Time is controlled without sleeping: incidents are written with timestamps relative to
//! the database's clock (deadlines in the past, detections long ago), and
//! [`travel`] moves one incident's whole history back, which is the same to the sweep as
//! the clock moving forward.

use chrono::{DateTime, TimeDelta, Utc};
use incident_bus::Envelope;
use incident_schema::incident::{self, NewIncident};
use incident_schema::workspace as workspaces;
use incident_schema::{
    Incident, IncidentNumber, Severity, SlaEventKind, SlaTarget, TimelineKind, Visibility,
};
use incident_sla_watchdog::sla::sweep::{self, SweepOptions, SweepReport};
use incident_testkit::db;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use incident_testkit::db::count;
pub use incident_testkit::eventually;
pub use incident_testkit::fixtures::workspace;

/// The database's clock.
pub async fn db_now(pool: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .expect("now")
}

/// Minutes as a time delta.
pub fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// An incident to create, with times relative to the database's clock.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub severity: Severity,
    /// Minutes since detection.
    pub detected_ago: i64,
    /// Acknowledge deadline, in minutes after detection.
    pub ack_target: Option<i64>,
    /// Resolve deadline, in minutes after detection.
    pub resolve_target: Option<i64>,
    pub is_drill: bool,
}

impl Spec {
    /// An incident of `severity` detected `detected_ago` minutes ago, with the default
    /// targets of that severity.
    pub fn new(severity: Severity, detected_ago: i64) -> Self {
        let (ack, resolve) = match severity {
            Severity::Sev1 => (15, 4 * 60),
            Severity::Sev2 => (30, 8 * 60),
            Severity::Sev3 => (120, 3 * 24 * 60),
            Severity::Sev4 => (480, 7 * 24 * 60),
        };
        Self {
            severity,
            detected_ago,
            ack_target: Some(ack),
            resolve_target: Some(resolve),
            is_drill: false,
        }
    }

    pub fn ack_target(mut self, minutes: i64) -> Self {
        self.ack_target = Some(minutes);
        self
    }

    pub fn resolve_target(mut self, minutes: i64) -> Self {
        self.resolve_target = Some(minutes);
        self
    }

    pub fn drill(mut self) -> Self {
        self.is_drill = true;
        self
    }
}

/// Creates an incident as core would declare it, numbered from the workspace's counter.
pub async fn incident(pool: &PgPool, workspace_id: Uuid, spec: Spec) -> Incident {
    let mut tx = pool.begin().await.expect("begin");
    let number = workspaces::next_incident_number(&mut tx, workspace_id)
        .await
        .expect("number");
    let created = insert(&mut tx, workspace_id, number, spec, db_now(pool).await).await;
    tx.commit().await.expect("commit");
    created
}

/// Creates `n` incidents of one spec in one transaction, numbered from the workspace's
/// counter (taken `n` at a time).
pub async fn incidents(pool: &PgPool, workspace_id: Uuid, spec: Spec, n: usize) -> Vec<Uuid> {
    let now = db_now(pool).await;
    let mut tx = pool.begin().await.expect("begin");
    let last: i32 = sqlx::query_scalar(
        "UPDATE workspaces SET last_incident_number = last_incident_number + $2
         WHERE id = $1 RETURNING last_incident_number",
    )
    .bind(workspace_id)
    .bind(n as i32)
    .fetch_one(&mut *tx)
    .await
    .expect("numbers");
    let mut ids = Vec::with_capacity(n);
    for number in (last - n as i32 + 1)..=last {
        ids.push(
            insert(&mut tx, workspace_id, IncidentNumber(number), spec, now)
                .await
                .id,
        );
    }
    tx.commit().await.expect("commit");
    ids
}

async fn insert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    number: IncidentNumber,
    spec: Spec,
    now: DateTime<Utc>,
) -> Incident {
    let detected_at = now - minutes(spec.detected_ago);
    incident::insert_incident(
        conn,
        &NewIncident {
            workspace_id,
            number,
            title: "Checkout fails for some customers",
            description: "",
            severity: spec.severity,
            impact: None,
            detected_at,
            sla_deadline: spec.ack_target.map(|m| detected_at + minutes(m)),
            sla_resolve_deadline: spec.resolve_target.map(|m| detected_at + minutes(m)),
            commander_id: None,
            is_drill: spec.is_drill,
            visibility: Visibility::Public,
            declared_by: None,
            idempotency_key: None,
        },
    )
    .await
    .expect("incident")
}

/// The incident as it is now.
pub async fn reload(pool: &PgPool, incident: &Incident) -> Incident {
    let mut conn = pool.acquire().await.expect("connection");
    incident::get_incident(&mut conn, incident.workspace_id, incident.id)
        .await
        .expect("read")
        .expect("exists")
}

/// Acknowledges the incident `at_minute` minutes after its detection, as core would.
pub async fn acknowledge(pool: &PgPool, incident_id: Uuid, at_minute: i64) {
    reach(
        pool,
        incident_id,
        "acknowledged_at",
        "IDENTIFIED",
        at_minute,
    )
    .await;
}

/// Resolves the incident `at_minute` minutes after its detection (acknowledging it then
/// too if nobody had), as core would.
pub async fn resolve(pool: &PgPool, incident_id: Uuid, at_minute: i64) {
    reach(pool, incident_id, "resolved_at", "RESOLVED", at_minute).await;
}

/// Sets the incident's `status` and its `moment` column `at_minute` after detection.
async fn reach(pool: &PgPool, incident_id: Uuid, moment: &str, status: &str, at_minute: i64) {
    let sql = format!(
        "UPDATE incidents SET {moment} = detected_at + make_interval(mins => $2::int),
                status = $3::incident_status
         WHERE id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(incident_id)
        .bind(at_minute as i32)
        .bind(status)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{status}: {e}"));
}

/// Moves the incident's whole history (and the watchdog's findings about it) `minutes`
/// back: to the sweep, as if the clock moved forward.
pub async fn travel(pool: &PgPool, incident_id: Uuid, minutes: i64) {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(
        "UPDATE incidents SET
             detected_at = detected_at - make_interval(mins => $2::int),
             acknowledged_at = acknowledged_at - make_interval(mins => $2::int),
             mitigated_at = mitigated_at - make_interval(mins => $2::int),
             resolved_at = resolved_at - make_interval(mins => $2::int),
             closed_at = closed_at - make_interval(mins => $2::int),
             last_public_update_at = last_public_update_at - make_interval(mins => $2::int),
             sla_deadline = sla_deadline - make_interval(mins => $2::int),
             sla_resolve_deadline = sla_resolve_deadline - make_interval(mins => $2::int)
         WHERE id = $1",
    )
    .bind(incident_id)
    .bind(minutes as i32)
    .execute(&mut *tx)
    .await
    .expect("move the incident");
    sqlx::query(
        "UPDATE sla_events SET
             deadline = deadline - make_interval(mins => $2::int),
             detected_at = detected_at - make_interval(mins => $2::int)
         WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(minutes as i32)
    .execute(&mut *tx)
    .await
    .expect("move the findings");
    tx.commit().await.expect("commit");
}

/// One sweep with the default options.
pub async fn sweep_once(pool: &PgPool) -> SweepReport {
    let mut conn = pool.acquire().await.expect("connection");
    sweep::sweep(&mut conn, &SweepOptions::default())
        .await
        .expect("sweep")
}

/// A recorded finding.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Recorded {
    pub target: SlaTarget,
    pub kind: SlaEventKind,
    pub slot: i32,
    pub deadline: DateTime<Utc>,
    pub is_drill: bool,
}

/// The findings recorded about an incident, oldest first.
pub async fn findings_of(pool: &PgPool, incident_id: Uuid) -> Vec<Recorded> {
    sqlx::query_as(
        "SELECT target, kind, slot, deadline, is_drill FROM sla_events
         WHERE incident_id = $1 ORDER BY detected_at, target, kind, slot",
    )
    .bind(incident_id)
    .fetch_all(pool)
    .await
    .expect("findings")
}

/// (target, kind, slot) of the findings recorded about an incident.
pub async fn finding_keys(pool: &PgPool, incident_id: Uuid) -> Vec<(SlaTarget, SlaEventKind, i32)> {
    findings_of(pool, incident_id)
        .await
        .into_iter()
        .map(|f| (f.target, f.kind, f.slot))
        .collect()
}

/// The kinds of the incident's timeline entries written without an author, in order.
pub async fn system_timeline(pool: &PgPool, incident_id: Uuid) -> Vec<TimelineKind> {
    sqlx::query_scalar(
        "SELECT kind FROM incident_timeline
         WHERE incident_id = $1 AND author_id IS NULL ORDER BY occurred_at, seq",
    )
    .bind(incident_id)
    .fetch_all(pool)
    .await
    .expect("timeline")
}

/// The envelopes of `message_type` waiting in (or published from) the watchdog's outbox.
pub async fn outbox_events(pool: &PgPool, message_type: &str) -> Vec<Envelope> {
    db::outbox_of(pool, "sla-watchdog", message_type)
        .await
        .into_iter()
        .map(|payload| serde_json::from_value(payload).expect("an envelope"))
        .collect()
}

/// The events of `message_type` about one incident.
pub async fn events_about(pool: &PgPool, message_type: &str, incident_id: Uuid) -> Vec<Envelope> {
    outbox_events(pool, message_type)
        .await
        .into_iter()
        .filter(|e| e.data["incident"]["id"] == serde_json::json!(incident_id))
        .collect()
}

/// A drill incident (SEV3, declared now) of `workspace_id`.
pub async fn drill_incident(pool: &PgPool, workspace_id: Uuid) -> Incident {
    incident(pool, workspace_id, Spec::new(Severity::Sev3, 0).drill()).await
}

/// Stores `source` as the scenario `name` of `workspace_id` and starts a run of it as the
/// API does ([`incident_sla_watchdog::drill::runner::start`]); the run learns
/// `incident_id` at once if one is given.
pub async fn drill_run(
    pool: &PgPool,
    workspace_id: Uuid,
    name: &str,
    source: &str,
    incident_id: Option<Uuid>,
) -> (
    incident_sla_watchdog::drill::store::ScenarioRow,
    incident_sla_watchdog::drill::store::RunRow,
) {
    use incident_sla_watchdog::drill::{runner, scenario, store};
    let mut conn = pool.acquire().await.expect("connection");
    let stored = scenario::create(&mut conn, workspace_id, name, source, None)
        .await
        .expect("stored");
    let parsed = incident_schema::drill::parse(source).expect("valid");
    let run = runner::start(&mut conn, &stored, workspace_id, &parsed, None)
        .await
        .expect("run")
        .expect("started");
    if let Some(incident_id) = incident_id {
        store::set_incident(&mut conn, run.id, incident_id)
            .await
            .expect("incident");
    }
    (stored, run)
}
