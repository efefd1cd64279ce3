//! Tracing: log lines to stdout (text or JSON), and OpenTelemetry export over OTLP/HTTP
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The W3C trace-context propagator is
//! installed either way, so trace ids cross RabbitMQ even without a collector.
//!
//! OTLP uses the blocking HTTP client: the batch processor runs on its own OS thread and
//! the async client panics there (opentelemetry-rust#3125).

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::{Config, LogFormat};

/// Keeps the tracer provider alive; call [`Telemetry::shutdown`] at exit to flush spans.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports every finished span now (on a blocking thread: it does HTTP).
    pub async fn flush(&self) {
        if let Some(provider) = self.provider.clone() {
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }

    /// Flushes and stops the span exporter (on a blocking thread: it does HTTP).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`). Calling it twice
/// (tests) keeps the first subscriber.
pub fn init(service_name: &'static str, config: &Config) -> Telemetry {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn"))
    };

    let fmt = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
    };

    let mut provider = None;
    let otel = config.otel_exporter_otlp_endpoint.as_ref().and_then(|endpoint| {
        match SpanExporter::builder().with_http().with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/'))).build() {
            Ok(exporter) => {
                let p = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(service_name).build())
                    .build();
                let tracer = p.tracer(service_name);
                global::set_tracer_provider(p.clone());
                provider = Some(p);
                // Our own HTTP and database clients would trace the exporter itself.
                let quiet = filter_fn(|m| {
                    let t = m.target();
                    !(t.starts_with("opentelemetry") || t.starts_with("hyper") || t.starts_with("reqwest") || t.starts_with("h2"))
                });
                Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(quiet).boxed())
            }
            Err(e) => {
                eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter: {e}; tracing export is off");
                None
            }
        }
    });

    let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = match otel {
        Some(otel) => vec![
            fmt.with_filter(filter()).boxed(),
            otel.with_filter(filter()).boxed(),
        ],
        None => vec![fmt.with_filter(filter()).boxed()],
    };
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Telemetry { provider }
}
