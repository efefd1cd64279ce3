//! The Helm chart's production-like values (`helm/incident/ci/production-values.yaml`)
//! route every public route of every service to the service that serves it, on one host
//! and on one host per service.
//!
//! The routes come from the routers themselves: each service's OpenAPI document (the
//! same one its router is built from) and its document's own path, the war room's
//! `ROUTES` (it has no document: `/slack/...` and its settings), plus the pages the web
//! app to come serves under `/ui` and `/status`. The Ingress comes from `helm/lint.sh
//! --render-only` (Helm's Go SDK, in the virtualenv lint.sh keeps under `target/`), and
//! each backend is followed to its Service and the Deployment it selects, whose
//! container runs `incident-<service>`.
//!
//! Matching follows the Ingress specification: `Prefix` matches whole path elements,
//! `Exact` the whole path, and of every path that matches the longest wins. The one
//! `ImplementationSpecific` path (`/api/v1/incidents/{id}/postmortem`, postmortem's route
//! under core's prefix) is read as ingress-nginx reads it with `use-regex`: a regular
//! expression anchored at the start, ranked by its length like the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use serde_json::Value;

/// Every public route with the component that must serve it.
fn public_routes() -> Vec<(String, &'static str)> {
    let mut routes = Vec::new();
    let documents = [
        (
            "core",
            incident_core::http::openapi(),
            incident_core::http::OPENAPI_PATH,
        ),
        (
            "ingestion",
            incident_ingestion::http::openapi(),
            incident_ingestion::http::OPENAPI_PATH,
        ),
        (
            "postmortem",
            incident_postmortem::http::openapi(),
            incident_postmortem::http::OPENAPI_PATH,
        ),
        (
            "sla-watchdog",
            incident_sla_watchdog::http::openapi(),
            incident_sla_watchdog::http::OPENAPI_PATH,
        ),
    ];
    for (owner, document, document_path) in documents {
        assert!(!document.paths.paths.is_empty(), "{owner} has no routes");
        routes.extend(document.paths.paths.keys().map(|p| (p.clone(), owner)));
        routes.push((document_path.to_owned(), owner));
    }
    routes.push((incident_core::http::WHOLE_OPENAPI_PATH.to_owned(), "core"));
    routes.extend(
        incident_warroom::ROUTES
            .iter()
            .map(|p| (p.to_string(), "warroom")),
    );
    // The web app's pages, served by the service owning their data, and the status page.
    for (path, owner) in [
        ("/ui", "core"),
        ("/ui/incidents/{id}", "core"),
        ("/ui/integrations/{id}", "ingestion"),
        ("/status", "core"),
        ("/status/{workspace}", "core"),
    ] {
        routes.push((path.to_owned(), owner));
    }
    // The postmortem service's, ingestion's, the watchdog's and the war room's pages, from
    // their routers' own lists.
    routes.extend(
        incident_postmortem::ui::ROUTES
            .iter()
            .map(|p| (p.to_string(), "postmortem")),
    );
    routes.extend(
        incident_ingestion::ui::ROUTES
            .iter()
            .map(|p| (p.to_string(), "ingestion")),
    );
    routes.extend(
        incident_sla_watchdog::ui::ROUTES
            .iter()
            .map(|p| (p.to_string(), "sla-watchdog")),
    );
    routes.extend(
        incident_warroom::ui::ROUTES
            .iter()
            .map(|p| (p.to_string(), "warroom")),
    );
    for prefix in ["/webhooks/", "/slack/", "/api/v1/incidents/{id}/postmortem"] {
        assert!(
            routes.iter().any(|(p, _)| p.starts_with(prefix)),
            "no route under {prefix}: {routes:?}"
        );
    }
    routes
}

