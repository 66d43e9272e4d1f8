"""Ranking metrics at k over top-N lists, as Spark DataFrame aggregations.

Each metric is a :class:`~reclake.frames.Measure` (a one-row aggregation and its formula):
``.value()`` computes one, :func:`~reclake.frames.measure_together` many in one Spark query.
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

Beyond accuracy, properties of the lists themselves (each metric's function has its
definition, range and reference): catalogue coverage, average popularity,
distributional coverage, novelty, intra-list diversity and serendipity. The last
two need an item similarity: the cosine of item vectors (ALS item factors in
``evaluate``), given as unit vectors (:func:`unit_item_vectors`), and serendipity
the users' histories as :func:`history_profiles`; the model and the baseline are
measured with the same vectors and histories, computed once, so their values compare.
"""

from __future__ import annotations

import math

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from reclake.constants import FEATURES, ITEM_IDX, RANK, USER_IDX
from reclake.frames import Measure, vector_length

RANKING_METRICS = ("precision", "recall", "ndcg", "map")
_HIT = "_hit"
UNIT = "unit"
_SUM, _COUNT = "_sum", "_n"  # a list's or history's sum of unit vectors, and (history_profiles) its size
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


def ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> Measure:
    """Mean precision, recall, NDCG and MAP at k over users with relevant items (see module docstring), and users.

    The figure is a dict: metric -> value, and ``users``.
    """
    query = per_user_ranking_metrics(recommended, relevant, k).agg(
        *[F.avg(name).alias(name) for name in RANKING_METRICS], F.count(F.lit(1)).alias("users")
    )
    return Measure(
        query, lambda row: {name: float(row[name] or 0.0) for name in RANKING_METRICS} | {"users": int(row["users"])}
    )


def item_popularity(interactions: DataFrame) -> DataFrame:
    """(item_idx, popularity): share of the users in ``interactions`` who interacted with each item."""
    per_item = interactions.groupBy(ITEM_IDX).agg(F.countDistinct(USER_IDX).alias("_users"))
    total = interactions.agg(F.countDistinct(USER_IDX).alias("_all"))
    return per_item.crossJoin(total).select(ITEM_IDX, (F.col("_users") / F.col("_all")).alias("popularity"))


def top_k_slots(recommended: DataFrame, k: int) -> DataFrame:
    """The recommended rows at ranks 1..k: the slots every list metric looks at."""
    return recommended.where(F.col(RANK) <= k)


def catalogue_coverage(recommended: DataFrame, catalogue: DataFrame, k: int, *, items: int | None = None) -> Measure:
    """Share of the catalogue recommended in at least one top-k list, in [0, 1].

    coverage = |distinct items in any top-k| / |catalogue| (``catalogue``: one row per
    item_idx; ``evaluate`` uses the training items). "Catalog coverage" of Shani &
    Gunawardana, Evaluating Recommendation Systems (2011), as in Microsoft Recommenders.
    ``items``: the catalogue's distinct items when already counted (one aggregation less).
    """
    query = top_k_slots(recommended, k).select(ITEM_IDX).distinct().agg(F.count(F.lit(1)).alias("covered"))
    if items is None:
        query = query.crossJoin(catalogue.select(ITEM_IDX).distinct().agg(F.count(F.lit(1)).alias("items")))
    else:
        query = query.withColumn("items", F.lit(items))
    return Measure(query, lambda row: row["covered"] / row["items"] if row["items"] else 0.0)


def average_popularity(recommended: DataFrame, popularity: DataFrame, k: int) -> Measure:
    """Mean popularity of the item in every top-k slot, in [0, 1]; lower = less popularity bias.

    An item's popularity is the share of training users who interacted with it
    (:func:`item_popularity`); an item unknown to ``popularity`` counts 0.
    """
    slots = top_k_slots(recommended, k).join(popularity, ITEM_IDX, "left")
    query = slots.agg(F.avg(F.coalesce("popularity", F.lit(0.0))).alias("pop"))
    return Measure(query, lambda row: float(row["pop"] or 0.0))


