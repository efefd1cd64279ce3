//! Analytics over a known history: every measure asserted for several groupings and
//! filters, weeks without incidents (`null`), an ISO week across a year boundary
//! (2026-12-28 .. 2027-01-03 is 2026-W53), the workspace's time zone, CSV agreeing with
//! JSON, private incidents counted but not named, and another workspace never counted.
//!
//! The history (minutes after detection; deadlines are acknowledge / resolve):
//!
//! | | detected (UTC) | sev | services | ack | mit | resolved | closed | deadlines | other |
//! |---|---|---|---|---|---|---|---|---|---|
//! | A | 2026-12-14 10:00 | SEV1 | payments | 5 | 30 | 60 | 120 | 15 / 240 | declared by an alert group; postmortem published 2 days after resolving |
//! | B | 2026-12-16 12:00 | SEV2 | payments, search | 20 | 90 | 180 | | 15 / 120 | ack and resolve breached, ack warning, an update due; draft postmortem |
//! | C | 2027-01-03 20:00 (a Sunday) | SEV1 | search | 10 | | | | 15 / 2099 | open; resolve warning |
//! | D | 2027-01-05 09:00 | SEV3 | payments | 60 | | 600, reopened, finally 1440 | | 120 / 2880 | |
//! | E | 2026-12-15 08:00 | SEV2 | payments | 1 | | 2 | | 15 / 120 | a drill, with an ack breach |
//! | F | 2027-01-06 08:00 | SEV1 | search | 3 | 10 | 40 | 50 | 15 / 240 | PRIVATE; postmortem published a day after resolving |
//! | H | 2026-12-01 10:00 | SEV4 | payments | | | | | | before the range |
//!
//! The range is `from=2026-12-14&to=2027-01-10` (dates, `to` inclusive): ISO weeks
//! 2026-W51, W52 (empty), W53 and 2027-W01.

use chrono::{DateTime, TimeDelta, Utc};
use incident_schema::analytics::csv::flatten;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

const RANGE: &str = "from=2026-12-14&to=2027-01-10";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("timestamp")
        .with_timezone(&Utc)
}

fn min(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

/// One incident of the history.
struct Spec {
    number: i32,
    title: &'static str,
    severity: &'static str,
    status: &'static str,
    detected: &'static str,
    ack: Option<i64>,
    mit: Option<i64>,
    resolved: Option<i64>,
    closed: Option<i64>,
    ack_deadline: Option<i64>,
    resolve_deadline: Option<DateTime<Utc>>,
    drill: bool,
    private: bool,
    services: &'static [&'static str],
}

impl Spec {
    fn new(
        number: i32,
        severity: &'static str,
        status: &'static str,
        detected: &'static str,
    ) -> Self {
        Self {
            number,
            title: "an incident",
            severity,
            status,
            detected,
            ack: None,
            mit: None,
            resolved: None,
            closed: None,
            ack_deadline: None,
            resolve_deadline: None,
            drill: false,
            private: false,
            services: &[],
        }
    }
}

async fn insert(pool: &PgPool, ws: Uuid, s: Spec) -> Uuid {
    let d = at(s.detected);
    let after = |m: Option<i64>| m.map(|m| d + min(m));
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO incidents (workspace_id, number, title, severity, status, detected_at,
             acknowledged_at, mitigated_at, resolved_at, closed_at, sla_deadline,
             sla_resolve_deadline, is_drill, visibility)
         VALUES ($1, $2, $3, $4::incident_severity, $5::incident_status, $6, $7, $8, $9, $10,
                 $11, $12, $13, $14::incident_visibility)
         RETURNING id",
    )
    .bind(ws)
    .bind(s.number)
    .bind(s.title)
    .bind(s.severity)
    .bind(s.status)
    .bind(d)
    .bind(after(s.ack))
    .bind(after(s.mit))
    .bind(after(s.resolved))
    .bind(after(s.closed))
    .bind(after(s.ack_deadline))
    .bind(s.resolve_deadline)
    .bind(s.drill)
    .bind(if s.private { "PRIVATE" } else { "PUBLIC" })
    .fetch_one(pool)
    .await
    .expect("incident");
    for name in s.services {
        sqlx::query(
            "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
             VALUES ($1, $2, $3, 'DEGRADED')",
        )
        .bind(id)
        .bind(ws)
        .bind(name)
        .execute(pool)
        .await
        .expect("service");
    }
    sqlx::query(
        "UPDATE workspaces SET last_incident_number = greatest(last_incident_number, $2) WHERE id = $1",
    )
    .bind(ws)
    .bind(s.number)
    .execute(pool)
    .await
    .expect("counter");
    id
}

async fn sla_event(
    pool: &PgPool,
    ws: Uuid,
    incident: Uuid,
    target: &str,
    kind: &str,
    slot: i32,
    drill: bool,
) {
    sqlx::query(
        "INSERT INTO sla_events (incident_id, workspace_id, target, kind, slot, deadline, is_drill)
         VALUES ($1, $2, $3::sla_target, $4::sla_event_kind, $5, now(), $6)",
    )
    .bind(incident)
    .bind(ws)
    .bind(target)
    .bind(kind)
    .bind(slot)
    .bind(drill)
    .execute(pool)
    .await
    .expect("sla event");
}

async fn postmortem(
    pool: &PgPool,
    ws: Uuid,
    incident: Uuid,
    published: Option<DateTime<Utc>>,
) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO postmortems (incident_id, workspace_id, status, published_at)
         VALUES ($1, $2, $3::postmortem_status, $4) RETURNING id",
    )
    .bind(incident)
    .bind(ws)
    .bind(if published.is_some() {
        "PUBLISHED"
    } else {
        "DRAFT"
    })
    .bind(published)
    .fetch_one(pool)
    .await
    .expect("postmortem")
}

async fn action_item(
    pool: &PgPool,
    ws: Uuid,
    postmortem: Uuid,
    status: &str,
    created: DateTime<Utc>,
    completed: Option<DateTime<Utc>>,
    due: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO action_items (postmortem_id, workspace_id, description, status, created_at,
             completed_at, due_date, wont_do_reason)
         VALUES ($1, $2, 'do it', $3::action_item_status, $4, $5, $6::date,
                 CASE WHEN $3 = 'WONT_DO' THEN 'not worth it' END)",
    )
    .bind(postmortem)
    .bind(ws)
    .bind(status)
    .bind(created)
    .bind(completed)
    .bind(due)
    .execute(pool)
    .await
    .expect("action item");
}

async fn integration(pool: &PgPool, ws: Uuid, name: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO integrations (workspace_id, kind, name, secret_hash)
         VALUES ($1, 'alertmanager', $2, decode(repeat('ab', 32), 'hex')) RETURNING id",
    )
    .bind(ws)
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("integration")
}

#[allow(clippy::too_many_arguments)]
async fn alert_group(
    pool: &PgPool,
    ws: Uuid,
    integration: Uuid,
    key: &str,
    opened: &str,
    service: Option<&str>,
    alerts: i32,
    decision: &str,
    incident: Option<Uuid>,
) {
    sqlx::query(
        "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title, opened_at,
             service, alert_count, decision, decided_at, incident_id, status, resolved_at)
         VALUES ($1, $2, $3, 'alerts', $4, $5, $6, $7::alert_group_decision,
                 CASE WHEN $7 <> 'NONE' THEN $4 END, $8, 'RESOLVED', $4)",
    )
    .bind(ws)
    .bind(integration)
    .bind(key)
    .bind(at(opened))
    .bind(service)
    .bind(alerts)
    .bind(decision)
    .bind(incident)
    .execute(pool)
    .await
    .expect("alert group");
}

async fn workspace_id(pool: &PgPool, slug: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("workspace")
}

