//! Configuration: one typed struct, loaded once at start-up.
//!
//! Sources, later ones winning: built-in defaults that work on a developer machine, an
//! optional TOML file named by `INCIDENT_CONFIG_FILE`, then the environment. The
//! conventional names stay unprefixed (`DATABASE_URL`, `AMQP_URL`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`); the project's own keys carry `INCIDENT_`
//! (`INCIDENT_HTTP_ADDR` is the file's `http_addr`). A value that does not parse or
//! validate stops start-up with a message naming the key.
//!
//! This is the only module that reads the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use incident_schema::AccessRole;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Environment variables read without the `INCIDENT_` prefix.
const CONVENTIONAL_KEYS: &[&str] = &["DATABASE_URL", "AMQP_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"];

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Text,
    /// One JSON object per line, for a log pipeline.
    Json,
}

/// The configuration of one process (a single service or the whole stack).
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Postgres connection URL (`DATABASE_URL`).
    pub database_url: SecretString,
    /// Maximum connections in this process's Postgres pool (`INCIDENT_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// RabbitMQ URL, including the vhost (`AMQP_URL`).
    pub amqp_url: SecretString,
    /// Unacknowledged deliveries a consumer holds at once (`INCIDENT_AMQP_PREFETCH`).
    pub amqp_prefetch: u16,
    /// Address the HTTP server binds (`INCIDENT_HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// Public base URL of the HTTP API, used in links we hand out (`INCIDENT_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// `text` or `json` (`INCIDENT_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// OTLP/HTTP collector endpoint; tracing export is off when unset (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// API token created with the `default` workspace on first start (`INCIDENT_BOOTSTRAP_TOKEN`).
    pub bootstrap_token: Option<SecretString>,
    /// Slack bot token, `xoxb-…` (`INCIDENT_SLACK_BOT_TOKEN`).
    pub slack_bot_token: Option<SecretString>,
    /// Slack request signing secret (`INCIDENT_SLACK_SIGNING_SECRET`).
    pub slack_signing_secret: Option<SecretString>,
    /// Slack Web API base URL; tests point it at a fake (`INCIDENT_SLACK_API_URL`).
    pub slack_api_url: String,
    /// The Slack app's client id, for installing it per workspace with OAuth v2; the
    /// install flow is off when unset (`INCIDENT_SLACK_CLIENT_ID`).
    pub slack_client_id: Option<String>,
    /// The Slack app's client secret (`INCIDENT_SLACK_CLIENT_SECRET`).
    pub slack_client_secret: Option<SecretString>,
    /// Slack's authorize page the install flow sends the browser to; tests point it at a
    /// fake (`INCIDENT_SLACK_OAUTH_URL`).
    pub slack_oauth_url: String,
    /// OpenAI-compatible chat-completions base URL; LLM drafting is off when unset (`INCIDENT_LLM_API_URL`).
    pub llm_api_url: Option<String>,
    /// Model name sent to the LLM endpoint (`INCIDENT_LLM_MODEL`).
    pub llm_model: Option<String>,
    /// Bearer key for the LLM endpoint (`INCIDENT_LLM_API_KEY`).
    pub llm_api_key: Option<SecretString>,
    /// Seconds between outbox polls when no notification arrives (`INCIDENT_OUTBOX_POLL_SECS`).
    pub outbox_poll_secs: u64,
    /// Seconds a graceful shutdown may take before work is abandoned (`INCIDENT_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace_secs: u64,
    /// Seconds between SLA sweeps (`INCIDENT_SLA_SWEEP_INTERVAL_SECS`).
    pub sla_sweep_interval_secs: u64,
    /// When the daily digest is emitted: a 6-field cron expression with seconds, UTC
    /// (`INCIDENT_SLA_DIGEST_CRON`).
    pub sla_digest_cron: String,
    /// When the weekly digest is emitted: a 6-field cron expression with seconds, UTC
    /// (`INCIDENT_SLA_WEEKLY_DIGEST_CRON`).
    pub sla_weekly_digest_cron: String,
    /// Key that encrypts credentials stored in the database (issue trackers' API tokens):
    /// base64 of 32 random bytes, e.g. `openssl rand -base64 32` (`INCIDENT_SECRETS_KEY`).
    /// Unset: such credentials cannot be stored.
    pub secrets_key: Option<SecretString>,
    /// Seconds between polls of the issue trackers for the state of exported action items
    /// (`INCIDENT_TRACKER_POLL_SECS`).
    pub tracker_poll_secs: u64,
    /// Days a war-room job given up (after its retries, or on a permanent failure or an
    /// uninstall) stays visible to operators in `warroom_jobs` before it is purged
    /// (`INCIDENT_WARROOM_JOB_RETENTION_DAYS`).
    pub warroom_job_retention_days: u32,
    /// OpenID Connect issuer URL for single sign-on in the web app; off when unset
    /// (`INCIDENT_OIDC_ISSUER`).
    pub oidc_issuer: Option<String>,
    /// The client id registered with the identity provider (`INCIDENT_OIDC_CLIENT_ID`).
    pub oidc_client_id: Option<String>,
    /// The client secret; unset for a public client (PKCE only) (`INCIDENT_OIDC_CLIENT_SECRET`).
    pub oidc_client_secret: Option<SecretString>,
    /// Where the provider sends the browser back; defaults to
    /// `INCIDENT_PUBLIC_URL` + `/ui/login/sso/callback` (`INCIDENT_OIDC_REDIRECT_URL`).
    pub oidc_redirect_url: Option<String>,
    /// The email domain whose people get a user on their first sign-in; unset: only
    /// existing users (by email) may sign in (`INCIDENT_OIDC_EMAIL_DOMAIN`).
    pub oidc_email_domain: Option<String>,
    /// The role of a user created on first sign-in (`INCIDENT_OIDC_DEFAULT_ROLE`).
    pub oidc_default_role: AccessRole,
    /// For a multi-tenant provider (Entra ID's `organizations` or `common` issuer), the
    /// tenant ids allowed to sign in, comma-separated (`INCIDENT_OIDC_TENANTS`).
    pub oidc_tenants: Option<String>,
}

