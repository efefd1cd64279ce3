//! The deployment artefacts agree with the configuration the binaries read:
//! `deploy/config.example.toml` lists every key and loads, and the Helm chart sets every
//! one of them from a value (not only through `extraEnv`).

use std::collections::BTreeSet;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};
use incident_runtime::Config;

use crate::ingress::render;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config.example.toml");
    std::fs::read_to_string(path).expect("deploy/config.example.toml")
}

/// Every key of the example file, set or commented out (`# key = value`).
fn example_keys() -> BTreeSet<String> {
    example()
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches(['#', ' ']);
            let (key, _) = line.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| key.to_owned())
        })
        .collect()
}

/// The environment variable of a configuration key (`shared/runtime/src/config.rs`).
fn variable(key: &str) -> String {
    match key {
        "database_url" | "amqp_url" | "otel_exporter_otlp_endpoint" => key.to_uppercase(),
        _ => format!("INCIDENT_{}", key.to_uppercase()),
    }
}

#[test]
fn the_example_configuration_loads_and_names_every_setting() {
    let config = Config::from_figment(Figment::from(Toml::string(&example())))
        .expect("the example file is a valid configuration");
    assert_eq!(config.database_max_connections, 10);
    let keys = example_keys();
    for key in [
        "database_url",
        "database_max_connections",
        "amqp_url",
        "amqp_prefetch",
        "http_addr",
        "public_url",
        "log_format",
        "otel_exporter_otlp_endpoint",
        "bootstrap_token",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_api_url",
        "slack_client_id",
        "slack_client_secret",
        "slack_oauth_url",
        "llm_api_url",
        "llm_model",
        "llm_api_key",
        "outbox_poll_secs",
        "shutdown_grace_secs",
        "sla_sweep_interval_secs",
        "sla_digest_cron",
        "secrets_key",
        "tracker_poll_secs",
        "warroom_job_retention_days",
        "oidc_issuer",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_redirect_url",
        "oidc_email_domain",
        "oidc_default_role",
        "oidc_tenants",
    ] {
        assert!(keys.contains(key), "config.example.toml lacks {key}");
    }
}

#[test]
fn the_chart_sets_every_setting_from_a_value() {
    // "full": every optional value set (helm/lint.py).
    let objects = render("full");
    let deployments: Vec<_> = objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .collect();
    assert_eq!(deployments.len(), 5, "one Deployment per service");
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
        let env: BTreeSet<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        for key in example_keys() {
            let var = variable(&key);
            assert!(
                env.contains(var.as_str()),
                "{name} does not set {var} ({key})"
            );
        }
        assert!(
            env.contains("INCIDENT_CONFIG_FILE") && env.contains("RUST_LOG"),
            "{name}"
        );
    }
}
