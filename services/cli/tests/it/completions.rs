//! Shell completions and the documented exit codes, which need no server.

use crate::support::run;

#[tokio::test]
async fn completions_for_bash_zsh_and_fish_are_scripts_naming_the_commands() {
    let home = tempfile::tempdir().expect("home");
    let bash = run(home.path(), &[], &["completions", "bash"], None).await;
    let script = bash.ok();
    assert!(script.contains("complete -F _incident"), "{script}");
    for command in ["declare", "resolve", "postmortem", "--json"] {
        assert!(script.contains(command), "{command}");
    }
    let zsh = run(home.path(), &[], &["completions", "zsh"], None).await;
    assert!(zsh.ok().starts_with("#compdef incident"));
    let fish = run(home.path(), &[], &["completions", "fish"], None).await;
    assert!(fish.ok().contains("complete -c incident"));
    let unknown = run(home.path(), &[], &["completions", "tcsh"], None).await;
    assert_eq!(unknown.code, 2, "{unknown:#?}");
}

#[tokio::test]
async fn help_lists_the_exit_codes() {
    let home = tempfile::tempdir().expect("home");
    let help = run(home.path(), &[], &["--help"], None).await;
    let text = help.ok();
    for line in [
        "Exit codes:",
        "3  not found (404)",
        "5  server or network error",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}