/// The history above, in workspace `ws`.
async fn history(pool: &PgPool, ws: Uuid) {
    let far = Some(at("2099-01-01T00:00:00Z"));
    let mut a = Spec::new(1, "SEV1", "CLOSED", "2026-12-14T10:00:00Z");
    (a.ack, a.mit, a.resolved, a.closed) = (Some(5), Some(30), Some(60), Some(120));
    (a.ack_deadline, a.resolve_deadline) = (Some(15), Some(at("2026-12-14T14:00:00Z")));
    a.services = &["payments"];
    let a = insert(pool, ws, a).await;

    let mut b = Spec::new(2, "SEV2", "RESOLVED", "2026-12-16T12:00:00Z");
    (b.ack, b.mit, b.resolved) = (Some(20), Some(90), Some(180));
    (b.ack_deadline, b.resolve_deadline) = (Some(15), Some(at("2026-12-16T14:00:00Z")));
    b.services = &["payments", "Search"];
    let b = insert(pool, ws, b).await;

    let mut c = Spec::new(3, "SEV1", "IDENTIFIED", "2027-01-03T20:00:00Z");
    c.ack = Some(10);
    (c.ack_deadline, c.resolve_deadline) = (Some(15), far);
    c.services = &["search"];
    let c = insert(pool, ws, c).await;

    let mut d = Spec::new(4, "SEV3", "RESOLVED", "2027-01-05T09:00:00Z");
    (d.ack, d.resolved) = (Some(60), Some(600));
    (d.ack_deadline, d.resolve_deadline) = (Some(120), Some(at("2027-01-07T09:00:00Z")));
    d.services = &["payments"];
    let d = insert(pool, ws, d).await;
    // Reopened, then finally resolved a day after detection: MTTR counts the final one.
    sqlx::query("UPDATE incidents SET status = 'INVESTIGATING' WHERE id = $1")
        .bind(d)
        .execute(pool)
        .await
        .expect("reopen");
    sqlx::query("UPDATE incidents SET status = 'RESOLVED', last_resolved_at = $2 WHERE id = $1")
        .bind(d)
        .bind(at("2027-01-06T09:00:00Z"))
        .execute(pool)
        .await
        .expect("resolve again");

    let mut e = Spec::new(5, "SEV2", "RESOLVED", "2026-12-15T08:00:00Z");
    (e.ack, e.resolved) = (Some(1), Some(2));
    (e.ack_deadline, e.resolve_deadline) = (Some(15), Some(at("2026-12-15T10:00:00Z")));
    e.services = &["payments"];
    e.drill = true;
    let e = insert(pool, ws, e).await;

    let mut f = Spec::new(6, "SEV1", "CLOSED", "2027-01-06T08:00:00Z");
    f.title = "Secret acquisition";
    (f.ack, f.mit, f.resolved, f.closed) = (Some(3), Some(10), Some(40), Some(50));
    (f.ack_deadline, f.resolve_deadline) = (Some(15), Some(at("2027-01-06T12:00:00Z")));
    f.services = &["search"];
    f.private = true;
    let f = insert(pool, ws, f).await;

    let mut h = Spec::new(7, "SEV4", "INVESTIGATING", "2026-12-01T10:00:00Z");
    h.services = &["payments"];
    insert(pool, ws, h).await;

    sla_event(pool, ws, b, "ACKNOWLEDGE", "BREACH", 0, false).await;
    sla_event(pool, ws, b, "RESOLVE", "BREACH", 0, false).await;
    sla_event(pool, ws, b, "ACKNOWLEDGE", "WARNING", 0, false).await;
    sla_event(pool, ws, b, "UPDATE", "UPDATE_DUE", 1, false).await;
    sla_event(pool, ws, c, "RESOLVE", "WARNING", 0, false).await;
    sla_event(pool, ws, e, "ACKNOWLEDGE", "BREACH", 0, true).await;

    // A: published two days after its resolve (10:00 + 60 min); F: a day after (08:40).
    let pa = postmortem(pool, ws, a, Some(at("2026-12-16T11:00:00Z"))).await;
    postmortem(pool, ws, b, None).await;
    let pf = postmortem(pool, ws, f, Some(at("2027-01-07T08:40:00Z"))).await;
    let made = at("2026-12-20T00:00:00Z");
    action_item(
        pool,
        ws,
        pa,
        "DONE",
        made,
        Some(made + TimeDelta::days(2)),
        None,
    )
    .await;
    action_item(pool, ws, pa, "OPEN", made, None, Some("2020-01-01")).await;
    action_item(pool, ws, pa, "WONT_DO", made, None, None).await;
    action_item(
        pool,
        ws,
        pf,
        "DONE",
        made,
        Some(made + TimeDelta::days(1)),
        None,
    )
    .await;
    action_item(pool, ws, pf, "IN_PROGRESS", made, None, Some("2099-01-01")).await;

    let prom = integration(pool, ws, "prom").await;
    let grafana = integration(pool, ws, "grafana").await;
    alert_group(
        pool,
        ws,
        prom,
        "g1",
        "2026-12-14T09:59:00Z",
        Some("payments"),
        3,
        "DECLARE",
        Some(a),
    )
    .await;
    alert_group(
        pool,
        ws,
        prom,
        "g2",
        "2026-12-20T10:00:00Z",
        Some("payments"),
        2,
        "NONE",
        None,
    )
    .await;
    alert_group(
        pool,
        ws,
        grafana,
        "g3",
        "2027-01-02T10:00:00Z",
        None,
        1,
        "JOIN",
        None,
    )
    .await;
    alert_group(
        pool,
        ws,
        prom,
        "g4",
        "2026-11-01T10:00:00Z",
        Some("payments"),
        9,
        "NONE",
        None,
    )
    .await;
}

