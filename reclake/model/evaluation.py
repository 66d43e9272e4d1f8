"""Offline evaluation of one model's settings against the popularity baseline (what ``evaluate`` measures).

The interactions are split per user (``evaluate.split``); a model with the
given settings is fit on the training part, and its top-k lists and the
popularity baseline's, already-seen items excluded, are scored on the held-out
part (reclake/model/metrics.py) for about ``evaluate.max_users`` of its users:
accuracy at k, and beyond it coverage, popularity, diversity, novelty and
serendipity. With the catalogue's content, diversity is also measured on
content and the cold-start paths are evaluated (reclake/model/coldstart.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.config import AlsSection, EvaluateSection, RecommendSection
from reclake.constants import FEATURES, ITEM_ID, ITEM_IDX
from reclake.features.content import CONTENT
from reclake.model import report
from reclake.model.als import fit_als
from reclake.model.coldstart import cold_start_metrics
from reclake.model.gate import Verdict
from reclake.model.metrics import history_profiles, unit_item_vectors
from reclake.model.scoring import BASELINE, MODEL, compare_lists, model_top_k, popularity_top_k, train_figures
from reclake.model.splitters import holdout, sample_users


@dataclass
class Evaluation:
    """The model's and the baseline's metrics, the cold-start paths', the split's rows, the report's figures."""

    model: dict[str, float]
    baseline: dict[str, float]
    cold_start: dict[str, Any] | None
    rows: dict[str, int]  # train_rows, test_rows, scored_test_rows
    figures: dict[str, Any]


def evaluate_model(
    interactions: DataFrame,
    item_ids: DataFrame,
    catalogue: DataFrame | None,
    params: AlsSection,
    settings: EvaluateSection,
    recommend: RecommendSection,
) -> Evaluation:
    """Split ``interactions``, fit ``params`` on the training part and score both lists on the held-out part.

    ``catalogue`` (item_id, content) adds content diversity and the cold-start metrics (the content map as
    ``recommend`` sets it).
    """
    k = settings.k
    train, test = holdout(interactions, settings)
    cached: list[DataFrame] = []

    def cache(frame: DataFrame) -> DataFrame:
        cached.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return frame

    try:
        # Each part feeds a fit, two list computations and several aggregations: materialise once.
        train, held_out = cache(train), cache(test)
        test = sample_users(held_out, settings.max_users, settings.seed)
        model = fit_als(train, params)
        model_lists = cache(model_top_k(model, train, test, k))
        baseline_lists = cache(popularity_top_k(train, test, k))
        # One item similarity (the model's item factors) and one set of history profiles for both lists,
        # computed once, so diversity and serendipity compare and neither is paid for twice.
        units = cache(unit_item_vectors(model.itemFactors.withColumnRenamed("id", ITEM_IDX)))
        profiles = cache(history_profiles(train, units, test))
        content_units = None
        if catalogue is not None:
            content = catalogue.join(item_ids, ITEM_ID).select(ITEM_IDX, CONTENT)
            content_units = unit_item_vectors(content.select(ITEM_IDX, F.col(CONTENT).alias(FEATURES)))
        train_rows, train_items = train_figures(train)  # counted once for every list
        measured = compare_lists(
            {MODEL: model_lists, BASELINE: baseline_lists},
            train,
            test,
            units,
            profiles,
            k,
            content_units=content_units,
            train_rows=train_rows,
            train_items=train_items,
        )
        model_metrics, baseline_metrics = measured[MODEL], measured[BASELINE]
        cold_start = None
        if catalogue is not None:
            cold_start = cold_start_metrics(interactions, content, params, k, settings.seed, recommend)
        rows = {"train_rows": train_rows, "test_rows": held_out.count(), "scored_test_rows": test.count()}
        figures = report.figures(model_lists, baseline_lists, train, item_ids)
    finally:
        for frame in cached:
            frame.unpersist()
    return Evaluation(model_metrics, baseline_metrics, cold_start, rows, figures)


def evaluation_record(
    found: Evaluation, verdict: Verdict, previous: Mapping[str, Any] | None, settings: EvaluateSection
) -> dict[str, Any]:
    """What the registry keeps of an evaluation (its ``metrics`` column) and the report shows."""
    return {
        "k": settings.k,
        "split": {"kind": settings.split, "test_ratio": settings.test_ratio, "seed": settings.seed, **found.rows},
        "model": found.model,
        "popularity": found.baseline,
        "previous": {"model_version": previous["model_version"]} if previous else None,
        "gate": {
            "metric": verdict.label,
            "approved": verdict.approved,
            "summary": verdict.summary,
            "refusals": verdict.refusals,
        },
        "cold_start": found.cold_start,
    }
