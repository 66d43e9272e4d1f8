"""The quality gate: whether a model may be published, given its metrics, the baseline's and the last published model's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reclake.config import EvaluateSection
from reclake.model.metrics import RANKING_METRICS


def gate(
    model: Mapping[str, float],
    baseline: Mapping[str, float],
    previous: Mapping[str, float] | None,
    settings: EvaluateSection,
) -> list[str]:
    """Why the model must not be published (empty: it may). ``previous`` is the last published model's metrics."""
    name, label = settings.metric, f"{settings.metric}@{settings.k}"
    value, reasons = model[name], []
    needed = baseline[name] * (1 + settings.baseline_margin)
    if value < needed:
        reasons.append(
            f"{label} {value:.4f} does not beat the popularity baseline's {baseline[name]:.4f} "
            f"by the required margin of {settings.baseline_margin:.0%} (needs >= {needed:.4f})"
        )
    if previous is not None and name in previous:
        floor = previous[name] * (1 - settings.tolerance)
        if value < floor:
            reasons.append(
                f"{label} {value:.4f} is more than {settings.tolerance:.0%} below the last published model's "
                f"{previous[name]:.4f} (needs >= {floor:.4f})"
            )
    return reasons


def previous_metrics(previous: Mapping[str, Any] | None, k: int) -> Mapping[str, float] | None:
    """The last published model's recorded metrics, if measured at the same k."""
    metrics = (previous or {}).get("metrics") or {}
    return metrics.get("model") if metrics.get("k") == k else None


def flat_metrics(metrics: Mapping[str, float], k: int, prefix: str = "") -> dict[str, float]:
    """{"ndcg@10": ..., "coverage": ...} for the --json summary."""
    return {
        prefix + (f"{name}@{k}" if name in RANKING_METRICS else name): value
        for name, value in metrics.items()
        if name != "users"
    }
