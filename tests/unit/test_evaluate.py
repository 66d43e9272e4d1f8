"""The quality gate: pure decisions by hand, then end to end on planted-cluster synthetic data.

A good ALS model passes and gets published; a deliberately bad one (rank 1, one
iteration) is rejected with the metric and both values named, and recommend
keeps serving the approved model.
"""

from __future__ import annotations

from reclake.config import EvaluateSection
from reclake.model.gate import gate


def test_gate_passes_a_model_that_clears_both_bars():
    settings = EvaluateSection(metric="ndcg", k=10, baseline_margin=0.1, tolerance=0.05)
    assert gate({"ndcg": 0.30}, {"ndcg": 0.20}, {"ndcg": 0.31}, settings) == []
    assert gate({"ndcg": 0.30}, {"ndcg": 0.20}, None, settings) == []


def test_gate_names_the_metric_and_both_values():
    settings = EvaluateSection(metric="precision", k=5, baseline_margin=0.1, tolerance=0.05)
    # 0.21 < 0.20 * 1.1 = 0.22; and 0.21 < 0.30 * 0.95 = 0.285.
    reasons = gate({"precision": 0.21}, {"precision": 0.20}, {"precision": 0.30}, settings)
    assert len(reasons) == 2
    assert "precision@5 0.2100" in reasons[0] and "0.2000" in reasons[0] and "0.2200" in reasons[0]
    assert "precision@5 0.2100" in reasons[1] and "0.3000" in reasons[1] and "0.2850" in reasons[1]


def test_gate_tolerance_is_relative_to_the_last_published_value():
    settings = EvaluateSection(metric="map", baseline_margin=0.0, tolerance=0.1)
    assert gate({"map": 0.27}, {"map": 0.1}, {"map": 0.30}, settings) == []  # exactly 10% below: allowed
    assert gate({"map": 0.269}, {"map": 0.1}, {"map": 0.30}, settings)
