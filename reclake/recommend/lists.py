"""One run's lists, from the model's factors to the published columns: what ``recommend`` stages.

Pure transforms over DataFrames: every user with factors gets the ALS top N,
users new since training are folded in (``recommend.fold_in``), the rest get
the popularity fallback; with a catalogue, new items (factors mapped from
content) may enter the lists and get a shelf of their own; items get their
nearest neighbours. Every list is turned into the published columns declared
in reclake/io/tables.py.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from reclake.config import AlsSection, RecommendSection
from reclake.constants import (
    ELIGIBLE,
    EXCLUDED,
    FEATURES,
    FOLDIN_SETTINGS,
    ITEM_ID,
    ITEM_IDX,
    MODEL_VERSION,
    RUN_DATE,
    SIMILAR_ITEM_ID,
    SOURCE,
    SOURCE_ALS,
    SOURCE_CONTENT,
    SOURCE_FOLDIN,
    SOURCE_POPULAR,
    SOURCES,
    STRENGTH,
    USER_ID,
    USER_IDX,
)
from reclake.errors import InputError
from reclake.io.catalogue import conform
from reclake.io.tables import ITEM_FACTORS, RECOMMENDATIONS, SIMILAR_ITEMS, USER_HISTORIES
from reclake.recommend.fallback import (
    eligible,
    folded_in_factors,
    popularity_factors,
    since,
    users_without_factors,
    with_original_ids,
)
from reclake.recommend.foldin import FoldInSettings
from reclake.recommend.newitems import NewItems, label_new_items
from reclake.recommend.topn import SIMILAR_IDX, ScoringOptions, similar_items, top_n_for_users


def window_start(run_date: dt.date, days: int | None) -> dt.datetime | None:
    """Midnight UTC ``days`` before ``run_date`` (None: no window, all history)."""
    if days is None:
        return None
    return dt.datetime.combine(run_date - dt.timedelta(days=days), dt.time(), tzinfo=dt.timezone.utc)


def pairs_since(events: DataFrame, start: dt.datetime, users: DataFrame, items: DataFrame) -> DataFrame:
    """(user_idx, item_idx) each user interacted with since ``start``."""
    return (
        since(events, start)
        .join(users, USER_ID)
        .join(F.broadcast(items), ITEM_ID)
        .select(USER_IDX, ITEM_IDX)
        .distinct()
    )


def listed_items(listed: DataFrame, items: DataFrame, key: str, where: str) -> DataFrame:
    """An item_id list (``recommend.<key>``, the table at ``where``) as the rows of ``items`` it names."""
    if ITEM_ID not in listed.columns:
        raise InputError(f"recommend.{key}: {where} has no {ITEM_ID} column (it has: {', '.join(listed.columns)})")
    return items.join(listed.select(F.col(ITEM_ID).cast("string").alias(ITEM_ID)), ITEM_ID, "left_semi")


def scoring_options(settings: RecommendSection) -> ScoringOptions:
    return {
        "user_batch_size": settings.user_batch_size,
        "broadcast_limit_mb": settings.broadcast_limit_mb,
        "item_block_size": settings.item_block_size,
    }


@dataclass
class Inputs:
    """What one run's lists are computed from (indices and factors keyed by user_idx / item_idx)."""

    user_factors: DataFrame
    item_factors: DataFrame
    users: DataFrame  # user_ids
    items: DataFrame  # item_ids
    new: NewItems | None  # catalogue items without factors, theirs mapped from content
    allowed: DataFrame | None  # recommend.eligible_items
    denied: DataFrame | None  # recommend.excluded_items
    seen: DataFrame  # (user_idx, item_idx) never to recommend
    recent: DataFrame  # (user_idx, item_idx) the popularity fallback counts
    interactions: DataFrame  # what fold-in solves with (recommend.fold_in) and real-time lists start from
    params: AlsSection  # the model's settings, for fold-in
    realtime: FoldInSettings  # published with the item factors, for fold-in at serving time


@dataclass
class Lists:
    """One run's lists in the published columns, and the figures the stage reports before writing them."""

    recommendations: DataFrame
    new_item_shelf: DataFrame | None  # None: no catalogue, or recommend.new_items_top_n 0
    similar_items: DataFrame | None  # None: recommend.similar_items_top_n 0
    item_factors: DataFrame  # what serving folds recent items in against (published as item_factors)
    user_histories: DataFrame  # what each user had and is excluded from in this run (published as user_histories)
    eligible_items: int
    new_items: int | None  # None: no catalogue


def named_items(items: DataFrame, new: NewItems | None) -> DataFrame:
    """Every item an id can name this run: the interacted ones (``items``) and the catalogue's new ones."""
    return items if new is None else items.unionByName(new.ids.join(items, ITEM_ID, "left_anti"))


def published(top: DataFrame, users: DataFrame, items: DataFrame, version: str, run_date: dt.date) -> DataFrame:
    """Top-N rows by index as the published recommendation columns."""
    rows = with_original_ids(top, users, items)
    return conform(
        rows.select("*", F.lit(version).alias(MODEL_VERSION), F.lit(run_date).alias(RUN_DATE)), RECOMMENDATIONS
    )


