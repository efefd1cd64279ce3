//! The drill tables: scenarios scoped by workspace, runs with their steps, one run per
//! idempotency key (a schedule occurrence two replicas race for).

use incident_sla_watchdog::drill::store;

use crate::support::*;

const SCENARIO: &str = r#"
title = "Checkout latency"
severity = "SEV3"
timeout = "10m"

[[steps]]
at = "0s"
hint = "first"

[[steps]]
at = "2s"
hint = "second"

[expect]
acknowledged_within = "5m"
"#;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_run_gets_one_step_row_per_step_and_a_second_run_of_the_same_key_is_refused(
    pool: sqlx::PgPool,
) {
    let ws = workspace(&pool, "acme").await;
    let other = workspace(&pool, "other").await;
    let parsed = incident_schema::drill::parse(SCENARIO).expect("valid");
    let mut conn = pool.acquire().await.expect("connection");
    let scenario = store::insert_scenario(&mut conn, ws.id, "latency", SCENARIO, &parsed, None)
        .await
        .expect("insert")
        .expect("stored");
    assert!(
        store::insert_scenario(&mut conn, ws.id, "latency", SCENARIO, &parsed, None)
            .await
            .expect("insert")
            .is_none(),
        "the name is unique in the workspace"
    );
    assert!(
        store::scenario(&mut conn, other.id, scenario.id)
            .await
            .expect("read")
            .is_none(),
        "another workspace does not see it"
    );
    let key = Some("schedule:latency:2026-12-02T09:00:00Z");
    let run = store::insert_run(&mut conn, &scenario, ws.id, &parsed, None, key)
        .await
        .expect("run")
        .expect("started");
    assert_eq!(run.state, "running");
    let steps = store::steps(&mut conn, run.id).await.expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[1].due_at - steps[0].due_at).num_seconds(), 2);
    assert!(
        store::insert_run(&mut conn, &scenario, ws.id, &parsed, None, key)
            .await
            .expect("run")
            .is_none(),
        "one run per occurrence"
    );
    // The first step is due now, the second is not yet.
    let due = store::claim_due_step(&mut conn, run.id)
        .await
        .expect("claim");
    assert_eq!(due, Some(0));
    store::mark_done(&mut conn, run.id, 0).await.expect("done");
    assert_eq!(
        store::claim_due_step(&mut conn, run.id)
            .await
            .expect("claim"),
        None,
        "a played step is not claimed again, and the next is not due"
    );
    assert!(
        store::end_run(&mut conn, run.id, "cancelled", None)
            .await
            .expect("end")
    );
    assert!(
        !store::end_run(&mut conn, run.id, "completed", None)
            .await
            .expect("end"),
        "a run ends once"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM drill_runs WHERE state = 'cancelled'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_malformed_scenario_is_refused_naming_its_line_and_field_and_nothing_is_stored(
    pool: sqlx::PgPool,
) {
    use incident_sla_watchdog::drill::scenario::{self, ScenarioRefused};
    let ws = workspace(&pool, "acme").await;
    let mut conn = pool.acquire().await.expect("connection");
    let bad = SCENARIO.replace("at = \"2s\"", "at = \"soon\"");
    let refused = scenario::create(&mut conn, ws.id, "latency", &bad, None)
        .await
        .expect_err("refused");
    let ScenarioRefused::Invalid(e) = refused else {
        panic!("{refused}");
    };
    assert_eq!((e.line, e.field.as_str()), (11, "steps[1].at"), "{e}");
    let refused = scenario::create(&mut conn, ws.id, "latency", SCENARIO, Some("daily"))
        .await
        .expect_err("refused");
    assert!(matches!(refused, ScenarioRefused::Schedule(_)), "{refused}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM drill_scenarios").await,
        0
    );

    let stored = scenario::create(&mut conn, ws.id, "latency", SCENARIO, Some("0 0 9 * * 1"))
        .await
        .expect("stored");
    let refused = scenario::replace(&mut conn, ws.id, stored.id, &bad, None)
        .await
        .expect_err("refused");
    assert!(matches!(refused, ScenarioRefused::Invalid(_)), "{refused}");
    let kept = store::scenario(&mut conn, ws.id, stored.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(kept.source, SCENARIO, "a refused edit changes nothing");
    assert_eq!(kept.schedule.as_deref(), Some("0 0 9 * * 1"));
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_played_step_is_never_replayed_and_a_cancelled_run_plays_no_further_step(
    pool: sqlx::PgPool,
) {
    use incident_sla_watchdog::drill::runner::{self, Played};
    let ws = workspace(&pool, "acme").await;
    let incident = drill_incident(&pool, ws.id).await;
    let (_, run) = drill_run(&pool, ws.id, "l", SCENARIO, None).await;
    let mut conn = pool.acquire().await.expect("connection");
    // Before the incident is known, a hint waits.
    assert_eq!(
        runner::play_next(&mut conn, run.id).await.expect("play"),
        Played::Nothing
    );
    store::set_incident(&mut conn, run.id, incident.id)
        .await
        .expect("incident");
    assert_eq!(
        runner::play_next(&mut conn, run.id).await.expect("play"),
        Played::Step(0)
    );
    // Again, as a replica restarted after the commit would: nothing is replayed.
    assert_eq!(
        runner::play_next(&mut conn, run.id).await.expect("play"),
        Played::Nothing
    );
    let notes = outbox_events(&pool, "incident.add_update").await;
    assert_eq!(notes.len(), 1, "one update for one step");
    assert_eq!(notes[0].data["message"], "[DRILL] Hint: first");
    assert_eq!(notes[0].data["is_public"], false);
    assert_eq!(notes[0].data["kind"], "UPDATE", "posted by the war room");

    assert!(
        store::end_run(&mut conn, run.id, "cancelled", None)
            .await
            .expect("cancel")
    );
    sqlx::query(
        "UPDATE drill_run_steps SET due_at = now() - interval '1 second' WHERE run_id = $1",
    )
    .bind(run.id)
    .execute(&pool)
    .await
    .expect("the second step is due");
    assert_eq!(
        runner::play_next(&mut conn, run.id).await.expect("play"),
        Played::Nothing
    );
    assert_eq!(
        outbox_events(&pool, "incident.add_update").await.len(),
        1,
        "cancelled: no more"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_scheduled_run_starts_once_across_two_replicas(
    _options: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    use incident_sla_watchdog::drill::{scenario, scheduled};
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(connect)
        .await
        .expect("pool");
    let ws = workspace(&pool, "acme").await;
    let mut conn = pool.acquire().await.expect("connection");
    // Every second: an occurrence is always in the last two seconds.
    scenario::create(&mut conn, ws.id, "l", SCENARIO, Some("* * * * * *"))
        .await
        .expect("stored");
    drop(conn);
    let to = chrono::Utc::now();
    let from = to - chrono::TimeDelta::seconds(2);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let pool = pool.clone();
        replicas.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.expect("connection");
            scheduled::start_due(&mut conn, from, to)
                .await
                .expect("start")
        }));
    }
    let mut started = 0;
    for r in replicas {
        started += r.await.expect("replica");
    }
    assert_eq!(started, 1, "one replica started it");
    assert_eq!(count(&pool, "SELECT count(*) FROM drill_runs").await, 1);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM drill_run_steps").await,
        2
    );
}

