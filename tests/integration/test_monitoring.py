"""Prometheus metrics of a run: the golden run's files read back with prometheus_client's parser and
checked against its tables (read with delta-rs), and the Pushgateway settings."""

from __future__ import annotations

import json
import runpy
import time

import pytest
from deltalake import DeltaTable

from reclake.config import load_config
from reclake.errors import ConfigError
from reclake.monitoring.metrics import PASSWORD_ENV, USERNAME_ENV, auth_handler
from tests.helpers import GOLDEN_RUN_DATE, GOLDEN_TOP_N, GOLDEN_USERS, REPO, prom_value, prom_values

STAGES = ["generate", "validate", "prepare", "train", "evaluate", "recommend", "publish"]


def test_each_run_writes_its_file_and_the_latest_one(golden):
    folder = golden.root / "_metrics"
    for summary in (golden.first, golden.second):
        assert summary["reports"]["metrics"] == str(folder / "runs" / f"{summary['run_id']}.prom")
    assert sorted(p.name for p in folder.iterdir()) == ["reclake.prom", "runs"]  # node_exporter reads one file
    assert prom_values(folder / "reclake.prom") == prom_values(folder / "runs" / f"{golden.second['run_id']}.prom")


def test_metrics_match_the_run_and_its_published_tables(golden):
    summary = golden.second
    values = prom_values(golden.root / "_metrics" / "reclake.prom")
    for stage in STAGES:
        assert prom_value(values, "reclake_stage_success", stage=stage) == 1
        assert prom_value(values, "reclake_stage_duration_seconds", stage=stage) == summary["timings_s"][stage]
        assert time.time() - 3600 < prom_value(values, "reclake_last_success_timestamp_seconds", stage=stage)
    recommendations = DeltaTable(str(golden.root / "recommendations"))
    published = recommendations.to_pandas()
    published = published[published["run_date"].astype(str) == GOLDEN_RUN_DATE]
    assert prom_value(values, "reclake_published_rows", table="recommendations") == len(published)
    assert len(published) == GOLDEN_USERS * GOLDEN_TOP_N
    assert prom_value(values, "reclake_published_table_version", table="recommendations") == recommendations.version()
    similar = DeltaTable(str(golden.root / "similar_items"))
    assert prom_value(values, "reclake_published_table_version", table="similar_items") == similar.version()
    assert prom_value(values, "reclake_recommendations", source="als") == GOLDEN_USERS * GOLDEN_TOP_N
    assert prom_value(values, "reclake_recommendations", source="popular") == 0
    assert prom_value(values, "reclake_stage_rows", stage="validate", kind="raw_rows") == len(
        DeltaTable(str(golden.root / "events")).to_pandas()
    )
    assert prom_value(values, "reclake_quarantined_rows", rule="event_type_unknown") == 0
    assert prom_value(values, "reclake_quarantine_share_limit") == 0.05
    assert prom_value(values, "reclake_gate_approved") == 1
    evaluated = summary["metrics"]["evaluate"]
    assert prom_value(values, "reclake_model_metric", model="candidate", metric="ndcg@10") == evaluated["ndcg@10"]
    assert (
        prom_value(values, "reclake_model_metric", model="baseline", metric="ndcg@10")
        == (evaluated["baseline_ndcg@10"])
    )


def test_pushgateway_url_must_not_carry_credentials():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["monitoring.pushgateway_url=http://ops:hunter2@127.0.0.1:9091"])
    assert "monitoring.pushgateway_url" in str(error.value) and USERNAME_ENV in str(error.value)
    assert "hunter2" not in str(error.value)  # a refused secret is not echoed into logs
    with pytest.raises(ConfigError, match="http:// or https://"):
        load_config(None, ["monitoring.pushgateway_url=127.0.0.1:9091"])


def test_pushgateway_credentials_come_in_pairs(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv(USERNAME_ENV, "ops")
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        auth_handler()


def test_the_dashboard_json_is_what_its_generator_makes():
    generator = runpy.run_path(str(REPO / "monitoring" / "dashboard.py"))
    committed = json.loads((REPO / "monitoring" / "reclake-dashboard.json").read_text())
    assert committed == generator["dashboard"](), (
        "regenerate: python monitoring/dashboard.py > monitoring/reclake-dashboard.json"
    )
    exprs = [target["expr"] for panel in committed["panels"] for target in panel["targets"]]
    assert all("reclake_" in expr for expr in exprs) and len(exprs) == len(set(exprs))