def lists(inputs: Inputs, settings: RecommendSection, version: str, run_date: dt.date) -> Lists:
    """Every user's top N (ALS, folded in, popular), the new-item shelf and similar items, as published rows."""
    new, options, n = inputs.new, scoring_options(settings), settings.top_n
    allowed, denied, seen = inputs.allowed, inputs.denied, inputs.seen
    names = named_items(inputs.items, new)
    all_factors = inputs.item_factors if new is None else inputs.item_factors.unionByName(new.factors)
    candidates = eligible(all_factors if settings.include_new_items else inputs.item_factors, allowed, denied)

    def labelled(top: DataFrame, source: str) -> DataFrame:
        return (
            top.withColumn(SOURCE, F.lit(source))
            if new is None
            else label_new_items(top, new.ids, source, SOURCE_CONTENT)
        )

    scored_users = inputs.user_factors
    newcomers = users_without_factors(inputs.users, inputs.user_factors)
    tops = [labelled(top_n_for_users(inputs.user_factors, candidates, seen, n, **options), SOURCE_ALS)]
    if settings.fold_in:
        # Solved once: the folded-in users are both scored and taken out of the fallback.
        folded = folded_in_factors(newcomers, inputs.interactions, inputs.item_factors, inputs.params)
        folded = folded.localCheckpoint(eager=True)
        tops.append(labelled(top_n_for_users(folded, candidates, seen, n, **options), SOURCE_FOLDIN))
        newcomers = newcomers.join(folded.select(USER_IDX), USER_IDX, "left_anti")
        scored_users = inputs.user_factors.unionByName(folded)
    popular = popularity_factors(eligible(inputs.items, allowed, denied), inputs.recent)
    tops.append(top_n_for_users(newcomers, popular, seen, n, **options).withColumn(SOURCE, F.lit(SOURCE_POPULAR)))
    top = functools.reduce(DataFrame.unionByName, tops)

    shelf = None
    if new is not None and settings.new_items_top_n:
        shelf_top = top_n_for_users(
            scored_users, eligible(new.factors, allowed, denied), seen, settings.new_items_top_n, **options
        )
        shelf = published(shelf_top.withColumn(SOURCE, F.lit(SOURCE_CONTENT)), inputs.users, names, version, run_date)
    similar = None
    if settings.similar_items_top_n:
        neighbours = similar_items(all_factors, candidates, settings.similar_items_top_n, **options)
        named_neighbours = names.select(F.col(ITEM_IDX).alias(SIMILAR_IDX), F.col(ITEM_ID).alias(SIMILAR_ITEM_ID))
        similar = conform(
            neighbours.join(names, ITEM_IDX)
            .join(F.broadcast(named_neighbours), SIMILAR_IDX)
            .select("*", F.lit(version).alias(MODEL_VERSION), F.lit(run_date).alias(RUN_DATE)),
            SIMILAR_ITEMS,
        )
    return Lists(
        recommendations=published(top, inputs.users, names, version, run_date),
        new_item_shelf=shelf,
        similar_items=similar,
        item_factors=published_factors(inputs, candidates, names, version, run_date),
        user_histories=user_histories(inputs, version, run_date),
        eligible_items=eligible(inputs.items, allowed, denied).count(),
        new_items=None if new is None else new.ids.count(),
    )


def user_histories(inputs: Inputs, version: str, run_date: dt.date) -> DataFrame:
    """Every pair of ``interactions`` (with its strength: what a fold-in at serving time solves with) and of
    ``seen``, flagged ``excluded`` when in ``seen``, as published rows: real-time lists exclude what the batch
    lists do. A pair only in ``seen`` (an event outside the run's history, e.g. ``prepare.history_days``) has
    no strength."""
    flagged = inputs.seen.select(USER_IDX, ITEM_IDX, F.lit(True).alias(EXCLUDED))
    pairs = inputs.interactions.select(USER_IDX, ITEM_IDX, STRENGTH).join(flagged, [USER_IDX, ITEM_IDX], "full")
    return conform(
        pairs.join(inputs.users, USER_IDX)
        .join(F.broadcast(inputs.items), ITEM_IDX)
        .select(
            USER_ID,
            ITEM_ID,
            STRENGTH,
            F.coalesce(F.col(EXCLUDED), F.lit(False)).alias(EXCLUDED),
            F.lit(version).alias(MODEL_VERSION),
            F.lit(run_date).alias(RUN_DATE),
        ),
        USER_HISTORIES,
    )


def published_factors(
    inputs: Inputs, candidates: DataFrame, names: DataFrame, version: str, run_date: dt.date
) -> DataFrame:
    """Every item's factors as published rows: the model's (``als``, what fold-in solves with) and new items'
    (``content``), each flagged whether the lists may hold it, with the settings a fold-in at serving time needs."""
    factors = inputs.item_factors.select(ITEM_IDX, FEATURES, F.lit(SOURCE_ALS).alias(SOURCE))
    if inputs.new is not None:
        mapped = inputs.new.factors.select(ITEM_IDX, FEATURES, F.lit(SOURCE_CONTENT).alias(SOURCE))
        factors = factors.unionByName(mapped)
    flags = candidates.select(ITEM_IDX, F.lit(True).alias(ELIGIBLE))
    rows = factors.join(flags, ITEM_IDX, "left").join(names, ITEM_IDX)
    settings = {
        ELIGIBLE: F.coalesce(F.col(ELIGIBLE), F.lit(False)),
        MODEL_VERSION: F.lit(version),
        FOLDIN_SETTINGS: F.lit(inputs.realtime.to_json()),
        RUN_DATE: F.lit(run_date),
    }
    return conform(rows.withColumns(settings), ITEM_FACTORS)


def recommendation_counts() -> list[Column]:
    """What the stage reports of the staged lists: rows, users, fallback users, rows per source, folded-in users."""
    return [
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(USER_ID).alias("users"),
        F.countDistinct(F.when(F.col(SOURCE) == SOURCE_POPULAR, F.col(USER_ID))).alias("fallback_users"),
        *(F.count(F.when(F.col(SOURCE) == source, 1)).alias(f"rows.{source}") for source in SOURCES),
        F.countDistinct(F.when(F.col(SOURCE) == SOURCE_FOLDIN, F.col(USER_ID))).alias("foldin_users"),
    ]
