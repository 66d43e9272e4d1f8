"""Offline scoring: top-k lists of an ALS model and of the popularity baseline on a held-out split.

Both go through :func:`reclake.recommend.topn.top_n_for_users`, so evaluation excludes
already-seen items exactly as production recommendations do. The popularity
baseline is the same rank-1 "model" recommend falls back on (every user vector
[1], every item vector [its training users]), which ranks unseen items by
training popularity, ties by item index, without a users x items cross join.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.constants import FEATURES, ITEM_IDX, USER_IDX
from reclake.frames import Measure, measure_together, one_row
from reclake.model.metrics import (
    average_popularity,
    catalogue_coverage,
    distributional_coverage,
    intra_list_diversity,
    item_popularity,
    novelty,
    ranking_metrics,
    serendipity,
)
from reclake.recommend.fallback import popularity_factors
from reclake.recommend.topn import top_n_for_users

MODEL, BASELINE = "model", "popularity"
RANKING = "ranking"  # the key of the ranking metrics' figure (a dict: precision, recall, ndcg, map, users)


def _test_users(test: DataFrame) -> DataFrame:
    return test.select(USER_IDX).distinct()


def model_top_k(model: ALSModel, train: DataFrame, test: DataFrame, k: int) -> DataFrame:
    """(user_idx, rank, item_idx, score): the model's k best items unseen in ``train``, for ``test``'s users."""
    users = model.userFactors.withColumnRenamed("id", USER_IDX).join(_test_users(test), USER_IDX, "left_semi")
    items = model.itemFactors.withColumnRenamed("id", ITEM_IDX)
    return top_n_for_users(users, items, train.select(USER_IDX, ITEM_IDX), k)


def popularity_top_k(train: DataFrame, test: DataFrame, k: int) -> DataFrame:
    """(user_idx, rank, item_idx, score): the k items most popular in ``train`` each test user has not seen."""
    users = _test_users(test).select(USER_IDX, F.array(F.lit(1.0).cast("float")).alias(FEATURES))
    items = popularity_factors(train.select(ITEM_IDX).distinct(), train)
    return top_n_for_users(users, items, train.select(USER_IDX, ITEM_IDX), k)


def train_figures(train: DataFrame) -> tuple[int, int]:
    """(rows, distinct items) of ``train`` in one query, for every list measured against it."""
    row = one_row(train.agg(F.count(F.lit(1)), F.countDistinct(ITEM_IDX)))
    return int(row[0]), int(row[1])


def list_quality(
    top_k: DataFrame, train: DataFrame, test: DataFrame, k: int, *, train_items: int | None = None
) -> dict[str, Measure]:
    """Ranking metrics against ``test`` (under ``RANKING``) plus coverage and average popularity against ``train``.

    ``train_items``: ``train``'s distinct items when already counted (:func:`train_figures`).
    """
    return {
        RANKING: ranking_metrics(top_k, test.select(USER_IDX, ITEM_IDX), k),
        "coverage": catalogue_coverage(top_k, train.select(ITEM_IDX), k, items=train_items),
        "avg_popularity": average_popularity(top_k, item_popularity(train), k),
    }


def beyond_accuracy(
    top_k: DataFrame,
    train: DataFrame,
    test: DataFrame,
    units: DataFrame,
    profiles: DataFrame,
    k: int,
    *,
    train_rows: int | None = None,
) -> dict[str, Measure]:
    """Diversity, novelty, serendipity (relevance from ``test``) and distributional coverage of the top-k lists.

    ``units`` (:func:`~reclake.model.metrics.unit_item_vectors`) define item similarity
    and ``profiles`` (:func:`~reclake.model.metrics.history_profiles`) the users'
    training histories; pass the same ones, persisted, for the lists being compared.
    ``train_rows``: ``train.count()`` when already counted (:func:`train_figures`).
    """
    return {
        "diversity": intra_list_diversity(top_k, units, k),
        "novelty": novelty(top_k, train, k, train_rows=train_rows),
        "serendipity": serendipity(top_k, profiles, units, k, relevant=test),
        "distributional_coverage": distributional_coverage(top_k, k),
    }


def flat_metrics(figures: Mapping[str, Any]) -> dict[str, float]:
    """The figures of :func:`list_quality` (and :func:`beyond_accuracy`) as metric -> value."""
    return {**figures[RANKING], **{name: value for name, value in figures.items() if name != RANKING}}


def compare_lists(
    lists: Mapping[str, DataFrame],
    train: DataFrame,
    test: DataFrame,
    units: DataFrame,
    profiles: DataFrame,
    k: int,
    *,
    content_units: DataFrame | None = None,
    train_rows: int | None = None,
    train_items: int | None = None,
) -> dict[str, dict[str, float]]:
    """Every metric of every list (name -> top-k lists), in one Spark query; ``content_units`` adds content diversity.

    The lists are measured against the same ``train``, ``test``, item similarity and histories, so their
    values compare. ``train_rows``, ``train_items``: :func:`train_figures`, when already counted.
    """
    measures: dict[tuple[str, str], Measure] = {}
    for name, top_k in lists.items():
        per_list = list_quality(top_k, train, test, k, train_items=train_items) | beyond_accuracy(
            top_k, train, test, units, profiles, k, train_rows=train_rows
        )
        if content_units is not None:
            per_list["content_diversity"] = intra_list_diversity(top_k, content_units, k)
        measures.update({(name, metric): measure for metric, measure in per_list.items()})
    figures = measure_together(measures)
    return {name: flat_metrics({m: v for (n, m), v in figures.items() if n == name}) for name in lists}
