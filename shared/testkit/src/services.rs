//! Hosting some services in the test's process exactly as a binary would
//! ([`incident_bus::service::run`]: migrations, buses, relays, consumers, one HTTP port).

use std::time::Duration;

use incident_bus::service::Starter;
use incident_runtime::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Services running in this process.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Cancelling it stops them.
    pub shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Starts `starters` with `config` on a free port (the config's address is ignored)
    /// and waits until `/readyz` answers 200.
    pub async fn start(config: Config, starters: &'static [Starter]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(incident_bus::service::run(
            config,
            listener,
            starters,
            shutdown.clone(),
        ));
        let running = Self {
            base,
            shutdown,
            task: Some(task),
        };
        running.wait_ready(Duration::from_secs(30)).await;
        running
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base);
        crate::eventually(timeout, &format!("{url} answers 200"), || async {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Stops them and returns how their run ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