/// Asserts `actual` equals `expected`, numbers within 1e-6 (percentiles interpolate in
/// floating point), every key of `expected` present and no other.
fn assert_near(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().expect("f64"), e.as_f64().expect("f64"));
            assert!((a - e).abs() < 1e-6, "{path}: {a} != {e}");
        }
        (Value::Object(a), Value::Object(e)) => {
            let mut ak: Vec<_> = a.keys().collect();
            let mut ek: Vec<_> = e.keys().collect();
            ak.sort();
            ek.sort();
            assert_eq!(ak, ek, "{path}: keys");
            for (k, v) in e {
                assert_near(&a[k], v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: length of {actual}");
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_near(a, e, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

/// `[count, mean, median, p90, max]` as a stats object (`null` entries allowed).
fn stats(count: i64, rest: [Option<f64>; 4]) -> Value {
    json!({ "count": count, "mean_seconds": rest[0], "median_seconds": rest[1],
            "p90_seconds": rest[2], "max_seconds": rest[3] })
}

fn none() -> Value {
    stats(0, [None; 4])
}

fn share(met: i64, missed: i64) -> Value {
    let decided = met + missed;
    json!({ "met": met, "missed": missed,
            "share": (decided > 0).then(|| met as f64 / decided as f64) })
}

#[allow(clippy::too_many_arguments)]
fn sla(
    ack: (i64, i64),
    res: (i64, i64),
    upd: (i64, i64),
    breaches: (i64, i64, i64),
    warnings: i64,
    updates_due: i64,
) -> Value {
    json!({ "acknowledge": share(ack.0, ack.1), "resolve": share(res.0, res.1),
            "update": share(upd.0, upd.1), "breaches": breaches.0,
            "acknowledge_breaches": breaches.1, "resolve_breaches": breaches.2,
            "warnings": warnings, "updates_due": updates_due })
}

fn empty_measures() -> Value {
    json!({ "incidents": 0, "mtta": none(), "mttm": none(), "mttr": none(),
            "time_to_close": none(), "sla": sla((0, 0), (0, 0), (0, 0), (0, 0, 0), 0, 0) })
}

fn s(v: f64) -> Option<f64> {
    Some(v)
}

/// A, B, C, D, F: the measures of the whole range.
fn all_measures() -> Value {
    json!({
        "incidents": 5,
        // 300, 1200, 600, 3600, 180
        "mtta": stats(5, [s(1176.0), s(600.0), s(2640.0), s(3600.0)]),
        // 1800, 5400, 600
        "mttm": stats(3, [s(2600.0), s(1800.0), s(4680.0), s(5400.0)]),
        // 3600, 10800, 86400 (D's final resolution), 2400
        "mttr": stats(4, [s(25800.0), s(7200.0), s(63720.0), s(86400.0)]),
        // 7200, 3000
        "time_to_close": stats(2, [s(5100.0), s(5100.0), s(6780.0), s(7200.0)]),
        // C's resolve target is undecided; the update cadence covers SEV1/SEV2 (A, B, C, F)
        "sla": sla((4, 1), (3, 1), (3, 1), (2, 1, 1), 2, 1),
    })
}

fn period(label: &str, starts: &str, ends: &str) -> Value {
    json!({ "label": label, "starts_at": starts, "ends_at": ends })
}

fn row(period: Value, severity: Value, service: Value, measures: Value) -> Value {
    json!({ "period": period, "severity": severity, "service": service, "measures": measures })
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_summary_of_a_known_history_has_every_measure_exactly(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;

    let (status, summary) = app
        .get(ADMIN, &format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_near(
        &summary,
        &json!({
            "from": "2026-12-14T00:00:00Z", "to": "2027-01-11T00:00:00Z", "time_zone": "UTC",
            "measures": all_measures(),
            "by_severity": { "SEV1": 3, "SEV2": 1, "SEV3": 1, "SEV4": 0 },
            "by_status": { "INVESTIGATING": 0, "IDENTIFIED": 1, "MONITORING": 0, "RESOLVED": 2, "CLOSED": 2 },
            "by_service": [
                { "service": "payments", "incidents": 3 },
                { "service": "Search", "incidents": 3 },
            ],
            "by_source": { "alert": 1, "person": 4 },
            "drills": 1,
            "follow_through": {
                "postmortems_drafted": 3, "postmortems_published": 2,
                "median_seconds_resolve_to_publish": 129600.0,
                "action_items": { "total": 5, "open": 2, "overdue": 1, "done": 2, "wont_do": 1,
                                  "completion_rate": 0.5, "median_seconds_to_done": 129600.0 },
            },
            "alert_load": {
                "total": { "name": null, "groups": 3, "alerts": 6, "declared": 1, "declared_share": 1.0 / 3.0 },
                "by_integration": [
                    { "name": "prom", "groups": 2, "alerts": 5, "declared": 1, "declared_share": 0.5 },
                    { "name": "grafana", "groups": 1, "alerts": 1, "declared": 0, "declared_share": 0.0 },
                ],
                "by_service": [
                    { "name": "payments", "groups": 2, "alerts": 5, "declared": 1, "declared_share": 0.5 },
                    { "name": null, "groups": 1, "alerts": 1, "declared": 0, "declared_share": 0.0 },
                ],
            },
            "slowest": [
                { "reference": "INC-4", "title": "an incident", "severity": "SEV3", "seconds_to_resolve": 86400.0 },
                { "reference": "INC-2", "title": "an incident", "severity": "SEV2", "seconds_to_resolve": 10800.0 },
                { "reference": "INC-1", "title": "an incident", "severity": "SEV1", "seconds_to_resolve": 3600.0 },
                { "reference": "INC-6", "title": "Secret acquisition", "severity": "SEV1", "seconds_to_resolve": 2400.0 },
            ],
        }),
        "summary",
    );

    // Filters: SEV1 only (A, C, F); the search service (B, C, F, matched in any case).
    let (_, sev1) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/summary?{RANGE}&severity=sev1"),
        )
        .await;
    assert_near(
        &sev1["measures"],
        &json!({
            "incidents": 3,
            "mtta": stats(3, [s(360.0), s(300.0), s(540.0), s(600.0)]),
            "mttm": stats(2, [s(1200.0), s(1200.0), s(1680.0), s(1800.0)]),
            "mttr": stats(2, [s(3000.0), s(3000.0), s(3480.0), s(3600.0)]),
            "time_to_close": stats(2, [s(5100.0), s(5100.0), s(6780.0), s(7200.0)]),
            "sla": sla((3, 0), (2, 0), (3, 0), (0, 0, 0), 1, 0),
        }),
        "severity=SEV1",
    );
    let (_, search) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/summary?{RANGE}&service=SEARCH"),
        )
        .await;
    assert_eq!(search["measures"]["incidents"], 3, "{search}");
    assert_eq!(
        search["by_service"],
        json!([{ "service": "Search", "incidents": 3 }])
    );
    assert_near(
        &search["measures"]["mttr"],
        &stats(2, [s(6600.0), s(6600.0), s(9960.0), s(10800.0)]),
        "service=search mttr",
    );
    assert_eq!(
        search["alert_load"]["total"]["groups"], 0,
        "no group of the search service"
    );

    // Drills alone: E, with its own breach, and the real incidents in nothing.
    let (_, drills) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/summary?{RANGE}&drill=true"),
        )
        .await;
    assert_near(
        &drills["measures"],
        &json!({
            "incidents": 1,
            "mtta": stats(1, [s(60.0), s(60.0), s(60.0), s(60.0)]),
            "mttm": none(),
            "mttr": stats(1, [s(120.0), s(120.0), s(120.0), s(120.0)]),
            "time_to_close": none(),
            "sla": sla((1, 0), (1, 0), (1, 0), (1, 1, 0), 0, 0),
        }),
        "drill=true",
    );
    assert_eq!(drills["drills"], 1);
    assert_eq!(drills["follow_through"]["postmortems_drafted"], 0);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn weekly_series_have_every_week_with_nulls_and_the_year_boundary_in_w53(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;

    let (status, series) = app
        .get(ADMIN, &format!("/api/v1/analytics/series?{RANGE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{series}");
    assert_eq!(series["by"], "week");
    let w51 = json!({
        "incidents": 2,
        "mtta": stats(2, [s(750.0), s(750.0), s(1110.0), s(1200.0)]),
        "mttm": stats(2, [s(3600.0), s(3600.0), s(5040.0), s(5400.0)]),
        "mttr": stats(2, [s(7200.0), s(7200.0), s(10080.0), s(10800.0)]),
        "time_to_close": stats(1, [s(7200.0), s(7200.0), s(7200.0), s(7200.0)]),
        "sla": sla((1, 1), (1, 1), (1, 1), (2, 1, 1), 1, 1),
    });
    let w53 = json!({
        "incidents": 1,
        "mtta": stats(1, [s(600.0), s(600.0), s(600.0), s(600.0)]),
        "mttm": none(), "mttr": none(), "time_to_close": none(),
        "sla": sla((1, 0), (0, 0), (1, 0), (0, 0, 0), 1, 0),
    });
    let w01 = json!({
        "incidents": 2,
        "mtta": stats(2, [s(1890.0), s(1890.0), s(3258.0), s(3600.0)]),
        "mttm": stats(1, [s(600.0), s(600.0), s(600.0), s(600.0)]),
        "mttr": stats(2, [s(44400.0), s(44400.0), s(78000.0), s(86400.0)]),
        "time_to_close": stats(1, [s(3000.0), s(3000.0), s(3000.0), s(3000.0)]),
        "sla": sla((2, 0), (2, 0), (1, 0), (0, 0, 0), 0, 0),
    });
    assert_near(
        &series["rows"],
        &json!([
            row(
                period("2026-W51", "2026-12-14T00:00:00Z", "2026-12-21T00:00:00Z"),
                Value::Null,
                Value::Null,
                w51
            ),
            row(
                period("2026-W52", "2026-12-21T00:00:00Z", "2026-12-28T00:00:00Z"),
                Value::Null,
                Value::Null,
                empty_measures()
            ),
            row(
                period("2026-W53", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"),
                Value::Null,
                Value::Null,
                w53
            ),
            row(
                period("2027-W01", "2027-01-04T00:00:00Z", "2027-01-11T00:00:00Z"),
                Value::Null,
                Value::Null,
                w01
            ),
        ]),
        "weekly series",
    );

    // Months: December has A and B, January C, D and F.
    let (_, months) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/series?{RANGE}&interval=month"),
        )
        .await;
    let counts: Vec<(String, i64)> = months["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["period"]["label"].as_str().expect("label").to_owned(),
                r["measures"]["incidents"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("2026-12".to_owned(), 2), ("2027-01".to_owned(), 3)]
    );
    assert_near(
        &months["rows"][1]["measures"]["mttr"],
        &stats(2, [s(44400.0), s(44400.0), s(78000.0), s(86400.0)]),
        "January's MTTR",
    );

    // Week × severity: every pair present, empty ones null.
    let (_, split) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/series?{RANGE}&by=severity"),
        )
        .await;
    let rows = split["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 16, "4 weeks × 4 severities");
    let cell = |week: &str, sev: &str| {
        rows.iter()
            .find(|r| r["period"]["label"] == week && r["severity"] == sev)
            .unwrap_or_else(|| panic!("{week} {sev}"))["measures"]
            .clone()
    };
    assert_near(&cell("2026-W52", "SEV1"), &empty_measures(), "W52 SEV1");
    assert_near(&cell("2026-W51", "SEV4"), &empty_measures(), "W51 SEV4");
    assert_near(
        &cell("2026-W51", "SEV2")["mttr"],
        &stats(1, [s(10800.0), s(10800.0), s(10800.0), s(10800.0)]),
        "W51 SEV2",
    );
    assert_eq!(cell("2027-W01", "SEV1")["incidents"], 1, "F");
    assert_eq!(cell("2027-W01", "SEV3")["incidents"], 1, "D");
    assert_eq!(cell("2026-W53", "SEV1")["incidents"], 1, "C");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn breakdowns_by_severity_and_service_count_every_incident_where_it_belongs(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;

    let (status, by_severity) = app
        .get(ADMIN, &format!("/api/v1/analytics/breakdown?{RANGE}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{by_severity}");
    let severities: Vec<(Value, Value)> = by_severity["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["severity"].clone(), r["measures"]["incidents"].clone()))
        .collect();
    assert_eq!(
        severities,
        [
            (json!("SEV1"), json!(3)),
            (json!("SEV2"), json!(1)),
            (json!("SEV3"), json!(1)),
            (json!("SEV4"), json!(0)),
        ]
    );
    assert_near(
        &by_severity["rows"][3]["measures"],
        &empty_measures(),
        "SEV4",
    );
    assert_near(
        &by_severity["rows"][2]["measures"]["mttr"],
        &stats(1, [s(86400.0), s(86400.0), s(86400.0), s(86400.0)]),
        "SEV3 is D, finally resolved after a day",
    );

    let (_, by_service) = app
        .get(
            ADMIN,
            &format!("/api/v1/analytics/breakdown?{RANGE}&by=service"),
        )
        .await;
    let rows = by_service["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{by_service}");
    assert_eq!(rows[0]["service"], "payments");
    assert_eq!(rows[1]["service"], "Search");
    // payments: A, B, D; search: B, C, F.
    assert_near(
        &rows[0]["measures"]["mtta"],
        &stats(3, [s(1700.0), s(1200.0), s(3120.0), s(3600.0)]),
        "payments MTTA",
    );
    assert_near(
        &rows[1]["measures"]["mtta"],
        &stats(3, [s(660.0), s(600.0), s(1080.0), s(1200.0)]),
        "search MTTA",
    );
    assert_near(
        &rows[1]["measures"]["sla"],
        &sla((2, 1), (1, 1), (2, 1), (2, 1, 1), 2, 1),
        "search SLA",
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn weeks_are_cut_in_the_workspace_time_zone(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;

    let (status, body) = app
        .call(
            ADMIN,
            Method::PUT,
            "/api/v1/workspace/settings",
            Some(json!({ "time_zone": "asia/tokyo" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "time_zone": "Asia/Tokyo" }));

    // C (Sunday 20:00 UTC) is Monday 05:00 in Tokyo: 2027-W01, no longer 2026-W53.
    let (_, series) = app
        .get(ADMIN, &format!("/api/v1/analytics/series?{RANGE}"))
        .await;
    assert_eq!(series["time_zone"], "Asia/Tokyo");
    assert_eq!(series["from"], "2026-12-13T15:00:00Z", "midnight in Tokyo");
    let weeks: Vec<(Value, Value, Value)> = series["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["period"]["label"].clone(),
                r["period"]["starts_at"].clone(),
                r["measures"]["incidents"].clone(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [
            (json!("2026-W51"), json!("2026-12-13T15:00:00Z"), json!(2)),
            (json!("2026-W52"), json!("2026-12-20T15:00:00Z"), json!(0)),
            (json!("2026-W53"), json!("2026-12-27T15:00:00Z"), json!(0)),
            (json!("2027-W01"), json!("2027-01-03T15:00:00Z"), json!(3)),
        ]
    );
    assert_eq!(
        series["rows"][2]["measures"]["mtta"]["mean_seconds"],
        Value::Null
    );

    let viewer = app.token(ADMIN, "viewer").await;
    let (status, settings) = app.get(&viewer, "/api/v1/workspace/settings").await;
    assert_eq!(
        (status, settings),
        (StatusCode::OK, json!({ "time_zone": "Asia/Tokyo" }))
    );
    let client = incident_testkit::http::Client::with_http(&app.base, app.client.clone());
    client
        .send(
            Method::PUT,
            "/api/v1/workspace/settings",
            &viewer,
            &json!({ "time_zone": "UTC" }),
        )
        .await
        .assert_problem(403, "forbidden");
    let problem = client
        .send(
            Method::PUT,
            "/api/v1/workspace/settings",
            ADMIN,
            &json!({ "time_zone": "Mars/Olympus_Mons" }),
        )
        .await
        .assert_problem(422, "unknown-time-zone");
    assert_eq!(problem["field"], "time_zone");
}

/// Parses CSV as the API writes it (quoted cells may hold commas and quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(std::mem::take(&mut cell)),
                (c, _) => cell.push(c),
            }
        }
        cells.push(cell);
        rows.push(cells);
    }
    rows
}

fn agrees(cell: &str, value: &Value) -> bool {
    match value {
        Value::Null => cell.is_empty(),
        Value::Number(n) => cell.parse::<f64>().ok() == n.as_f64(),
        Value::String(s) => cell == s,
        Value::Bool(b) => cell == if *b { "true" } else { "false" },
        other => panic!("not a leaf: {other}"),
    }
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn csv_carries_exactly_the_json_numbers(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;
    let client = incident_testkit::http::Client::with_http(&app.base, app.client.clone());

    // A series by ?format=csv: one line per row, one column per JSON path.
    let path = format!("/api/v1/analytics/series?{RANGE}&by=severity");
    let (_, json) = app.get(ADMIN, &path).await;
    let reply = client.get(&format!("{path}&format=csv"), ADMIN).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type, "text/csv; charset=utf-8");
    let table = parse_csv(&reply.text);
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(table.len(), rows.len() + 1, "a header and one line per row");
    let header = &table[0];
    assert!(
        header.contains(&"measures.mttr.p90_seconds".to_owned()),
        "{header:?}"
    );
    for (line, row) in table[1..].iter().zip(rows) {
        let leaves = flatten(row);
        assert_eq!(leaves.len(), header.len());
        for (path, value) in leaves {
            let column = header
                .iter()
                .position(|h| *h == path)
                .expect("a column per path");
            assert!(
                agrees(&line[column], &value),
                "{path}: {} vs {value}",
                line[column]
            );
        }
    }

    // The summary by Accept: one `measure,value` line per JSON path.
    let (_, summary) = app
        .get(ADMIN, &format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    let reply = client
        .http()
        .get(format!("{}/api/v1/analytics/summary?{RANGE}", app.base))
        .bearer_auth(ADMIN)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status(), StatusCode::OK);
    let table = parse_csv(&reply.text().await.expect("body"));
    assert_eq!(table[0], ["measure", "value"]);
    let leaves = flatten(&summary);
    assert_eq!(table.len(), leaves.len() + 1);
    for (line, (path, value)) in table[1..].iter().zip(&leaves) {
        assert_eq!(&line[0], path);
        assert!(agrees(&line[1], value), "{path}: {} vs {value}", line[1]);
    }
    assert!(
        leaves
            .iter()
            .any(|(p, v)| p == "measures.mttr.median_seconds" && *v == json!(7200.0))
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn private_incidents_count_but_are_named_only_to_those_who_may_read_them(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;
    let (_, viewer) = app.person(ADMIN, "viewer@example.com", "viewer").await;

    let (status, summary) = app
        .get(&viewer, &format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a viewer reads analytics: {summary}"
    );
    assert_near(
        &summary["measures"],
        &all_measures(),
        "the private incident counts",
    );
    assert_eq!(
        summary["slowest"][3],
        json!({ "reference": null, "title": null, "severity": "SEV1", "seconds_to_resolve": 2400.0 })
    );
    assert!(
        !summary.to_string().contains("Secret acquisition"),
        "{summary}"
    );
    let csv = app
        .client
        .get(format!(
            "{}/api/v1/analytics/summary?{RANGE}&format=csv",
            app.base
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(!csv.contains("Secret acquisition"));
    assert!(!csv.contains("INC-6"));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn another_workspaces_incidents_never_count(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    history(&pool, ws).await;
    let other = app.other_workspace("acme").await;
    let acme = workspace_id(&pool, "acme").await;
    let mut g = Spec::new(1, "SEV1", "RESOLVED", "2026-12-15T10:00:00Z");
    (g.ack, g.resolved) = (Some(1), Some(2));
    g.services = &["payments"];
    let g = insert(&pool, acme, g).await;
    sla_event(&pool, acme, g, "ACKNOWLEDGE", "BREACH", 0, false).await;

    let (_, mine) = app
        .get(ADMIN, &format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    assert_near(
        &mine["measures"],
        &all_measures(),
        "acme's incident is not counted",
    );
    assert_eq!(
        mine["by_service"][0],
        json!({ "service": "payments", "incidents": 3 })
    );

    let (_, theirs) = app
        .get(&other, &format!("/api/v1/analytics/summary?{RANGE}"))
        .await;
    assert_eq!(theirs["measures"]["incidents"], 1, "{theirs}");
    assert_eq!(theirs["measures"]["sla"]["breaches"], 1);
    assert_eq!(theirs["drills"], 0);
    assert_eq!(theirs["follow_through"]["postmortems_drafted"], 0);
    assert_eq!(theirs["alert_load"]["total"]["groups"], 0);
    let (_, series) = app
        .get(&other, &format!("/api/v1/analytics/series?{RANGE}"))
        .await;
    let counts: Vec<i64> = series["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["measures"]["incidents"].as_i64().expect("n"))
        .collect();
    assert_eq!(counts, [1, 0, 0, 0]);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn bad_parameters_answer_problems_naming_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let client = incident_testkit::http::Client::with_http(&app.base, app.client.clone());
    let problem = |path: &str| {
        let client = client.clone();
        let path = path.to_owned();
        async move { client.get(&path, ADMIN).await }
    };
    problem("/api/v1/analytics/summary?from=2027-01-10&to=2026-12-14")
        .await
        .assert_problem(422, "invalid-range");
    problem("/api/v1/analytics/summary?from=2000-01-01&to=2026-01-01")
        .await
        .assert_problem(422, "invalid-range");
    for (path, field) in [
        ("/api/v1/analytics/summary?severity=SEV9", "severity"),
        ("/api/v1/analytics/summary?from=yesterday", "from"),
        ("/api/v1/analytics/summary?drill=maybe", "drill"),
        ("/api/v1/analytics/summary?format=xml", "format"),
        ("/api/v1/analytics/series?interval=day", "interval"),
        ("/api/v1/analytics/series?interval=month&by=severity", "by"),
        ("/api/v1/analytics/breakdown?by=colour", "by"),
    ] {
        let p = problem(path).await.assert_problem(422, "validation");
        assert_eq!(p["field"], field, "{path}: {p}");
    }
    let reply = client
        .http()
        .get(format!("{}/api/v1/analytics/summary", app.base))
        .bearer_auth(ADMIN)
        .header("accept", "application/xml")
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
    let reply = client
        .get("/api/v1/analytics/summary", "no-such-token")
        .await;
    reply.assert_problem(401, "unauthorized");
    // The default range is the last 90 days.
    let (status, summary) = app.get(ADMIN, "/api/v1/analytics/summary").await;
    assert_eq!(status, StatusCode::OK);
    let from = at(summary["from"].as_str().expect("from"));
    let to = at(summary["to"].as_str().expect("to"));
    assert_eq!(to - from, TimeDelta::days(90));
    assert_near(&summary["measures"], &empty_measures(), "nothing yet");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn resolving_again_after_a_reopen_moves_the_time_to_resolve(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let incident = app.declare(ADMIN, "flapping").await;
    let id = incident["id"].as_str().expect("id");
    for status in ["RESOLVED", "INVESTIGATING", "RESOLVED"] {
        let (code, body) = app
            .post(
                ADMIN,
                &format!("/api/v1/incidents/{id}/status"),
                json!({ "status": status }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    let (first, last): (DateTime<Utc>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT resolved_at, last_resolved_at FROM incidents WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("incident");
    let last = last.expect("the final resolution is kept");
    assert!(last >= first, "{last} >= {first}");
    let (_, summary) = app.get(ADMIN, "/api/v1/analytics/summary").await;
    let detected = at(incident["detected_at"].as_str().expect("detected"));
    let expected = (last - detected).num_microseconds().expect("µs") as f64 / 1e6;
    let mttr = summary["measures"]["mttr"]["max_seconds"]
        .as_f64()
        .expect("mttr");
    assert!((mttr - expected).abs() < 1e-3, "{mttr} vs {expected}");
}

/// A past history for the rollups (2020-W53 is 2020-12-28 .. 2021-01-03), old enough for
/// every day to be rolled up: incident id by name.
async fn past_history(pool: &PgPool, ws: Uuid) -> std::collections::HashMap<&'static str, Uuid> {
    let mut ids = std::collections::HashMap::new();
    let mut p = Spec::new(1, "SEV1", "CLOSED", "2020-12-21T10:00:00Z");
    (p.ack, p.mit, p.resolved, p.closed) = (Some(5), Some(30), Some(60), Some(120));
    (p.ack_deadline, p.resolve_deadline) = (Some(15), Some(at("2020-12-21T14:00:00Z")));
    p.services = &["payments"];
    ids.insert("p1", insert(pool, ws, p).await);

    let mut p = Spec::new(2, "SEV2", "RESOLVED", "2020-12-29T23:30:00Z");
    (p.ack, p.mit, p.resolved) = (Some(20), Some(90), Some(180));
    (p.ack_deadline, p.resolve_deadline) = (Some(15), Some(at("2020-12-30T01:30:00Z")));
    p.services = &["payments", "Search"];
    ids.insert("p2", insert(pool, ws, p).await);

    let mut p = Spec::new(3, "SEV1", "IDENTIFIED", "2021-01-02T20:00:00Z");
    p.ack = Some(10);
    (p.ack_deadline, p.resolve_deadline) = (Some(15), Some(at("2021-01-03T00:00:00Z")));
    p.services = &["search"];
    ids.insert("p3", insert(pool, ws, p).await);

    let mut p = Spec::new(4, "SEV3", "RESOLVED", "2021-01-05T09:00:00Z");
    (p.ack, p.resolved) = (Some(60), Some(600));
    (p.ack_deadline, p.resolve_deadline) = (Some(120), Some(at("2021-01-07T09:00:00Z")));
    ids.insert("p4", insert(pool, ws, p).await);

    let mut p = Spec::new(5, "SEV2", "RESOLVED", "2020-12-30T08:00:00Z");
    (p.ack, p.resolved) = (Some(1), Some(2));
    p.drill = true;
    ids.insert("p5", insert(pool, ws, p).await);

    let mut p = Spec::new(6, "SEV1", "RESOLVED", "2021-01-06T08:00:00Z");
    (p.ack, p.mit, p.resolved) = (Some(3), Some(10), Some(40));
    (p.ack_deadline, p.resolve_deadline) = (Some(15), Some(at("2021-01-06T12:00:00Z")));
    p.private = true;
    p.services = &["search"];
    ids.insert("p6", insert(pool, ws, p).await);

    let mut p = Spec::new(7, "SEV4", "RESOLVED", "2021-01-11T06:00:00Z");
    (p.ack, p.resolved) = (Some(30), Some(90));
    ids.insert("p7", insert(pool, ws, p).await);

    sla_event(pool, ws, ids["p2"], "ACKNOWLEDGE", "BREACH", 0, false).await;
    sla_event(pool, ws, ids["p2"], "RESOLVE", "WARNING", 0, false).await;
    sla_event(pool, ws, ids["p2"], "UPDATE", "UPDATE_DUE", 1, false).await;
    sla_event(pool, ws, ids["p5"], "ACKNOWLEDGE", "BREACH", 0, true).await;
    // Follow-through: p1 published a day after its resolve with three items (done in
    // two days, open and long overdue, open with a due date far ahead), p4 drafted with
    // one item won't do, the drill p5 published with one item done.
    let pm1 = postmortem(pool, ws, ids["p1"], Some(at("2020-12-22T11:00:00Z"))).await;
    let created = at("2020-12-22T12:00:00Z");
    action_item(
        pool,
        ws,
        pm1,
        "DONE",
        created,
        Some(at("2020-12-24T12:00:00Z")),
        None,
    )
    .await;
    action_item(pool, ws, pm1, "OPEN", created, None, Some("2021-01-15")).await;
    action_item(
        pool,
        ws,
        pm1,
        "IN_PROGRESS",
        created,
        None,
        Some("2999-01-01"),
    )
    .await;
    let pm4 = postmortem(pool, ws, ids["p4"], None).await;
    action_item(pool, ws, pm4, "WONT_DO", created, None, None).await;
    let pm5 = postmortem(pool, ws, ids["p5"], Some(at("2020-12-31T08:00:00Z"))).await;
    action_item(
        pool,
        ws,
        pm5,
        "DONE",
        created,
        Some(at("2020-12-23T12:00:00Z")),
        None,
    )
    .await;
    let alerts = integration(pool, ws, "prometheus").await;
    alert_group(
        pool,
        ws,
        alerts,
        "g1",
        "2020-12-21T09:59:00Z",
        Some("payments"),
        3,
        "DECLARE",
        Some(ids["p1"]),
    )
    .await;
    ids
}

/// Every analytics answer the rollups take part in, over the past history.
async fn past_answers(app: &TestApp) -> Vec<(String, Value)> {
    const R: &str = "from=2020-12-21&to=2021-01-11";
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/analytics/summary?{R}"),
        format!("/api/v1/analytics/summary?{R}&severity=sev1,sev2"),
        format!("/api/v1/analytics/summary?{R}&drill=true"),
        // partial days at both ends: read live around the rolled-up ones
        "/api/v1/analytics/summary?from=2020-12-21T10:00:00Z&to=2021-01-11T05:00:00Z".to_owned(),
        format!("/api/v1/analytics/series?{R}"),
        format!("/api/v1/analytics/series?{R}&interval=month"),
        format!("/api/v1/analytics/series?{R}&by=severity"),
        format!("/api/v1/analytics/breakdown?{R}&by=severity"),
    ] {
        let (status, body) = app.get(ADMIN, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        out.push((path, body));
    }
    out
}

fn assert_same_answers(rolled: &[(String, Value)], live: &[(String, Value)]) {
    for ((path, r), (_, l)) in rolled.iter().zip(live) {
        assert_near(r, l, path);
    }
}

async fn built_days(pool: &PgPool, ws: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT day::text FROM analytics_days a
         WHERE workspace_id = $1 AND EXISTS (
             SELECT 1 FROM analytics_cells c WHERE c.workspace_id = a.workspace_id AND c.day = a.day)
         ORDER BY day",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("days")
}

async fn rebuild(pool: &PgPool, ws: Uuid) -> u64 {
    let mut conn = pool.acquire().await.expect("connection");
    incident_schema::analytics::rollup::build(&mut conn, ws, 100_000)
        .await
        .expect("build")
        .days
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn rollups_of_past_days_answer_as_live_and_a_change_forgets_its_day(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    let ids = past_history(&pool, ws).await;

    let live = past_answers(&app).await;
    assert!(
        rebuild(&pool, ws).await > 2000,
        "every day since 2020-12-21 is built"
    );
    assert_eq!(
        built_days(&pool, ws).await,
        [
            "2020-12-21",
            "2020-12-29",
            "2020-12-30",
            "2021-01-02",
            "2021-01-05",
            "2021-01-06",
            "2021-01-11"
        ],
        "a cell for each day with incidents"
    );
    assert_same_answers(&past_answers(&app).await, &live);
    // The cells did answer: the summary's figures are those of the known history.
    let summary = &past_answers(&app).await[0].1;
    assert_eq!(summary["measures"]["incidents"], 6, "{summary}");
    assert_eq!(summary["drills"], 1);
    assert_eq!(summary["by_source"], json!({ "alert": 1, "person": 5 }));
    // The default policies give SEV1 and SEV2 a cadence: p1, p3, p6 met it, p2 did not.
    assert_eq!(
        summary["measures"]["sla"]["update"],
        json!({ "met": 3, "missed": 1, "share": 0.75 })
    );
    assert_eq!(summary["slowest"][0]["seconds_to_resolve"], 36000.0);
    assert_eq!(summary["slowest"][0]["reference"], "INC-4");
    assert_eq!(
        summary["follow_through"],
        json!({
            "postmortems_drafted": 2,
            "postmortems_published": 1,
            // p1 resolved 2020-12-21T11:00, published a day later
            "median_seconds_resolve_to_publish": 86400.0,
            "action_items": {
                "total": 4, "open": 2, "overdue": 1, "done": 1, "wont_do": 1,
                "completion_rate": 1.0 / 3.0, "median_seconds_to_done": 172800.0
            }
        }),
        "{summary}"
    );
    let drills = &past_answers(&app).await[2].1;
    assert_eq!(
        drills["follow_through"]["postmortems_published"], 1,
        "{drills}"
    );
    assert_eq!(
        drills["follow_through"]["action_items"]["median_seconds_to_done"],
        86400.0
    );
    // And it is the cells that answer for the built days: altered, they show.
    sqlx::query("UPDATE analytics_cells SET incidents = incidents + 100 WHERE day = '2021-01-05'")
        .execute(&pool)
        .await
        .expect("alter a cell");
    let altered = &past_answers(&app).await[0].1;
    assert_eq!(altered["measures"]["incidents"], 106, "{altered}");
    // Whole weeks answer a weekly series from their figures: altered, they show too
    // (2021-01-04 to 2021-01-10 holds p4 and p6), and only for that week.
    let weeks: Vec<String> = sqlx::query_scalar(
        "SELECT week::text FROM analytics_weeks WHERE workspace_id = $1 ORDER BY week",
    )
    .bind(ws)
    .fetch_all(&pool)
    .await
    .expect("weeks");
    for week in ["2020-12-21", "2020-12-28", "2021-01-04"] {
        assert!(weeks.contains(&week.to_owned()), "{week} built: {weeks:?}");
    }
    sqlx::query(
        "UPDATE analytics_week_cells SET counts[1] = counts[1] + 1000
         WHERE week = '2021-01-04' AND severity IN ('ALL', 'SEV1') AND NOT is_drill",
    )
    .execute(&pool)
    .await
    .expect("alter a week");
    let answers = past_answers(&app).await;
    let incidents = |series: &Value, label: &str, severity: Option<&str>| -> i64 {
        series["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["period"]["label"] == label && severity.is_none_or(|s| r["severity"] == s))
            .unwrap_or_else(|| panic!("{label}: {series}"))["measures"]["incidents"]
            .as_i64()
            .expect("incidents")
    };
    assert_eq!(incidents(&answers[4].1, "2021-W01", None), 1002);
    assert_eq!(incidents(&answers[4].1, "2020-W53", None), 2);
    assert_eq!(incidents(&answers[6].1, "2021-W01", Some("SEV1")), 1001);
    assert_eq!(incidents(&answers[6].1, "2021-W01", Some("SEV3")), 1);
    // A day forgotten takes its week with it: the week is merged from its day cells
    // again (2021-01-05's altered above: 100 more).
    sqlx::query("DELETE FROM analytics_days WHERE workspace_id = $1 AND day = '2021-01-09'")
        .bind(ws)
        .execute(&pool)
        .await
        .expect("forget a day");
    assert_eq!(
        incidents(&past_answers(&app).await[4].1, "2021-W01", None),
        102
    );
    assert!(
        !sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM analytics_weeks WHERE workspace_id = $1 AND week = '2021-01-04')"
        )
        .bind(ws)
        .fetch_one(&pool)
        .await
        .expect("week")
    );
    sqlx::query("DELETE FROM analytics_days")
        .execute(&pool)
        .await
        .expect("forget all");
    rebuild(&pool, ws).await;

    // Late events, each forgetting only its own day, and the answers following them.
    let changes: [(&str, &str, String); 8] = [
        (
            "a late resolve",
            "2021-01-02",
            format!(
                "UPDATE incidents SET status = 'RESOLVED', resolved_at = '2021-01-03T02:00:00Z' WHERE id = '{}'",
                ids["p3"]
            ),
        ),
        (
            "a late finding",
            "2021-01-05",
            format!(
            "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, is_drill)
             VALUES ('{}', '{ws}', 'RESOLVE', 'BREACH', now(), false)", ids["p4"]),
        ),
        (
            "a service added",
            "2021-01-06",
            format!(
                "INSERT INTO affected_services (incident_id, workspace_id, service_name, impact)
             VALUES ('{}', '{ws}', 'payments', 'DEGRADED')",
                ids["p6"]
            ),
        ),
        (
            "a declaring alert group linked",
            "2021-01-06",
            format!(
                "INSERT INTO alert_groups (workspace_id, integration_id, group_key, title,
                     opened_at, alert_count, decision, decided_at, incident_id)
                 SELECT '{ws}', id, 'late', 'alerts', '2021-01-06T07:59:00Z', 1, 'DECLARE',
                        '2021-01-06T08:00:00Z', '{}'
                 FROM integrations WHERE workspace_id = '{ws}'",
                ids["p6"]
            ),
        ),
        (
            "a postmortem published late",
            "2021-01-05",
            format!(
                "UPDATE postmortems SET status = 'PUBLISHED', published_at = '2021-02-01T00:00:00Z'
                 WHERE incident_id = '{}'",
                ids["p4"]
            ),
        ),
        (
            "an action item done late",
            "2020-12-21",
            format!(
                "UPDATE action_items SET status = 'DONE', completed_at = '2021-02-01T00:00:00Z'
                 WHERE due_date = '2021-01-15' AND workspace_id = '{ws}'"
            ),
        ),
        (
            "an action item added late",
            "2021-01-05",
            format!(
                "INSERT INTO action_items (postmortem_id, workspace_id, description, status, due_date)
                 SELECT id, workspace_id, 'late', 'OPEN', '2021-01-01' FROM postmortems
                 WHERE incident_id = '{}'",
                ids["p4"]
            ),
        ),
        (
            "a reopen",
            "2020-12-29",
            format!(
                "UPDATE incidents SET status = 'INVESTIGATING' WHERE id = '{}'",
                ids["p2"]
            ),
        ),
    ];
    for (what, day, sql) in changes {
        let before = built_days(&pool, ws).await;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect(what);
        let after = built_days(&pool, ws).await;
        let forgotten: Vec<_> = before.iter().filter(|d| !after.contains(d)).collect();
        assert_eq!(forgotten, [day], "{what} forgets its day only");
        let mixed = past_answers(&app).await;
        sqlx::query("DELETE FROM analytics_days")
            .execute(&pool)
            .await
            .expect("forget all");
        let live = past_answers(&app).await;
        assert_same_answers(&mixed, &live);
        rebuild(&pool, ws).await;
        assert_same_answers(&past_answers(&app).await, &live);
    }
    let summary = &past_answers(&app).await[0].1;
    assert_eq!(
        summary["measures"]["mttr"]["count"], 5,
        "p3 resolved, p2 reopened: {summary}"
    );
    assert_eq!(summary["measures"]["sla"]["resolve_breaches"], 1);
    assert_eq!(
        summary["by_service"],
        json!([
            { "service": "payments", "incidents": 3 },
            { "service": "Search", "incidents": 3 },
        ])
    );
    assert_eq!(summary["by_source"], json!({ "alert": 2, "person": 4 }));

    // Another time zone cuts other days: the cells cut in UTC are ignored until rebuilt.
    sqlx::query("UPDATE workspaces SET time_zone = 'Asia/Kolkata' WHERE id = $1")
        .bind(ws)
        .execute(&pool)
        .await
        .expect("time zone");
    let stale = past_answers(&app).await;
    sqlx::query("DELETE FROM analytics_days")
        .execute(&pool)
        .await
        .expect("forget all");
    let live = past_answers(&app).await;
    assert_same_answers(&stale, &live);
    assert!(
        rebuild(&pool, ws).await > 2000,
        "every day built again in the new zone"
    );
    assert_same_answers(&past_answers(&app).await, &live);
    // 2020-12-29 23:30 UTC is 2020-12-30 in Kolkata.
    assert!(
        !built_days(&pool, ws)
            .await
            .contains(&"2020-12-29".to_owned())
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_day_with_a_deadline_still_ahead_is_not_rolled_up(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    past_history(&pool, ws).await;
    // Open since 2021-02-01 with a resolve deadline ahead: its resolve target is not
    // decided yet, and will be without any row changing.
    let mut p = Spec::new(8, "SEV3", "INVESTIGATING", "2021-02-01T10:00:00Z");
    p.resolve_deadline = Some(at("2099-01-01T00:00:00Z"));
    insert(&pool, ws, p).await;
    let mut conn = pool.acquire().await.expect("connection");
    let built = incident_schema::analytics::rollup::build(&mut conn, ws, 100_000)
        .await
        .expect("build");
    assert_eq!(built.deferred, 1, "{built:?}");
    let days: Vec<String> =
        sqlx::query_scalar("SELECT day::text FROM analytics_days WHERE day = '2021-02-01'")
            .fetch_all(&pool)
            .await
            .expect("days");
    assert!(days.is_empty(), "the day is left to be read live");
    let (status, summary) = app
        .get(
            ADMIN,
            "/api/v1/analytics/summary?from=2021-02-01&to=2021-02-01",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["measures"]["incidents"], 1);
    assert_eq!(
        summary["measures"]["sla"]["resolve"],
        json!({ "met": 0, "missed": 0, "share": null })
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_builder_waits_for_a_writer_of_the_day_and_counts_its_change(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    let ids = past_history(&pool, ws).await;

    // The writer changes an incident of 2021-01-05 and has not committed yet: its
    // trigger holds the day's lock shared.
    let mut writer = pool.begin().await.expect("writer");
    sqlx::query(
        "UPDATE incidents SET status = 'CLOSED', closed_at = '2021-01-08T09:00:00Z' WHERE id = $1",
    )
    .bind(ids["p4"])
    .execute(&mut *writer)
    .await
    .expect("close");
    let builder = tokio::spawn({
        let pool = pool.clone();
        async move { rebuild(&pool, ws).await }
    });
    // The builder reaches the day and waits for the writer's lock.
    let waiting = async {
        loop {
            let waits: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&pool)
            .await
            .expect("locks");
            if waits > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the builder waits for the writer");
    assert!(!builder.is_finished());
    writer.commit().await.expect("commit");
    builder.await.expect("builder");

    let rolled = past_answers(&app).await;
    assert!(
        built_days(&pool, ws)
            .await
            .contains(&"2021-01-05".to_owned())
    );
    assert_eq!(
        rolled[0].1["measures"]["time_to_close"]["count"], 2,
        "the close is counted"
    );
    sqlx::query("DELETE FROM analytics_days")
        .execute(&pool)
        .await
        .expect("forget all");
    assert_same_answers(&rolled, &past_answers(&app).await);
}

/// Summaries over many weeks, which answer whole built weeks from their values
/// (migration 0125): with and without filters, and with partial days at both ends.
async fn many_weeks_answers(app: &TestApp) -> Vec<(String, Value)> {
    const R: &str = "from=2020-11-30&to=2021-01-31";
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/analytics/summary?{R}"),
        format!("/api/v1/analytics/summary?{R}&severity=sev1,sev2"),
        format!("/api/v1/analytics/summary?{R}&drill=true"),
        "/api/v1/analytics/summary?from=2020-12-20T10:00:00Z&to=2021-02-01T05:00:00Z".to_owned(),
    ] {
        let (status, body) = app.get(ADMIN, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        out.push((path, body));
    }
    out
}

/// The weeks (local Mondays) holding values, and their values rows.
async fn weeks_with_values(pool: &PgPool, ws: Uuid) -> (Vec<String>, Vec<String>) {
    let weeks = sqlx::query_scalar(
        "SELECT week::text FROM analytics_weeks WHERE workspace_id = $1 AND with_values ORDER BY 1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("weeks");
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT week::text FROM analytics_week_values WHERE workspace_id = $1 ORDER BY 1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("values");
    let pages: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT week::text FROM analytics_week_pages WHERE workspace_id = $1 ORDER BY 1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("pages");
    assert_eq!(pages, rows, "the values' pages go with them");
    (weeks, rows)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn summaries_over_many_weeks_read_week_values_and_late_events_forget_them(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    let ids = past_history(&pool, ws).await;
    let live = many_weeks_answers(&app).await;
    rebuild(&pool, ws).await;
    let (weeks, rows) = weeks_with_values(&pool, ws).await;
    for week in [
        "2020-12-21",
        "2020-12-28",
        "2021-01-04",
        "2021-01-11",
        "2021-01-18",
    ] {
        assert!(weeks.contains(&week.to_owned()), "{week} built: {weeks:?}");
    }
    assert_eq!(
        rows,
        ["2020-12-21", "2020-12-28", "2021-01-04", "2021-01-11"],
        "values for the weeks with incidents"
    );
    assert_same_answers(&many_weeks_answers(&app).await, &live);
    assert_eq!(live[0].1["measures"]["incidents"], 6, "{}", live[0].1);

    // It is the weeks' values that answer: altered, they show (2021-01-04 .. 01-10
    // holds p4, SEV3, resolved in 600 minutes, and p6).
    sqlx::query(
        "UPDATE analytics_week_values SET incidents = incidents + 1000, maxes[3] = 1e9
         WHERE week = '2021-01-04' AND severity = 'SEV3' AND NOT is_drill",
    )
    .execute(&pool)
    .await
    .expect("alter a week's values");
    let altered = &many_weeks_answers(&app).await[0].1;
    assert_eq!(altered["measures"]["incidents"], 1006, "{altered}");
    assert_eq!(altered["measures"]["mttr"]["max_seconds"], 1e9, "{altered}");
    sqlx::query("DELETE FROM analytics_days")
        .execute(&pool)
        .await
        .expect("forget all");
    rebuild(&pool, ws).await;
    assert_same_answers(&many_weeks_answers(&app).await, &live);

    // Late events forget their day, its week and the week's values; the answers follow.
    let changes: [(&str, &str, String); 3] = [
        (
            "a reopen",
            "2020-12-28",
            format!(
                "UPDATE incidents SET status = 'INVESTIGATING' WHERE id = '{}'",
                ids["p2"]
            ),
        ),
        (
            "an action item done late",
            "2020-12-21",
            format!(
                "UPDATE action_items SET status = 'DONE', completed_at = '2021-02-01T00:00:00Z'
                 WHERE due_date = '2021-01-15' AND workspace_id = '{ws}'"
            ),
        ),
        (
            "a late finding",
            "2021-01-04",
            format!(
                "INSERT INTO sla_events (incident_id, workspace_id, target, kind, deadline, is_drill)
                 VALUES ('{}', '{ws}', 'RESOLVE', 'BREACH', now(), false)",
                ids["p4"]
            ),
        ),
    ];
    for (what, week, sql) in changes {
        let (_, before) = weeks_with_values(&pool, ws).await;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect(what);
        let (weeks, after) = weeks_with_values(&pool, ws).await;
        assert!(!weeks.contains(&week.to_owned()), "{what}: {weeks:?}");
        let forgotten: Vec<_> = before.iter().filter(|w| !after.contains(w)).collect();
        assert_eq!(forgotten, [week], "{what} forgets its week's values only");
        let mixed = many_weeks_answers(&app).await;
        sqlx::query("DELETE FROM analytics_days")
            .execute(&pool)
            .await
            .expect("forget all");
        let live = many_weeks_answers(&app).await;
        assert_same_answers(&mixed, &live);
        rebuild(&pool, ws).await;
        assert_eq!(
            weeks_with_values(&pool, ws).await.1,
            before,
            "{what}: built again"
        );
        assert_same_answers(&many_weeks_answers(&app).await, &live);
    }
    let summary = &many_weeks_answers(&app).await[0].1;
    assert_eq!(
        summary["measures"]["mttr"]["count"], 4,
        "p2 reopened: {summary}"
    );
    assert_eq!(summary["measures"]["sla"]["resolve_breaches"], 1);
    assert_eq!(
        summary["follow_through"]["action_items"]["done"], 2,
        "{summary}"
    );
}

/// The analytics page's one read (`summary_and_weeks`, sharing what its three parts read
/// alike) answers exactly what the summary and the two weekly groupings answer apart,
/// over built weeks, partial days at both ends and the live days, with filters.
#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_pages_shared_read_answers_what_the_three_reads_answer_apart(pool: PgPool) {
    use incident_schema::access::Reader;
    use incident_schema::analytics::params::Params;
    use incident_schema::analytics::{Grouping, query};
    // (The app bootstraps the workspace.)
    let _app = TestApp::spawn(pool.clone()).await;
    let ws = workspace_id(&pool, "default").await;
    past_history(&pool, ws).await;
    rebuild(&pool, ws).await;
    let reader = Reader {
        workspace_id: ws,
        user_id: None,
        is_admin: true,
    };
    let ranges = [
        ("2020-11-30", "2021-01-31"),
        ("2020-12-20T10:00:00Z", "2021-02-01T05:00:00Z"),
        ("2021-01-04", "2021-01-12"),
    ];
    let mut compared = 0;
    for (from, to) in ranges {
        for (severity, drill) in [
            (None, None),
            (Some("SEV1,SEV2"), None),
            (None, Some("true")),
        ] {
            let params = Params {
                from: Some(from.into()),
                to: Some(to.into()),
                severity: severity.map(Into::into),
                drill: drill.map(Into::into),
                ..Params::default()
            };
            let mut conn = pool.acquire().await.expect("conn");
            let request = params.request(&mut conn, ws).await.expect("request");
            let apart = (
                query::summary(&mut conn, &reader, &request)
                    .await
                    .expect("summary"),
                query::grouped(&mut conn, &reader, &request, Grouping::Week)
                    .await
                    .expect("weeks"),
                query::grouped(&mut conn, &reader, &request, Grouping::WeekSeverity)
                    .await
                    .expect("by severity"),
            );
            let together = query::summary_and_weeks(&mut conn, &reader, &request)
                .await
                .expect("together");
            assert_eq!(together, apart, "{params:?}");
            compared += usize::from(apart.0.measures.incidents > 0);
        }
    }
    assert!(compared >= 6, "the ranges hold incidents ({compared} did)");
}
