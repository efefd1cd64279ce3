//! One trace from the webhook request to the Slack call: the stack exports its spans over
//! OTLP/HTTP to a receiver in this process, and an Alertmanager notification sent with a
//! `traceparent` yields one trace holding the HTTP server span (a child of the caller's),
//! ingestion's pipeline, core's and the war room's consumer spans, and the Slack calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use incident_bus::testing::TestVhost;
use incident_system_tests::{Client, TestStack, config_for, eventually};
use incident_warroom::testing::fake_slack::{self, FakeSlack};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

const TOKEN: &str = "traces-bootstrap-token-01234";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";
const DECLARE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP (protobuf) trace receiver on port 0.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(spans): State<Arc<Mutex<Vec<Received>>>>, body: Bytes| async move {
                    let request =
                        ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                    let mut spans = spans.lock().expect("lock");
                    for resource in request.resource_spans {
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                let attributes = span
                                    .attributes
                                    .iter()
                                    .map(|kv| {
                                        let value =
                                            match kv.value.as_ref().and_then(|v| v.value.clone()) {
                                                Some(Any::StringValue(s)) => s,
                                                Some(other) => format!("{other:?}"),
                                                None => String::new(),
                                            };
                                        (kv.key.clone(), value)
                                    })
                                    .collect();
                                spans.push(Received {
                                    trace: hex(&span.trace_id),
                                    id: hex(&span.span_id),
                                    parent: hex(&span.parent_span_id),
                                    name: span.name,
                                    kind: span.kind,
                                    attributes,
                                });
                            }
                        }
                    }
                    ""
                },
            ),
        )
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

