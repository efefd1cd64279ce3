//! A client generated from the committed OpenAPI document (openapi-python-client, which
//! `deploy/dev/openapi-check` installs under `target/venv-openapi` and generates into
//! `target/openapi/client`) declares, reads, lists and resolves an incident against the
//! running stack, and parses its problems: the document is one a generator can use and the
//! API answers what it says.

use std::path::PathBuf;
use std::process::Command;

use incident_system_tests::TestStack;
use sqlx::PgPool;

const TOKEN: &str = "generated-client-bootstrap-token";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

#[sqlx::test(migrations = false)]
async fn a_client_generated_from_the_document_drives_the_api(pool: PgPool) {
    let target = target_dir();
    let python = target.join("venv-openapi/bin/python");
    let package = target.join("openapi/client");
    if !python.exists() || !package.join("incident_client").exists() {
        eprintln!(
            "skipped: no generated client under {} (deploy/dev/openapi-check generates it)",
            package.display()
        );
        return;
    }
    let stack = TestStack::spawn_with(&pool, &[("bootstrap_token", TOKEN)]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/client/smoke.py");
    let base = stack.url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(base)
            .arg(TOKEN)
            .env("PYTHONPATH", package)
            .output()
            .expect("python runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the generated client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("ok: INC-1 declared"), "{stdout}");
    stack.stop().await.expect("clean shutdown");
}
