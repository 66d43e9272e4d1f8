"""The quality gate: whether a model may be published, given its metrics, the baseline's and the last published model's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reclake.config import EvaluateSection
from reclake.constants import APPROVED, PUBLISHED, REJECTED
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


@dataclass
class Verdict:
    """The gate's answer on one model: the metric compared, a one-line summary, why it was refused (if it was)."""

    label: str  # e.g. "ndcg@10"
    summary: str
    refusals: list[str] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        return not self.refusals


def judge(
    model: Mapping[str, float],
    baseline: Mapping[str, float],
    previous: Mapping[str, Any] | None,
    settings: EvaluateSection,
) -> Verdict:
    """Gate a model on its metrics, the baseline's and the last published model's (``previous``: its registry entry).

    With ``evaluate.gate`` off the verdict is recorded and reported, never a refusal.
    """
    refusals = gate(model, baseline, previous_metrics(previous, settings.k), settings)
    if not settings.gate and refusals:
        refusals = []  # gate off: record and report, never refuse
    label = f"{settings.metric}@{settings.k}"
    summary = f"{label} {model[settings.metric]:.4f} vs popularity baseline {baseline[settings.metric]:.4f}" + (
        f" and last published model {previous['model_version']}" if previous else ""
    )
    return Verdict(label, summary, refusals)


def new_status(verdict: Verdict, current: str) -> str:
    """The model's registry status after the gate: re-evaluating the live model must not demote it."""
    status = APPROVED if verdict.approved else REJECTED
    return PUBLISHED if status == APPROVED and current == PUBLISHED else status


def cold_start_flat(cold_start: Mapping[str, Any], k: int) -> dict[str, float]:
    """{"new_items.recall@10": ..., "new_users.popular_ndcg@10": ..., "content_map.held_out_r2": ...,
    "content_map.text_on": 0.0, ...} for the --json summary: which feature groups the content map kept."""
    content_map = cold_start["content_map"]
    return (
        {
            f"{path}.{name}@{k}": value
            for path in ("new_items", "new_users")
            for name, value in cold_start[path].items()
            if name not in ("items", "users")
        }
        | {"content_map.held_out_r2": content_map["held_out_r2"]}
        | {f"content_map.{g}_on": float(s["reg_param"] is not None) for g, s in content_map["groups"].items()}
    )


def summary_metrics(
    model: Mapping[str, float], baseline: Mapping[str, float], cold_start: Mapping[str, Any] | None, k: int
) -> dict[str, float]:
    """Every measured figure, flat, for the --json summary and the Prometheus gauges."""
    measured = flat_metrics(model, k) | flat_metrics(baseline, k, prefix="baseline_")
    return measured | cold_start_flat(cold_start, k) if cold_start is not None else measured
