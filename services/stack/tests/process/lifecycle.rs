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
