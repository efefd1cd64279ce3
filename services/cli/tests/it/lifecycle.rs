//! An incident run from the CLI from start to end (declare → list → show → assign → ack
//! → update → resolve), the API's state checked after each step, and the `--json`
//! outputs snapshot-tested.

use serde_json::Value;
use sqlx::PgPool;

use crate::support::{ADMIN, TestStack, redacted};

fn kinds(timeline: &[Value]) -> Vec<&str> {
    timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect()
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn an_incident_declared_from_the_cli_is_listed_shown_assigned_acknowledged_updated_and_resolved(
    pool: PgPool,
) {
    let stack = TestStack::spawn(pool).await;
    let alice = stack.user(ADMIN, "alice@example.com", "Alice").await;

    // declare
    let declared = stack
        .cli(&[
            "declare",
            "--json",
            "--title",
            "Checkout is down",
            "--severity",
            "sev2",
            "--service",
            "checkout=PARTIAL_OUTAGE",
            "--service",
            "payments",
            "--description",
            "Card payments fail with 502.",
        ])
        .await
        .json();
    insta::assert_json_snapshot!("declare", redacted(&declared));
    let incident = stack.incident("INC-1").await;
    assert_eq!(incident["id"], declared["id"]);
    assert_eq!(incident["severity"], "SEV2");
    assert_eq!(
        incident["affected_services"].as_array().map(Vec::len),
        Some(2)
    );

    // The human form prints the reference and the incident's link.
    let second = stack
        .cli(&[
            "declare",
            "--title",
            "Search is slow",
            "--severity",
            "SEV4",
            "--drill",
        ])
        .await;
    let text = second.ok();
    assert!(
        text.starts_with("Declared INC-2: Search is slow\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}/ui/incidents/2", stack.base)),
        "{text}"
    );

    // list: both, newest first; filters reach the API
    let listed = stack.cli(&["list", "--json"]).await.json();
    insta::assert_json_snapshot!("list", redacted(&listed));
    let table = stack.cli(&["list"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{table:#?}");
    assert!(
        lines[0].starts_with("REF") && lines[0].ends_with("TITLE"),
        "{table:#?}"
    );
    assert!(lines[1].starts_with("INC-2") && lines[1].ends_with("Search is slow [drill]"));
    assert!(lines[2].starts_with("INC-1") && lines[2].contains("SEV2  INVESTIGATING"));
    let sev2 = stack
        .cli(&["list", "--json", "--severity", "SEV2"])
        .await
        .json();
    assert_eq!(sev2["items"].as_array().map(Vec::len), Some(1), "{sev2}");
    let payments = stack
        .cli(&[
            "list",
            "--json",
            "--service",
            "payments",
            "--search",
            "CHECKOUT",
        ])
        .await
        .json();
    assert_eq!(payments["items"][0]["reference"], "INC-1", "{payments}");
    assert_eq!(
        payments["items"].as_array().map(Vec::len),
        Some(1),
        "{payments}"
    );

    // assign by email
    let assigned = stack
        .cli(&[
            "assign",
            "INC-1",
            "--role",
            "commander",
            "--user",
            "Alice@Example.com",
        ])
        .await;
    assert_eq!(
        assigned.ok(),
        "INC-1: commander is now Alice <alice@example.com>\n"
    );
    assert_eq!(
        stack.incident("INC-1").await["commander_id"],
        alice.to_string()
    );

    // ack
    let acked = stack.cli(&["ack", "1", "--json"]).await.json();
    assert!(acked["acknowledged_at"].is_string(), "{acked}");
    assert!(stack.incident("INC-1").await["acknowledged_at"].is_string());

    // update, public and internal
    let posted = stack
        .cli(&[
            "update",
            "INC-1",
            "--public",
            "-m",
            "We are rolling back the deploy.",
        ])
        .await;
    assert_eq!(posted.ok(), "Posted a public update to INC-1\n");
    let entry = stack
        .cli(&[
            "update",
            "INC-1",
            "--json",
            "--message",
            "Rollback started by Alice.",
        ])
        .await
        .json();
    insta::assert_json_snapshot!("update", redacted(&entry));
    let timeline = stack.timeline("INC-1").await;
    let updates: Vec<(&Value, &Value)> = timeline
        .iter()
        .filter(|e| e["kind"] == "UPDATE")
        .map(|e| (&e["message"], &e["is_public"]))
        .collect();
    assert_eq!(
        updates,
        [
            (&"We are rolling back the deploy.".into(), &true.into()),
            (&"Rollback started by Alice.".into(), &false.into())
        ]
    );

    // show: fields, the role holder by name, the latest entries
    let shown = stack.cli(&["show", "INC-1"]).await;
    let text = shown.ok();
    for expected in [
        "INC-1  Checkout is down",
        "status        INVESTIGATING",
        "services      checkout (PARTIAL_OUTAGE), payments (DEGRADED)",
        "commander     Alice <alice@example.com>",
        "Card payments fail with 502.",
        "We are rolling back the deploy. [public] (Administrator)",
        "Timeline (latest 5 of 5)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let shown = stack.cli(&["show", "INC-1", "--json"]).await.json();
    assert_eq!(shown["incident"]["id"], declared["id"]);
    assert_eq!(
        shown["timeline"].as_array().map(Vec::len),
        Some(timeline.len())
    );

    // resolve, by id
    let id = declared["id"].as_str().expect("id");
    let resolved = stack
        .cli(&["resolve", id, "--json", "-m", "Rolled back."])
        .await
        .json();
    insta::assert_json_snapshot!("resolve", redacted(&resolved));
    let incident = stack.incident("INC-1").await;
    assert_eq!(incident["status"], "RESOLVED");
    assert!(incident["resolved_at"].is_string());
    let timeline = stack.timeline("INC-1").await;
    assert_eq!(kinds(&timeline).last(), Some(&"STATUS_CHANGE"));

    let open = stack
        .cli(&[
            "list",
            "--json",
            "--status",
            "INVESTIGATING,IDENTIFIED,MONITORING",
        ])
        .await
        .json();
    let open: Vec<&Value> = open["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["reference"])
        .collect();
    assert_eq!(open, [&Value::from("INC-2")]);

    // status: another move, named in text
    let closed = stack.cli(&["status", "INC-1", "closed"]).await;
    assert_eq!(closed.ok(), "INC-1 is CLOSED\n");
    assert_eq!(stack.incident("INC-1").await["status"], "CLOSED");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn declaring_again_with_the_same_idempotency_key_returns_the_first_incident(pool: PgPool) {
    let stack = TestStack::spawn(pool).await;
    let args = [
        "declare",
        "--json",
        "--title",
        "Disk full on db-1",
        "--severity",
        "SEV3",
        "--idempotency-key",
        "deploy-42",
    ];
    let first = stack.cli(&args).await.json();
    let again = stack.cli(&args).await.json();
    assert_eq!(again["id"], first["id"]);
    let human: Vec<&str> = args.into_iter().filter(|a| *a != "--json").collect();
    let retry = stack.cli(&human).await;
    assert!(
        retry
            .ok()
            .starts_with("Already declared with this key: INC-1"),
        "{retry:#?}"
    );
    let listed = stack.cli(&["list", "--json"]).await.json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_declare_whose_answer_was_lost_is_retried_with_its_key_and_declares_once(pool: PgPool) {
    let stack = TestStack::spawn(pool).await;
    let proxy = crate::support::losing_first_answer(&stack.base).await;
    let home = tempfile::tempdir().expect("home");
    let env = [
        ("INCIDENT_URL", proxy),
        ("INCIDENT_TOKEN", ADMIN.to_owned()),
    ];
    let args = ["declare", "--title", "Cache stampede", "--severity", "SEV2"];
    let declared = crate::support::run(home.path(), &env, &args, None).await;
    assert!(
        declared.ok().starts_with("Declared INC-1: Cache stampede"),
        "{declared:#?}"
    );
    assert!(
        declared
            .stderr
            .contains("retrying with the same Idempotency-Key "),
        "{declared:#?}"
    );
    let (_, page) = stack.get(ADMIN, "/api/v1/incidents").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}
