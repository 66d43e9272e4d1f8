"""The quality gate end to end on planted-cluster synthetic data (two evaluate runs on a copy of the golden lakehouse).

A good ALS model passes and gets published; a deliberately bad one (rank 1, one
iteration) is rejected with the metric and both values named, and recommend
keeps serving the approved model. The gate's pure decisions: tests/unit/test_evaluate.py.
"""

from __future__ import annotations

import json

import pytest

from reclake.stages import evaluate, recommend, train
from tests.helpers import Golden, prom_value, prom_values


def test_gate_publishes_a_good_model_and_blocks_a_bad_one(run_cli, golden, golden_copy):
    # The golden run's model passed the gate and was published.
    summary = golden.second
    good = summary["model_version"]
    evaluated = summary["metrics"]["evaluate"]
    assert evaluated["ndcg@10"] > evaluated["baseline_ndcg@10"] * 1.05
    # Beyond accuracy, for the model and the baseline: popularity lists repeat the same few head items,
    # so the model's slots spread wider (entropy) over less popular (more informative) items.
    assert evaluated["distributional_coverage"] > evaluated["baseline_distributional_coverage"]
    assert evaluated["novelty"] > evaluated["baseline_novelty"] > 0
    for name in ("diversity", "serendipity"):
        assert 0 < evaluated[name] <= 2 and 0 <= evaluated["baseline_" + name] <= 2, name
    models = golden.root / "models"
    assert (models / "PUBLISHED").read_text().strip() == good
    metadata = json.loads((models / good / "metadata.json").read_text())
    assert metadata["status"] == "published"
    assert metadata["metrics"]["model"]["ndcg"] == pytest.approx(evaluated["ndcg@10"])
    assert metadata["data_snapshot"]["rows"] > 0 and metadata["code_version"].startswith("0.")
    report = (models / good / "report.md").read_text()
    assert "APPROVED" in report and "popularity baseline" in report
    for row in ("| novelty |", "| diversity |", "| serendipity |", "| distributional_coverage |"):
        assert row in report, row
    assert "| i00" in report  # the most recommended items, by the ids apps know
    for svg in ("score_distribution.svg", "popularity_bias.svg", "history_lengths.svg"):
        assert (models / good / svg).read_text().startswith("<svg")

    # A deliberately bad model, trained on a copy.
    common = Golden.args(golden_copy)
    models = golden_copy / "models"
    status, summary = run_cli(train.main, *common, "--set", "als.rank=1", "--set", "als.max_iter=1")
    assert status == 0
    bad = summary["model_version"]
    status, summary = run_cli(evaluate.main, *common)
    assert status == 2
    error = summary["error"]
    assert error.startswith("QualityGateFailed: model " + bad)
    assert "ndcg@10" in error and "popularity baseline" in error and "last published model" in error
    assert json.loads((models / bad / "metadata.json").read_text())["status"] == "rejected"
    assert "REJECTED" in (models / bad / "report.md").read_text()
    # Its metrics say so; evaluate's last success stays the golden run's.
    assert summary["failed_stage"] == "evaluate"
    values = prom_values(golden_copy / "_metrics" / "reclake.prom")
    assert prom_value(values, "reclake_stage_success", stage="evaluate") == 0
    assert prom_value(values, "reclake_gate_approved") == 0
    rejected = prom_value(values, "reclake_model_metric", model="candidate", metric="ndcg@10")
    assert rejected == summary["metrics"]["evaluate"]["ndcg@10"] < evaluated["ndcg@10"]
    last_success = "reclake_last_success_timestamp_seconds"
    golden_values = prom_values(golden.root / "_metrics" / "reclake.prom")
    assert prom_value(values, last_success, stage="evaluate") == prom_value(
        golden_values, last_success, stage="evaluate"
    )
    assert prom_value(values, last_success, stage="train") > prom_value(golden_values, last_success, stage="train")

    # recommend keeps serving the approved model, never the rejected one.
    status, summary = run_cli(recommend.main, *common)
    assert status == 0 and summary["model_version"] == good
