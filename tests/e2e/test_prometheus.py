"""A real Pushgateway (behind basic auth) and a real Prometheus scraping it, on loopback ports.

The pipeline runs on a small generated sample with ``monitoring.pushgateway_url`` set and
the credentials in the environment; Prometheus's HTTP API must then return the run's
metrics, equal to what the run's tables say, and every query of the Grafana dashboard
(monitoring/reclake-dashboard.json) must return data. Prometheus also loads monitoring/alerts.yml.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
from pathlib import Path

import pytest
from deltalake import DeltaTable

from reclake import pipeline
from reclake.config import Config
from reclake.monitoring.metrics import PASSWORD_ENV, USERNAME_ENV, push, samples
from tests.e2e.servers import free_port, get_json, server, wait_for
from tests.helpers import REPO, Golden

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-pushgateway")),
        reason="Debian packages prometheus and prometheus-pushgateway not installed (scripts/bootstrap.sh installs them)",
    ),
]

USER, PASSWORD = "reclake", "reclake-test"
# bcrypt of PASSWORD (cost 4), as the Pushgateway's web config wants it:
# python -c "import crypt; print(crypt.crypt('reclake-test', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"
PASSWORD_HASH = "$2b$04$9ejh6wb47rvsa/ndChAicuHqUJrEIsRFa8C/KM/m/AE5CEX60Wx66"
SMALL = ["generate.users=150", "generate.items=40", "generate.clusters=3", "als.rank=3", "als.max_iter=3"]
# What Grafana would put in for the dashboard's variables when showing this run.
GRAFANA_VARIABLES = {"$job": "reclake_run", "$metric": "ndcg@10", "$__rate_interval": "1m", "$__range": "5m"}
STAGES = ["generate", "validate", "prepare", "train", "evaluate", "recommend", "publish"]


@pytest.fixture
def stack(tmp_path: Path):
    """(pushgateway URL, Prometheus URL): both running until the test ends."""
    pushgateway_port, prometheus_port = free_port(), free_port()
    web = tmp_path / "pushgateway-web.yml"
    web.write_text(f'basic_auth_users:\n  {USER}: "{PASSWORD_HASH}"\n')
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {REPO / "monitoring" / "alerts.yml"}
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    basic_auth: {{username: {USER}, password: {PASSWORD}}}
    static_configs:
      - targets: ["127.0.0.1:{pushgateway_port}"]
"""
    )
    pushgateway = f"http://127.0.0.1:{pushgateway_port}"
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    with (
        server(
            ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{pushgateway_port}",
             f"--web.config.file={web}", f"--persistence.file={tmp_path / 'pushgateway.data'}"],
            f"{pushgateway}/-/ready", tmp_path / "pushgateway.log",
        ),
        server(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            f"{prometheus}/-/ready", tmp_path / "prometheus.log",
        ),
    ):  # fmt: skip
        yield pushgateway, prometheus


def query(prometheus: str, promql: str) -> dict[frozenset, float]:
    """An instant query: {labels (without __name__): value}."""
    answer = get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert answer["status"] == "success", answer
    return {
        frozenset((k, v) for k, v in item["metric"].items() if k != "__name__"): float(item["value"][1])
        for item in answer["data"]["result"]
    }


def one(prometheus: str, promql: str) -> float:
    values = query(prometheus, promql)
    assert len(values) == 1, (promql, values)
    return next(iter(values.values()))


def test_a_run_pushes_its_metrics_and_prometheus_scrapes_them(stack, run_cli, tmp_path, monkeypatch):
    pushgateway, prometheus = stack
    root = tmp_path / "lakehouse"
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    args = [*Golden.args(root), *(arg for s in SMALL for arg in ("--set", s))]
    status, summary = run_cli(pipeline.main, *args, "--set", f"monitoring.pushgateway_url={pushgateway}")
    assert status == 0, summary.get("error")

    success = 'reclake_stage_success{job="reclake_run"}'
    scraped = wait_for(lambda: len(query(prometheus, success)) == len(STAGES), "the scrape of every stage", 60)
    assert scraped
    assert {dict(labels)["stage"] for labels in query(prometheus, success)} == set(STAGES)
    assert set(query(prometheus, success).values()) == {1.0}

    recommendations = DeltaTable(str(root / "recommendations"))
    assert one(prometheus, 'reclake_published_table_version{table="recommendations"}') == recommendations.version()
    assert one(prometheus, 'reclake_published_rows{table="recommendations"}') == len(recommendations.to_pandas())
    events = len(DeltaTable(str(root / "events")).to_pandas())
    assert one(prometheus, 'reclake_stage_rows{stage="validate", kind="valid_rows"}') == events
    evaluated = summary["metrics"]["evaluate"]
    assert one(prometheus, 'reclake_model_metric{model="candidate", metric="ndcg@10"}') == pytest.approx(
        evaluated["ndcg@10"]
    )
    assert one(prometheus, "reclake_gate_approved") == 1
    # Grouped by job and stage: the Pushgateway stamps each group it was pushed.
    groups = query(prometheus, 'push_time_seconds{job="reclake_run"}')
    assert {dict(labels)["stage"] for labels in groups} == set(STAGES)
    assert one(prometheus, 'time() - reclake_last_success_timestamp_seconds{stage="publish"}') < 600

    # Every query of the Grafana dashboard returns data for this run, after at least two scrapes.
    scrapes = 'count_over_time(reclake_stage_success{job="reclake_run", stage="publish"}[5m])'
    wait_for(lambda: one(prometheus, scrapes) >= 2, "a second scrape", 60)
    dashboard = json.loads((REPO / "monitoring" / "reclake-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, expr
            assert query(prometheus, expr), f"no data for {panel['title']!r}: {expr}"

    # Prometheus loaded the alert rules and evaluates them on these metrics: nothing fires after a good run.
    rules = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"][0]["rules"]
    assert len(rules) == 6 and all(rule["health"] in ("ok", "unknown") for rule in rules)
    assert not query(prometheus, 'ALERTS{alertstate="firing", alertname!="ReclakePublishNeverSeen"}')


def test_the_pushgateway_refuses_a_push_without_the_right_credentials(stack, monkeypatch):
    pushgateway, _ = stack
    summary = {"job": "reclake validate", "run_id": "r", "timings_s": {"validate": 1.0}, "counts": {}}
    values = samples(summary, Config(), now=0.0)
    for password in (None, "wrong"):
        monkeypatch.setenv(USERNAME_ENV, USER)
        if password is None:
            monkeypatch.delenv(USERNAME_ENV)
            monkeypatch.delenv(PASSWORD_ENV, raising=False)
        else:
            monkeypatch.setenv(PASSWORD_ENV, password)
        with pytest.raises(urllib.error.HTTPError) as refused:
            push(values, pushgateway, "reclake_validate", timeout=10)
        assert refused.value.code == 401
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    push(values, pushgateway, "reclake_validate", timeout=10)  # the right ones: accepted
