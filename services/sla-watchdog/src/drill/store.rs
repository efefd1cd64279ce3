//! The drill tables' queries (`drill_scenarios`, `drill_runs`, `drill_run_steps`, the
//! watchdog's own): every read and write is scoped by the caller's workspace, so another
//! workspace's scenario or run is never found.

use chrono::{DateTime, Utc};
use incident_schema::drill::Scenario;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// A stored scenario.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ScenarioRow {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique in the workspace.
    pub name: String,
    /// The file as uploaded.
    pub source: String,
    /// What the parser made of it.
    #[schema(value_type = Object)]
    pub parsed: Value,
    /// Its cron schedule (6 fields, UTC), if it runs on one.
    pub schedule: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// A run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RunRow {
    /// Its id.
    pub id: Uuid,
    /// Its workspace.
    #[serde(skip)]
    pub workspace_id: Uuid,
    /// The scenario it plays; `null` once that scenario was deleted (the run is kept).
    pub scenario_id: Option<Uuid>,
    /// The scenario's name when the run started.
    pub scenario_name: String,
    /// `running`, `completed`, `cancelled` or `timed_out`.
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it times out (running) or its deadline was (ended).
    pub ends_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The scenario as it was at the start (`{source, parsed}`; shown by the run's view,
    /// not in lists).
    #[serde(skip)]
    pub scenario: Value,
    /// The integration its alerts go through.
    pub integration_id: Option<Uuid>,
    /// The drill incident, once seen.
    pub incident_id: Option<Uuid>,
    /// The declare's idempotency key.
    pub idempotency_key: String,
    /// The score, once ended.
    #[schema(value_type = Option<Object>)]
    pub score: Option<Value>,
    /// Who started it by hand (a user of the workspace); `null` for a scheduled run or a
    /// token without a person.
    pub started_by: Option<Uuid>,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StepRow {
    /// Its index in the scenario's (time-ordered) script.
    pub step_index: i32,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// When it was settled: played, or failed when `failure` says why.
    pub done_at: Option<DateTime<Utc>>,
    /// Why it could not be played (it will not be tried again).
    pub failure: Option<String>,
}

const SCENARIO: &str = "id, name, source, parsed, schedule, created_at, updated_at";
const RUN: &str = "id, workspace_id, scenario_id, scenario_name, state::text AS state, \
                   started_at, ends_at, ended_at, scenario, integration_id, incident_id, \
                   idempotency_key, score, started_by";

/// Stores a new scenario; `None` when the name is taken.
pub async fn insert_scenario(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    name: &str,
    source: &str,
    parsed: &Scenario,
    schedule: Option<&str>,
) -> Result<Option<ScenarioRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO drill_scenarios (id, workspace_id, name, source, parsed, schedule)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO NOTHING
         RETURNING {SCENARIO}"
    )))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(name)
    .bind(source)
    .bind(sqlx::types::Json(parsed))
    .bind(schedule)
    .fetch_optional(conn)
    .await
}

/// Replaces a scenario's file and schedule; `None` when it does not exist.
pub async fn update_scenario(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    source: &str,
    parsed: &Scenario,
    schedule: Option<&str>,
) -> Result<Option<ScenarioRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE drill_scenarios SET source = $3, parsed = $4, schedule = $5, updated_at = now()
         WHERE workspace_id = $1 AND id = $2
         RETURNING {SCENARIO}"
    )))
    .bind(workspace_id)
    .bind(id)
    .bind(source)
    .bind(sqlx::types::Json(parsed))
    .bind(schedule)
    .fetch_optional(conn)
    .await
}

/// A scenario by id.
pub async fn scenario(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ScenarioRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCENARIO} FROM drill_scenarios WHERE workspace_id = $1 AND id = $2"
    )))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The workspace's first enabled integration: where a run's synthetic alerts go.
pub async fn drill_integration(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM integrations WHERE workspace_id = $1 AND disabled_at IS NULL
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(workspace_id)
    .fetch_optional(conn)
    .await
}