def distributional_coverage(recommended: DataFrame, k: int) -> Measure:
    """Shannon entropy (bits) of how the top-k slots are spread over items, in [0, log2(distinct items)].

    With p(i) = slots holding item i / all top-k slots: -sum_i p(i) log2 p(i). 0 when
    every list is the same single item; log2 n when n items fill the slots equally.
    Shani & Gunawardana (2011), formula (21), as Microsoft Recommenders'
    ``distributional_coverage``.
    """
    per_item = top_k_slots(recommended, k).groupBy(ITEM_IDX).agg(F.count(F.lit(1)).alias("_n"))
    # With N slots and n_i per item: -sum (n_i/N) log2(n_i/N) = log2 N - sum n_i log2 n_i / N.
    query = per_item.agg(F.sum("_n").alias("slots"), F.sum(F.col("_n") * F.log2("_n")).alias("weighted"))
    return Measure(query, lambda row: math.log2(row["slots"]) - row["weighted"] / row["slots"] if row["slots"] else 0.0)


def novelty(recommended: DataFrame, train: DataFrame, k: int, *, train_rows: int | None = None) -> Measure:
    """Mean self-information (bits) of the items in the top-k slots, in [0, log2(training rows)].

    An item's novelty is -log2 p(i), p(i) = its share of the training interactions:
    recommending what few people chose scores high. Averaged over every top-k slot
    whose item has training interactions. Castells, Vargas & Wang, Novelty and
    diversity metrics for recommender systems (ECIR 2011), as Microsoft Recommenders'
    ``novelty``. ``train_rows``: ``train.count()`` when already counted (one aggregation less).
    """
    per_item = train.groupBy(ITEM_IDX).agg(F.count(F.lit(1)).alias("_n"))
    # -log2(n_i / N) = log2 N - log2 n_i, N = training rows.
    query = top_k_slots(recommended, k).join(per_item, ITEM_IDX).agg(F.avg(F.log2("_n")).alias("log_n"))
    if train_rows is None:
        query = query.crossJoin(train.agg(F.count(F.lit(1)).alias("rows")))
    else:
        query = query.withColumn("rows", F.lit(train_rows))
    return Measure(query, lambda row: math.log2(row["rows"]) - row["log_n"] if row["log_n"] is not None else 0.0)


def unit_item_vectors(vectors: DataFrame) -> DataFrame:
    """(item_idx, unit): each item's vector scaled to length 1; zero vectors (no direction) left out.

    Diversity and serendipity take these, so lists measured against the same vectors
    share one normalisation (persist it when several lists are measured).
    """
    norm = vector_length(F.col(FEATURES))
    return (
        vectors.select(ITEM_IDX, F.col(FEATURES), norm.alias("_norm"))
        .where(F.col("_norm") > 0)
        .select(ITEM_IDX, F.transform(FEATURES, lambda x: x / F.col("_norm")).alias(UNIT))
    )


def _dot(left: Column, right: Column) -> Column:
    """Dot product of two equally long arrays (of unit vectors: their cosine similarity)."""
    products = F.zip_with(left, right, lambda x, y: x * y)
    return F.aggregate(products, F.lit(0.0), lambda acc, x: acc + x)


def _vector_sum(column: str) -> Column:
    """Elementwise sum of an array column over a group, in the JVM (no array per row pair)."""
    return vector_to_array(Summarizer.sum(array_to_vector(F.col(column))))


