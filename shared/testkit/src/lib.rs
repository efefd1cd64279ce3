//! Test support shared by every crate's integration tests (a dev-dependency only):
//!
//! - [`app`]: an API under test ([`app::Api`]): routers over a test database and a bus,
//!   served on a free port, with the problem-asserting client and HTTP fixtures;
//! - [`db`]: the PostgreSQL server `#[sqlx::test]` uses and a test database's URL;
//! - [`wait`]: [`eventually`] and [`eventually_some`], polling with a deadline;
//! - [`http`]: serving a router on `127.0.0.1:0`, and a client whose replies assert
//!   `application/problem+json`;
//! - [`fixtures`]: workspaces, users and API tokens written straight through the schema
//!   crate, so a service's tests need no other service to mint a token;
//! - [`idp`]: a small OpenID Connect identity provider (discovery, JWKS, `/authorize`,
//!   `/token` with PKCE, signed ID tokens) with knobs for what a relying party must refuse;
//! - [`browser`]: a real headless Chromium driven over WebDriver (skipped, loudly,
//!   where `chromium` and `chromium-driver` are not installed), with screenshots;
//! - [`metrics`]: `/metrics` parsed with a Prometheus text parser, every family required
//!   to carry `# HELP` and the `incident_` prefix;
//! - [`services`]: some services hosted in the test's process as a binary hosts them;
//! - [`sockets`]: the process's own TCP sockets and their `TCP_NODELAY` (Linux);
//! - [`web`]: a browser without JavaScript ([`web::Page`]): sign in, GET pages, POST forms;
//! - [`TestVhost`]: a RabbitMQ vhost per test (from the bus crate's `testing` feature).
//!
//! A crate's own `tests/it/support.rs` keeps only what is its own.

pub mod app;
pub mod browser;
pub mod db;
pub mod fixtures;
pub mod http;
pub mod idp;
pub mod metrics;
pub mod services;
pub mod sockets;
pub mod wait;
pub mod web;

pub use incident_bus::testing::TestVhost;
pub use wait::{eventually, eventually_some};
