#!/usr/bin/env python3
"""Lint and render the incident Helm chart offline, then validate the manifests.

Steps, each of which must pass (the exit status is non-zero otherwise):

1. ``helm lint --strict`` through helm-python-sdk (Helm's Go SDK in a wheel; no
   ``helm`` binary and no cluster needed), with the base test values.
2. Render the chart for every scenario below (defaults, an existing Secret with an
   Ingress and every option set, and each service enabled on its own) into a
   temporary directory, one file per scenario.
3. Check that rendering without the required secrets fails, as it must.
4. ``kubernetes-validate --strict`` on every rendered file against Kubernetes 1.33.

Needs ``helm-python-sdk==0.2.2`` and ``kubernetes-validate==1.37.0``; ``lint.sh``
creates a virtualenv with both and runs this script in it.

Usage: lint.py [--chart DIR] [--kube-version 1.33.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
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

# What any real install has to provide: the chart refuses to render without them.
BASE_VALUES: dict[str, Any] = {
    "secrets": {
        "databaseUrl": "postgres://incident:secret@postgres:5432/incident",
        "amqpUrl": "amqp://incident:secret@rabbitmq:5672/%2f",
    }
}

# Every optional branch of the templates switched on.
FULL_VALUES: dict[str, Any] = {
    "existingSecret": "incident-secrets",
    "image": {"repository": "registry.example.com/incident", "tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "config": {
        "logFormat": "text",
        "otelExporterOtlpEndpoint": "http://otel-collector:4318",
        "slackApiUrl": "http://slack-fake:8080/api",
        "llmApiUrl": "http://llm:8080/v1",
        "llmModel": "small",
    },
    "core": {
        "replicas": 3,
        "extraEnv": [
            {"name": "RUST_LOG", "value": "info,incident_core=debug"},
            {
                "name": "EXTRA_FROM_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "other", "key": "value"}},
            },
        ],
        "service": {"type": "NodePort", "port": 8080},
    },
    "postmortem": {"resources": {}},
    "podAnnotations": {"example.com/team": "sre"},
    "podLabels": {"team": "sre"},
    "metricsScrapeAnnotations": False,
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
        "enabled": True,
        "className": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": [
            {
                "host": "incident.example.com",
                "paths": [
                    {"path": "/", "pathType": "Prefix", "service": "core"},
                    {"path": "/webhooks", "pathType": "Prefix", "service": "ingestion"},
                    {"path": "/slack", "service": "warroom"},
                ],
            }
        ],
        "tls": [{"secretName": "incident-tls", "hosts": ["incident.example.com"]}],
    },
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


def scenarios() -> dict[str, dict[str, Any]]:
    """Scenario name -> values, each rendered and validated."""
    out = {"defaults": BASE_VALUES, "full": FULL_VALUES}
    for service in SERVICES:
        out[f"only-{service}"] = only(service)
    return out


def lint_chart(chart: Path, kube_version: str) -> list[str]:
    """``helm lint --strict`` with the base values; returns the failures."""
    report = helm.lint(chart, BASE_VALUES, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_version}")
    failures = list(report.get("errors") or [])
    for message in report.get("messages") or []:
        severity = message.get("severity", 0)
        line = f"[{('UNKNOWN', 'INFO', 'WARNING', 'ERROR')[min(severity, 3)]}] {message.get('path')}: {message.get('error')}"
        print(f"  lint {line}")
        # strict: warnings count as failures, as with `helm lint --strict`.
        if severity >= 2:
            failures.append(line)
    return failures


def render(chart: helm.Chart, values: dict[str, Any]) -> str:
    """Render the chart to one multi-document YAML string (NOTES.txt left out)."""
    manifests = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        docs.append(f"# Source: {template}\n{text.strip()}\n")
    return "---\n".join(docs)


def check_scenario(name: str, text: str) -> list[str]:
    """Structural checks kubernetes-validate cannot make; returns the failures."""
    failures = []
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    if not objects:
        return [f"{name}: rendered no objects"]
    seen = set()
    for obj in objects:
        ident = (obj.get("kind"), obj.get("metadata", {}).get("name"))
        if ident in seen:
            failures.append(f"{name}: duplicate {ident[0]} {ident[1]}")
        seen.add(ident)
        if obj.get("kind") != "Deployment":
            continue
        pod = obj["spec"]["template"]
        spec = pod["spec"]
        container = spec["containers"][0]
        dep = ident[1]
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            failures.append(f"{name}: {dep} lacks runAsNonRoot")
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            failures.append(f"{name}: {dep} liveness probe is not /healthz")
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            failures.append(f"{name}: {dep} readiness probe is not /readyz")
        for key in ("checksum/config", "checksum/secret"):
            if key not in pod["metadata"].get("annotations", {}):
                failures.append(f"{name}: {dep} lacks the {key} annotation")
        if obj["spec"]["selector"]["matchLabels"].items() - pod["metadata"]["labels"].items():
            failures.append(f"{name}: {dep} selector does not match its pod labels")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--kube-version", default="1.33.0")
    parser.add_argument("--keep", type=Path, help="write the rendered manifests here instead of a temp dir")
    args = parser.parse_args()
    chart_dir = args.chart.resolve()
    failures: list[str] = []

    print(f"helm SDK {helm.helm_sdk_version()}: lint --strict {chart_dir}")
    failures += lint_chart(chart_dir, args.kube_version)

    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="incident-helm-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = helm.Chart.load(chart_dir)
    files = []
    for name, values in scenarios().items():
        try:
            text = render(chart, values)
        except helm.HelmError as err:
            failures.append(f"render {name}: {err}")
            continue
        path = out_dir / f"{name}.yaml"
        path.write_text(text)
        files.append(path)
        problems = check_scenario(name, text)
        failures += problems
        print(f"render {name}: {sum(1 for d in yaml.safe_load_all(text) if d)} objects -> {path}" + (" (FAILED checks)" if problems else ""))

    try:
        chart.render(values={}, name=RELEASE, namespace=NAMESPACE)
        failures.append("render without secrets.databaseUrl/amqpUrl succeeded; it must fail")
    except helm.HelmError as err:
        print(f"render without secrets fails as it must: {str(err).splitlines()[0]}")

    if files:
        # --quiet prints only warnings and failures; a WARN (no schema for a kind)
        # counts as a failure too, since every kind this chart renders is built in.
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
            print(f"  all {objects} objects in {len(files)} files valid for Kubernetes {args.kube_version}")

    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)

    if failures:
        print(f"\nFAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(f"\nOK: chart lints clean, {len(files)} renderings validate against Kubernetes {args.kube_version}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HELM_CACHE_HOME", tempfile.gettempdir())
    sys.exit(main())
