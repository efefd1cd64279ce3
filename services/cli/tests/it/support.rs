//! `TestStack`: core's and the postmortem service's routers on a free port over a
//! bootstrapped `default` workspace, and [`Run`]: the `incident` binary run against it
//! with a configuration directory of its own, so nothing of the machine's user leaks in.

use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use incident_core::access::bootstrap::bootstrap;
use incident_testkit::app::Api;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use tempfile::TempDir;
use uuid::Uuid;

pub use incident_testkit::app::ADMIN;

/// The routers, and a home for the CLI's configuration.
pub struct TestStack {
    api: Api,
    home: TempDir,
}

impl Deref for TestStack {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestStack {
    /// Core and postmortem on one port, no broker (events stay in the outbox).
    pub async fn spawn(pool: PgPool) -> Self {
        let secret = secrecy::SecretString::from(ADMIN.to_owned());
        assert!(bootstrap(&pool, &secret).await.expect("bootstrap"));
        let api = Api::start(pool, "cli-test", false, |pool, bus| {
            incident_core::router(incident_core::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
                tokens: Default::default(),
            })
            .merge(incident_postmortem::router(incident_postmortem::AppState {
                pool: pool.clone(),
                bus: bus.clone(),
                llm: None,
                public_url: None,
                trackers: incident_postmortem::tracker::Trackers::new(None, None),
                tokens: Default::default(),
            }))
        })
        .await;
        let home = tempfile::tempdir().expect("home");
        Self { api, home }
    }

    /// `$XDG_CONFIG_HOME` of the CLI runs.
    pub fn config_home(&self) -> PathBuf {
        self.home.path().join("config")
    }

    /// The CLI with `args`, as the admin (`INCIDENT_URL`, `INCIDENT_TOKEN`).
    pub async fn cli(&self, args: &[&str]) -> Run {
        self.cli_as(Some(ADMIN), args).await
    }

    /// The CLI with `args` and `token` (none: only what `login` saved).
    pub async fn cli_as(&self, token: Option<&str>, args: &[&str]) -> Run {
        let mut env = vec![("INCIDENT_URL", self.base.clone())];
        if let Some(token) = token {
            env.push(("INCIDENT_TOKEN", token.to_owned()));
        }
        run(self.home.path(), &env, args, None).await
    }

    /// The CLI with `args` and nothing in its environment but its home.
    pub async fn bare(&self, args: &[&str], stdin: Option<&str>) -> Run {
        run(self.home.path(), &[], args, stdin).await
    }

    /// An incident as the API shows it to the admin.
    pub async fn incident(&self, reference: &str) -> Value {
        let (status, body) = self
            .get(ADMIN, &format!("/api/v1/incidents/{reference}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The timeline kinds of an incident, oldest first.
    pub async fn timeline(&self, reference: &str) -> Vec<Value> {
        let (status, body) = self
            .get(ADMIN, &format!("/api/v1/incidents/{reference}/timeline"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().expect("array").clone()
    }
}

/// How a run of the CLI ended.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:#?}");
        &self.stdout
    }

    /// Asserts success; returns stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }

    /// Asserts the exit code `code`; returns stderr as JSON (a `--json` failure).
    #[track_caller]
    pub fn failed_json(&self, code: i32) -> Value {
        assert_eq!(self.code, code, "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        serde_json::from_str(&self.stderr).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Runs the binary off the test's runtime (the server answers on it meanwhile).
pub async fn run(home: &Path, env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_incident"));
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("spawn incident");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("incident ran");
        Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        }
    })
    .await
    .expect("join")
}

/// `value` with every id and timestamp replaced by a placeholder, for snapshots.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::String(s) if s.parse::<Uuid>().is_ok() => Value::String("[id]".into()),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            Value::String("[time]".into())
        }
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        other => other.clone(),
    }
}

/// A TCP proxy to `upstream` that loses the answer to the first request: it forwards the
/// request, waits until the server starts answering, and closes the connection without
/// passing the answer on, as a network cut at the worst moment would. Later connections
/// are passed through. Returns its base URL.
pub async fn losing_first_answer(upstream: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = TcpStream::connect(&upstream).await.expect("upstream");
            if std::mem::take(&mut first) {
                tokio::spawn(async move {
                    let (mut from_client, mut to_server) = client.split();
                    let (mut from_server, _) = server.split();
                    let mut answer = [0u8; 1];
                    tokio::select! {
                        _ = tokio::io::copy(&mut from_client, &mut to_server) => {}
                        _ = from_server.read_exact(&mut answer) => {}
                    }
                    // Dropping both ends loses the answer.
                    let _ = client.shutdown().await;
                });
            } else {
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        }
    });
    base
}

/// A server answering every request with `503 Service Unavailable` and a problem
/// document, as a proxy in front of a restarting API would. Returns its base URL.
pub async fn unavailable() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = r#"{"type":"https://incident.dev/problems/unavailable","title":"Service unavailable","status":503,"detail":"restarting"}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    base
}

/// A server that accepts connections and never answers. Returns its base URL.
pub async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    base
}
