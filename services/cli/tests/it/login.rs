//! `login` and `logout`: the token is verified before it is saved, saved in a file only
//! its owner can read, used by later commands, and only for the URL it was saved for.

use std::os::unix::fs::PermissionsExt;

use sqlx::PgPool;

use crate::support::{ADMIN, TestStack};

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn login_saves_a_verified_token_in_a_file_only_its_owner_can_read(pool: PgPool) {
    let stack = TestStack::spawn(pool).await;
    let file = stack.config_home().join("incident").join("config.toml");

    // A token the API refuses is not saved.
    let refused = stack
        .bare(&["login", "--url", &stack.base], Some("not-a-token\n"))
        .await;
    assert_eq!(refused.code, 4, "{refused:#?}");
    assert!(
        refused.stderr.starts_with("error: Unauthorized"),
        "{refused:#?}"
    );
    assert!(!file.exists());

    // The token from stdin, the URL with a trailing slash.
    let url = format!("{}/", stack.base);
    let login = stack
        .bare(&["login", "--url", &url], Some(&format!("{ADMIN}\n")))
        .await;
    assert!(
        login
            .ok()
            .starts_with(&format!("Logged in to {}", stack.base)),
        "{login:#?}"
    );
    let mode = std::fs::metadata(&file)
        .expect("config file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(file.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let saved: toml::Value =
        toml::from_str(&std::fs::read_to_string(&file).expect("read")).expect("toml");
    assert_eq!(saved["url"].as_str(), Some(stack.base.as_str()));
    assert_eq!(saved["token"].as_str(), Some(ADMIN));

    // Later commands need neither flag nor environment.
    let declared = stack
        .bare(
            &["declare", "--title", "Queue backlog", "--severity", "SEV3"],
            None,
        )
        .await;
    assert!(declared.ok().starts_with("Declared INC-1"), "{declared:#?}");

    // The saved token is not sent to another URL.
    let elsewhere = stack
        .bare(&["list", "--url", "http://127.0.0.1:9"], None)
        .await;
    assert_eq!(elsewhere.code, 2, "{elsewhere:#?}");
    assert!(
        elsewhere.stderr.contains("the saved token is for"),
        "{elsewhere:#?}"
    );

    // `--config` names another file; logout removes it.
    let other = stack.config_home().join("other.toml");
    let other_arg = other.to_str().expect("path");
    stack
        .bare(
            &[
                "login",
                "--url",
                &stack.base,
                "--token",
                ADMIN,
                "--config",
                other_arg,
            ],
            None,
        )
        .await
        .ok();
    assert_eq!(
        std::fs::metadata(&other)
            .expect("other")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let out = stack
        .bare(&["logout", "--config", other_arg, "--json"], None)
        .await
        .json();
    assert_eq!(out["removed"], true);
    assert!(!other.exists());

    stack.bare(&["logout"], None).await.ok();
    assert!(!file.exists());
    let after = stack.bare(&["list"], None).await;
    assert_eq!(after.code, 2, "{after:#?}");
    assert!(after.stderr.contains("not logged in"), "{after:#?}");
}
