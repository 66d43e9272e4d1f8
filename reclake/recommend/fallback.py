"""Which items may be recommended, and lists for users the model has no factors for: fold-in, then popularity.

Users new since training who have usable interactions get factors folded in
against the model's item factors (:mod:`reclake.recommend.foldin`, one solve per
user in the Python workers; the item factors are broadcast to every worker). The
others get the popularity fallback: a rank-1 "model" (every user vector [1], every item vector
[its distinct users]) scored by the same top-N kernel, so it excludes seen items
exactly like ALS lists do, without a users x items cross join.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.config import AlsSection
from reclake.constants import EVENT_TIME, FEATURES, ITEM_IDX, STRENGTH, USER_IDX
from reclake.recommend.foldin import HISTORY, FoldInModel, fold_in_batch
from reclake.recommend.kernel import item_arrays

POPULARITY = "popularity"


def eligible(items: DataFrame, allowed: DataFrame | None, denied: DataFrame | None) -> DataFrame:
    """Rows of ``items`` whose item_idx is in ``allowed`` (when given) and not in ``denied``."""
    if allowed is not None:
        items = items.join(allowed.select(ITEM_IDX), ITEM_IDX, "left_semi")
    if denied is not None:
        items = items.join(denied.select(ITEM_IDX), ITEM_IDX, "left_anti")
    return items


def since(events: DataFrame, start: dt.datetime | None) -> DataFrame:
    """Events at or after ``start`` (all of them for None)."""
    return events if start is None else events.where(F.col(EVENT_TIME) >= F.lit(start))


def popularity_factors(catalogue_items: DataFrame, pairs: DataFrame) -> DataFrame:
    """(item_idx, features=[distinct users]) for every catalogue item, 0 for items nobody touched.

    As a rank-1 "model" with every user vector [1], the top-n kernel ranks unseen
    items by popularity, ties by item index.
    """
    counts = pairs.groupBy(ITEM_IDX).agg(F.countDistinct(USER_IDX).alias(POPULARITY))
    return (
        catalogue_items.select(ITEM_IDX)
        .join(counts, ITEM_IDX, "left")
        .select(ITEM_IDX, F.array(F.coalesce(F.col(POPULARITY), F.lit(0)).cast("float")).alias(FEATURES))
    )


def users_without_factors(users: DataFrame, user_factors: DataFrame) -> DataFrame:
    """(user_idx, features=[1]) for every known user the model has no factors for."""
    return (
        users.select(USER_IDX)
        .join(user_factors.select(USER_IDX), USER_IDX, "left_anti")
        .select(USER_IDX, F.array(F.lit(1.0).cast("float")).alias(FEATURES))
    )


def with_original_ids(top: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Swap integer indices for the ids the apps know."""
    return top.join(users, USER_IDX).join(F.broadcast(items), ITEM_IDX)


def folded_in_factors(
    users: DataFrame, interactions: DataFrame, item_factors: DataFrame, settings: AlsSection
) -> DataFrame:
    """(user_idx, features) for the ``users`` with usable ``interactions``: one ALS user step each.

    ``interactions`` are (user_idx, item_idx, strength) as ALS was trained on;
    ``settings`` the model's ALS settings (reg_param, alpha, implicit_prefs).
    """
    model = FoldInModel.build(
        *item_arrays(item_factors.select(ITEM_IDX, FEATURES).toArrow()),
        settings.reg_param,
        settings.alpha,
        settings.implicit_prefs,
    )
    shared = users.sparkSession.sparkContext.broadcast(model)
    history = F.collect_list(
        F.struct(F.col(ITEM_IDX).cast("int").alias(ITEM_IDX), F.col(STRENGTH).cast("double").alias(STRENGTH))
    )
    histories = (
        interactions.join(users.select(USER_IDX), USER_IDX, "left_semi")
        .groupBy(F.col(USER_IDX).cast("int").alias(USER_IDX))
        .agg(history.alias(HISTORY))
    )

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield fold_in_batch(batch, shared.value)

    return histories.mapInArrow(per_batch, f"{USER_IDX} int, {FEATURES} array<float>")