const WITH_AN_ALERT: &str = r#"
title = "Checkout latency"
severity = "SEV3"
timeout = "10m"

[[steps]]
at = "0s"
alert = { labels = { alertname = "CheckoutLatencyHigh" } }

[[steps]]
at = "0s"
hint = "after the alert"

[[steps]]
at = "0s"
severity = "SEV2"

[[steps]]
at = "0s"
update = "a customer complains"

[expect]
acknowledged_within = "5m"
"#;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_alert_without_an_integration_is_recorded_as_failed_and_the_steps_after_it_play(
    pool: sqlx::PgPool,
) {
    use incident_sla_watchdog::drill::runner::{self, Played, Round};
    let ws = workspace(&pool, "acme").await;
    let incident = drill_incident(&pool, ws.id).await;
    // No integration in the workspace: the alert has nothing to go through.
    let (_, run) = drill_run(&pool, ws.id, "l", WITH_AN_ALERT, None).await;
    let mut conn = pool.acquire().await.expect("connection");
    let Played::Failed(0, reason) = runner::play_next(&mut conn, run.id).await.expect("play")
    else {
        panic!("the alert step should fail");
    };
    assert!(reason.contains("no enabled integration"), "{reason}");
    // The hint after it waits for the incident: it is not failed, it holds its place.
    assert_eq!(
        runner::play_next(&mut conn, run.id).await.expect("play"),
        Played::Nothing
    );
    store::set_incident(&mut conn, run.id, incident.id)
        .await
        .expect("incident");
    assert_eq!(
        runner::play_due(&mut conn).await.expect("round"),
        Round {
            played: 3,
            failed: 0
        },
        "the hint, the severity change and the update play"
    );
    let steps = store::steps(&mut conn, run.id).await.expect("steps");
    assert!(steps.iter().all(|s| s.done_at.is_some()), "{steps:?}");
    let failures: Vec<_> = steps.iter().map(|s| s.failure.is_some()).collect();
    assert_eq!(failures, [true, false, false, false]);
    let notes: Vec<_> = outbox_events(&pool, "incident.add_update")
        .await
        .into_iter()
        .map(|e| e.data["message"].as_str().expect("message").to_owned())
        .collect();
    assert_eq!(
        notes,
        [
            "[DRILL] Hint: after the alert",
            "[DRILL] Stakeholder update: a customer complains"
        ]
    );
    let severity = outbox_events(&pool, "incident.change_severity").await;
    assert_eq!(severity.len(), 1);
    assert_eq!(severity[0].data["severity"], "SEV2");
    assert_eq!(severity[0].data["incident_id"], incident.id.to_string());
    // Settled steps are never tried again.
    assert_eq!(
        runner::play_due(&mut conn).await.expect("round"),
        Round::default()
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn two_drill_loops_play_each_due_step_once_start_scheduled_runs_time_out_runs_and_stop(
    pool: sqlx::PgPool,
) {
    use std::time::Duration;

    use incident_sla_watchdog::schedule;
    let ws = workspace(&pool, "acme").await;
    let incident = drill_incident(&pool, ws.id).await;
    // Steps at 0 s and 2 s; the loop plays each when it is due.
    let (stored, run) = drill_run(&pool, ws.id, "l", SCENARIO, Some(incident.id)).await;
    let parsed = incident_schema::drill::parse(SCENARIO).expect("valid");
    let mut conn = pool.acquire().await.expect("connection");
    // A run past its deadline.
    let overdue = store::insert_run(&mut conn, &stored, ws.id, &parsed, None, None)
        .await
        .expect("run")
        .expect("started");
    sqlx::query("UPDATE drill_runs SET ends_at = now() - interval '1 second' WHERE id = $1")
        .bind(overdue.id)
        .execute(&pool)
        .await
        .expect("overdue");
    // A scenario scheduled every second.
    incident_sla_watchdog::drill::scenario::create(
        &mut conn,
        ws.id,
        "scheduled",
        SCENARIO,
        Some("* * * * * *"),
    )
    .await
    .expect("stored");
    drop(conn);

    // Two replicas' loops over the same database.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(schedule::drills_periodically(
                pool.clone(),
                Duration::from_millis(100),
                shutdown.clone(),
            ))
        })
        .collect();
    let wait = Duration::from_secs(10);
    let notes = |n: usize| {
        let pool = pool.clone();
        move || {
            let pool = pool.clone();
            async move { outbox_events(&pool, "incident.add_update").await.len() >= n }
        }
    };
    eventually(wait, "the first step played", notes(1)).await;
    eventually(wait, "the second step played, two seconds in", notes(2)).await;
    let played = outbox_events(&pool, "incident.add_update").await;
    assert_eq!(played[0].data["message"], "[DRILL] Hint: first");
    assert_eq!(played[1].data["message"], "[DRILL] Hint: second");
    let mut conn = pool.acquire().await.expect("connection");
    let steps = store::steps(&mut conn, run.id).await.expect("steps");
    assert!(
        steps
            .iter()
            .all(|s| s.done_at.is_some_and(|d| d >= s.due_at)),
        "each played once due: {steps:?}"
    );
    eventually(wait, "a scheduled run started", || async {
        count(
            &pool,
            "SELECT count(*) FROM drill_runs WHERE idempotency_key LIKE 'schedule:%'",
        )
        .await
            > 0
    })
    .await;
    eventually(wait, "the overdue run timed out", || async {
        count(
            &pool,
            "SELECT count(*) FROM drill_runs WHERE state = 'timed_out'",
        )
        .await
            == 1
    })
    .await;

    shutdown.cancel();
    for task in replicas {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops on shutdown")
            .expect("the loop did not panic");
    }
    assert_eq!(
        outbox_events(&pool, "incident.add_update").await.len(),
        2,
        "each step once across the two replicas"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_started_service_runs_the_drill_loop_until_shutdown(pool: sqlx::PgPool) {
    use std::time::Duration;

    let ws = workspace(&pool, "acme").await;
    let incident = drill_incident(&pool, ws.id).await;
    let (_, run) = drill_run(&pool, ws.id, "l", SCENARIO, Some(incident.id)).await;

    // No broker: the notes wait in the outbox, which is what the test reads.
    let mut config = incident_runtime::Config::for_urls(
        "postgres://unused@127.0.0.1/unused",
        "amqp://guest:guest@127.0.0.1:1/none",
    )
    .expect("configuration");
    config.sla_digest_cron = "0 0 0 1 1 *".into();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut component = incident_sla_watchdog::start(config, pool.clone(), shutdown.clone())
        .await
        .expect("the service starts");
    eventually(
        Duration::from_secs(10),
        "both steps played by the service's loop",
        || async { outbox_events(&pool, "incident.add_update").await.len() == 2 },
    )
    .await;
    shutdown.cancel();
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while component.tasks.join_next().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the service's tasks stop on shutdown");
    let mut conn = pool.acquire().await.expect("connection");
    let steps = store::steps(&mut conn, run.id).await.expect("steps");
    assert!(
        steps
            .iter()
            .all(|s| s.done_at.is_some() && s.failure.is_none()),
        "{steps:?}"
    );
}
