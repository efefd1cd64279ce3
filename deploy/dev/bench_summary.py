#!/usr/bin/env python3
"""Prints issue 18's benchmark table from the `BENCH name=value unit` lines the benches print.

Usage: bench_summary.py LOG...   (one log per round of deploy/dev/bench)

Each figure is the median over the logs (each bench already reports the median of its own
runs), shown next to the machine's raw reference measured in the same round and the
ratio between the two. A figure no bench printed is shown as "not measured".
"""

import re
import statistics
import sys

LINE = re.compile(r"^BENCH ([a-z0-9_]+)=([-0-9.e+]+) (.*)$")


def read(paths):
    """name -> ([values], unit) over every log."""
    found = {}
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = LINE.match(line.strip())
                if m:
                    values, _ = found.setdefault(m[1], ([], m[3]))
                    values.append(float(m[2]))
    return {name: (statistics.median(v), unit) for name, (v, unit) in found.items()}


def per_ms(rate):
    """The time of one operation, in ms, at `rate` per second."""
    return None if not rate else 1000.0 / rate


# (figure, measured name, how the figure reads, target, reference, how the ratio reads)
# A reference is (label, name, transform of its value into the figure's unit or None).
ROWS = [
    ("500 declaring groups: all incidents exist, 1 ingestion", "declaring_groups_incidents_1", "s", "<= 2 s",
     None),
    ("declaring groups/s, 1 ingestion replica", "declaring_groups_rate_1", "groups/s", ">= 250/s",
     ("raw consume -> insert -> ack", "raw_consume_insert_ack", None)),
    ("declaring groups/s, 3 ingestion replicas", "declaring_groups_rate_3", "groups/s", ">= 250/s",
     ("raw consume -> insert -> ack", "raw_consume_insert_ack", None)),
    ("3 replicas / 1", "declaring_groups_scaling", "x", ">= 1.5x", None),
    ("alerts/s, webhook -> grouped, existing groups", "alerts_grouped", "alerts/s", ">= 10,000/s",
     ("raw HTTP + one UNNEST insert", "raw_http_insert", None)),
    ("webhook p99 at a steady 1,000 alerts/s", "webhook_p99_at_1000", "ms", "< 50 ms",
     ("one bare insert, 8 connections", "bare_insert", lambda r: 8 * per_ms(r))),
    ("declares/s, 8 clients, one workspace", "declares_one_workspace", "declares/s", ">= 2,000/s",
     ("bare single-row insert, 8 connections", "bare_insert", None)),
    ("declare p99, 8 clients, one workspace", "declares_one_workspace_p99", "ms", "< 25 ms",
     ("one bare insert, 8 connections", "bare_insert", lambda r: 8 * per_ms(r))),
    ("declares/s, 8 clients, a workspace each", "declares_a_workspace_each", "declares/s", "(>= 2,000/s)",
     ("bare single-row insert, 8 connections", "bare_insert", None)),
    ("SLA sweep, idle, 1M incidents", "sla_sweep_idle", "ms", "< 20 ms",
     ("count(*) over the big table", "count_star", lambda v: v)),
    ("SLA sweep, flagging 1,000 breaches", "sla_sweep_flag_1000", "ms", "< 500 ms",
     ("count(*) over the big table", "count_star", lambda v: v)),
    ("declare -> war room ready p99 (fake Slack)", "war_room_p99", "ms", "< 150 ms",
     ("one raw confirmed publish", "raw_publish", per_ms)),
    ("idle RSS per binary", "rss_binary", "MiB", "< 20 MiB", None),
    ("idle RSS, whole stack", "rss_stack", "MiB", "< 45 MiB", None),
    ("analytics summary, 90 days, p99", "analytics_summary_p99", "ms", "< 200 ms",
     ("count(*) over the big table", "count_star", lambda v: v)),
    ("analytics weekly series, a year, p99", "analytics_series_p99", "ms", "< 200 ms",
     ("count(*) over the big table", "count_star", lambda v: v)),
    # The web app's pages over 100,000 incidents, each beside the API's answer for the same data.
    ("page: incident list p99", "page_incident_list_p99", "ms", "< 50 ms",
     ("GET /api/v1/incidents p99", "api_incident_list_p99", lambda v: v)),
    ("page: an incident p99", "page_incident_p99", "ms", "< 50 ms",
     ("the incident and its timeline (API) p99", "api_incident_p99", lambda v: v)),
    ("page: analytics, 90 days p99", "page_analytics_p99", "ms", "< 50 ms",
     ("summary + weekly series (API) p99", "api_analytics_p99", lambda v: v)),
    ("page: status page p99", "page_status_p99", "ms", "< 50 ms",
     ("its JSON form p99", "api_status_p99", lambda v: v)),
    ("page: integrations p99", "page_integrations_p99", "ms", "< 50 ms",
     ("GET /api/v1/integrations p99", "api_integrations_p99", lambda v: v)),
]

REFERENCES = [
    ("raw confirmed publish", "raw_publish"),
    ("raw consume -> insert -> ack, 1 consumer", "raw_consume_insert_ack"),
    ("raw consume -> insert -> ack, 4 consumers", "raw_consume_insert_ack_4"),
    ("bare single-row insert, 8 connections", "bare_insert"),
    ("raw HTTP + one UNNEST insert", "raw_http_insert"),
    ("count(*) over the big table", "count_star"),
]


def fmt(value):
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def main(paths):
    figures = read(paths)
    print(f"\nissue 18 figures, median of {len(paths)} round(s) (each bench: the median of its runs)\n")
    print("| figure | measured | target | raw reference (same run) | reference | ratio |")
    print("|---|---:|---|---|---:|---:|")
    for label, name, unit, target, ref in ROWS:
        measured = figures.get(name)
        value = f"{fmt(measured[0])} {unit}" if measured else "not measured"
        ref_label, ref_value, ratio = "-", "-", "-"
        if ref:
            ref_label, ref_name, transform = ref
            raw = figures.get(ref_name)
            if raw:
                base = transform(raw[0]) if transform else raw[0]
                ref_unit = unit if transform else raw[1]
                ref_value = f"{fmt(base)} {ref_unit}"
                if measured and base:
                    # Rates: the share of the reference reached; times: how many references.
                    ratio = f"{measured[0] / base * 100:.0f} %" if not transform else f"{measured[0] / base:.1f}x"
        print(f"| {label} | {value} | {target} | {ref_label} | {ref_value} | {ratio} |")
    print("\n| raw reference | measured |")
    print("|---|---:|")
    for label, name in REFERENCES:
        raw = figures.get(name)
        print(f"| {label} | {fmt(raw[0]) + ' ' + raw[1] if raw else 'not measured'} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
