//! Exit codes scripts can trust, and errors as people and scripts read them: the API's
//! problem document shown as `error: <title>: <detail>`, or handed on whole with `--json`.

use sqlx::PgPool;

use crate::support::{ADMIN, TestStack, redacted, run};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn exit_codes_tell_refused_usage_not_found_auth_and_unreachable_apart(pool: PgPool) {
    let stack = TestStack::spawn(pool).await;

    // 404 → 3, in words and as the problem JSON.
    let missing = stack.cli(&["show", "INC-999"]).await;
    assert_eq!(missing.code, 3, "{missing:#?}");
    assert!(missing.stdout.is_empty());
    assert!(
        missing.stderr.starts_with("error: Not found: "),
        "{missing:#?}"
    );
    assert!(
        missing
            .stderr
            .contains("\n  type: https://incident.dev/problems/"),
        "{missing:#?}"
    );
    let problem = stack
        .cli(&["ack", "INC-999", "--json"])
        .await
        .failed_json(3);
    insta::assert_json_snapshot!("not_found_problem", problem);

    // The API's 422 (a severity it does not know) → 1, naming the field.
    let refused = stack
        .cli(&["declare", "--json", "--title", "x", "--severity", "SEV9"])
        .await
        .failed_json(1);
    insta::assert_json_snapshot!("bad_severity_problem", redacted(&refused));
    let refused = stack
        .cli(&["declare", "--title", "x", "--severity", "SEV9"])
        .await;
    assert!(refused.stderr.contains("\n  field: "), "{refused:#?}");

    // An illegal move (409) → 1, with the allowed statuses.
    stack
        .cli(&["declare", "--title", "x", "--severity", "SEV3"])
        .await
        .ok();
    stack.cli(&["status", "INC-1", "CLOSED"]).await.ok();
    let illegal = stack.cli(&["status", "INC-1", "MONITORING"]).await;
    assert_eq!(illegal.code, 1, "{illegal:#?}");

    // clap's usage errors → 2: a missing flag, a reference that is none, an unknown role.
    for args in [
        &["declare", "--severity", "SEV1"][..],
        &["show", "checkout"],
        &["assign", "INC-1", "--role", "boss", "--user", "a@b.c"],
    ] {
        let usage = stack.cli(args).await;
        assert_eq!(usage.code, 2, "{args:?}: {usage:#?}");
        assert!(usage.stdout.is_empty());
    }
    // …and one the CLI finds: a user nobody has (3) or a malformed one (2).
    let nobody = stack
        .cli(&[
            "assign",
            "INC-1",
            "--role",
            "tech-lead",
            "--user",
            "nobody@example.com",
        ])
        .await;
    assert_eq!(nobody.code, 3, "{nobody:#?}");

    // 401 (a bad token) and 403 (a viewer declaring) → 4.
    let bad = stack.cli_as(Some("wrong-token"), &["list"]).await;
    assert_eq!(bad.code, 4, "{bad:#?}");
    let viewer = stack.token(ADMIN, "viewer", None).await;
    let forbidden = stack
        .cli_as(
            Some(&viewer),
            &["declare", "--title", "x", "--severity", "SEV3", "--json"],
        )
        .await
        .failed_json(4);
    assert_eq!(forbidden["status"], 403, "{forbidden}");
    stack.cli_as(Some(&viewer), &["list"]).await.ok();

    // Nothing listening → 5, in words and in JSON.
    let home = tempfile::tempdir().expect("home");
    let env = [
        ("INCIDENT_URL", "http://127.0.0.1:1".to_owned()),
        ("INCIDENT_TOKEN", ADMIN.to_owned()),
    ];
    let down = run(home.path(), &env, &["list"], None).await;
    assert_eq!(down.code, 5, "{down:#?}");
    assert!(
        down.stderr
            .starts_with("error: cannot reach http://127.0.0.1:1/api/v1/incidents"),
        "{down:#?}"
    );
    let down = run(home.path(), &env, &["list", "--json"], None)
        .await
        .failed_json(5);
    assert_eq!(down["type"], "urn:incident-cli:network", "{down}");

    // No answer within --timeout → 5.
    let env = [
        ("INCIDENT_URL", crate::support::silent().await),
        ("INCIDENT_TOKEN", ADMIN.to_owned()),
    ];
    let slow = run(home.path(), &env, &["list", "--timeout", "1"], None).await;
    assert_eq!(slow.code, 5, "{slow:#?}");
    assert!(slow.stderr.contains(": timed out"), "{slow:#?}");

    // A 5xx → 5, its problem shown.
    let env = [
        ("INCIDENT_URL", crate::support::unavailable().await),
        ("INCIDENT_TOKEN", ADMIN.to_owned()),
    ];
    let failing = run(home.path(), &env, &["show", "INC-1"], None).await;
    assert_eq!(failing.code, 5, "{failing:#?}");
    assert!(
        failing
            .stderr
            .starts_with("error: Service unavailable: restarting"),
        "{failing:#?}"
    );
}