/// Inserts a run and its steps (due from the database's `now()`); `None` when a run with
/// `idempotency_key` exists already (a schedule occurrence another replica took).
pub async fn insert_run(
    conn: &mut PgConnection,
    scenario: &ScenarioRow,
    workspace_id: Uuid,
    parsed: &Scenario,
    integration_id: Option<Uuid>,
    idempotency_key: Option<&str>,
) -> Result<Option<RunRow>, sqlx::Error> {
    let id = Uuid::now_v7();
    let key = idempotency_key.map_or_else(|| format!("drill:{id}"), str::to_owned);
    let run: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO drill_runs (id, workspace_id, scenario_id, ends_at, scenario,
                                 integration_id, idempotency_key, scenario_name)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8), $5, $6, $7, $8)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING {RUN}"
    )))
    .bind(id)
    .bind(workspace_id)
    .bind(scenario.id)
    .bind(parsed.timeout.as_secs_f64())
    .bind(serde_json::json!({ "source": scenario.source, "parsed": scenario.parsed }))
    .bind(integration_id)
    .bind(&key)
    .bind(&scenario.name)
    .fetch_optional(&mut *conn)
    .await?;
    if run.is_none() {
        return Ok(None);
    }
    let offsets: Vec<f64> = parsed.steps.iter().map(|s| s.at.as_secs_f64()).collect();
    sqlx::query(
        "INSERT INTO drill_run_steps (run_id, step_index, due_at)
         SELECT $1, (o.n - 1)::int, now() + make_interval(secs => o.at)
         FROM unnest($2::float8[]) WITH ORDINALITY AS o(at, n)",
    )
    .bind(id)
    .bind(&offsets)
    .execute(&mut *conn)
    .await?;
    Ok(run)
}

/// A run's steps, in order.
pub async fn steps(conn: &mut PgConnection, run_id: Uuid) -> Result<Vec<StepRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT step_index, due_at, done_at, failure FROM drill_run_steps
         WHERE run_id = $1 ORDER BY step_index",
    )
    .bind(run_id)
    .fetch_all(conn)
    .await
}

/// Ends a running run as `state` with its score; false when it was not running.
pub async fn end_run(
    conn: &mut PgConnection,
    run_id: Uuid,
    state: &str,
    score: Option<&Value>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE drill_runs SET state = $2::drill_run_state, ended_at = now(), score = $3
         WHERE id = $1 AND state = 'running'",
    )
    .bind(run_id)
    .bind(state)
    .bind(score)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks a running run (the runner's and the canceller's common lock); `None` when it
/// ended or another replica holds it.
pub async fn lock_running(
    conn: &mut PgConnection,
    run_id: Uuid,
    skip_locked: bool,
) -> Result<Option<RunRow>, sqlx::Error> {
    let lock = if skip_locked {
        "FOR UPDATE SKIP LOCKED"
    } else {
        "FOR UPDATE"
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN} FROM drill_runs WHERE id = $1 AND state = 'running' {lock}"
    )))
    .bind(run_id)
    .fetch_optional(conn)
    .await
}

/// Claims the next due step of a run, not played yet (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_due_step(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT step_index FROM drill_run_steps
         WHERE run_id = $1 AND done_at IS NULL AND due_at <= now()
         ORDER BY step_index LIMIT 1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(run_id)
    .fetch_optional(conn)
    .await
}

/// Marks a step played.
pub async fn mark_done(
    conn: &mut PgConnection,
    run_id: Uuid,
    step_index: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE drill_run_steps SET done_at = now() WHERE run_id = $1 AND step_index = $2")
        .bind(run_id)
        .bind(step_index)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the run's incident.
pub async fn set_incident(
    conn: &mut PgConnection,
    run_id: Uuid,
    incident_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE drill_runs SET incident_id = $2 WHERE id = $1")
        .bind(run_id)
        .bind(incident_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every scenario with a schedule, with its workspace.
pub async fn scheduled_scenarios(
    conn: &mut PgConnection,
) -> Result<Vec<(Uuid, ScenarioRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        workspace_id: Uuid,
        #[sqlx(flatten)]
        scenario: ScenarioRow,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT workspace_id, {SCENARIO} FROM drill_scenarios
         WHERE schedule IS NOT NULL ORDER BY id"
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.workspace_id, r.scenario))
        .collect())
}

