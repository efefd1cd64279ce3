#!/usr/bin/env python3
"""Lint and render the incident Helm chart offline, then validate the manifests.

Steps, each of which must pass (the exit status is non-zero otherwise):

1. ``helm lint --strict`` through helm-python-sdk (Helm's Go SDK in a wheel; no
   ``helm`` binary and no cluster needed), with the base values and with
   ``incident/ci/production-values.yaml``. Helm checks the values against
   ``values.schema.json`` while linting and rendering.
2. Render the chart for every scenario below (defaults, the production-like values file,
   the same on one host per service, every option switched on, and each service
   enabled on its own), one file per scenario, and check what the schemas cannot: probes,
   non-root, a Service and PodDisruptionBudget per Deployment, the termination grace, the
   hook Job, the connection budget.
3. Check that values which cannot work fail to render: no secrets, a termination grace
   shorter than the app's, pools above the connection budget, an unknown key.
4. ``kubernetes-validate --strict`` on every rendered object of a built-in kind against
   Kubernetes 1.33 (the ServiceMonitor, a CRD, is checked structurally in step 2).

Needs ``helm-python-sdk==0.2.2`` and ``kubernetes-validate==1.37.0``; ``lint.sh``
creates a virtualenv with both and runs this script in it.

Usage: lint.py [--chart DIR] [--kube-version 1.33.0] [--keep DIR] [--render-only]

``--keep DIR`` writes the renderings there (``<scenario>.yaml``, and ``<scenario>.json``:
the objects as one JSON array, which tests/system/ingress.rs reads); ``--render-only``
skips linting and validation (what that test runs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_CHART = HERE / "incident"
RELEASE = "rel"
NAMESPACE = "incident"
SERVICES = ["core", "ingestion", "slaWatchdog", "warroom", "postmortem"]
# Kinds kubernetes-validate has no schema for (CRDs); checked in check_scenario.
CUSTOM_KINDS = {"ServiceMonitor"}

# What any real install has to provide: the chart refuses to render without them.
BASE_VALUES: dict[str, Any] = {
    "secrets": {
        "databaseUrl": "postgres://incident:secret@postgres:5432/incident",
        "amqpUrl": "amqp://incident:secret@rabbitmq:5672/%2f",
    }
}


def production_values(chart: Path) -> dict[str, Any]:
    """The production-like values file shipped with the chart."""
    return yaml.safe_load((chart / "ci" / "production-values.yaml").read_text())


# Every optional branch of the templates switched on (over the production values).
FULL_VALUES: dict[str, Any] = {
    "existingSecret": "",
    "secrets": {
        "databaseUrl": "postgres://incident:secret@postgres:5432/incident",
        "amqpUrl": "amqp://incident:secret@rabbitmq:5672/incident",
        "bootstrapToken": "bootstrap-token-0123456789",
        "slackBotToken": "xoxb-1",
        "slackSigningSecret": "signing",
        "llmApiKey": "key",
        "secretsKey": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "oidcClientSecret": "oidc-secret",
        "slackClientSecret": "slack-client-secret",
    },
    "image": {"pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "priorityClassName": "incident",
    "config": {
        "logFormat": "text",
        "logLevel": "info,incident_core=debug",
        "otelExporterOtlpEndpoint": "http://otel-collector:4318",
        "slackApiUrl": "http://slack-fake:8080/api",
        "slackClientId": "1234.5678",
        "slackOauthUrl": "http://slack-fake:8080/oauth/v2/authorize",
        "llmApiUrl": "http://llm:8080/v1",
        "llmModel": "small",
        "oidcIssuer": "https://login.example.com/realms/ops",
        "oidcClientId": "incident",
        "oidcRedirectUrl": "https://incident.example.com/ui/login/sso/callback",
        "oidcEmailDomain": "example.com",
        "oidcDefaultRole": "responder",
        "oidcTenants": "7f0c3a5e-1111-4222-8333-444455556666",
        "file": "amqp_prefetch = 8\n",
    },
    "core": {
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 3, "targetMemoryUtilizationPercentage": 80},
        "strategy": {"maxSurge": "25%", "maxUnavailable": 0},
        "extraEnv": [
            {"name": "EXTRA", "value": "1"},
            {"name": "EXTRA_FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "other", "key": "value"}}},
        ],
        "service": {"type": "NodePort", "port": 8080, "annotations": {"example.com/lb": "internal"}},
        "podAnnotations": {"example.com/core": "yes"},
    },
    "postmortem": {"resources": {}, "podDisruptionBudget": {"enabled": False}},
    "podAnnotations": {"example.com/team": "sre"},
    "podLabels": {"team": "sre"},
    "metricsScrapeAnnotations": False,
    "preStopSleepSeconds": 0,
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "incident", "effect": "NoSchedule"}],
    "affinity": {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "incident"}},
                    },
                }
            ]
        }
    },
    "ingress": {
        "extraPaths": [{"path": "/metrics-not-public", "pathType": "Exact", "service": "slaWatchdog"}],
    },
    "networkPolicy": {
        "egress": [
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}, {"port": 5672}]},
            {"ports": [{"port": 443}]},
        ]
    },
}

# The production values with each service's routes on its own host.
SPLIT_HOSTS: dict[str, Any] = {
    "ingress": {
        "hostPerService": True,
        "hosts": {
            "core": "api.incident.example.com",
            "ingestion": "hooks.incident.example.com",
            "warroom": "slack.incident.example.com",
            "postmortem": "postmortems.incident.example.com",
            "slaWatchdog": "drills.incident.example.com",
        },
        "tls": [
            {
                "secretName": "incident-tls",
                "hosts": [
                    "api.incident.example.com",
                    "hooks.incident.example.com",
                    "slack.incident.example.com",
                    "postmortems.incident.example.com",
                    "drills.incident.example.com",
                ],
            }
        ],
    }
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (maps merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def only(service: str) -> dict[str, Any]:
    """Values that enable ``service`` and disable the four others."""
    return merge(BASE_VALUES, {name: {"enabled": name == service} for name in SERVICES})


def scenarios(chart: Path) -> dict[str, dict[str, Any]]:
    """Scenario name -> values, each rendered and validated."""
    production = production_values(chart)
    out = {
        "defaults": BASE_VALUES,
        "production": production,
        "production-split": merge(production, SPLIT_HOSTS),
        "full": merge(production, FULL_VALUES),
    }
    for service in SERVICES:
        out[f"only-{service}"] = only(service)
    return out


def must_fail(chart: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """Values that must not render -> (values, a fragment of the expected error)."""
    production = production_values(chart)
    many = {name: {"autoscaling": {"enabled": True, "maxReplicas": 6}} for name in SERVICES}
    return {
        "no secrets": ({}, "secrets.databaseUrl is required"),
        "grace not above the app's": (
            merge(production, {"terminationGracePeriodSeconds": 30}),
            "terminationGracePeriodSeconds (30) must be longer",
        ),
        "pools above the budget": (merge(production, many), "above database.connectionBudget=97"),
        "a pool below two": (merge(production, {"core": {"databaseMaxConnections": 1}}), "databaseMaxConnections"),
        "an unknown key": (merge(production, {"core": {"replica": 3}}), "replica"),
        "a rolling update that cannot progress": (
            merge(production, {"warroom": {"strategy": {"maxSurge": 0, "maxUnavailable": 0}}}),
            "cannot both be 0",
        ),
        "a split host missing": (merge(production, {"ingress": {"hostPerService": True}}), "ingress.hosts.core"),
    }


def lint_chart(chart: Path, values: dict[str, Any], kube_version: str) -> list[str]:
    """``helm lint --strict`` with ``values``; returns the failures."""
    report = helm.lint(chart, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_version}")
    failures = list(report.get("errors") or [])
    for message in report.get("messages") or []:
        severity = message.get("severity", 0)
        line = f"[{('UNKNOWN', 'INFO', 'WARNING', 'ERROR')[min(severity, 3)]}] {message.get('path')}: {message.get('error')}"
        print(f"  lint {line}")
        # strict: warnings count as failures, as with `helm lint --strict`.
        if severity >= 2:
            failures.append(line)
    return failures


def render(chart: helm.Chart, values: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Render the chart: (template, object) for every object (NOTES.txt left out)."""
    manifests = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    out = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        out += [(template, obj) for obj in yaml.safe_load_all(text) if obj]
    return out


