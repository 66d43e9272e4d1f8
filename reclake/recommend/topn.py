"""Top-N for every user from ALS factors, already-seen and ineligible items excluded inside the computation.

Exact top-N without ``users x items`` ever existing at once: each Python worker
scores a block of users against the item catalogue with the numpy kernel
(:mod:`reclake.recommend.kernel`). Item factors are broadcast while they fit
under ``broadcast_limit_mb``; above it the catalogue is cut into item blocks,
every (user bucket, item block) pair is scored in its own task and the per-block
top N are merged exactly. Similar items are the same computation on unit
vectors (cosine).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict, Unpack

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from reclake.constants import FEATURES, ITEM_IDX, RANK, SCORE, USER_IDX
from reclake.frames import one_row, vector_length
from reclake.recommend.kernel import (
    SEEN,
    TOP_N_ARROW,
    catalogue,
    item_arrays,
    score_users,
    user_arrays,
)

BLOCK = "item_block"
BUCKET = "user_bucket"
SIMILAR_IDX = "similar_item_idx"
TOP_N_SCHEMA = f"{USER_IDX} int, {RANK} int, {ITEM_IDX} int, {SCORE} float"
# Users per cogroup on the blocked path (their factors and seen lists are in memory at once).
USERS_PER_BUCKET = 50_000


def _with_seen_lists(user_factors: DataFrame, seen: DataFrame) -> DataFrame:
    """(user_idx, features, seen): each user's seen item indices packed in one array."""
    lists = seen.groupBy(USER_IDX).agg(F.collect_list(F.col(ITEM_IDX).cast("int")).alias(SEEN))
    return user_factors.select(F.col(USER_IDX).cast("int").alias(USER_IDX), FEATURES).join(lists, USER_IDX, "left")


def _broadcast_top_n(users: DataFrame, item_factors: DataFrame, n: int, block_rows: int) -> DataFrame:
    """Item factors on every worker; one pass over the users, no shuffle of scores."""
    table = item_factors.select(ITEM_IDX, FEATURES).toArrow()
    items = users.sparkSession.sparkContext.broadcast(catalogue(*item_arrays(table)))

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from score_users(*user_arrays(batch), items.value, n, block_rows)

    return users.mapInArrow(per_batch, TOP_N_SCHEMA)


def _blocked_top_n(
    users: DataFrame, item_factors: DataFrame, n: int, block_rows: int, item_block_size: int, n_users: int
) -> DataFrame:
    """Every (user bucket, item block) pair in its own task, then an exact merge of the per-block top n.

    The global top n of a user is among the union of their per-block top n, and
    the merge orders by (score desc, item index asc) like the kernel does.
    """
    buckets = max(1, -(-n_users // USERS_PER_BUCKET))
    block = F.floor(F.col(ITEM_IDX) / item_block_size).alias(BLOCK)
    items = item_factors.select(F.col(ITEM_IDX).cast("int").alias(ITEM_IDX), FEATURES, block)
    spark = users.sparkSession
    blocks = item_factors.select(block).distinct()  # its own column, not one of ``items``'s (no self-join)
    keyed_users = users.withColumn(BUCKET, F.pmod(F.col(USER_IDX), F.lit(buckets))).crossJoin(F.broadcast(blocks))
    keyed_items = items.crossJoin(F.broadcast(spark.range(buckets).select(F.col("id").cast("int").alias(BUCKET))))

    def per_pair(user_table: pa.Table, item_table: pa.Table) -> pa.Table:
        block = catalogue(*item_arrays(item_table))
        batches = list(score_users(*user_arrays(user_table), block, n, block_rows))
        return pa.Table.from_batches(batches, schema=TOP_N_ARROW) if batches else TOP_N_ARROW.empty_table()

    per_block = (
        keyed_users.groupBy(BUCKET, BLOCK)
        .cogroup(keyed_items.groupBy(BUCKET, BLOCK))
        .applyInArrow(per_pair, TOP_N_SCHEMA)
    )
    order = Window.partitionBy(USER_IDX).orderBy(F.col(SCORE).desc(), F.col(ITEM_IDX).asc())
    merged = per_block.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= n)
    return merged.select(USER_IDX, RANK, ITEM_IDX, SCORE)


class ScoringOptions(TypedDict, total=False):
    """The keyword options of :func:`top_n_for_users`, so callers can pass one set to several calls."""

    user_batch_size: int
    broadcast_limit_mb: float
    item_block_size: int


def top_n_for_users(
    user_factors: DataFrame,
    item_factors: DataFrame,
    seen: DataFrame,
    n: int,
    *,
    user_batch_size: int = 4096,
    broadcast_limit_mb: float = 256.0,
    item_block_size: int = 16384,
) -> DataFrame:
    """(user_idx, rank, item_idx, score): each user's n best unseen items, rank 1 first, ties by item index.

    ``user_factors``/``item_factors`` have (user_idx|item_idx, features) as ALS
    produces them; ``item_factors`` is the eligible catalogue; ``seen`` has
    (user_idx, item_idx) pairs to exclude. Item factors are broadcast when they
    take at most ``broadcast_limit_mb``, else scored in blocks of
    ``item_block_size`` items; both give the same rows.
    """
    stats = one_row(item_factors.agg(F.count(F.lit(1)).alias("items"), F.max(F.size(FEATURES)).alias("rank")))
    users = _with_seen_lists(user_factors, seen)
    if not stats["items"]:
        return users.limit(0).select(USER_IDX, F.lit(1).alias(RANK), F.lit(0).alias(ITEM_IDX), F.lit(0.0).alias(SCORE))
    if stats["items"] * stats["rank"] * 4 <= broadcast_limit_mb * (1 << 20):
        return _broadcast_top_n(users, item_factors, n, user_batch_size)
    return _blocked_top_n(users, item_factors, n, user_batch_size, item_block_size, user_factors.count())


def unit_vectors(factors: DataFrame) -> DataFrame:
    """The same rows with ``features`` scaled to length 1 (zero vectors stay zero), for cosine similarity."""
    norm = vector_length(F.col(FEATURES))
    scaled = F.transform(F.col(FEATURES), lambda x: F.when(norm > 0, x / norm).otherwise(F.lit(0.0)).cast("float"))
    return factors.withColumn(FEATURES, scaled)


def similar_items(
    item_factors: DataFrame, candidates: DataFrame, n: int, **options: Unpack[ScoringOptions]
) -> DataFrame:
    """(item_idx, rank, similar_item_idx, score): each item's n nearest ``candidates`` by cosine, itself excluded."""
    queries = unit_vectors(item_factors).withColumnRenamed(ITEM_IDX, USER_IDX)
    itself = item_factors.select(F.col(ITEM_IDX).alias(USER_IDX), ITEM_IDX)
    top = top_n_for_users(queries, unit_vectors(candidates), itself, n, **options)
    return top.select(F.col(USER_IDX).alias(ITEM_IDX), RANK, F.col(ITEM_IDX).alias(SIMILAR_IDX), SCORE)