/// Single sign-on's settings, complete (see [`Config::oidc`]).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret, if confidential.
    pub client_secret: Option<SecretString>,
    /// The callback URL.
    pub redirect_url: String,
    /// The email domain of first sign-ins, lower case.
    pub email_domain: Option<String>,
    /// The role of users created on first sign-in.
    pub default_role: AccessRole,
    /// The tenants allowed in through a multi-tenant provider.
    pub tenants: Vec<String>,
}

/// Where the web app's single sign-on callback is served.
pub const OIDC_CALLBACK_PATH: &str = "/ui/login/sso/callback";

/// The defaults, as the lowest layer of the figment.
#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    database_max_connections: u32,
    amqp_url: &'static str,
    amqp_prefetch: u16,
    http_addr: &'static str,
    log_format: LogFormat,
    slack_api_url: &'static str,
    slack_oauth_url: &'static str,
    outbox_poll_secs: u64,
    shutdown_grace_secs: u64,
    sla_sweep_interval_secs: u64,
    sla_digest_cron: &'static str,
    sla_weekly_digest_cron: &'static str,
    tracker_poll_secs: u64,
    warroom_job_retention_days: u32,
    oidc_default_role: AccessRole,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/incident",
            database_max_connections: 10,
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f",
            amqp_prefetch: 16,
            http_addr: "127.0.0.1:8080",
            log_format: LogFormat::Text,
            slack_api_url: "https://slack.com/api",
            slack_oauth_url: "https://slack.com/oauth/v2/authorize",
            outbox_poll_secs: 5,
            shutdown_grace_secs: 30,
            sla_sweep_interval_secs: 15,
            sla_digest_cron: "0 0 9 * * *",
            sla_weekly_digest_cron: "0 0 9 * * Mon",
            tracker_poll_secs: 60,
            warroom_job_retention_days: 14,
            oidc_default_role: AccessRole::Viewer,
        }
    }
}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(String),
    /// A value parsed but is not acceptable.
    #[error("configuration: {key}: {message}")]
    Invalid {
        /// The environment variable (or file key) at fault.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// Loads the configuration from defaults, `INCIDENT_CONFIG_FILE` and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("INCIDENT_CONFIG_FILE") {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(ConfigError::Invalid {
                    key: "INCIDENT_CONFIG_FILE",
                    message: format!("{} is not a readable file", path.display()),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment
            .merge(Env::raw().only(CONVENTIONAL_KEYS))
            .merge(Env::prefixed("INCIDENT_").ignore(&["CONFIG_FILE"]));
        Self::from_figment(figment)
    }

    /// Defaults overridden by the given figment (tests build configurations this way).
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Defaults::default()))
            .merge(figment)
            .extract()
            .map_err(|e| ConfigError::Load(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// A configuration for the given database and broker, defaults elsewhere; binds port 0.
    pub fn for_urls(database_url: &str, amqp_url: &str) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::new()
                .merge(Serialized::default("database_url", database_url))
                .merge(Serialized::default("amqp_url", amqp_url))
                .merge(Serialized::default("http_addr", "127.0.0.1:0")),
        )
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url_with_scheme = |key: &'static str, value: &str, schemes: &[&str]| {
            if schemes
                .iter()
                .any(|s| value.starts_with(&format!("{s}://")))
            {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    message: format!(
                        "must be a URL starting with {}",
                        schemes.join(":// or ") + "://"
                    ),
                })
            }
        };
        url_with_scheme(
            "DATABASE_URL",
            self.database_url.expose_secret(),
            &["postgres", "postgresql"],
        )?;
        url_with_scheme(
            "AMQP_URL",
            self.amqp_url.expose_secret(),
            &["amqp", "amqps"],
        )?;
        url_with_scheme(
            "INCIDENT_SLACK_API_URL",
            &self.slack_api_url,
            &["http", "https"],
        )?;
        if let Some(url) = &self.llm_api_url {
            url_with_scheme("INCIDENT_LLM_API_URL", url, &["http", "https"])?;
        }
        if let Some(url) = &self.otel_exporter_otlp_endpoint {
            url_with_scheme("OTEL_EXPORTER_OTLP_ENDPOINT", url, &["http", "https"])?;
        }
        if let Some(url) = &self.public_url {
            url_with_scheme("INCIDENT_PUBLIC_URL", url, &["http", "https"])?;
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_DATABASE_MAX_CONNECTIONS",
                message: "must be at least 1".into(),
            });
        }
        if self.amqp_prefetch == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_AMQP_PREFETCH",
                message: "must be at least 1 (0 would mean unbounded)".into(),
            });
        }
        if self.outbox_poll_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_OUTBOX_POLL_SECS",
                message: "must be at least 1".into(),
            });
        }
        if self.sla_sweep_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_SLA_SWEEP_INTERVAL_SECS",
                message: "must be at least 1".into(),
            });
        }
        if self.sla_digest_cron.split_whitespace().count() != 6 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_SLA_DIGEST_CRON",
                message: "must be a 6-field cron expression with seconds, e.g. `0 0 9 * * *`"
                    .into(),
            });
        }
        if self.sla_weekly_digest_cron.split_whitespace().count() != 6 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_SLA_WEEKLY_DIGEST_CRON",
                message: "must be a 6-field cron expression with seconds, e.g. `0 0 9 * * Mon`"
                    .into(),
            });
        }
        if self.tracker_poll_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_TRACKER_POLL_SECS",
                message: "must be at least 1".into(),
            });
        }
        if self.warroom_job_retention_days == 0 {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_WARROOM_JOB_RETENTION_DAYS",
                message: "must be at least 1 (given-up jobs stay visible that many days)".into(),
            });
        }
        if let Some(key) = &self.secrets_key {
            crate::sealed::SealingKey::parse(key.expose_secret()).map_err(|message| {
                ConfigError::Invalid {
                    key: "INCIDENT_SECRETS_KEY",
                    message,
                }
            })?;
        }
        self.validate_oidc()?;
        self.validate_slack_oauth()?;
        if let Some(token) = &self.bootstrap_token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_BOOTSTRAP_TOKEN",
                message: "must be at least 16 characters".into(),
            });
        }
        Ok(())
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let url_with_scheme = |key: &'static str, value: &str, schemes: &[&str]| {
            if schemes
                .iter()
                .any(|s| value.starts_with(&format!("{s}://")))
            {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    message: "must be a URL starting with http:// or https://".into(),
                })
            }
        };
        let Some(issuer) = &self.oidc_issuer else {
            let stray = [
                ("INCIDENT_OIDC_CLIENT_ID", self.oidc_client_id.is_some()),
                (
                    "INCIDENT_OIDC_CLIENT_SECRET",
                    self.oidc_client_secret.is_some(),
                ),
                (
                    "INCIDENT_OIDC_REDIRECT_URL",
                    self.oidc_redirect_url.is_some(),
                ),
                (
                    "INCIDENT_OIDC_EMAIL_DOMAIN",
                    self.oidc_email_domain.is_some(),
                ),
                ("INCIDENT_OIDC_TENANTS", self.oidc_tenants.is_some()),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(ConfigError::Invalid {
                    key,
                    message: "is set but INCIDENT_OIDC_ISSUER is not (single sign-on is off)"
                        .into(),
                });
            }
            return Ok(());
        };
        url_with_scheme("INCIDENT_OIDC_ISSUER", issuer, &["http", "https"])?;
        if self
            .oidc_client_id
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_OIDC_CLIENT_ID",
                message: "is required when INCIDENT_OIDC_ISSUER is set".into(),
            });
        }
        match (&self.oidc_redirect_url, &self.public_url) {
            (Some(url), _) => {
                url_with_scheme("INCIDENT_OIDC_REDIRECT_URL", url, &["http", "https"])?
            }
            (None, Some(_)) => {}
            (None, None) => {
                return Err(ConfigError::Invalid {
                    key: "INCIDENT_OIDC_REDIRECT_URL",
                    message: format!(
                        "is required when INCIDENT_OIDC_ISSUER is set and INCIDENT_PUBLIC_URL is not (the URL of {OIDC_CALLBACK_PATH})"
                    ),
                });
            }
        }
        if let Some(domain) = &self.oidc_email_domain
            && (domain.is_empty() || domain.contains(['@', '/', ' ']) || !domain.contains('.'))
        {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_OIDC_EMAIL_DOMAIN",
                message: "must be a domain such as example.com".into(),
            });
        }
        if self
            .oidc_tenants()
            .iter()
            .any(|t| t.contains(['/', ' ', '{', '}']))
        {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_OIDC_TENANTS",
                message: "must be tenant ids separated by commas".into(),
            });
        }
        Ok(())
    }

    /// Installing Slack per workspace needs the client id and secret together, a key to
    /// seal the bot tokens with, and the public URL Slack sends the browser back to.
    fn validate_slack_oauth(&self) -> Result<(), ConfigError> {
        if !(self.slack_oauth_url.starts_with("http://")
            || self.slack_oauth_url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_SLACK_OAUTH_URL",
                message: "must be a URL starting with http:// or https://".into(),
            });
        }
        let id = self
            .slack_client_id
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        match (id, self.slack_client_secret.is_some()) {
            (false, false) => return Ok(()),
            (true, false) => {
                return Err(ConfigError::Invalid {
                    key: "INCIDENT_SLACK_CLIENT_SECRET",
                    message: "is required when INCIDENT_SLACK_CLIENT_ID is set".into(),
                });
            }
            (false, true) => {
                return Err(ConfigError::Invalid {
                    key: "INCIDENT_SLACK_CLIENT_ID",
                    message: "is required when INCIDENT_SLACK_CLIENT_SECRET is set".into(),
                });
            }
            (true, true) => {}
        }
        if self.secrets_key.is_none() {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_SECRETS_KEY",
                message: "is required when INCIDENT_SLACK_CLIENT_ID is set (bot tokens are stored sealed with it)".into(),
            });
        }
        if self.public_url.is_none() {
            return Err(ConfigError::Invalid {
                key: "INCIDENT_PUBLIC_URL",
                message: "is required when INCIDENT_SLACK_CLIENT_ID is set (Slack's OAuth redirect URL is under it)".into(),
            });
        }
        Ok(())
    }

    /// Single sign-on's settings, when `INCIDENT_OIDC_ISSUER` is set (the rest was
    /// checked at load).
    pub fn oidc(&self) -> Option<OidcSettings> {
        let issuer = self.oidc_issuer.clone()?;
        let redirect_url = match (&self.oidc_redirect_url, &self.public_url) {
            (Some(url), _) => url.clone(),
            (None, Some(public)) => {
                format!("{}{OIDC_CALLBACK_PATH}", public.trim_end_matches('/'))
            }
            (None, None) => return None,
        };
        Some(OidcSettings {
            issuer,
            client_id: self.oidc_client_id.clone()?.trim().to_owned(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url,
            email_domain: self
                .oidc_email_domain
                .as_deref()
                .map(|d| d.trim().to_ascii_lowercase()),
            default_role: self.oidc_default_role,
            tenants: self.oidc_tenants(),
        })
    }

    /// `INCIDENT_OIDC_TENANTS` as a list (trimmed, empty entries dropped).
    fn oidc_tenants(&self) -> Vec<String> {
        self.oidc_tenants
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The graceful shutdown budget.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The SLA sweep interval.
    pub fn sla_sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sla_sweep_interval_secs)
    }

    /// How often exported action items are compared with their tracker.
    pub fn tracker_poll_interval(&self) -> Duration {
        Duration::from_secs(self.tracker_poll_secs)
    }

    /// How long a given-up war-room job is kept before it is purged.
    pub fn warroom_job_retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.warroom_job_retention_days) * 86_400)
    }

    /// The key sealing stored credentials, if one is configured (validated at load).
    pub fn sealing_key(&self) -> Option<crate::sealed::SealingKey> {
        self.secrets_key
            .as_ref()
            .and_then(|k| crate::sealed::SealingKey::parse(k.expose_secret()).ok())
    }

    /// The outbox polling backstop interval.
    pub fn outbox_poll_interval(&self) -> Duration {
        Duration::from_secs(self.outbox_poll_secs)
    }
}

