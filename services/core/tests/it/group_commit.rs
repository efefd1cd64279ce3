//! Group commit of declares (`incident::group_commit`): concurrent declares of one
//! workspace applied in shared transactions stay gap-free and idempotent, a refused one
//! takes no number, and a failed batch leaves nothing and answers every member.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{ADMIN, TestApp};

/// A declare over HTTP as the admin: (status, content type, body).
async fn post(app: &TestApp, body: Value, key: Option<&str>) -> (StatusCode, String, Value) {
    post_with(&app.client, &app.base, body, key).await
}

async fn post_with(
    client: &reqwest::Client,
    base: &str,
    body: Value,
    key: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut request = client
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(ADMIN)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let r = request.send().await.expect("request");
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, kind, r.json().await.expect("json"))
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn two_hundred_concurrent_declares_with_keys_and_refusals_stay_gap_free(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let client = app.client.clone();
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for j in 0..13 {
                let i = t * 13 + j;
                if i >= 200 {
                    break;
                }
                let services = json!([{ "name": "api", "impact": "DEGRADED" }]);
                let (body, key) = if i % 7 == 0 {
                    // Refused: no such commander.
                    let body = json!({ "title": format!("refused {i}"), "severity": "SEV3",
                                       "commander_id": Uuid::new_v4() });
                    (body, None)
                } else if i % 5 == 0 {
                    // Six keys, each sent by several tasks with the same body.
                    let k = i % 6;
                    let body = json!({ "title": format!("keyed {k}"), "severity": "SEV2",
                                       "affected_services": services });
                    (body, Some(format!("storm-{k}")))
                } else if i % 11 == 0 {
                    // A key of its own, used twice with different bodies: one is refused.
                    let body = json!({ "title": format!("twice {i}"), "severity": "SEV4" });
                    (body, Some("twice".to_owned()))
                } else {
                    let body = json!({ "title": format!("storm {i}"), "severity": "SEV3",
                                       "affected_services": services });
                    (body, None)
                };
                let (status, _, answer) = post_with(&client, &base, body, key.as_deref()).await;
                answers.push((i, key, status, answer));
            }
            answers
        }));
    }
    let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut created = BTreeSet::new();
    let (mut refused, mut twice_refused) = (0, 0);
    for task in tasks {
        for (i, key, status, answer) in task.await.expect("task") {
            if i % 7 == 0 {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{i}: {answer}");
                assert_eq!(answer["field"], "commander_id");
                refused += 1;
                continue;
            }
            if key.as_deref() == Some("twice") && status == StatusCode::UNPROCESSABLE_ENTITY {
                assert_eq!(answer["field"], "Idempotency-Key", "{answer}");
                twice_refused += 1;
                continue;
            }
            assert!(
                status == StatusCode::CREATED || status == StatusCode::OK,
                "{i}: {status} {answer}"
            );
            let id = answer["id"].as_str().expect("id").to_owned();
            if status == StatusCode::CREATED {
                assert!(created.insert(answer["number"].as_i64().expect("number")));
            }
            if let Some(key) = key {
                by_key.entry(key).or_default().insert(id);
            }
        }
    }
    // 0, 7, …, 196: 29 refused. Keyed: 5, 10, …, 195 not a multiple of 7: 34 declares.
    assert_eq!(refused, 29);
    let twice = (0..200)
        .filter(|i| i % 7 != 0 && i % 5 != 0 && i % 11 == 0)
        .count();
    assert!(twice >= 2, "the key is used more than once");
    assert_eq!(twice_refused, twice - 1, "all but the first use refused");
    assert_eq!(by_key.len(), 7, "six storm keys and `twice`");
    for (key, ids) in &by_key {
        assert_eq!(ids.len(), 1, "{key}: one incident per key");
    }

    let incidents = count(&pool, "SELECT count(*) FROM incidents").await;
    let plain = (0..200)
        .filter(|i| i % 7 != 0 && i % 5 != 0 && i % 11 != 0)
        .count() as i64;
    assert_eq!(incidents, plain + 7, "every plain declare, one per key");
    assert_eq!(created, (1..=incidents).collect(), "the 201s took 1..n");
    let numbers: Vec<i32> = sqlx::query_scalar("SELECT number FROM incidents ORDER BY number")
        .fetch_all(&pool)
        .await
        .expect("numbers");
    assert_eq!(
        numbers,
        (1..=incidents as i32).collect::<Vec<_>>(),
        "gap-free"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT last_incident_number::bigint FROM workspaces WHERE slug = 'default'"
        )
        .await,
        incidents,
        "refused declares gave their numbers back"
    );
    // Each created incident has its entry, its event and (unless `twice`) its service.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incident_timeline WHERE kind = 'DETECTED'"
        )
        .await,
        incidents
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE message_type = 'incident.declared'"
        )
        .await,
        incidents
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM affected_services").await,
        incidents - 1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incidents i WHERE sla_deadline IS NULL OR NOT EXISTS
               (SELECT 1 FROM incident_timeline t WHERE t.incident_id = i.id
                  AND t.message LIKE 'INC-' || i.number || ' declared: %')"
        )
        .await,
        0,
        "every incident has its deadline and its own numbered entry"
    );
}

/// Holds the default workspace's counter row, as a declare does, until the returned
/// transaction ends.
async fn hold_counter(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM workspaces WHERE slug = 'default' FOR NO KEY UPDATE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    tx
}

