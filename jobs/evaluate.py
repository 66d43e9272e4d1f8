"""Evaluate the newest model offline against a popularity baseline, and gate it before publishing.

The interactions are split per user (``evaluate.split``: random, or time = each
user's latest interactions held out); a model with the newest registered
model's settings is fit on the training part, and its top-k lists and the
popularity baseline's, already-seen items excluded, are scored on the held-out
part (jobs/metrics.py). The gate then approves the model only if, on
``evaluate.metric``@k, it beats the baseline by ``baseline_margin`` and is no more
than ``tolerance`` below the last published model's recorded value; otherwise
the model is marked rejected and the job fails naming the metric and both
values, so ``recommend`` and ``publish`` never see it. Metrics and status go to
the registry and a report to ``models/<version>/report.md``.

    spark-submit jobs/evaluate.py --config conf/local.yaml
    reclake evaluate --config conf/movielens-100k.yaml --set evaluate.split=time
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import SparkSession

from jobs import registry, report
from jobs.config import AlsSection, Config, EvaluateSection
from jobs.errors import MissingTableError, QualityGateFailed
from jobs.metrics import RANKING_METRICS
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.scoring import list_quality, model_top_k, popularity_top_k
from jobs.storage import INTERACTIONS, ITEM_IDS, read_delta, table_uri
from jobs.train import fit_als, holdout


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


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.evaluate
    entry = registry.latest_entry(spark, root)
    if entry is None:
        raise MissingTableError("no model in the model registry: run `reclake train` first")
    version, k = entry["model_version"], settings.k
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    interactions = read_delta(spark, table_uri(root, INTERACTIONS), produced_by="prepare")
    item_ids = read_delta(spark, table_uri(root, ITEM_IDS), produced_by="prepare")
    train, test = holdout(interactions, settings)
    # Each part feeds a fit, two list computations and several aggregations: materialise once.
    train = train.persist(StorageLevel.MEMORY_AND_DISK)
    test = test.persist(StorageLevel.MEMORY_AND_DISK)
    model = fit_als(train, AlsSection.model_validate(entry["params"]))
    model_lists = model_top_k(model, train, test, k).persist(StorageLevel.MEMORY_AND_DISK)
    baseline_lists = popularity_top_k(train, test, k).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        model_metrics = list_quality(model_lists, train, test, k)
        baseline_metrics = list_quality(baseline_lists, train, test, k)
        previous = registry.latest_published(spark, root, exclude=version)
        refusals = gate(model_metrics, baseline_metrics, previous_metrics(previous, k), settings)
        if not settings.gate and refusals:
            refusals = []  # gate off: record and report, never refuse
        label = f"{settings.metric}@{k}"
        metrics = {
            "k": k,
            "split": {
                "kind": settings.split,
                "test_ratio": settings.test_ratio,
                "seed": settings.seed,
                "train_rows": train.count(),
                "test_rows": test.count(),
            },
            "model": model_metrics,
            "popularity": baseline_metrics,
            "previous": {"model_version": previous["model_version"]} if previous else None,
            "gate": {
                "metric": label,
                "approved": not refusals,
                "summary": f"{label} {model_metrics[settings.metric]:.4f} vs popularity baseline "
                f"{baseline_metrics[settings.metric]:.4f}"
                + (f" and last published model {previous['model_version']}" if previous else ""),
                "refusals": refusals,
            },
        }
        status = registry.REJECTED if refusals else registry.APPROVED
        if status == registry.APPROVED and entry["status"] == registry.PUBLISHED:
            status = registry.PUBLISHED  # re-evaluating the live model must not demote it
        registry.set_status(spark, root, version, status, metrics)
        text, svgs = report.render(
            entry, metrics, previous, refusals, report.figures(model_lists, baseline_lists, train, item_ids)
        )
    finally:
        for frame in (train, test, model_lists, baseline_lists):
            frame.unpersist()
    folder = registry.model_dir(root, version)
    registry.write_text(spark, f"{folder}/report.md", text)
    for name, svg in svgs.items():
        registry.write_text(spark, f"{folder}/{name}", svg)
    if refusals:
        raise QualityGateFailed(f"model {version} rejected: {'; '.join(refusals)} (report: {folder}/report.md)")
    return StageResult(
        counts={**{key: metrics["split"][key] for key in ("train_rows", "test_rows")}, "users": model_metrics["users"]},
        metrics=flat_metrics(model_metrics, k) | flat_metrics(baseline_metrics, k, prefix="baseline_"),
        tables={"report": f"{folder}/report.md"},
        details={"model_version": version, "gate": metrics["gate"]["summary"]},
    )


STAGE = Stage("evaluate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake evaluate", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
