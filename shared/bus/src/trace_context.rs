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
    inject(&tracing::Span::current().context())
}

/// `context` as header pairs, through the global propagator (W3C trace context).
pub fn inject(context: &opentelemetry::Context) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(context, &mut MapInjector(&mut headers))
    });
    headers
}

/// The trace context carried by AMQP headers.
pub fn extract(headers: &FieldTable) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&TableExtractor(headers)))
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
    let context = extract(headers);
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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    #[test]
    fn a_trace_context_survives_the_trip_through_amqp_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        let span_id = SpanId::from_hex("00f067aa0ba902b7").expect("hex");
        let sent = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let headers = inject(&opentelemetry::Context::new().with_remote_span_context(sent));
        assert_eq!(
            headers.get("traceparent").map(String::as_str),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );

        // Through the outbox row (JSON) and the AMQP field table, as the relay carries it.
        let stored: BTreeMap<String, String> =
            serde_json::from_value(serde_json::to_value(&headers).expect("json")).expect("json");
        let received = extract(&to_field_table(&stored));
        let span = received.span();
        assert_eq!(span.span_context().trace_id(), trace_id);
        assert_eq!(span.span_context().span_id(), span_id);
        assert!(span.span_context().is_sampled());
    }
}
