"""Generates monitoring/reclake-dashboard.json, the Grafana dashboard for reclake's metrics.

    python monitoring/dashboard.py > monitoring/reclake-dashboard.json

Each panel is a title, a panel type, a unit and its PromQL queries (with a legend);
tests/e2e/test_prometheus.py evaluates every query against a real Prometheus after a
pipeline run, and tests/integration/test_alerts.py checks that the JSON file is this script's output.
"""

from __future__ import annotations

import json

JOB = 'job=~"$job"'
PANEL_WIDTH, PANEL_HEIGHT = 12, 8

# (title, panel type, unit, [(PromQL, legend)])
PANELS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("Since the last successful publish", "stat", "s",
     [(f'time() - max(reclake_last_success_timestamp_seconds{{{JOB}, stage="publish"}})', "publish")]),
    ("Stage durations", "timeseries", "s",
     [(f"reclake_stage_duration_seconds{{{JOB}}}", "{{stage}}")]),
    ("Stage status (1 succeeded, 0 failed)", "timeseries", "short",
     [(f"reclake_stage_success{{{JOB}}}", "{{stage}}")]),
    ("Rows per stage", "timeseries", "short",
     [(f'reclake_stage_rows{{{JOB}, kind=~"raw_rows|valid_rows|pairs|rows"}}', "{{stage}} {{kind}}")]),
    ("Quarantined share of the batch, and the gate", "timeseries", "percentunit",
     [(f'reclake_stage_rows{{{JOB}, stage="validate", kind="quarantined_rows"}}'
       f' / ignoring(kind) reclake_stage_rows{{{JOB}, stage="validate", kind="raw_rows"}}', "quarantined"),
      (f"reclake_quarantine_share_limit{{{JOB}}}", "gate")]),
    ("Quarantined rows by rule", "timeseries", "short",
     [(f"reclake_quarantined_rows{{{JOB}}}", "{{rule}}")]),
    ("Model quality against the popularity baseline ($metric)", "timeseries", "short",
     [(f'reclake_model_metric{{{JOB}, metric="$metric"}}', "{{model}}")]),
    ("Quality gate (1 approved, 0 rejected)", "timeseries", "short",
     [(f"reclake_gate_approved{{{JOB}}}", "approved")]),
    ("Recommendations by source", "timeseries", "short",
     [(f"reclake_recommendations{{{JOB}}}", "{{source}}")]),
    ("Published rows", "timeseries", "short",
     [(f"reclake_published_rows{{{JOB}}}", "{{table}}")]),
    ("Published table versions", "timeseries", "short",
     [(f"reclake_published_table_version{{{JOB}}}", "{{table}}")]),
]  # fmt: skip

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def variable(name: str, label: str, query: str, default: str) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "current": {"text": default, "value": default},
        "includeAll": False,
        "multi": False,
    }


def panel(number: int, title: str, kind: str, unit: str, queries: list[tuple[str, str]]) -> dict:
    return {
        "id": number + 1,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {
            "x": (number % 2) * PANEL_WIDTH,
            "y": (number // 2) * PANEL_HEIGHT,
            "w": PANEL_WIDTH,
            "h": PANEL_HEIGHT,
        },
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def dashboard() -> dict:
    return {
        "uid": "reclake",
        "title": "reclake runs",
        "description": "Stage durations and rows, quarantine, model quality against the baseline, publish freshness "
        "(docs/monitoring.md).",
        "tags": ["reclake", "spark"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-30d", "to": "now"},
        "refresh": "5m",
        "templating": {
            "list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
                variable("job", "reclake job", "label_values(reclake_stage_success, job)", "reclake_run"),
                variable("metric", "model metric", "label_values(reclake_model_metric, metric)", "ndcg@10"),
            ]
        },
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


if __name__ == "__main__":
    print(json.dumps(dashboard(), indent=2))
