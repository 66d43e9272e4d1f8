"""Evaluate the newest model offline against a popularity baseline, and gate it before publishing.

The interactions are split per user (``evaluate.split``: random, or time = each
user's latest interactions held out); a model with the newest registered
model's settings is fit on the training part, and its top-k lists and the
popularity baseline's, already-seen items excluded, are scored on the held-out
part (reclake/model/metrics.py) for about ``evaluate.max_users`` of its users:
accuracy at k, and beyond it coverage, popularity, diversity, novelty and
serendipity. The gate then approves the model only if, on
``evaluate.metric``@k, it beats the baseline by ``baseline_margin`` and is no more
than ``tolerance`` below the last published model's recorded value; otherwise
the model is marked rejected and the job fails naming the metric and both
values, so ``recommend`` and ``publish`` never see it. Metrics and status go to
the registry and a report to ``models/<version>/report.md``.

With a catalogue (the ``catalogue`` table validate writes) the lists' diversity is
also measured on content (``content_diversity``), and the cold-start paths are
evaluated with one more ALS fit (reclake/model/coldstart.py): held-out new items
ranked through the content map against a random ranking, held-out new users
folded in against the popularity fallback. Without one, both are skipped.

    spark-submit jobs/evaluate.py --config conf/local.yaml
    reclake evaluate --config conf/movielens-100k.yaml --set evaluate.split=time
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import AlsSection, Config
from reclake.constants import APPROVED, FEATURES, ITEM_ID, ITEM_IDX, PUBLISHED, REJECTED
from reclake.content import CONTENT
from reclake.errors import MissingTableError, QualityGateFailed
from reclake.io.lakehouse import read_delta, write_text
from reclake.io.tables import CATALOGUE, INTERACTIONS, ITEM_IDS, table_uri
from reclake.model import registry, report
from reclake.model.als import fit_als
from reclake.model.coldstart import cold_start_metrics
from reclake.model.gate import flat_metrics, gate, previous_metrics
from reclake.model.metrics import history_profiles, intra_list_diversity, unit_item_vectors
from reclake.model.scoring import beyond_accuracy, list_quality, model_top_k, popularity_top_k, train_figures
from reclake.model.splitters import holdout, sample_users
from reclake.runtime import RunContext, Stage, StageResult, run_job


def cold_start_flat(cold_start: dict[str, Any], k: int) -> dict[str, float]:
    """{"new_items.recall@10": ..., "new_users.popular_ndcg@10": ...} for the --json summary."""
    return {
        f"{path}.{name}@{k}": value
        for path in ("new_items", "new_users")
        for name, value in cold_start[path].items()
        if name not in ("items", "users")
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
    cached: list[DataFrame] = []

    def cache(frame: DataFrame) -> DataFrame:
        cached.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return frame

    try:
        # Each part feeds a fit, two list computations and several aggregations: materialise once.
        train, held_out = cache(train), cache(test)
        test = sample_users(held_out, settings.max_users, settings.seed)
        model = fit_als(train, AlsSection.model_validate(entry["params"]))
        model_lists = cache(model_top_k(model, train, test, k))
        baseline_lists = cache(popularity_top_k(train, test, k))
        # One item similarity (the model's item factors) and one set of history profiles for both lists,
        # computed once, so diversity and serendipity compare and neither is paid for twice.
        units = cache(unit_item_vectors(model.itemFactors.withColumnRenamed("id", ITEM_IDX)))
        profiles = cache(history_profiles(train, units, test))
        train_rows, train_items = train_figures(train)  # counted once for both lists
        model_metrics = list_quality(model_lists, train, test, k, train_items=train_items) | beyond_accuracy(
            model_lists, train, test, units, profiles, k, train_rows=train_rows
        )
        baseline_metrics = list_quality(baseline_lists, train, test, k, train_items=train_items) | beyond_accuracy(
            baseline_lists, train, test, units, profiles, k, train_rows=train_rows
        )
        cold_start = None
        if config.catalogue is not None:
            catalogue = read_delta(spark, table_uri(root, CATALOGUE), produced_by="validate")
            content = catalogue.join(item_ids, ITEM_ID).select(ITEM_IDX, CONTENT)
            content_units = unit_item_vectors(content.select(ITEM_IDX, F.col(CONTENT).alias(FEATURES)))
            model_metrics["content_diversity"] = intra_list_diversity(model_lists, content_units, k)
            baseline_metrics["content_diversity"] = intra_list_diversity(baseline_lists, content_units, k)
            params = AlsSection.model_validate(entry["params"])
            reg = config.recommend.content_reg_param
            cold_start = cold_start_metrics(interactions, content, params, k, settings.seed, reg)
        previous = registry.latest_published(spark, root, exclude=version)
        refusals = gate(model_metrics, baseline_metrics, previous_metrics(previous, k), settings)
        if not settings.gate and refusals:
            refusals = []  # gate off: record and report, never refuse
        label = f"{settings.metric}@{k}"
        rows = {"train_rows": train_rows, "test_rows": held_out.count(), "scored_test_rows": test.count()}
        summary = (
            f"{label} {model_metrics[settings.metric]:.4f} vs popularity baseline "
            f"{baseline_metrics[settings.metric]:.4f}"
            + (f" and last published model {previous['model_version']}" if previous else "")
        )
        metrics = {
            "k": k,
            "split": {"kind": settings.split, "test_ratio": settings.test_ratio, "seed": settings.seed, **rows},
            "model": model_metrics,
            "popularity": baseline_metrics,
            "previous": {"model_version": previous["model_version"]} if previous else None,
            "gate": {"metric": label, "approved": not refusals, "summary": summary, "refusals": refusals},
            "cold_start": cold_start,
        }
        status = REJECTED if refusals else APPROVED
        if status == APPROVED and entry["status"] == PUBLISHED:
            status = PUBLISHED  # re-evaluating the live model must not demote it
        registry.set_status(spark, root, version, status, metrics)
        text, svgs = report.render(
            entry, metrics, previous, refusals, report.figures(model_lists, baseline_lists, train, item_ids)
        )
    finally:
        for frame in cached:
            frame.unpersist()
    folder = registry.model_dir(root, version)
    write_text(spark, f"{folder}/report.md", text)
    for name, svg in svgs.items():
        write_text(spark, f"{folder}/{name}", svg)
    counts = {**rows, "users": int(model_metrics["users"])}
    measured = flat_metrics(model_metrics, k) | flat_metrics(baseline_metrics, k, prefix="baseline_")
    if cold_start is not None:
        measured |= cold_start_flat(cold_start, k)
    if refusals:
        raise QualityGateFailed(
            f"model {version} rejected: {'; '.join(refusals)} (report: {folder}/report.md)",
            counts=counts,
            metrics=measured,
        )
    return StageResult(
        counts=counts,
        metrics=measured,
        tables={"report": f"{folder}/report.md"},
        details={"model_version": version, "gate": summary},
        note=f"approved: {summary}",
    )


STAGE = Stage("evaluate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake evaluate", __doc__.splitlines()[0], [STAGE], argv)
