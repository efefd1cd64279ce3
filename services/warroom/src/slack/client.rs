//! Our Slack Web API client (reqwest + serde; see `shared/reference/slack-api.md` §7 for
//! why not slack-morphism).
//!
//! - Every call carries `Authorization: Bearer <bot token>`.
//! - Write methods send `application/json; charset=utf-8`; `conversations.info`,
//!   `conversations.list`, `users.info` and `users.lookupByEmail` take no JSON and are
//!   sent as form posts (no charset, which Slack would flag as `superfluous_charset`).
//! - `{"ok":false,"error":…}` becomes [`SlackError::Api`] carrying the code (and
//!   `needed` for `missing_scope`).
//! - HTTP 429 is retried after its `Retry-After`, a bounded number of times, when that
//!   is no longer than [`RetryConfig::max_retry_after`]; with a [`TeamPacing`] attached
//!   (the war room's own clients, one per Slack team) the 429 also pauses that team, and
//!   the team's buckets pace every call (see [`super::pacing`]).
//! - Transient failures (5xx, `fatal_error`, `internal_error`, connection errors) are
//!   retried with exponential backoff, but only for methods whose repetition is harmless:
//!   a post is never blindly repeated after an answer that may hide a success.

use std::time::{Duration, Instant};

use incident_runtime::metrics::{
    SLACK_CALL_DURATION, SLACK_CALLS, SLACK_ERRORS, SLACK_RATE_LIMITED,
};
use tracing::Instrument as _;

use backon::{ExponentialBuilder, Retryable as _};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::form;
use super::pacing::TeamPacing;

/// The Slack error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "fatal_error",
    "internal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
];

/// A failed Web API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok:false` with `code`.
    #[error("slack {method}: {code}{}", needed.as_ref().map(|n| format!(" (needs {n})")).unwrap_or_default())]
    Api {
        /// The Web API method.
        method: &'static str,
        /// Slack's error code (`channel_not_found`, `missing_scope`, ...).
        code: String,
        /// The scope a `missing_scope` needs.
        needed: Option<String>,
    },
    /// HTTP 429 still after the bounded retries.
    #[error("slack {method}: rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// The Web API method.
        method: &'static str,
        /// The `Retry-After` Slack asked for.
        retry_after: Duration,
    },
    /// A non-200 status other than 429.
    #[error("slack {method}: HTTP {status}")]
    Http {
        /// The Web API method.
        method: &'static str,
        /// The status.
        status: u16,
    },
    /// The request did not complete (connection refused, reset, timeout).
    #[error("slack {method}: {message}")]
    Transport {
        /// The Web API method.
        method: &'static str,
        /// What happened.
        message: String,
    },
    /// The answer is not the JSON the method promises.
    #[error("slack {method}: unexpected answer: {message}")]
    Decode {
        /// The Web API method.
        method: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl SlackError {
    /// Slack's error code, for `ok:false` answers.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            Self::RateLimited { .. } => Some("ratelimited"),
            _ => None,
        }
    }

    /// The kind of failure, for errors without a Slack code: `http_error`, `transport`,
    /// `decode` (`api` and `ratelimited` carry [`SlackError::code`]).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::RateLimited { .. } => "ratelimited",
            Self::Http { .. } => "http_error",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
        }
    }

    /// Whether this is `ok:false` with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 408,
            Self::Decode { .. } => false,
        }
    }

    /// The Web API method that failed.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Api { method, .. }
            | Self::RateLimited { method, .. }
            | Self::Http { method, .. }
            | Self::Transport { method, .. }
            | Self::Decode { method, .. } => method,
        }
    }
}

/// How a method's arguments travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// `application/json; charset=utf-8`.
    Json,
    /// `application/x-www-form-urlencoded` (the read methods that take no JSON).
    Form,
}

/// Whether a method may be repeated after an answer that may hide a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Repeating is harmless (or its duplicate is recognised: `already_in_channel`, ...).
    Safe,
    /// Only a 429 (which Slack did not apply) is retried.
    OnlyRateLimited,
}

/// Retry tuning.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Attempts in all, for 429s and transient failures together.
    pub max_attempts: usize,
    /// First backoff after a transient failure.
    pub min_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured in-line; longer ones surface as
    /// [`SlackError::RateLimited`] for the caller to retry later.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A Slack channel as the methods return it.
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    /// `C…`.
    pub id: String,
    /// The channel's name.
    #[serde(default)]
    pub name: String,
    /// Whether it is archived.
    #[serde(default)]
    pub is_archived: bool,
    /// Whether the token's user is a member.
    #[serde(default)]
    pub is_member: bool,
    /// Who created it.
    #[serde(default)]
    pub creator: Option<String>,
    /// Whether it is private.
    #[serde(default)]
    pub is_private: bool,
}