#[sqlx::test(migrations = false)]
async fn one_webhook_request_yields_one_trace_down_to_the_slack_call(pool: PgPool) {
    let (collector, spans) = receiver().await;
    // This test binary's only exporting subscriber: the stack's spans go to the receiver.
    let vhost = TestVhost::create();
    let telemetry = incident_runtime::telemetry::init(
        "incident-stack",
        &config_for(
            &pool,
            &vhost,
            &[("otel_exporter_otlp_endpoint", collector.as_str())],
        ),
    );
    drop(vhost);
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let stack = TestStack::spawn_with(
        &pool,
        &[
            ("bootstrap_token", TOKEN),
            ("slack_bot_token", fake_slack::TOKEN),
            ("slack_signing_secret", "traces-signing-secret"),
            ("slack_api_url", api_url.as_str()),
        ],
    )
    .await;
    let created = Client::for_base(stack.url(""))
        .send(
            Method::POST,
            "/api/v1/integrations",
            TOKEN,
            &json!({ "kind": "alertmanager", "name": "prometheus" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let integration = created.json();
    let notification = json!({
        "receiver": "incident", "status": "firing", "version": "4",
        "groupKey": "{}:{alertname=\"Errors\"}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": { "alertname": "Errors", "severity": "critical", "service": "checkout" },
            "annotations": { "summary": "checkout errors" },
            "startsAt": "2026-11-27T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": "e1",
        }],
    });
    let sent = reqwest::Client::new()
        .post(stack.url(&format!(
            "/webhooks/alertmanager/{}",
            integration["id"].as_str().expect("id")
        )))
        .bearer_auth(integration["secret"].as_str().expect("secret"))
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .json(&notification)
        .send()
        .await
        .expect("webhook");
    assert_eq!(sent.status(), 202);
    eventually(
        Duration::from_secs(30),
        "the war room is open and pinned",
        || async {
            let channel: Option<Option<String>> =
                sqlx::query_scalar("SELECT slack_channel_id FROM incidents WHERE number = 1")
                    .fetch_optional(&pool)
                    .await
                    .expect("incident");
            channel
                .flatten()
                .is_some_and(|c| !slack.pins(&c).is_empty())
        },
    )
    .await;

    let trace = whole_trace(&telemetry, &spans, TRACE, CALLER, |trace| {
        find(trace, &|s| s.name == "slack pins.add").is_some()
            && find(trace, &|s| {
                s.attribute("messaging.destination.name") == Some("warroom.events")
            })
            .is_some()
    })
    .await;
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();

    let http = find(&trace, &|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no HTTP server span in {names:?}"));
    assert_eq!(http.name, "POST /webhooks/alertmanager/{integration}");
    assert_eq!(
        http.parent, CALLER,
        "the server span continues the caller's traceparent"
    );
    assert_eq!(
        http.attribute("http.route"),
        Some("/webhooks/alertmanager/{integration}")
    );
    assert!(
        find(&trace, &|s| s.name == "ingest").is_some(),
        "ingestion's pipeline in {names:?}"
    );
    for queue in ["core.commands", "warroom.events"] {
        let consumer = find(&trace, &|s| {
            s.attribute("messaging.destination.name") == Some(queue)
        });
        let consumer = consumer.unwrap_or_else(|| panic!("no {queue} consumer span in {names:?}"));
        assert_eq!(consumer.kind, SpanKind::Consumer as i32, "{queue}");
    }
    for method in ["conversations.create", "pins.add"] {
        let call = find(&trace, &|s| s.name == format!("slack {method}"))
            .unwrap_or_else(|| panic!("no Slack {method} span in {names:?}"));
        assert_eq!(call.kind, SpanKind::Client as i32, "{method}");
        assert_eq!(call.attribute("outcome"), Some("ok"), "{method}");
    }
    assert_no_orphan(&trace, CALLER);

    // A declare by hand is applied by its workspace's batch worker, another task than the
    // request's: its events still continue the request's trace.
    let declared = reqwest::Client::new()
        .post(stack.url("/api/v1/incidents"))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{DECLARE_TRACE}-{CALLER}-01"))
        .json(&json!({ "title": "Declared by hand", "severity": "SEV3" }))
        .send()
        .await
        .expect("declare");
    assert_eq!(declared.status(), 201);
    let trace = whole_trace(&telemetry, &spans, DECLARE_TRACE, CALLER, |trace| {
        ["warroom.events", "ingestion.events"].iter().all(|queue| {
            find(trace, &|s| {
                s.attribute("messaging.destination.name") == Some(*queue)
            })
            .is_some()
        })
    })
    .await;
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    let http = find(&trace, &|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no HTTP server span in {names:?}"));
    assert_eq!(http.name, "POST /api/v1/incidents");
    assert_eq!(http.parent, CALLER);
    for queue in ["warroom.events", "ingestion.events"] {
        let consumer = find(&trace, &|s| {
            s.attribute("messaging.destination.name") == Some(queue)
        })
        .unwrap_or_else(|| panic!("no {queue} consumer span of the declare in {names:?}"));
        assert_eq!(consumer.kind, SpanKind::Consumer as i32, "{queue}");
    }
    assert_no_orphan(&trace, CALLER);

    stack.stop().await.expect("clean shutdown");
}

fn find(spans: &[Received], what: &dyn Fn(&Received) -> bool) -> Option<Received> {
    spans.iter().find(|s| what(s)).cloned()
}

/// Every span of `trace` hangs off another of the trace, or off the caller's.
fn assert_no_orphan(trace: &[Received], caller: &str) {
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    for span in trace {
        assert!(
            span.parent == caller || trace.iter().any(|p| p.id == span.parent),
            "{} is an orphan in {names:?}",
            span.name
        );
    }
}

/// The spans of trace `id` once `done` holds of them and every one's parent has been
/// exported too (or after ten seconds, what has come).
async fn whole_trace(
    telemetry: &incident_runtime::telemetry::Telemetry,
    spans: &Mutex<Vec<Received>>,
    id: &str,
    caller: &str,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let mut trace = Vec::new();
    for _ in 0..20 {
        telemetry.flush().await;
        trace = spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.trace == id)
            .cloned()
            .collect();
        // A span is exported when it ends, a parent after its children: a span caught
        // before its still-open parent (a consumer span around a handler) waits for it.
        let whole = trace
            .iter()
            .all(|span| span.parent == caller || trace.iter().any(|p| p.id == span.parent));
        if whole && done(&trace) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    trace
}
