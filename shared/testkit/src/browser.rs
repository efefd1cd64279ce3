//! A real browser for the web app's tests: Debian's `chromium`, headless, driven by
//! `chromedriver` (package `chromium-driver`) over WebDriver with `fantoccini`.
//!
//! [`Browser::start`] answers `None`, printing why in capitals, where either is missing
//! (`deploy/dev/test` installs them where it can), so the tests skip rather than fail
//! on a machine without them. Chromium runs with a fresh profile and the flags that keep
//! it from reaching out to the network (without them it hangs on a closed network).
//! Screenshots go to `target/screenshots/<name>.png`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Where Debian installs them.
const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// A headless Chromium session; the driver is stopped and the profile removed on drop.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// `target/screenshots` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; none (with a loud message) if they are
    /// not installed.
    pub async fn start() -> Option<Self> {
        let (Some(chromium), Some(driver)) = (first_existing(CHROMIUM), first_existing(DRIVER))
        else {
            eprintln!(
                "\n*** SKIPPING BROWSER TEST: chromium and chromedriver are not installed \
                 (Debian packages 'chromium' and 'chromium-driver'; deploy/dev/test installs them) ***\n"
            );
            return None;
        };
        let port = crate::db::free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("incident-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("open a Chromium session");
        Some(Self {
            client,
            driver,
            profile,
        })
    }

    /// Saves a PNG of the current page as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// The text of the first element matching `css`, or none.
    pub async fn text(&self, css: &str) -> Option<String> {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.ok(),
            Err(_) => None,
        }
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// Signs in at `base` through core's login form with `token` and waits for the
    /// incident list.
    pub async fn sign_in(&self, base: &str, token: &str) {
        let c = &self.client;
        c.goto(&format!("{base}/ui/login"))
            .await
            .expect("login page");
        c.find(Locator::Id("token"))
            .await
            .expect("token field")
            .send_keys(token)
            .await
            .expect("type");
        c.find(Locator::Css("main form button[type=submit]"))
            .await
            .expect("button")
            .click()
            .await
            .expect("submit");
        crate::eventually(
            Duration::from_secs(15),
            "the incident list after signing in",
            || async {
                c.current_url()
                    .await
                    .is_ok_and(|u| u.path() == "/ui/incidents")
                    && self.text("main h1").await.as_deref() == Some("Incidents")
            },
        )
        .await;
    }

    /// Ends the session (the driver and profile go on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