/// A Slack user.
#[derive(Debug, Clone, Deserialize)]
pub struct SlackUser {
    /// `U…`.
    pub id: String,
    /// The user's name.
    #[serde(default)]
    pub real_name: Option<String>,
    /// The profile, with the email when the token may read it.
    #[serde(default)]
    pub profile: SlackProfile,
}

/// The parts of a Slack profile we read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackProfile {
    /// The email address (scope `users:read.email`).
    #[serde(default)]
    pub email: Option<String>,
}

/// What `auth.test` says about the token.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    /// The bot's user id.
    pub user_id: String,
    /// The Slack workspace.
    pub team_id: String,
    /// The workspace URL, `https://<team>.slack.com/`.
    #[serde(default)]
    pub url: Option<String>,
}

/// What `oauth.v2.access` grants an installation (reference: docs.slack.dev
/// `oauth.v2.access`; only the fields we keep).
#[derive(Clone, Deserialize)]
pub struct OAuthGrant {
    /// The bot token, `xoxb-…`.
    pub access_token: SecretString,
    /// Comma-separated scopes granted.
    #[serde(default)]
    pub scope: String,
    /// The bot's user id in the team.
    pub bot_user_id: String,
    /// The team installed into.
    #[serde(default)]
    pub team: Option<NamedId>,
    /// Its Enterprise Grid organisation, if any.
    #[serde(default)]
    pub enterprise: Option<NamedId>,
    /// An organisation-wide install (Enterprise Grid): `team` is null, `enterprise` set,
    /// and the token serves every team of the organisation.
    #[serde(default)]
    pub is_enterprise_install: bool,
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("OAuthGrant")
            .field("scope", &self.scope)
            .field("bot_user_id", &self.bot_user_id)
            .field("team", &self.team)
            .field("enterprise", &self.enterprise)
            .field("is_enterprise_install", &self.is_enterprise_install)
            .finish_non_exhaustive()
    }
}