/// A request path for a route template: every `{param}` becomes a sample value.
fn sample(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push_str("INC-42");
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// One path of an Ingress rule.
#[derive(Debug)]
struct IngressPath {
    path: String,
    path_type: String,
    /// The component the backend Service's pods run.
    component: String,
}

impl IngressPath {
    fn matches(&self, request: &str) -> bool {
        match self.path_type.as_str() {
            "Exact" => request == self.path,
            "Prefix" => {
                let prefix = self.path.trim_end_matches('/');
                prefix.is_empty()
                    || request == prefix
                    || request
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            "ImplementationSpecific" => Regex::new(&format!("^{}", self.path))
                .unwrap_or_else(|e| panic!("{}: not a regular expression: {e}", self.path))
                .is_match(request),
            other => panic!("unknown pathType {other}"),
        }
    }
}

/// Renders the chart's scenarios with `helm/lint.sh --render-only` and returns one
/// (its objects, as JSON).
pub(crate) fn render(scenario: &str) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .to_owned();
    let out: PathBuf = std::env::temp_dir().join(format!(
        "incident-ingress-test-{}-{scenario}",
        std::process::id()
    ));
    let status = Command::new(root.join("helm/lint.sh"))
        .args(["--render-only", "--keep"])
        .arg(&out)
        .current_dir(&root)
        .output()
        .expect("helm/lint.sh runs (it needs python3 with venv; deploy/dev/test prepares it)");
    assert!(
        status.status.success(),
        "helm/lint.sh --render-only failed:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(out.join(format!("{scenario}.json")))
        .unwrap_or_else(|e| panic!("{scenario}.json: {e}"));
    let _ = std::fs::remove_dir_all(&out);
    serde_json::from_str(&text).expect("a JSON array of objects")
}

/// host -> the paths of every Ingress, each backend resolved to its component through
/// the Service and the Deployment it selects.
fn ingress_paths(objects: &[Value]) -> BTreeMap<String, Vec<IngressPath>> {
    let of_kind = |kind: &str| {
        objects
            .iter()
            .filter(move |o| o["kind"] == kind)
            .map(|o| {
                (
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    o,
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let services = of_kind("Service");
    let deployments = of_kind("Deployment");
    let component_of = |service_name: &str| -> String {
        let service = services
            .get(service_name)
            .unwrap_or_else(|| panic!("the Ingress names Service {service_name}, not rendered"));
        let selector = &service["spec"]["selector"];
        let deployment = deployments
            .values()
            .find(|d| &d["spec"]["selector"]["matchLabels"] == selector)
            .unwrap_or_else(|| panic!("Service {service_name} selects no Deployment"));
        let command = deployment["spec"]["template"]["spec"]["containers"][0]["command"][0]
            .as_str()
            .unwrap_or_default();
        command
            .strip_prefix("/usr/local/bin/incident-")
            .unwrap_or_else(|| panic!("{service_name}'s pods run {command}"))
            .to_owned()
    };
    let mut hosts: BTreeMap<String, Vec<IngressPath>> = BTreeMap::new();
    for ingress in of_kind("Ingress").values() {
        for rule in ingress["spec"]["rules"].as_array().expect("rules") {
            let host = rule["host"].as_str().expect("a host").to_owned();
            for path in rule["http"]["paths"].as_array().expect("paths") {
                let backend = &path["backend"]["service"];
                assert_eq!(backend["port"]["name"], "http", "{path}");
                hosts.entry(host.clone()).or_default().push(IngressPath {
                    path: path["path"].as_str().expect("a path").to_owned(),
                    path_type: path["pathType"].as_str().expect("a pathType").to_owned(),
                    component: component_of(backend["name"].as_str().expect("a name")),
                });
            }
        }
    }
    hosts
}

/// Where `request` lands on a host's paths: the longest matching path's component.
fn lands_on<'a>(paths: &'a [IngressPath], request: &str) -> Option<&'a str> {
    paths
        .iter()
        .filter(|p| p.matches(request))
        .max_by_key(|p| p.path.len())
        .map(|p| p.component.as_str())
}

/// Checks every public route of `scenario`: on every host routing anything to the
/// route's owner, the route lands on the owner. Returns the hosts.
fn check_scenario(scenario: &str) -> BTreeSet<String> {
    let hosts = ingress_paths(&render(scenario));
    assert!(!hosts.is_empty(), "{scenario}: no Ingress rendered");
    let mut failures = Vec::new();
    let routes = public_routes();
    for (template, owner) in &routes {
        let request = sample(template);
        let owner_hosts: Vec<_> = hosts
            .iter()
            .filter(|(_, paths)| paths.iter().any(|p| p.component == *owner))
            .collect();
        if owner_hosts.is_empty() {
            failures.push(format!("{template}: no host routes anything to {owner}"));
        }
        for (host, paths) in owner_hosts {
            let landed = lands_on(paths, &request);
            if landed != Some(owner) {
                failures.push(format!(
                    "{host}{request} ({template}) lands on {landed:?}, not {owner}"
                ));
            }
        }
    }
    // The probes and metrics stay inside the cluster; an unknown API path gets core's
    // problem+json 404.
    for (host, paths) in &hosts {
        for internal in ["/healthz", "/readyz", "/metrics"] {
            if let Some(landed) = lands_on(paths, internal) {
                failures.push(format!("{host}{internal} is public (lands on {landed})"));
            }
        }
    }
    for (host, paths) in hosts
        .iter()
        .filter(|(_, p)| p.iter().any(|p| p.component == "core"))
    {
        if lands_on(paths, "/api/v1/no-such-thing") != Some("core") {
            failures.push(format!("{host}/api/v1/no-such-thing does not reach core"));
        }
    }
    assert!(
        failures.is_empty(),
        "{scenario}: {} of {} routes misrouted:\n  {}",
        failures.len(),
        routes.len(),
        failures.join("\n  ")
    );
    hosts.into_keys().collect()
}

#[test]
fn the_production_values_route_every_public_route_to_its_service_on_one_host() {
    let hosts = check_scenario("production");
    assert_eq!(
        hosts,
        BTreeSet::from(["incident.example.com".to_owned()]),
        "one host"
    );
}

#[test]
fn with_a_host_per_service_each_service_s_routes_reach_it_on_its_own_host() {
    let hosts = check_scenario("production-split");
    assert_eq!(
        hosts.len(),
        5,
        "core, ingestion, warroom, postmortem, sla-watchdog: {hosts:?}"
    );
}

#[test]
fn route_templates_become_request_paths() {
    assert_eq!(
        sample("/api/v1/postmortems/{id}.md"),
        "/api/v1/postmortems/INC-42.md"
    );
    let prefix = IngressPath {
        path: "/api/v1/postmortem".into(),
        path_type: "Prefix".into(),
        component: "postmortem".into(),
    };
    assert!(prefix.matches("/api/v1/postmortem/settings"));
    assert!(
        !prefix.matches("/api/v1/postmortems"),
        "whole elements only"
    );
}
