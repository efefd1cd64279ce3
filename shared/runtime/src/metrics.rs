//! The Prometheus recorder, installed once per process (`services/stack` runs every
//! service in one process, and each of them asks for it), and the one table of metric
//! families: every name is written once here, as a constant the recording code uses,
//! with its kind, unit and `# HELP` text ([`FAMILIES`], described when the recorder is
//! installed). Names start with `incident_` and end with their unit (`_seconds`,
//! `_messages`, `_incidents`) or `_total` for counters.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// What a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (rendered as a Prometheus histogram).
    Histogram,
}

/// One metric family: name, kind, unit, help text.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The full name, with the `incident_` prefix.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its unit.
    pub unit: Unit,
    /// The `# HELP` text.
    pub help: &'static str,
}

macro_rules! families {
    ($($(#[$doc:meta])* $const:ident = $name:literal, $kind:ident, $unit:ident, $help:literal;)*) => {
        $($(#[$doc])* pub const $const: &str = $name;)*
        /// Every family any binary records, described when the recorder is installed.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, kind: Kind::$kind, unit: Unit::$unit, help: $help },)*
        ];
    };
}

families! {
    /// HTTP requests answered, by `method`, matched `route` and `status`.
    HTTP_REQUESTS = "incident_http_requests_total", Counter, Count,
        "HTTP requests answered, by method, matched route (the route template, parameters as :name; unmatched for none) and status code.";
    /// Bearer-token lookups, by `outcome`.
    AUTH_TOKEN_LOOKUPS = "incident_auth_token_lookups_total", Counter, Count,
        "Bearer-token lookups of API requests, by outcome (hit: answered from the process's token cache, miss: looked up in the database).";
    /// HTTP request latency, by `method` and matched `route`.
    HTTP_REQUEST_DURATION = "incident_http_request_duration_seconds", Histogram, Seconds,
        "Time from receiving an HTTP request to its response head, by method and matched route.";
    /// 1 while every readiness check passes (as last scraped).
    READY = "incident_ready", Gauge, Count,
        "1 when every readiness check of the process passes (what /readyz answers), 0 otherwise; evaluated at each scrape.";
    /// One readiness check, by `check`.
    READINESS_CHECK = "incident_readiness_check_up", Gauge, Count,
        "1 when the named readiness check passes, 0 when it fails; evaluated at each scrape.";
    /// 1 while a service's broker connection is up, by `service`.
    BUS_CONNECTED = "incident_bus_connected", Gauge, Count,
        "1 while the service's RabbitMQ connection is up, 0 while it reconnects.";
    /// Deliveries settled, by `queue` and `outcome`.
    BUS_MESSAGES_CONSUMED = "incident_bus_messages_consumed_total", Counter, Count,
        "Deliveries settled by a consumer, by queue and outcome (applied, duplicate, requeued, dead_lettered).";
    /// Handling time of a delivery, by `queue` and `outcome`.
    BUS_MESSAGE_HANDLING = "incident_bus_message_handling_seconds", Histogram, Seconds,
        "Time from a delivery's arrival to its settlement (handler, retries and the inbox commit included), by queue and outcome.";
    /// Messages waiting in a consumed queue: the consumer lag, by `queue`.
    BUS_QUEUE_READY = "incident_bus_queue_ready_messages", Gauge, Count,
        "Messages ready in a queue this process consumes and not yet delivered (consumer lag), sampled every 15 s, by queue.";
    /// Messages in the dead-letter queue.
    BUS_DEAD_LETTER = "incident_bus_dead_letter_messages", Gauge, Count,
        "Messages in the dead-letter queue incidents.dead-letter, sampled every 15 s; an operator drains it.";
    /// Outbox messages not yet published, by `publisher`.
    OUTBOX_PENDING = "incident_outbox_pending_messages", Gauge, Count,
        "Outbox messages written and not yet published, by publisher.";
    /// Age of the oldest unpublished outbox message, by `publisher`.
    OUTBOX_OLDEST_AGE = "incident_outbox_oldest_pending_age_seconds", Gauge, Seconds,
        "Age of the oldest unpublished outbox message, by publisher (0 when none waits).";
    /// Outbox messages held because the broker returned them unroutable, by `publisher`.
    OUTBOX_UNROUTABLE = "incident_outbox_unroutable_messages", Gauge, Count,
        "Outbox messages held because RabbitMQ returned them unroutable although the topology routes them, by publisher.";
    /// Outbox messages published, by `publisher`.
    OUTBOX_PUBLISHED = "incident_outbox_published_messages_total", Counter, Count,
        "Outbox messages published and confirmed by the broker, by publisher.";
    /// Unroutable returns, by `publisher`.
    OUTBOX_UNROUTABLE_RETURNS = "incident_outbox_unroutable_returns_total", Counter, Count,
        "Publications RabbitMQ returned unroutable (held in the outbox for a retry), by publisher.";
    /// Failed publish batches, by `publisher`.
    OUTBOX_PUBLISH_FAILURES = "incident_outbox_publish_failures_total", Counter, Count,
        "Outbox publish batches that failed (broker down, nack, timeout) and will be retried, by publisher.";
    /// Slack Web API calls, by `method` and `outcome`.
    SLACK_CALLS = "incident_slack_api_calls_total", Counter, Count,
        "Slack Web API calls (after retries), by method and outcome (ok, or the Slack error code, ratelimited, http_error, transport, decode).";
    /// Slack Web API call failures, by `method` and `error`.
    SLACK_ERRORS = "incident_slack_api_errors_total", Counter, Count,
        "Slack Web API calls that failed after retries, by method and error (the Slack error code, http_error, transport, decode).";
    /// HTTP 429 answers from Slack, by `method`.
    SLACK_RATE_LIMITED = "incident_slack_api_rate_limited_total", Counter, Count,
        "HTTP 429 (rate limited) answers from the Slack Web API, each attempt counted, by method.";
    /// Slack Web API call latency, by `method`.
    SLACK_CALL_DURATION = "incident_slack_api_call_duration_seconds", Histogram, Seconds,
        "Time of one Slack Web API call, retries and Retry-After waits included, by method.";
    /// War-room jobs deferred because their Slack team is rate limited (no team label).
    WARROOM_SLACK_DEFERRALS = "incident_warroom_slack_deferrals_total", Counter, Count,
        "War-room jobs deferred because their Slack team is rate limited (a 429's Retry-After, or the team's own per-method buckets at their tier's rate); other teams' jobs go on. No team label: the set of teams is unbounded.";
    /// War-room jobs given up on, by `reason`.
    WARROOM_JOBS_DEAD = "incident_warroom_jobs_dead_total", Counter, Count,
        "War-room jobs given up on and kept with their reason, by reason (uninstalled: the Slack app was uninstalled from the team; permanent: a failure retrying cannot fix; attempts: transient failures past the attempt limit; undecodable).";
    /// War-room jobs given up and still kept for operators.
    WARROOM_JOBS_GIVEN_UP = "incident_warroom_jobs_given_up", Gauge, Count,
        "War-room jobs given up and still kept in warroom_jobs for operators to read (until INCIDENT_WARROOM_JOB_RETENTION_DAYS after they were given up); set by each purge run.";
    /// Given-up war-room jobs purged after their retention.
    WARROOM_JOBS_PURGED = "incident_warroom_jobs_purged_total", Counter, Count,
        "Given-up war-room jobs deleted once older than INCIDENT_WARROOM_JOB_RETENTION_DAYS.";
    /// LLM calls, by `outcome`.
    LLM_CALLS = "incident_llm_calls_total", Counter, Count,
        "Calls to the postmortem drafting LLM, by outcome (ok, timeout, http_status, transport, invalid_json, empty).";
    /// LLM call latency, by `outcome`.
    LLM_CALL_DURATION = "incident_llm_call_duration_seconds", Histogram, Seconds,
        "Time of one call to the postmortem drafting LLM, by outcome.";
    /// Issue tracker calls, by `tracker`, `operation` and `outcome`.
    TRACKER_CALLS = "incident_tracker_calls_total", Counter, Count,
        "Calls to issue trackers (Jira, Linear), by tracker, operation (verify, create, find, get) and outcome (ok, unreachable, unauthorized, refused).";
    /// Issue tracker call latency, by `tracker`, `operation` and `outcome`.
    TRACKER_CALL_DURATION = "incident_tracker_call_duration_seconds", Histogram, Seconds,
        "Time of one call to an issue tracker, by tracker, operation and outcome.";
    /// Open incidents by SLA state, by `state`.
    SLA_INCIDENTS = "incident_sla_open_incidents", Gauge, Count,
        "Open incidents (drills left out) by SLA state: breached, at_risk (warned, not breached), on_track.";
    /// Open incidents per workspace, by `workspace` (slug, at most 200, the rest `other`) and `severity`.
    WORKSPACE_OPEN_INCIDENTS = "incident_open_incidents", Gauge, Count,
        "Open incidents (investigating, identified, monitoring) per workspace (slug; beyond 200 workspaces the rest under other) and severity, drills left out; refreshed every minute.";
    /// SLA breaches recorded ever, by `workspace`.
    WORKSPACE_SLA_BREACHES = "incident_sla_breaches", Gauge, Count,
        "SLA breaches recorded per workspace (slug; beyond 200 workspaces the rest under other) since it began, drills left out; refreshed every minute.";
    /// SLA findings, by `kind` and `target`.
    SLA_FLAGS = "incident_sla_flags_total", Counter, Count,
        "SLA findings reported once their transaction committed, by kind (breach, warning, update_due, overdue) and target (acknowledge, resolve, update, action_item).";
    /// SLA sweep duration, by `outcome`.
    SLA_SWEEP_DURATION = "incident_sla_sweep_duration_seconds", Histogram, Seconds,
        "Time of one SLA sweep, by outcome (ok, error).";
    /// Webhook and AMQP deliveries refused, by `reason`.
    INGESTION_REJECTED = "incident_ingestion_rejected_total", Counter, Count,
        "Alert deliveries refused, by reason (invalid, malformed, unknown_integration, unauthorized, disabled, too_large, error).";
    /// Alerts ingested, by `front`.
    INGESTION_ALERTS = "incident_ingestion_alerts_total", Counter, Count,
        "Alerts ingested, by front (http or amqp).";
    /// Notifications older than what is stored, by `front`.
    INGESTION_STALE = "incident_ingestion_stale_notifications_total", Counter, Count,
        "Alert notifications ignored because they are older than the alert's stored state, by front.";
    /// Alert groups opened.
    INGESTION_GROUPS_OPENED = "incident_ingestion_alert_groups_opened_total", Counter, Count,
        "Alert groups opened.";
    /// Alert groups resolved.
    INGESTION_GROUPS_RESOLVED = "incident_ingestion_alert_groups_resolved_total", Counter, Count,
        "Alert groups resolved (every alert in them resolved).";
    /// Declare decisions, by `decision`.
    INGESTION_DECISIONS = "incident_ingestion_decisions_total", Counter, Count,
        "Declare decisions taken for an alert group, by decision (NONE, DECLARE, JOIN).";
    /// Outbound webhook attempts, by `outcome`.
    WEBHOOK_DELIVERIES = "incident_webhook_deliveries_total", Counter, Count,
        "Outbound webhook delivery attempts, by outcome (delivered, retrying: not accepted and retried later, failed: not accepted within its retry window).";
    /// Duration of an outbound webhook attempt, by `outcome`.
    WEBHOOK_ATTEMPT_DURATION = "incident_webhook_attempt_duration_seconds", Histogram, Seconds,
        "Time from sending an outbound webhook request to its answer (or its failure), by outcome.";
    /// Outbound webhook subscriptions disabled for failing.
    WEBHOOK_SUBSCRIPTIONS_DISABLED = "incident_webhook_subscriptions_disabled_total", Counter, Count,
        "Outbound webhook subscriptions disabled because their deliveries kept failing.";
    /// Single sign-on callbacks, by `outcome`.
    WEB_SSO_SIGN_INS = "incident_web_sso_sign_ins_total", Counter, Count,
        "Single sign-on callbacks of the web app, by outcome (signed_in, or the refusal's stable reason: wrong_audience, expired, bad_signature, unknown_state, outside_domain, ...).";
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The buckets of every histogram, in seconds: from a fast HTTP answer to a slow LLM.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The process's Prometheus handle, installing the global recorder (with every family
/// of [`FAMILIES`] described) on first use.
///
/// If another recorder was installed first (a test harness, say), a private recorder is
/// used: `/metrics` still renders, but only what was recorded through the global one.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            // Histograms with buckets, not summaries: they aggregate across replicas.
            let builder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
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

/// Describes every family to the installed recorder.
fn describe() {
    for family in FAMILIES {
        match family.kind {
            Kind::Counter => metrics::describe_counter!(family.name, family.unit, family.help),
            Kind::Gauge => metrics::describe_gauge!(family.name, family.unit, family.help),
            Kind::Histogram => {
                metrics::describe_histogram!(family.name, family.unit, family.help)
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_prefixed_named_with_its_unit_and_described_once() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        for f in FAMILIES {
            assert!(f.name.starts_with("incident_"), "{}", f.name);
            assert!(!f.help.trim().is_empty(), "{}", f.name);
            match (f.kind, f.unit) {
                (Kind::Counter, _) => assert!(f.name.ends_with("_total"), "{}", f.name),
                (_, Unit::Seconds) => assert!(f.name.ends_with("_seconds"), "{}", f.name),
                _ => assert!(!f.name.ends_with("_total"), "{}", f.name),
            }
        }
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a family is listed once");
    }

    /// Every `incident_...` metric the dashboard and the alert rules query exists, so a
    /// rename here cannot leave them querying nothing.
    #[test]
    fn the_dashboard_and_the_alert_rules_query_only_families_of_the_table() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/observability");
        for file in ["grafana-dashboard.json", "alerts.yaml", "alerts.test.yaml"] {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).expect(file);
            let mut queried = 0;
            for (at, _) in text.match_indices("incident_") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|base| {
                        FAMILIES
                            .iter()
                            .any(|f| f.name == *base && f.kind == Kind::Histogram)
                    })
                    .unwrap_or(&name);
                assert!(
                    FAMILIES.iter().any(|f| f.name == family),
                    "{file} queries {name}, which no binary records"
                );
                queried += 1;
            }
            assert!(queried > 0, "{file} queries no metric");
        }
    }
}