/// The workspace's scenarios, by name.
pub async fn scenarios(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<ScenarioRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCENARIO} FROM drill_scenarios WHERE workspace_id = $1 ORDER BY name, id"
    )))
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// Deletes a scenario; its runs stay, their `scenario_id` set to NULL (migration 0091).
/// False when it does not exist.
pub async fn delete_scenario(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM drill_scenarios WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A run of the workspace by id.
pub async fn run(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN} FROM drill_runs WHERE workspace_id = $1 AND id = $2"
    )))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The run of the workspace started with `idempotency_key`.
pub async fn run_by_key(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    idempotency_key: &str,
) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN} FROM drill_runs WHERE workspace_id = $1 AND idempotency_key = $2"
    )))
    .bind(workspace_id)
    .bind(idempotency_key)
    .fetch_optional(conn)
    .await
}

/// Records who started run `run_id` (migration 0119).
pub async fn set_started_by(
    conn: &mut PgConnection,
    run_id: Uuid,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE drill_runs SET started_by = $2 WHERE id = $1")
        .bind(run_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop)
}

/// The display name of user `user_id` of `workspace_id`.
pub async fn user_name(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT display_name FROM users WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// The workspace's runs, newest first (of one scenario when `scenario_id` is given), at
/// most `limit`.
pub async fn runs(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    scenario_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RunRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN} FROM drill_runs
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR scenario_id = $2)
         ORDER BY started_at DESC, id DESC LIMIT $3"
    )))
    .bind(workspace_id)
    .bind(scenario_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks a step failed for good with `reason`: it is settled and not tried again, so the
/// steps after it are played.
pub async fn mark_failed(
    conn: &mut PgConnection,
    run_id: Uuid,
    step_index: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE drill_run_steps SET done_at = now(), failure = $3
         WHERE run_id = $1 AND step_index = $2",
    )
    .bind(run_id)
    .bind(step_index)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Running runs with a step due and not settled, oldest due first, at most `limit`.
pub async fn runs_with_due_steps(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.run_id FROM drill_run_steps s JOIN drill_runs r ON r.id = s.run_id
         WHERE s.done_at IS NULL AND s.due_at <= now() AND r.state = 'running'
         GROUP BY s.run_id ORDER BY min(s.due_at) LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records the drill incident of every running run that has none yet and whose incident
/// core has declared: the one declared with the run's idempotency key (a script without
/// alerts), or one declared by an alert group of the run's synthetic alerts (labelled
/// with the run, [`incident_schema::drill::DRILL_LABEL`]). Reads core's and ingestion's
/// tables, writes only `drill_runs`; returns how many runs learnt theirs.
pub async fn learn_incidents(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE drill_runs r SET incident_id = i.id
         FROM incidents i
         WHERE r.state = 'running' AND r.incident_id IS NULL
           AND i.workspace_id = r.workspace_id AND i.is_drill
           AND (i.idempotency_key = r.idempotency_key
                OR i.idempotency_key IN (
                    SELECT g.id::text FROM alert_groups g
                    WHERE g.workspace_id = r.workspace_id AND g.labels ->> $1 = r.id::text))",
    )
    .bind(incident_schema::drill::DRILL_LABEL)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Running runs to end now: their incident resolved (or closed), or their deadline
/// passed; at most `limit`.
pub async fn runs_to_end(conn: &mut PgConnection, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT r.id FROM drill_runs r
         LEFT JOIN incidents i ON i.workspace_id = r.workspace_id AND i.id = r.incident_id
         WHERE r.state = 'running'
           AND (r.ends_at <= now() OR i.status IN ('RESOLVED', 'CLOSED'))
         ORDER BY r.ends_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// What a run's incident shows: whether it is resolved, its severity, and the times of
/// what a run is scored on, in seconds from its declaration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentTimes {
    /// RESOLVED or CLOSED.
    pub resolved_now: bool,
    /// Its severity now.
    pub severity: incident_schema::Severity,
    /// Acknowledged.
    pub acknowledged: Option<f64>,
    /// The first commander assigned (or declared with one).
    pub commander_assigned: Option<f64>,
    /// The first public update.
    pub first_public_update: Option<f64>,
    /// Mitigated.
    pub mitigated: Option<f64>,
    /// Resolved.
    pub resolved: Option<f64>,
    /// Its postmortem drafted.
    pub postmortem_drafted: Option<f64>,
}

/// The times of incident `incident_id` of `workspace_id`.
pub async fn incident_times(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
) -> Result<Option<IncidentTimes>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.status IN ('RESOLVED', 'CLOSED') AS resolved_now, i.severity,
                extract(epoch FROM i.acknowledged_at - i.created_at)::float8 AS acknowledged,
                coalesce(
                    (SELECT extract(epoch FROM min(t.occurred_at) - i.created_at)::float8
                     FROM incident_timeline t
                     WHERE t.workspace_id = i.workspace_id AND t.incident_id = i.id
                       AND t.kind = 'ROLE_ASSIGNED' AND lower(t.data ->> 'role') = 'commander'
                       AND t.data ->> 'user_id' IS NOT NULL),
                    CASE WHEN i.commander_id IS NOT NULL THEN 0::float8 END) AS commander_assigned,
                (SELECT extract(epoch FROM min(t.occurred_at) - i.created_at)::float8
                 FROM incident_timeline t
                 WHERE t.workspace_id = i.workspace_id AND t.incident_id = i.id
                   AND t.kind = 'UPDATE' AND t.is_public) AS first_public_update,
                extract(epoch FROM i.mitigated_at - i.created_at)::float8 AS mitigated,
                extract(epoch FROM i.resolved_at - i.created_at)::float8 AS resolved,
                (SELECT extract(epoch FROM p.created_at - i.created_at)::float8
                 FROM postmortems p
                 WHERE p.workspace_id = i.workspace_id AND p.incident_id = i.id) AS postmortem_drafted
         FROM incidents i WHERE i.workspace_id = $1 AND i.id = $2",
    )
    .bind(workspace_id)
    .bind(incident_id)
    .fetch_optional(conn)
    .await
}

/// The latest scored run of `scenario_id` that ended before `run_id` did: its id and
/// score.
pub async fn previous_score(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    scenario_id: Uuid,
    run_id: Uuid,
) -> Result<Option<(Uuid, Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, score FROM drill_runs
         WHERE workspace_id = $1 AND scenario_id = $2 AND id <> $3
           AND state <> 'running' AND score IS NOT NULL
         ORDER BY ended_at DESC, id DESC LIMIT 1",
    )
    .bind(workspace_id)
    .bind(scenario_id)
    .bind(run_id)
    .fetch_optional(conn)
    .await
}

/// Each scenario's latest scored run of `workspace_id`: (scenario, run, score).
pub async fn latest_scores(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (scenario_id) scenario_id, id, score FROM drill_runs
         WHERE workspace_id = $1 AND scenario_id IS NOT NULL AND score IS NOT NULL
         ORDER BY scenario_id, ended_at DESC, id DESC",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// The numbers of incidents `ids` of `workspace_id` (core's rows, read for the pages'
/// links): (id, number).
pub async fn incident_numbers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, i32)>, sqlx::Error> {
    sqlx::query_as("SELECT id, number FROM incidents WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(workspace_id)
        .bind(ids)
        .fetch_all(conn)
        .await
}