def to_yaml(objects: list[tuple[str, dict[str, Any]]]) -> str:
    return "---\n".join(f"# Source: {t}\n" + yaml.safe_dump(o, sort_keys=False) for t, o in objects)


def check_scenario(name: str, objects: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    """Structural checks kubernetes-validate cannot make; returns the failures."""
    failures = []
    if not objects:
        return [f"{name}: rendered no objects"]
    seen = set()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in objects:
        ident = (obj.get("kind"), obj.get("metadata", {}).get("name"))
        if ident in seen:
            failures.append(f"{name}: duplicate {ident[0]} {ident[1]}")
        seen.add(ident)
        by_kind.setdefault(ident[0], {})[ident[1]] = obj
    services = by_kind.get("Service", {})
    pdbs = by_kind.get("PodDisruptionBudget", {})
    for dep, obj in by_kind.get("Deployment", {}).items():
        pod = obj["spec"]["template"]
        spec = pod["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e for e in container.get("env", [])}
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            failures.append(f"{name}: {dep} lacks runAsNonRoot")
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            failures.append(f"{name}: {dep} liveness probe is not /healthz")
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            failures.append(f"{name}: {dep} readiness probe is not /readyz")
        if "checksum/secret" not in pod["metadata"].get("annotations", {}):
            failures.append(f"{name}: {dep} lacks the checksum/secret annotation")
        if obj["spec"]["selector"]["matchLabels"].items() - pod["metadata"]["labels"].items():
            failures.append(f"{name}: {dep} selector does not match its pod labels")
        grace = int(env.get("INCIDENT_SHUTDOWN_GRACE_SECS", {}).get("value", 30))
        if spec.get("terminationGracePeriodSeconds", 30) <= grace:
            failures.append(f"{name}: {dep} terminationGracePeriodSeconds is not above the app's {grace}s")
        for var in ("DATABASE_URL", "AMQP_URL", "INCIDENT_DATABASE_MAX_CONNECTIONS", "INCIDENT_WARROOM_JOB_RETENTION_DAYS"):
            if var not in env:
                failures.append(f"{name}: {dep} has no {var}")
        selector = obj["spec"]["selector"]["matchLabels"]
        if not any(s["spec"].get("selector") == selector for s in services.values()):
            failures.append(f"{name}: no Service selects {dep}")
        if not any(p["spec"]["selector"]["matchLabels"] == selector for p in pdbs.values()):
            if not (values.get("postmortem", {}).get("podDisruptionBudget", {}).get("enabled") is False and dep.endswith("postmortem")):
                failures.append(f"{name}: no PodDisruptionBudget for {dep}")
    for job_name, job in by_kind.get("Job", {}).items():
        hooks = job["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        if set(hooks.split(",")) != {"pre-install", "pre-upgrade"}:
            failures.append(f"{name}: Job {job_name} is not a pre-install,pre-upgrade hook ({hooks})")
        pod = job["spec"]["template"]["spec"]
        commands = [c["command"][-1] for c in pod.get("initContainers", []) + pod["containers"]]
        if commands != ["migrate", "topology"]:
            failures.append(f"{name}: Job {job_name} runs {commands}, not migrate then topology")
        for secret in {e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] for e in c["env"] if "valueFrom" in e}:
            if secret in by_kind.get("Secret", {}):
                hook = by_kind["Secret"][secret]["metadata"].get("annotations", {}).get("helm.sh/hook", "")
                if "pre-install" not in hook:
                    failures.append(f"{name}: Job {job_name} reads Secret {secret}, which does not exist before install")
    for sm_name, sm in by_kind.get("ServiceMonitor", {}).items():
        if sm.get("apiVersion") != "monitoring.coreos.com/v1":
            failures.append(f"{name}: ServiceMonitor {sm_name} apiVersion {sm.get('apiVersion')}")
        endpoints = sm["spec"].get("endpoints", [])
        if not endpoints or any(e.get("port") != "http" or e.get("path") != "/metrics" for e in endpoints):
            failures.append(f"{name}: ServiceMonitor {sm_name} does not scrape port http /metrics")
        wanted = sm["spec"]["selector"]["matchLabels"].items()
        if not services or any(wanted - s["metadata"]["labels"].items() for s in services.values()):
            failures.append(f"{name}: ServiceMonitor {sm_name} does not select every Service")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--kube-version", default="1.33.0")
    parser.add_argument("--keep", type=Path, help="write the rendered manifests here instead of a temp dir")
    parser.add_argument("--render-only", action="store_true", help="render the scenarios; no lint, no validation")
    args = parser.parse_args()
    chart_dir = args.chart.resolve()
    failures: list[str] = []

    if not args.render_only:
        print(f"helm SDK {helm.helm_sdk_version()}: lint --strict {chart_dir} (base values, ci/production-values.yaml)")
        failures += lint_chart(chart_dir, BASE_VALUES, args.kube_version)
        failures += lint_chart(chart_dir, production_values(chart_dir), args.kube_version)

    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="incident-helm-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = helm.Chart.load(chart_dir)
    files = []
    for name, values in scenarios(chart_dir).items():
        try:
            rendered = render(chart, values)
        except helm.HelmError as err:
            failures.append(f"render {name}: {err}")
            continue
        objects = [obj for _, obj in rendered]
        path = out_dir / f"{name}.yaml"
        path.write_text(to_yaml(rendered))
        (out_dir / f"{name}.json").write_text(json.dumps(objects, indent=1))
        builtin = [(t, o) for t, o in rendered if o.get("kind") not in CUSTOM_KINDS]
        validate = out_dir / f"{name}.builtin.yaml"
        validate.write_text(to_yaml(builtin))
        files.append(validate)
        problems = check_scenario(name, objects, values)
        failures += problems
        kinds = sorted({o["kind"] for o in objects})
        print(f"render {name}: {len(objects)} objects ({', '.join(kinds)}) -> {path}" + (" (FAILED checks)" if problems else ""))

    if not args.render_only:
        for case, (values, expected) in must_fail(chart_dir).items():
            try:
                chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
                failures.append(f"render with {case} succeeded; it must fail")
            except helm.HelmError as err:
                message = " ".join(str(err).split())
                if expected not in message:
                    failures.append(f"render with {case} failed, but not saying {expected!r}: {message[:300]}")
                else:
                    print(f"render with {case} fails as it must: ...{expected}...")

    if files and not args.render_only:
        # --quiet prints only warnings and failures; a WARN (no schema for a kind)
        # counts as a failure too, since every kind validated here is built in.
        exe = shutil.which("kubernetes-validate") or str(Path(sys.executable).with_name("kubernetes-validate"))
        cmd = [exe, "-k", args.kube_version, "--strict", "--quiet", *map(str, files)]
        print(f"$ kubernetes-validate -k {args.kube_version} --strict --quiet <{len(files)} files>")
        result = subprocess.run(cmd, text=True, capture_output=True, check=False)
        output = (result.stdout + result.stderr).strip()
        for line in output.splitlines():
            print(f"  {line}")
        if result.returncode != 0 or output:
            failures.append(f"kubernetes-validate reported problems (exit {result.returncode})")
        else:
            objects = sum(1 for f in files for d in yaml.safe_load_all(f.read_text()) if d)
            print(f"  all {objects} built-in objects in {len(files)} files valid for Kubernetes {args.kube_version}")

    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)

    if failures:
        print(f"\nFAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    if args.render_only:
        print(f"\nOK: {len(files)} scenarios rendered into {out_dir}")
    else:
        print(f"\nOK: chart lints clean, {len(files)} renderings validate against Kubernetes {args.kube_version}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HELM_CACHE_HOME", tempfile.gettempdir())
    sys.exit(main())
