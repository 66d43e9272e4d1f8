"""Ranking metrics at k over top-N lists, as Spark DataFrame aggregations.

Inputs are long-format frames, never collected:

- ``recommended``: (user_idx, rank, item_idx), rank 1 = best; only ranks 1..k count.
- ``relevant``: (user_idx, item_idx), the held-out items of each user (binary relevance).

Definitions (binary relevance, ``hits@i`` = relevant items among the first i
recommended, ``rel(i)`` = 1 if the i-th recommended item is relevant, ``R`` =
the user's relevant set). Each is a per-user value in [0, 1], averaged over
users that have at least one relevant item; a user with relevant items but no
recommendations scores 0, recommendations for a user without relevant items
are ignored (their metrics are undefined). These match Spark's
``pyspark.mllib.evaluation.RankingMetrics`` (precisionAt, recallAt, ndcgAt,
meanAveragePrecisionAt) and Microsoft Recommenders' ``precision_at_k``,
``recall_at_k``, ``ndcg_at_k`` and ``map_at_k`` (binary relevance), evaluated on
users present in the test set:

- precision@k = hits@k / k (a list shorter than k is still divided by k)
- recall@k    = hits@k / |R|
- NDCG@k      = sum_{i<=k} rel(i) / log2(i+1) divided by the ideal
  sum_{i<=min(k,|R|)} 1 / log2(i+1) (Jarvelin & Kekalainen 2002)
- MAP@k       = mean over users of sum_{i<=k} rel(i) * hits@i / i, divided by min(k, |R|)

Beside accuracy, two properties of the lists themselves:

- coverage    = distinct items recommended in any top-k / items in the catalogue, in [0, 1]
- avg_popularity = mean, over every recommended slot, of the recommended item's
  popularity: the share of training users who interacted with it, in [0, 1]
  (lower = less popularity bias).
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from reclake.constants import ITEM_IDX, RANK, USER_IDX
from reclake.frames import one_row

RANKING_METRICS = ("precision", "recall", "ndcg", "map")
_HIT = "_hit"
_POS = "_pos"


def ideal_dcg(k: int) -> list[float]:
    """Cumulative ideal DCG: element i-1 is the best DCG a list can reach with i relevant items."""
    total, out = 0.0, []
    for i in range(1, k + 1):
        total += 1.0 / math.log2(i + 1)
        out.append(total)
    return out


def per_user_ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> DataFrame:
    """(user_idx, precision, recall, ndcg, map): each metric at k for every user with relevant items."""
    relevant = relevant.select(USER_IDX, ITEM_IDX).distinct()
    # Position 1..k from the rank order, so gaps or ties in `rank` cannot inflate a list.
    top = (
        recommended.select(USER_IDX, RANK, ITEM_IDX)
        .withColumn(_POS, F.row_number().over(Window.partitionBy(USER_IDX).orderBy(RANK, ITEM_IDX)))
        .where(F.col(_POS) <= k)
    )
    flagged = top.join(relevant.withColumn(_HIT, F.lit(1)), [USER_IDX, ITEM_IDX], "left").fillna(0, [_HIT])
    running_hits = F.sum(_HIT).over(Window.partitionBy(USER_IDX).orderBy(_POS))
    per_user_hits = (
        flagged.withColumn("_cum", running_hits)
        .groupBy(USER_IDX)
        .agg(
            F.sum(_HIT).alias("hits"),
            F.sum(F.col(_HIT) / F.log2(F.col(_POS) + 1)).alias("dcg"),
            F.sum(F.col(_HIT) * F.col("_cum") / F.col(_POS)).alias("ap_sum"),
        )
    )
    sizes = relevant.groupBy(USER_IDX).agg(F.count(F.lit(1)).alias("n_relevant"))
    ideal = F.array(*[F.lit(v) for v in ideal_dcg(k)])
    capped = F.least(F.col("n_relevant"), F.lit(k))
    return (
        sizes.join(per_user_hits, USER_IDX, "left")
        .fillna(0, ["hits", "dcg", "ap_sum"])
        .select(
            USER_IDX,
            (F.col("hits") / F.lit(k)).alias("precision"),
            (F.col("hits") / F.col("n_relevant")).alias("recall"),
            (F.col("dcg") / F.element_at(ideal, capped.cast("int"))).alias("ndcg"),
            (F.col("ap_sum") / capped).alias("map"),
        )
    )


def ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG and MAP at k over users with relevant items (see module docstring)."""
    row = one_row(
        per_user_ranking_metrics(recommended, relevant, k).agg(
            *[F.avg(name).alias(name) for name in RANKING_METRICS], F.count(F.lit(1)).alias("users")
        )
    )
    return {name: float(row[name] or 0.0) for name in RANKING_METRICS} | {"users": int(row["users"])}


def item_popularity(interactions: DataFrame) -> DataFrame:
    """(item_idx, popularity): share of the users in ``interactions`` who interacted with each item."""
    per_item = interactions.groupBy(ITEM_IDX).agg(F.countDistinct(USER_IDX).alias("_users"))
    total = interactions.agg(F.countDistinct(USER_IDX).alias("_all"))
    return per_item.crossJoin(total).select(ITEM_IDX, (F.col("_users") / F.col("_all")).alias("popularity"))


def list_metrics(recommended: DataFrame, popularity: DataFrame, k: int) -> dict[str, float]:
    """Catalogue coverage and average popularity of the top-k lists; ``popularity`` is the catalogue."""
    top = recommended.where(F.col(RANK) <= k).select(ITEM_IDX)
    catalogue = popularity.count()
    row = one_row(
        top.join(popularity, ITEM_IDX, "left").agg(
            F.countDistinct(ITEM_IDX).alias("items"), F.avg(F.coalesce("popularity", F.lit(0.0))).alias("pop")
        )
    )
    return {
        "coverage": (row["items"] / catalogue) if catalogue else 0.0,
        "avg_popularity": float(row["pop"] or 0.0),
    }
