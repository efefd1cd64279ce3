//! Test support for whole-system tests: [`TestStack`] runs the real stack in process on
//! `127.0.0.1:0`, against a test database (from `#[sqlx::test]`) and its own RabbitMQ
//! vhost, exactly as `deploy/dev/run` runs it.

use std::net::SocketAddr;
use std::time::Duration;

use figment::Figment;
use figment::providers::Serialized;
use incident_bus::testing::TestVhost;
use incident_runtime::Config;
pub use incident_testkit::http::{Client, Reply};
pub use incident_testkit::services::Running;
pub use incident_testkit::{db, eventually};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A configuration for `pool`'s database and `vhost`, on port 0, with `extra` overrides.
pub fn config_for(pool: &PgPool, vhost: &TestVhost, extra: &[(&str, &str)]) -> Config {
    let mut figment = Figment::new()
        .merge(Serialized::default("database_url", db::database_url(pool)))
        .merge(Serialized::default("amqp_url", vhost.url.clone()))
        .merge(Serialized::default("http_addr", "127.0.0.1:0"))
        .merge(Serialized::default("outbox_poll_secs", 1));
    for (k, v) in extra {
        figment = figment.merge(Serialized::default(k, v));
    }
    Config::from_figment(figment).expect("a valid test configuration")
}

/// The whole stack, running in this process.
pub struct TestStack {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its own RabbitMQ vhost (deleted on drop).
    pub vhost: TestVhost,
    /// Cancelling it shuts the stack down.
    pub shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    client: reqwest::Client,
}

impl TestStack {
    /// Starts the stack on `pool`'s database with a new vhost and waits until it is ready.
    pub async fn spawn(pool: &PgPool) -> Self {
        Self::spawn_with(pool, &[]).await
    }

    /// [`TestStack::spawn`] with configuration overrides (`("bootstrap_token", ...)`).
    pub async fn spawn_with(pool: &PgPool, extra: &[(&str, &str)]) -> Self {
        let vhost = TestVhost::create();
        let config = config_for(pool, &vhost, extra);
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(incident_stack::serve(config, listener, shutdown.clone()));
        let stack = Self {
            addr,
            vhost,
            shutdown,
            task: Some(task),
            client: reqwest::Client::new(),
        };
        stack.wait_ready(Duration::from_secs(30)).await;
        stack
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs `path`, returning the status and the body as JSON (or a string).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, body)
    }

    /// Sends `method path` with an optional bearer `token` and raw JSON `body`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        Client::new(self.addr).call(method, path, token, body).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let url = self.url("/readyz");
        eventually(timeout, "the stack becomes ready", || async {
            self.client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Shuts the stack down and returns how its run ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs `starters` (some of [`incident_stack::SERVICES`]) as one process would, on
/// `pool`'s database and `vhost`, and waits until they are ready.
pub async fn run_services(
    pool: &PgPool,
    vhost: &TestVhost,
    starters: &'static [incident_bus::service::Starter],
    extra: &[(&str, &str)],
) -> Running {
    Running::start(config_for(pool, vhost, extra), starters).await
}
