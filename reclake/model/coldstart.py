"""Offline evaluation of the cold-start paths: new items through the content map, new users through fold-in.

One extra ALS fit serves both: a share of the items with content and a share of
the users are held out of training entirely (all their interactions).

- New items: a ridge map from content to the fitted item factors, its penalty
  per feature group chosen by cross-validation on the trained items
  (reclake/features/content.py), gives the held-out items factors; each user's top k among
  the held-out items only (the recommend kernel, as in ``new_item_recommendations``)
  is scored against their interactions with those items, next to a random ranking
  of the same items for the same users (seeded).
- New users: half of each held-out user's interactions (random, seeded) is
  folded in against the fixed item factors (reclake/recommend/foldin.py), the
  other half is the test set; their top k (folded-in items excluded) is compared
  with the popularity fallback's (popularity from the training users).

Recall@k here is hits / min(relevant, k), so a user with more than k relevant
items can reach 1; NDCG@k and precision@k as in reclake/model/metrics.py.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from reclake.config import AlsSection, RecommendSection
from reclake.constants import FEATURES, ITEM_IDX, RANK, USER_IDX
from reclake.features.content import fit_content_map, mapped_factors
from reclake.frames import one_row
from reclake.model.als import fit_als
from reclake.model.metrics import per_user_ranking_metrics
from reclake.recommend.fallback import folded_in_factors, popularity_factors
from reclake.recommend.topn import top_n_for_users

HELD_OUT_SHARE = 0.1  # of the items with content, and of the users, held out of training


def capped_ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> dict[str, float]:
    """Mean precision@k, recall@k = hits / min(relevant, k), and NDCG@k over users with relevant items."""
    per_user = per_user_ranking_metrics(recommended, relevant, k)
    sizes = relevant.select(USER_IDX, ITEM_IDX).distinct().groupBy(USER_IDX).agg(F.count(F.lit(1)).alias("_n"))
    capped = per_user.join(sizes, USER_IDX).select(
        "precision", (F.col("precision") * k / F.least(F.col("_n"), F.lit(k))).alias("recall"), "ndcg"
    )
    row = one_row(
        capped.agg(*[F.avg(c).alias(c) for c in ("precision", "recall", "ndcg")], F.count(F.lit(1)).alias("users"))
    )
    return {name: float(row[name] or 0.0) for name in ("precision", "recall", "ndcg")} | {"users": int(row["users"])}


def random_top_k(users: DataFrame, items: DataFrame, k: int, seed: int) -> DataFrame:
    """(user_idx, rank, item_idx): each user's first k ``items`` in a random (seeded) order."""
    order = Window.partitionBy(USER_IDX).orderBy(F.rand(seed))
    pairs = users.select(USER_IDX).crossJoin(items.select(ITEM_IDX))
    return pairs.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= k)


class HeldOut(NamedTuple):
    """One seeded cold-start split: items and users held out of training with all their interactions."""

    items: DataFrame  # (item_idx) of items with content
    users: DataFrame  # (user_idx)
    train: DataFrame  # the interactions of neither