def intra_list_diversity(recommended: DataFrame, units: DataFrame, k: int) -> Measure:
    """Mean dissimilarity of the item pairs within each top-k list, averaged over users, in [0, 2].

    A user's value is the mean of 1 - cos(i, j) over the unordered pairs of distinct
    items i, j in their top-k (items without a vector left out; users with fewer than
    two such items skipped), so 1 - the intra-list similarity of Ziegler et al.,
    Improving Recommendation Lists Through Topic Diversification (WWW 2005), as
    Microsoft Recommenders' ``diversity``. Cosine lies in [-1, 1], so the range is
    [0, 2]; with non-negative vectors, [0, 1]. ``units``: :func:`unit_item_vectors`.

    Computed without forming the pairs: for m unit vectors with sum s, the pairs'
    cosines add up to (|s|^2 - m) / 2, so one sum per list replaces k (k - 1) / 2 joined rows.
    """
    slots = top_k_slots(recommended, k).select(USER_IDX, ITEM_IDX).distinct().join(units, ITEM_IDX)
    lists = slots.groupBy(USER_IDX).agg(_vector_sum(UNIT).alias(_SUM), F.count(F.lit(1)).alias("_m"))
    m, squared = F.col("_m"), _dot(F.col(_SUM), F.col(_SUM))
    per_user = lists.where(m >= 2).select((1 - (squared - m) / (m * (m - 1))).alias("_diversity"))
    return Measure(per_user.agg(F.avg("_diversity").alias("diversity")), lambda row: float(row["diversity"] or 0.0))


def history_profiles(train: DataFrame, units: DataFrame, users: DataFrame | None = None) -> DataFrame:
    """(user_idx, _sum, _n): the sum and count of the unit vectors of each user's training items.

    The mean cosine of an item to a history is its dot product with ``_sum / _n``, so
    one vector per user replaces (top-k x history) joined rows. Items without a
    vector are left out, so a user whose history has none has no row. ``users``
    (user_idx) restricts it to the users being scored; compute it once for every
    list scored on the same users.
    """
    history = train.select(USER_IDX, ITEM_IDX).distinct()
    if users is not None:
        history = history.join(users.select(USER_IDX).distinct(), USER_IDX, "semi")
    return (
        history.join(units, ITEM_IDX)
        .groupBy(USER_IDX)
        .agg(_vector_sum(UNIT).alias(_SUM), F.count(F.lit(1)).alias(_COUNT))
    )


def serendipity(
    recommended: DataFrame, profiles: DataFrame, units: DataFrame, k: int, relevant: DataFrame | None = None
) -> Measure:
    """Mean over users of the mean unexpectedness x relevance of their top-k items, in [0, 2].

    For user u and recommended item i: unexpectedness = 1 - the mean of cos(i, j) over
    the items j of u's training history, relevance = 1 if i is among u's ``relevant``
    (held-out) items, else 0 (every item counts as relevant when ``relevant`` is None).
    A user's serendipity is the mean over their top-k items, the result the mean over
    users with a row in ``profiles`` (a history with at least one vector; a listed user
    without one is left out); items without a vector are left out. Microsoft Recommenders'
    ``serendipity`` with its relevance column (Zhang et al., Auralist, WSDM 2012;
    Castells, Vargas & Wang, ECIR 2011), the item similarity being the cosine of the
    ``units`` (:func:`unit_item_vectors`), the histories given as ``profiles``
    (:func:`history_profiles`). Range [0, 2] as cosine lies in [-1, 1]; [0, 1] for
    non-negative vectors.
    """
    slots = top_k_slots(recommended, k).select(USER_IDX, ITEM_IDX).distinct()
    relevance = F.lit(1.0)
    if relevant is not None:
        flags = relevant.select(USER_IDX, ITEM_IDX).distinct().withColumn(_HIT, F.lit(1.0))
        slots = slots.join(flags, [USER_IDX, ITEM_IDX], "left")
        relevance = F.coalesce(F.col(_HIT), F.lit(0.0))
    per_item = (
        slots.join(units, ITEM_IDX)
        .join(profiles, USER_IDX)
        .select(
            USER_IDX,
            relevance.alias("_relevance"),
            (1 - _dot(F.col(UNIT), F.col(_SUM)) / F.col(_COUNT)).alias("_unexpected"),
        )
    )
    per_user = per_item.groupBy(USER_IDX).agg(F.avg(F.col("_unexpected") * F.col("_relevance")).alias("_s"))
    return Measure(per_user.agg(F.avg("_s").alias("serendipity")), lambda row: float(row["serendipity"] or 0.0))
