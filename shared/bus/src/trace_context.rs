//! W3C trace context (`traceparent`, `tracestate`) across RabbitMQ, so one trace follows
//! an alert through every service.
//!
//! The outbox captures the context when a row is *written* (inside the request or
//! consumer span) and the relay copies it into the AMQP headers; otherwise every trace
//! would end at the relay.

use std::collections::BTreeMap;

use lapin::types::{AMQPValue, FieldTable, LongString};
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The current span's trace context as header pairs (empty when there is none).
pub fn current() -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut MapInjector(&mut headers))
    });
    headers
}

struct MapInjector<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Header pairs as an AMQP field table of long strings.
pub fn to_field_table(headers: &BTreeMap<String, String>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(
            k.as_str().into(),
            AMQPValue::LongString(LongString::from(v.as_str())),
        );
    }
    table
}

/// Makes the span a child of the trace context found in the AMQP headers, if any.
pub fn set_parent_from(span: &tracing::Span, headers: Option<&FieldTable>) {
    let Some(headers) = headers else { return };
    let context =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&TableExtractor(headers)));
    // set_parent fails only when the span is disabled; nothing to do then.
    let _ = span.set_parent(context);
}

struct TableExtractor<'a>(&'a FieldTable);

impl Extractor for TableExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key) {
            Some(AMQPValue::LongString(s)) => std::str::from_utf8(s.as_bytes()).ok(),
            Some(AMQPValue::ShortString(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}