/// `{"id": …, "name": …}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedId {
    /// The id.
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A Slack Web API client for one bot token.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    retry: RetryConfig,
    pacing: Option<std::sync::Arc<TeamPacing>>,
    /// The team channels are created in and listed from, for an organisation-wide
    /// token (which must name one: `team_id`).
    team: Option<String>,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    /// A client calling `<base>/<method>` with `token`.
    pub fn new(base: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            retry: RetryConfig::default(),
            pacing: None,
            team: None,
        })
    }

    /// For an organisation-wide token: `conversations.create` and `conversations.list`
    /// name `team` (Slack requires `team_id` with an org token).
    pub fn with_team(mut self, team: Option<String>) -> Self {
        self.team = team;
        self
    }

    /// Adds `team_id` to `args` when the token is organisation-wide.
    fn in_team(&self, mut args: Value) -> Value {
        if let Some(team) = &self.team {
            args["team_id"] = json!(team);
        }
        args
    }

    /// Paces every call by `pacing`, the buckets and pause of this token's Slack team.
    pub fn with_pacing(mut self, pacing: std::sync::Arc<TeamPacing>) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// The team's pacing, if attached.
    pub fn pacing(&self) -> Option<&TeamPacing> {
        self.pacing.as_deref()
    }

    /// `oauth.v2.access`: exchanges the `code` Slack handed the browser for the bot
    /// token. Authenticated by the app's client id and secret in the form body (no
    /// bearer token); never retried (a code is single use).
    pub async fn oauth_v2_access(
        base: &str,
        client_id: &str,
        client_secret: &SecretString,
        code: &str,
        redirect_uri: &str,
    ) -> Result<OAuthGrant, SlackError> {
        const METHOD: &str = "oauth.v2.access";
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SlackError::Transport {
                method: METHOD,
                message: e.to_string(),
            })?;
        let body = form::encode([
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ]);
        let response = http
            .post(format!("{}/{METHOD}", base.trim_end_matches('/')))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| SlackError::Transport {
                method: METHOD,
                message: e.without_url().to_string(),
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(SlackError::Http {
                method: METHOD,
                status,
            });
        }
        let body: Value = response.json().await.map_err(|e| SlackError::Decode {
            method: METHOD,
            message: e.to_string(),
        })?;
        if body.get("ok").and_then(Value::as_bool) != Some(true) {
            return Err(SlackError::Api {
                method: METHOD,
                code: body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown_error")
                    .to_owned(),
                needed: None,
            });
        }
        if body.get("token_type").and_then(Value::as_str) != Some("bot") {
            return Err(SlackError::Decode {
                method: METHOD,
                message: "no bot token granted (token_type is not `bot`)".to_owned(),
            });
        }
        serde_json::from_value(body).map_err(|e| SlackError::Decode {
            method: METHOD,
            // serde's message names the field, never its value.
            message: e.to_string(),
        })
    }

    /// Waits for the team's bucket, or refuses at once when the team is paused or the
    /// wait would be long: nothing is sent then.
    async fn paced(&self, method: &'static str, args: &Value) -> Result<(), SlackError> {
        let Some(pacing) = &self.pacing else {
            return Ok(());
        };
        if let Some(left) = pacing.paused_for() {
            return Err(SlackError::RateLimited {
                method,
                retry_after: left,
            });
        }
        let channel = args.get("channel").and_then(Value::as_str).unwrap_or("");
        match pacing.reserve(method, channel) {
            Ok(wait) if wait.is_zero() => Ok(()),
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Err(wait) => {
                pacing.pause(wait);
                Err(SlackError::RateLimited {
                    method,
                    retry_after: wait,
                })
            }
        }
    }

    /// Replaces the retry tuning.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    async fn attempt(
        &self,
        method: &'static str,
        encoding: Encoding,
        args: &Value,
    ) -> Result<Value, SlackError> {
        self.paced(method, args).await?;
        let url = format!("{}/{method}", self.base);
        let request = self.http.post(url).bearer_auth(self.token.expose_secret());
        let request = match encoding {
            Encoding::Json => request
                .header("content-type", "application/json; charset=utf-8")
                .body(serde_json::to_vec(args).map_err(|e| SlackError::Decode {
                    method,
                    message: e.to_string(),
                })?),
            Encoding::Form => {
                let pairs: Vec<(String, String)> = args
                    .as_object()
                    .map(|map| {
                        map.iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                (k.clone(), v)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form::encode(
                        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    ))
            }
        };
        let response = request.send().await.map_err(|e| SlackError::Transport {
            method,
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if status == 429 {
            metrics::counter!(SLACK_RATE_LIMITED, "method" => method).increment(1);
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            if let Some(pacing) = &self.pacing {
                pacing.pause(Duration::from_secs(retry_after));
            }
            return Err(SlackError::RateLimited {
                method,
                retry_after: Duration::from_secs(retry_after),
            });
        }
        if status != 200 {
            return Err(SlackError::Http { method, status });
        }
        let body: Value = response.json().await.map_err(|e| SlackError::Decode {
            method,
            message: e.to_string(),
        })?;
        if body.get("ok").and_then(Value::as_bool) == Some(true) {
            if let Some(warning) = body.get("warning").and_then(Value::as_str) {
                tracing::debug!(method, warning, "slack answered with a warning");
            }
            return Ok(body);
        }
        let code = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_owned();
        let needed = body
            .get("needed")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Err(SlackError::Api {
            method,
            code,
            needed,
        })
    }

    async fn call(
        &self,
        method: &'static str,
        encoding: Encoding,
        repeat: Repeat,
        args: Value,
    ) -> Result<Value, SlackError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_attempts.saturating_sub(1))
            .with_jitter();
        let max_retry_after = self.retry.max_retry_after;
        let span = tracing::info_span!(
            "slack",
            otel.name = format!("slack {method}"),
            otel.kind = "client",
            rpc.system = "slack",
            rpc.method = method,
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = (|| self.attempt(method, encoding, &args))
            .retry(backoff)
            .when(|e: &SlackError| match e {
                SlackError::RateLimited { retry_after, .. } => *retry_after <= max_retry_after,
                other => repeat == Repeat::Safe && other.is_transient(),
            })
            .adjust(|e: &SlackError, next: Option<Duration>| match e {
                // Honour Retry-After exactly while attempts remain.
                SlackError::RateLimited { retry_after, .. } => next.map(|_| *retry_after),
                _ => next,
            })
            .notify(|e: &SlackError, wait: Duration| {
                tracing::debug!(method, error = %e, ?wait, "slack call failed; retrying");
            })
            .instrument(span.clone())
            .await;
        record_call(method, &result, started.elapsed(), &span);
        result
    }

    async fn call_as<T: DeserializeOwned>(
        &self,
        method: &'static str,
        encoding: Encoding,
        repeat: Repeat,
        args: Value,
        field: &str,
    ) -> Result<T, SlackError> {
        let mut body = self.call(method, encoding, repeat, args).await?;
        let value = body.get_mut(field).map(Value::take).unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| SlackError::Decode {
            method,
            message: format!("{field}: {e}"),
        })
    }

    /// `auth.test`: who the token is.
    pub async fn auth_test(&self) -> Result<Identity, SlackError> {
        let body = self
            .call("auth.test", Encoding::Json, Repeat::Safe, json!({}))
            .await?;
        serde_json::from_value(body).map_err(|e| SlackError::Decode {
            method: "auth.test",
            message: e.to_string(),
        })
    }

    /// `conversations.create`: a public channel named `name`.
    pub async fn create_channel(&self, name: &str) -> Result<Channel, SlackError> {
        self.create_conversation(name, false).await
    }

    /// `conversations.create`: a channel named `name`, private when `is_private` (scope
    /// `groups:write` instead of `channels:manage`).
    pub async fn create_conversation(
        &self,
        name: &str,
        is_private: bool,
    ) -> Result<Channel, SlackError> {
        // Safe to repeat: a repeat of a create that succeeded answers `name_taken`, which
        // the caller resolves by finding its own channel.
        self.call_as(
            "conversations.create",
            Encoding::Json,
            Repeat::Safe,
            self.in_team(json!({ "name": name, "is_private": is_private })),
            "channel",
        )
        .await
    }

    /// `conversations.list`: one page of public channels (archived ones included) and the
    /// next cursor (empty at the end).
    pub async fn list_channels(&self, cursor: &str) -> Result<(Vec<Channel>, String), SlackError> {
        self.list_conversations(cursor, false).await
    }

    /// `conversations.list`: one page of public channels, and of the private ones the bot
    /// is in when `include_private` (scope `groups:read`), with the next cursor.
    pub async fn list_conversations(
        &self,
        cursor: &str,
        include_private: bool,
    ) -> Result<(Vec<Channel>, String), SlackError> {
        let types = if include_private {
            "public_channel,private_channel"
        } else {
            "public_channel"
        };
        let mut body = self
            .call(
                "conversations.list",
                Encoding::Form,
                Repeat::Safe,
                self.in_team(json!({ "types": types, "limit": 1000, "cursor": cursor })),
            )
            .await?;
        let channels: Vec<Channel> = serde_json::from_value(
            body.get_mut("channels")
                .map(Value::take)
                .unwrap_or_default(),
        )
        .map_err(|e| SlackError::Decode {
            method: "conversations.list",
            message: e.to_string(),
        })?;
        let next = body
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok((channels, next))
    }

    /// `conversations.info`.
    pub async fn channel_info(&self, channel: &str) -> Result<Channel, SlackError> {
        self.call_as(
            "conversations.info",
            Encoding::Form,
            Repeat::Safe,
            json!({ "channel": channel }),
            "channel",
        )
        .await
    }

    /// `conversations.setTopic`.
    pub async fn set_topic(&self, channel: &str, topic: &str) -> Result<(), SlackError> {
        self.call(
            "conversations.setTopic",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel, "topic": topic }),
        )
        .await
        .map(drop)
    }

    /// `conversations.invite` of `users` (at most 100).
    pub async fn invite(&self, channel: &str, users: &[String]) -> Result<(), SlackError> {
        self.call(
            "conversations.invite",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel, "users": users.join(",") }),
        )
        .await
        .map(drop)
    }

    /// `conversations.join`.
    pub async fn join(&self, channel: &str) -> Result<(), SlackError> {
        self.call(
            "conversations.join",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel }),
        )
        .await
        .map(drop)
    }

    /// `conversations.archive`.
    pub async fn archive(&self, channel: &str) -> Result<(), SlackError> {
        self.call(
            "conversations.archive",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel }),
        )
        .await
        .map(drop)
    }

    /// `chat.postMessage`; returns the message's `ts`. `channel` may be a user id (a DM).
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<String, SlackError> {
        let mut args = json!({ "channel": channel, "text": text });
        if let Some(blocks) = blocks {
            args["blocks"] = blocks.clone();
        }
        self.call_as(
            "chat.postMessage",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            args,
            "ts",
        )
        .await
    }

    /// `chat.update` of our message `ts`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<(), SlackError> {
        let mut args = json!({ "channel": channel, "ts": ts, "text": text });
        if let Some(blocks) = blocks {
            args["blocks"] = blocks.clone();
        }
        self.call("chat.update", Encoding::Json, Repeat::Safe, args)
            .await
            .map(drop)
    }

    /// `chat.postEphemeral` to `user` in `channel`.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.postEphemeral",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            json!({ "channel": channel, "user": user, "text": text }),
        )
        .await
        .map(drop)
    }

    /// `pins.add` of message `ts`.
    pub async fn pin(&self, channel: &str, ts: &str) -> Result<(), SlackError> {
        self.call(
            "pins.add",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel, "timestamp": ts }),
        )
        .await
        .map(drop)
    }

    /// `bookmarks.add` of a link.
    pub async fn add_bookmark(
        &self,
        channel: &str,
        title: &str,
        link: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "bookmarks.add",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            json!({ "channel_id": channel, "title": title, "type": "link", "link": link }),
        )
        .await
        .map(drop)
    }

    /// `users.lookupByEmail`.
    pub async fn lookup_by_email(&self, email: &str) -> Result<SlackUser, SlackError> {
        self.call_as(
            "users.lookupByEmail",
            Encoding::Form,
            Repeat::Safe,
            json!({ "email": email }),
            "user",
        )
        .await
    }

    /// `users.info`.
    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackError> {
        self.call_as(
            "users.info",
            Encoding::Form,
            Repeat::Safe,
            json!({ "user": user }),
            "user",
        )
        .await
    }

    /// `views.open` of `view` with a `trigger_id` (valid 3 s, once).
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        self.call(
            "views.open",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            json!({ "trigger_id": trigger_id, "view": view }),
        )
        .await
        .map(drop)
    }

    /// `views.update`: replaces open modal `view_id` with `view`, only if it is still at
    /// `hash` (the one Slack sent with the interaction; else `hash_conflict`, so an older
    /// change never overwrites a newer one).
    pub async fn update_view(
        &self,
        view_id: &str,
        hash: &str,
        view: &Value,
    ) -> Result<(), SlackError> {
        self.call(
            "views.update",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            json!({ "view_id": view_id, "hash": hash, "view": view }),
        )
        .await
        .map(drop)
    }
}