def held_out(interactions: DataFrame, content: DataFrame, seed: int) -> HeldOut:
    """HELD_OUT_SHARE of the items with ``content`` and of the users, and the rest to train on; persisted (each part
    feeds a fit and several joins), for the caller to unpersist."""
    with_content = interactions.select(ITEM_IDX).distinct().join(content, ITEM_IDX, "left_semi")
    items = with_content.sample(fraction=HELD_OUT_SHARE, seed=seed).persist(StorageLevel.MEMORY_AND_DISK)
    users = (
        interactions.select(USER_IDX)
        .distinct()
        .sample(fraction=HELD_OUT_SHARE, seed=seed)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    train = (
        interactions.join(items, ITEM_IDX, "left_anti")
        .join(users, USER_IDX, "left_anti")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    return HeldOut(items, users, train)


def new_item_metrics(
    interactions: DataFrame,
    content: DataFrame,
    split: HeldOut,
    model: ALSModel,
    *,
    k: int,
    seed: int,
    settings: RecommendSection,
) -> dict[str, Any]:
    """Each trained user's top k among ``split``'s held-out items through the content map, and a random order.

    ``model`` was fit on ``split.train``; ``content`` is (item_idx, content);
    ``settings`` give the map's candidate penalties and folds. Scored against the
    users' interactions with the held-out items: recall, NDCG, their random
    reference, and ``content_map`` (what the map chose).
    """
    item_factors = model.itemFactors.select(F.col("id").alias(ITEM_IDX), FEATURES)
    user_factors = model.userFactors.select(F.col("id").alias(USER_IDX), FEATURES)
    relevant = interactions.join(split.items, ITEM_IDX, "left_semi").join(user_factors, USER_IDX, "left_semi")
    relevant = relevant.select(USER_IDX, ITEM_IDX)
    known = content.join(item_factors, ITEM_IDX, "left_semi")
    content_map = fit_content_map(known, item_factors, settings.content_reg_params, settings.content_folds, seed)
    mapped = mapped_factors(content.join(split.items, ITEM_IDX, "left_semi"), content_map.weights)
    scored = user_factors.join(relevant, USER_IDX, "left_semi")
    found = capped_ranking_metrics(top_n_for_users(scored, mapped, relevant.limit(0), k), relevant, k)
    random = capped_ranking_metrics(random_top_k(scored, split.items, k, seed), relevant, k)
    return {
        "users": found["users"],
        "recall": found["recall"],
        "ndcg": found["ndcg"],
        "random_recall": random["recall"],
        "random_ndcg": random["ndcg"],
        "content_map": content_map.chosen,
    }


def cold_start_metrics(
    interactions: DataFrame, content: DataFrame, params: AlsSection, k: int, seed: int, settings: RecommendSection
) -> dict[str, Any]:
    """{"new_items": {...}, "new_users": {...}, "content_map": {...}}: the figures above for ``interactions``
    (user_idx, item_idx, strength).

    ``content`` is (item_idx, content) for the catalogue items with an index;
    ``params`` the model's ALS settings, ``settings`` the content map's.
    """
    split = held_out(interactions, content, seed)
    try:
        model = fit_als(split.train, params)
        item_factors = model.itemFactors.select(F.col("id").alias(ITEM_IDX), FEATURES)
        new_items = new_item_metrics(interactions, content, split, model, k=k, seed=seed, settings=settings)

        # New users: fold half of each one's interactions in, score the other half.
        theirs = interactions.join(split.users, USER_IDX, "left_semi").withColumn("_half", F.rand(seed) < 0.5)
        known = theirs.where(F.col("_half")).drop("_half")
        test = theirs.where(~F.col("_half")).select(USER_IDX, ITEM_IDX)
        folded = folded_in_factors(split.users, known, item_factors, params)
        seen = known.select(USER_IDX, ITEM_IDX)
        foldin = capped_ranking_metrics(top_n_for_users(folded, item_factors, seen, k), test, k)
        ones = folded.select(USER_IDX, F.array(F.lit(1.0).cast("float")).alias(FEATURES))
        popular_items = popularity_factors(item_factors.select(ITEM_IDX), split.train)
        popular = capped_ranking_metrics(top_n_for_users(ones, popular_items, seen, k), test, k)
        held_item_count = split.items.count()
    finally:
        for frame in split:
            frame.unpersist()
    return {
        "share": HELD_OUT_SHARE,
        "new_items": {"items": held_item_count} | {n: v for n, v in new_items.items() if n != "content_map"},
        "content_map": new_items["content_map"],
        "new_users": {
            "users": foldin["users"],
            "precision": foldin["precision"],
            "ndcg": foldin["ndcg"],
            "popular_precision": popular["precision"],
            "popular_ndcg": popular["ndcg"],
        },
    }
