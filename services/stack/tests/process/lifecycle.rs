//! The `incident-stack` binary as a process: it refuses a bad configuration naming the
//! key, and SIGTERM shuts it down cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use incident_bus::testing::TestVhost;
use sqlx::PgPool;

use crate::support::{BINARY, free_port, server_url};

#[test]
fn a_bad_value_stops_start_up_with_a_message_naming_the_key() {
    let output = Command::new(BINARY)
        .env("INCIDENT_HTTP_ADDR", "not-an-address")
        .env_remove("INCIDENT_CONFIG_FILE")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INCIDENT_HTTP_ADDR"), "stderr: {stderr}");

    let output = Command::new(BINARY)
        .env("AMQP_URL", "http://wrong-scheme")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AMQP_URL"), "stderr: {stderr}");
}

#[sqlx::test(migrations = false)]
async fn sigterm_shuts_the_running_stack_down_cleanly(pool: PgPool) {
    let vhost = TestVhost::create();
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned();
    let port = free_port();
    let mut child = Command::new(BINARY)
        .env("DATABASE_URL", format!("{}/{database}", server_url()))
        .env("AMQP_URL", &vhost.url)
        .env("INCIDENT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");

    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "the stack exited before becoming ready"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stack never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("status") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stack did not stop within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// Runs the binary with `args` against `database` and `amqp`; returns whether it exited
/// 0, and its stderr.
fn install_step(args: &[&str], database: &str, amqp: &str) -> (bool, String) {
    let output = Command::new(BINARY)
        .args(args)
        .env_remove("INCIDENT_CONFIG_FILE")
        .env("DATABASE_URL", database)
        .env("AMQP_URL", amqp)
        .env("RUST_LOG", "info")
        .output()
        .expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}

#[sqlx::test(migrations = false)]
async fn the_install_steps_migrate_and_declare_the_topology_then_exit_and_can_run_again(
    pool: PgPool,
) {
    // What the Helm hook Job and the compose `install` service run before any service.
    let vhost = TestVhost::create();
    let database = crate::support::database_url(&pool);
    for run in ["first", "again"] {
        let (ok, output) = install_step(&["migrate"], &database, &vhost.url);
        assert!(ok, "migrate ({run}) failed: {output}");
        assert!(output.contains("database migrations applied"), "{output}");
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .expect("migrations table");
        assert_eq!(
            applied as usize,
            incident_schema::MIGRATOR.iter().count(),
            "{run}: every migration applied once"
        );

        let (ok, output) = install_step(&["topology"], &database, &vhost.url);
        assert!(ok, "topology ({run}) failed: {output}");
        let listed = Command::new("rabbitmqctl")
            .args(["-q", "list_queues", "-p", &vhost.name, "name"])
            .output()
            .expect("rabbitmqctl");
        let queues = String::from_utf8_lossy(&listed.stdout);
        for spec in incident_bus::topology::contract() {
            assert!(
                queues.lines().any(|l| l.trim() == spec.name),
                "{run}: {} not declared: {queues}",
                spec.name
            );
        }
    }

    let (ok, output) = install_step(&["migrat"], &database, &vhost.url);
    assert!(!ok, "an unknown command fails");
    assert!(output.contains("unknown command \"migrat\""), "{output}");
}