/// Counts and times one call (after its retries) and records its outcome on its span.
fn record_call(
    method: &'static str,
    result: &Result<Value, SlackError>,
    took: Duration,
    span: &tracing::Span,
) {
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.code().map_or_else(|| e.kind().to_owned(), str::to_owned),
    };
    span.record("outcome", outcome.as_str());
    metrics::histogram!(SLACK_CALL_DURATION, "method" => method).record(took.as_secs_f64());
    metrics::counter!(SLACK_CALLS, "method" => method, "outcome" => outcome.clone()).increment(1);
    if result.is_err() {
        metrics::counter!(SLACK_ERRORS, "method" => method, "error" => outcome).increment(1);
    }
}

/// The methods the war room's people and announcements need (issue 17).
impl SlackClient {
    /// `conversations.unarchive` (Tier 2). Slack documents that bot tokens cannot
    /// currently unarchive; its refusal is handled by the caller as an optional step's.
    pub async fn unarchive(&self, channel: &str) -> Result<(), SlackError> {
        self.call(
            "conversations.unarchive",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel": channel }),
        )
        .await
        .map(drop)
    }

    /// `chat.postMessage` in the thread of `thread_ts`; returns the reply's `ts`.
    pub async fn post_reply(
        &self,
        channel: &str,
        thread_ts: &str,
        text: &str,
    ) -> Result<String, SlackError> {
        self.call_as(
            "chat.postMessage",
            Encoding::Json,
            Repeat::OnlyRateLimited,
            json!({ "channel": channel, "thread_ts": thread_ts, "text": text }),
            "ts",
        )
        .await
    }

    /// `bookmarks.add` of a link; returns the bookmark's id.
    pub async fn bookmark(
        &self,
        channel: &str,
        title: &str,
        link: &str,
    ) -> Result<String, SlackError> {
        let bookmark: Value = self
            .call_as(
                "bookmarks.add",
                Encoding::Json,
                Repeat::OnlyRateLimited,
                json!({ "channel_id": channel, "title": title, "type": "link", "link": link }),
                "bookmark",
            )
            .await?;
        bookmark
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(SlackError::Decode {
                method: "bookmarks.add",
                message: "bookmark.id is missing".to_owned(),
            })
    }

    /// `bookmarks.edit` of bookmark `id` (Tier 2): a new title and link.
    pub async fn edit_bookmark(
        &self,
        channel: &str,
        id: &str,
        title: &str,
        link: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "bookmarks.edit",
            Encoding::Json,
            Repeat::Safe,
            json!({ "channel_id": channel, "bookmark_id": id, "title": title, "link": link }),
        )
        .await
        .map(drop)
    }
}
