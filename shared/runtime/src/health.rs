//! `/healthz` (the process is alive), `/readyz` (its database and broker are reachable)
//! and `/metrics` (Prometheus text format), served by every binary.
//!
//! Readiness is a list of named checks. The database check runs `SELECT 1` with a short
//! timeout; other checks (the broker connection) are flags their owners keep current.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use sqlx::PgPool;

type Flag = Arc<dyn Fn() -> bool + Send + Sync>;

/// What `/readyz` checks.
#[derive(Clone, Default)]
pub struct Readiness {
    database: Option<PgPool>,
    flags: Vec<(String, Flag)>,
}

impl Readiness {
    /// An empty set of checks (always ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the database with `SELECT 1`.
    pub fn with_database(mut self, pool: PgPool) -> Self {
        self.database = Some(pool);
        self
    }

    /// Adds a named check that reports whether a dependency is up.
    pub fn with_check(
        mut self,
        name: impl Into<String>,
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        self.flags.push((name.into(), Arc::new(check)));
        self
    }

    /// Runs every check; `true` when all pass, with each check's result.
    pub async fn check(&self) -> (bool, Map<String, Value>) {
        let mut ready = true;
        let mut checks = Map::new();
        if let Some(pool) = &self.database {
            let ok = matches!(
                tokio::time::timeout(
                    Duration::from_secs(2),
                    sqlx::query("SELECT 1").execute(pool)
                )
                .await,
                Ok(Ok(_))
            );
            ready &= ok;
            checks.insert("database".into(), status(ok));
        }
        for (name, flag) in &self.flags {
            let ok = flag();
            ready &= ok;
            checks.insert(name.clone(), status(ok));
        }
        (ready, checks)
    }
}

fn status(ok: bool) -> Value {
    Value::String(if ok { "up" } else { "down" }.into())
}

/// The `/healthz`, `/readyz` and `/metrics` routes.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(readiness))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    let (ready, checks) = readiness.check().await;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": if ready { "ready" } else { "not_ready" }, "checks": checks });
    (code, Json(body)).into_response()
}

/// Renders the metrics, with readiness evaluated now (`incident_ready`,
/// `incident_readiness_check_up`), so an alert sees what `/readyz` would answer.
async fn metrics(State(readiness): State<Arc<Readiness>>) -> Response {
    let (ready, checks) = readiness.check().await;
    metrics::gauge!(crate::metrics::READY).set(if ready { 1.0 } else { 0.0 });
    for (name, status) in checks {
        let up = if status == "up" { 1.0 } else { 0.0 };
        metrics::gauge!(crate::metrics::READINESS_CHECK, "check" => name).set(up);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::handle().render(),
    )
        .into_response()
}