/// Turns figment's error into one line that names the environment variable.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.last().map(|k| env_name(k)).unwrap_or_default();
            if key.is_empty() {
                e.to_string()
            } else {
                format!("{key}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The environment variable that sets a config field.
fn env_name(field: &str) -> String {
    let upper = field.to_ascii_uppercase();
    if CONVENTIONAL_KEYS.contains(&upper.as_str()) {
        upper
    } else {
        format!("INCIDENT_{upper}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(k, v));
        }
        Config::from_figment(f)
    }

    #[test]
    fn installing_slack_per_workspace_needs_the_secret_the_sealing_key_and_the_public_url() {
        assert!(load(&[]).expect("defaults").slack_client_id.is_none());
        let id = ("slack_client_id", "1234.5678");
        let secret = ("slack_client_secret", "s3cret");
        let key = (
            "secrets_key",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        );
        let public = ("public_url", "https://incident.example.com");
        for (pairs, named) in [
            (vec![id], "INCIDENT_SLACK_CLIENT_SECRET"),
            (vec![secret], "INCIDENT_SLACK_CLIENT_ID"),
            (vec![id, secret], "INCIDENT_SECRETS_KEY"),
            (vec![id, secret, key], "INCIDENT_PUBLIC_URL"),
            (
                vec![("slack_oauth_url", "slack.com/oauth")],
                "INCIDENT_SLACK_OAUTH_URL",
            ),
        ] {
            let err = load(&pairs).expect_err(named);
            assert!(err.to_string().contains(named), "{err}");
        }
        let on = load(&[id, secret, key, public]).expect("complete");
        assert_eq!(on.slack_client_id.as_deref(), Some("1234.5678"));
        assert_eq!(on.slack_oauth_url, "https://slack.com/oauth/v2/authorize");
    }

    #[test]
    fn given_up_war_room_jobs_are_kept_fourteen_days_by_default_and_at_least_one() {
        let defaults = load(&[]).expect("defaults");
        assert_eq!(
            defaults.warroom_job_retention(),
            Duration::from_secs(14 * 86_400)
        );
        let days = |n: u32| {
            Config::from_figment(
                Figment::new().merge(Serialized::default("warroom_job_retention_days", n)),
            )
        };
        let err = days(0).expect_err("zero");
        assert!(
            err.to_string()
                .contains("INCIDENT_WARROOM_JOB_RETENTION_DAYS"),
            "{err}"
        );
        assert_eq!(days(3).expect("three").warroom_job_retention_days, 3);
    }

    #[test]
    fn single_sign_on_is_off_by_default_and_needs_its_client_id_and_a_callback() {
        let off = load(&[]).expect("defaults");
        assert!(off.oidc().is_none());
        assert_eq!(off.oidc_default_role, AccessRole::Viewer);
        let issuer = ("oidc_issuer", "https://id.example.com");
        let err = load(&[issuer]).expect_err("no client id");
        assert!(err.to_string().contains("INCIDENT_OIDC_CLIENT_ID"), "{err}");
        let err = load(&[issuer, ("oidc_client_id", "c")]).expect_err("no callback");
        assert!(
            err.to_string().contains("INCIDENT_OIDC_REDIRECT_URL"),
            "{err}"
        );
        let err = load(&[("oidc_client_id", "c")]).expect_err("stray");
        assert!(err.to_string().contains("INCIDENT_OIDC_CLIENT_ID"), "{err}");
        let err = load(&[
            issuer,
            ("oidc_client_id", "c"),
            ("public_url", "https://incident.example.com/"),
            ("oidc_email_domain", "@example.com"),
        ])
        .expect_err("domain");
        assert!(
            err.to_string().contains("INCIDENT_OIDC_EMAIL_DOMAIN"),
            "{err}"
        );
        let on = load(&[
            issuer,
            ("oidc_client_id", "c"),
            ("public_url", "https://incident.example.com/"),
            ("oidc_email_domain", "Example.com"),
            ("oidc_default_role", "responder"),
        ])
        .expect("complete")
        .oidc()
        .expect("on");
        assert_eq!(
            on.redirect_url,
            "https://incident.example.com/ui/login/sso/callback"
        );
        assert_eq!(on.email_domain.as_deref(), Some("example.com"));
        assert_eq!(on.default_role, AccessRole::Responder);
        assert!(on.tenants.is_empty());
        assert!(load(&[("oidc_default_role", "owner")]).is_err());

        // Entra ID's multi-tenant issuer with the tenants allowed in.
        let complete = [
            (
                "oidc_issuer",
                "https://login.microsoftonline.com/organizations/v2.0",
            ),
            ("oidc_client_id", "c"),
            ("public_url", "https://incident.example.com/"),
        ];
        let tenants = |value: &'static str| {
            let mut pairs = complete.to_vec();
            pairs.push(("oidc_tenants", value));
            load(&pairs)
        };
        let on = tenants(" 7f0c3a5e-1, ,contoso.onmicrosoft.com ")
            .expect("tenants")
            .oidc()
            .expect("on");
        assert_eq!(on.tenants, ["7f0c3a5e-1", "contoso.onmicrosoft.com"]);
        let err = tenants("a/b").expect_err("not an id");
        assert!(err.to_string().contains("INCIDENT_OIDC_TENANTS"), "{err}");
        let err = load(&[("oidc_tenants", "t")]).expect_err("stray");
        assert!(err.to_string().contains("INCIDENT_OIDC_TENANTS"), "{err}");
    }

    #[test]
    fn defaults_work_on_a_developer_machine() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.bootstrap_token.is_none());
    }

    #[test]
    fn a_bad_address_names_its_variable() {
        let error = load(&[("http_addr", "not an address")])
            .expect_err("must fail")
            .to_string();
        assert!(error.contains("INCIDENT_HTTP_ADDR"), "{error}");
    }

    #[test]
    fn a_database_url_without_scheme_names_its_variable() {
        let error = load(&[("database_url", "localhost/db")])
            .expect_err("must fail")
            .to_string();
        assert!(error.contains("DATABASE_URL"), "{error}");
    }

    #[test]
    fn a_short_bootstrap_token_is_refused() {
        let error = load(&[("bootstrap_token", "short")])
            .expect_err("must fail")
            .to_string();
        assert!(error.contains("INCIDENT_BOOTSTRAP_TOKEN"), "{error}");
    }

    #[test]
    fn an_unknown_log_format_names_its_variable() {
        let error = load(&[("log_format", "xml")])
            .expect_err("must fail")
            .to_string();
        assert!(error.contains("INCIDENT_LOG_FORMAT"), "{error}");
    }
}