/// The backend of this test's database whose batch waits on the counter, in the
/// statement taking the numbers (polled for up to 5 s).
async fn batch_waiting(pool: &PgPool) -> i32 {
    for _ in 0..100 {
        let pid = sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%UPDATE workspaces SET last_incident_number%'",
        )
        .fetch_optional(pool)
        .await
        .expect("activity");
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no batch waits on the counter");
}

fn spawn_declare(
    app: &TestApp,
    title: &str,
    key: &str,
) -> tokio::task::JoinHandle<(StatusCode, String, Value)> {
    let (client, base) = (app.client.clone(), app.base.clone());
    let body = json!({ "title": title, "severity": "SEV2" });
    let key = key.to_owned();
    tokio::spawn(async move { post_with(&client, &base, body, Some(&key)).await })
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_member_the_database_refuses_fails_alone_and_leaves_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // A constraint made to fail for one declare.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.title = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&pool)
    .await
    .expect("trigger");

    // The first declare's batch waits on the counter; the next ones queue behind it and
    // form the second batch, poison among them.
    let held = hold_counter(&pool).await;
    let first = spawn_declare(&app, "first", "k-first");
    batch_waiting(&pool).await;
    let mut second = Vec::new();
    for title in ["b", "c", "poison", "d"] {
        second.push((title, spawn_declare(&app, title, &format!("k-{title}"))));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.commit().await.expect("release");

    let (status, _, body) = first.await.expect("task");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["number"], 1);
    // The batch is rolled back and each member applied alone: the poisoned one answers
    // 503, the others are declared, numbered on without a gap in their order.
    let mut numbers = Vec::new();
    for (title, task) in second {
        let (status, kind, body) = task.await.expect("task");
        if title == "poison" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{title}: {body}");
            assert_eq!(kind, "application/problem+json");
            assert_eq!(body["type"], "https://incident.dev/problems/unavailable");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{title}: {body}");
            numbers.push(body["number"].as_i64().expect("number"));
        }
    }
    assert_eq!(numbers, [2, 3, 4]);
    assert_eq!(count(&pool, "SELECT count(*) FROM incidents").await, 4);
    assert_eq!(
        count(
            &pool,
            "SELECT last_incident_number::bigint FROM workspaces WHERE slug = 'default'"
        )
        .await,
        4,
        "the refused member took no number"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM incident_timeline").await,
        4
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE message_type = 'incident.declared'"
        )
        .await,
        4
    );

    // Its retry, with its key, succeeds once the database takes it, and numbers on.
    sqlx::query("DROP TRIGGER refuse_poison ON incidents")
        .execute(&pool)
        .await
        .expect("drop");
    let body = json!({ "title": "poison", "severity": "SEV2" });
    let (status, _, body) = post(&app, body, Some("k-poison")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["number"], 5);
    // The others' keys give their incidents back.
    let body = json!({ "title": "c", "severity": "SEV2" });
    let (status, _, body) = post(&app, body, Some("k-c")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["number"], 3);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_batch_whose_connection_is_killed_answers_503_and_the_next_goes_on(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let held = hold_counter(&pool).await;
    let killed = spawn_declare(&app, "killed", "k-killed");
    // Its batch waits on the counter's lock: terminate that backend.
    let pid = batch_waiting(&pool).await;
    // Two more queue behind the batch that is about to fail.
    let later = [
        spawn_declare(&app, "later a", "k-a"),
        spawn_declare(&app, "later b", "k-b"),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&pool)
        .await
        .expect("terminate");
    assert!(terminated);
    let (status, kind, body) = killed.await.expect("task");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(kind, "application/problem+json");
    held.commit().await.expect("release");

    let mut numbers = BTreeSet::new();
    for task in later {
        let (status, _, body) = task.await.expect("task");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        numbers.insert(body["number"].as_i64().expect("number"));
    }
    assert_eq!(
        numbers,
        BTreeSet::from([1, 2]),
        "the killed batch took no number"
    );
    let (status, _, body) = post(
        &app,
        json!({ "title": "killed", "severity": "SEV2" }),
        Some("k-killed"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "the retry declares it: {body}");
    assert_eq!(body["number"], 3);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_key_another_process_takes_meanwhile_answers_its_incident(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // Another core process holds the counter to declare with the key.
    let mut other = hold_counter(&pool).await;
    let declare = spawn_declare(&app, "from here", "shared-key");
    // Ours has checked (no such key yet) and waits on the counter to insert.
    batch_waiting(&pool).await;
    let theirs: Uuid = sqlx::query_scalar(
        "WITH n AS (UPDATE workspaces SET last_incident_number = last_incident_number + 1
                    WHERE slug = 'default' RETURNING id, last_incident_number)
         INSERT INTO incidents (workspace_id, number, title, severity, detected_at, idempotency_key)
         SELECT id, last_incident_number, 'from there', 'SEV2', now(), 'shared-key' FROM n
         RETURNING id",
    )
    .fetch_one(&mut *other)
    .await
    .expect("their declare");
    other.commit().await.expect("commit");

    let (status, _, body) = declare.await.expect("task");
    assert_eq!(
        status,
        StatusCode::OK,
        "the retry of the batch finds theirs: {body}"
    );
    assert_eq!(body["id"], theirs.to_string());
    assert_eq!(count(&pool, "SELECT count(*) FROM incidents").await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT last_incident_number::bigint FROM workspaces WHERE slug = 'default'"
        )
        .await,
        1,
        "the lost batch gave its number back"
    );
}
