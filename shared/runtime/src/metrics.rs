//! The Prometheus recorder, installed once per process: `services/stack` runs every
//! service in one process, and each of them asks for it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use.
///
/// If another recorder was installed first (a test harness, say), a private recorder is
/// used: `/metrics` still renders, but only what was recorded through the global one.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            match builder.install_recorder() {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    handle
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Histograms need periodic upkeep to drain their buckets.
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}
