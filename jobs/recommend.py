"""Top-N recommendations for every user, already-seen and ineligible items excluded inside the computation.

Exact top-N from the ALS factors, without ``users x items`` ever existing at
once: each Python worker scores a block of users against the item catalogue with
one float32 BLAS product, masks the items each user has already interacted with,
and selects the top N with a two-level selection (maxima of 16 column slabs, then
the N best of the few candidate slabs), so selection costs a fraction of the
product. Ties are broken by item index, so the output is deterministic.

Item factors are broadcast while they fit under ``recommend.broadcast_limit_mb``;
above it the catalogue is cut into item blocks, every (user bucket, item block)
pair is scored in its own task and the per-block top N are merged exactly.
Users the model has no factors for get the most popular eligible items they do
not have (``source = "popular"``). Also writes item-to-item neighbours (cosine on
item factors) to ``staging/similar_items``.

    spark-submit jobs/recommend.py --config conf/local.yaml --set recommend.top_n=20
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.config import Config, RecommendSection
from jobs.constants import (
    EVENT_TIME,
    FEATURES,
    ITEM_ID,
    ITEM_IDX,
    MODEL_VERSION,
    RANK,
    RUN_DATE,
    SCORE,
    SIMILAR_ITEM_ID,
    SOURCE,
    SOURCE_ALS,
    SOURCE_POPULAR,
    USER_ID,
    USER_IDX,
)
from jobs.errors import InputError, MissingTableError
from jobs.registry import latest_approved_version, model_uri
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import (
    EVENTS,
    INTERACTIONS,
    ITEM_IDS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    USER_IDS,
    delta_exists,
    read_delta,
    table_uri,
    write_delta,
)

SEEN = "seen"
BLOCK = "item_block"
BUCKET = "user_bucket"
POPULARITY = "popularity"
SIMILAR_IDX = "similar_item_idx"
TOP_N_SCHEMA = f"{USER_IDX} int, {RANK} int, {ITEM_IDX} int, {SCORE} float"
_TOP_N_ARROW = pa.schema([(USER_IDX, pa.int32()), (RANK, pa.int32()), (ITEM_IDX, pa.int32()), (SCORE, pa.float32())])
# Largest score block (users x items) one worker holds at a time: 4M float32 = 16 MiB.
MAX_BLOCK_CELLS = 1 << 22
# Column slabs of the two-level top-k selection; the catalogue is padded to a multiple of it.
SLABS = 16
# Users per cogroup on the blocked path (their factors and seen lists are in memory at once).
USERS_PER_BUCKET = 50_000


# ---------------------------------------------------------------- numpy kernel (runs in Python workers)


def _exact_top_k(scores: np.ndarray, floor: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, rank) of the k best finite scores per row, ties by column; ``floor`` <= each row's k-th best.

    Only scores >= floor are sorted, so a good floor keeps this cheap; it is
    exact for any floor at or below the k-th best (ties at the cut included).
    """
    rows, cols = np.nonzero((scores >= floor[:, None]) & np.isfinite(scores))
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    ranks = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = ranks < k
    return rows[keep], cols[keep], ranks[keep]


def top_k_entries(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, rank from 0) of the k largest finite scores of each row, ties broken by column.

    -inf marks excluded cells; a row with fewer than k finite scores gets fewer
    entries. With many columns the selection is two-level: the columns are cut
    into ``SLABS`` contiguous slabs, column j of every slab forms group j, and
    the k groups with the largest maxima must hold the top k (every other cell
    is below k group maxima). Only those k x SLABS candidates are ranked. Rows
    where a group maximum ties across the cut, or with too few finite scores,
    take the exact path, so the result is exact in every case.
    """
    n_rows, n_cols = scores.shape
    width = n_cols // SLABS
    if n_cols % SLABS or width < 4 * k:
        floor = np.partition(scores, n_cols - min(k, n_cols), axis=1)[:, n_cols - min(k, n_cols)]
        return _exact_top_k(scores, floor, k)
    group_max = scores.reshape(n_rows, SLABS, width).max(axis=1)
    groups = np.argpartition(group_max, width - k, axis=1)[:, width - k :]
    floor = np.take_along_axis(group_max, groups, axis=1).min(axis=1)
    cols = (groups[:, :, None] + np.arange(SLABS) * width).reshape(n_rows, -1)
    values = np.take_along_axis(scores, cols, axis=1)
    best = np.argpartition(-values, k - 1, axis=1)[:, :k]
    best_values = np.take_along_axis(values, best, axis=1)
    best_cols = np.take_along_axis(cols, best, axis=1)
    order = np.lexsort((best_cols, -best_values), axis=1)
    best_cols = np.take_along_axis(best_cols, order, axis=1)
    kth = np.take_along_axis(best_values, order[:, -1:], axis=1)
    slow = (
        ~np.isfinite(floor)
        | ((group_max >= floor[:, None]).sum(axis=1) > k)
        | ((values == kth).sum(axis=1) > (best_values == kth).sum(axis=1))
    )
    fast = np.flatnonzero(~slow)
    rows = np.repeat(fast, k)
    ranks = np.tile(np.arange(k), len(fast))
    if not slow.any():
        return rows, best_cols[fast].ravel(), ranks
    slow_rows = np.flatnonzero(slow)
    s_rows, s_cols, s_ranks = _exact_top_k(scores[slow_rows], floor[slow_rows], k)
    return (
        np.concatenate([rows, slow_rows[s_rows]]),
        np.concatenate([best_cols[fast].ravel(), s_cols]),
        np.concatenate([ranks, s_ranks]),
    )


def catalogue(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item ids sorted ascending and their float32 vectors, zero-padded to a multiple of ``SLABS`` rows.

    Positions then follow item index, so ties broken by column are ties broken by item index.
    """
    order = np.argsort(ids, kind="stable")
    padded = np.zeros((-(-len(ids) // SLABS) * SLABS, vectors.shape[1]), dtype=np.float32)
    padded[: len(ids)] = vectors[order]
    return ids[order].astype(np.int32), padded


def score_users(
    user_ids: np.ndarray,
    user_vectors: np.ndarray,
    seen_rows: np.ndarray,
    seen_items: np.ndarray,
    items: tuple[np.ndarray, np.ndarray],
    n: int,
    block_rows: int,
) -> Iterator[pa.RecordBatch]:
    """Top-n (user_idx, rank, item_idx, score) batches for users against a :func:`catalogue`.

    ``seen_rows``/``seen_items`` are (row in user_ids, item index) pairs sorted
    by row; seen items outside the catalogue are ignored.
    """
    item_ids, matrix = items
    n_items = len(item_ids)
    if n_items == 0 or len(user_ids) == 0:
        return
    pos = np.minimum(np.searchsorted(item_ids, seen_items), n_items - 1)
    known = item_ids[pos] == seen_items
    seen_rows, pos = seen_rows[known], pos[known]
    rows_per_block = max(1, min(block_rows, MAX_BLOCK_CELLS // len(matrix)))
    for start in range(0, len(user_ids), rows_per_block):
        stop = min(start + rows_per_block, len(user_ids))
        scores = user_vectors[start:stop] @ matrix.T
        scores[:, n_items:] = -np.inf
        lo, hi = np.searchsorted(seen_rows, [start, stop])
        scores[seen_rows[lo:hi] - start, pos[lo:hi]] = -np.inf
        rows, cols, ranks = top_k_entries(scores, n)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(user_ids[start:stop][rows].astype(np.int32)),
                pa.array((ranks + 1).astype(np.int32)),
                pa.array(item_ids[cols]),
                pa.array(scores[rows, cols].astype(np.float32)),
            ],
            names=[USER_IDX, RANK, ITEM_IDX, SCORE],
        )


# ---------------------------------------------------------------- Arrow <-> numpy


def _vectors(column: pa.Array | pa.ChunkedArray, count: int) -> np.ndarray:
    """A list<float> column of equal-length vectors as a (count, rank) float32 matrix, without per-row Python."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if count and len(flat) % count:
        raise ValueError(f"factor vectors have different lengths ({len(flat)} values for {count} rows)")
    return flat.reshape(count, -1) if count else flat.reshape(0, 0)


def _seen_pairs(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list<int> column (null = none) as (row, item) arrays sorted by row."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(column)), lengths)
    return rows, column.flatten().to_numpy(zero_copy_only=False)


def _user_arrays(table: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = table.column(USER_IDX).to_numpy(zero_copy_only=False)
    rows, seen = _seen_pairs(table.column(SEEN))
    return ids, _vectors(table.column(FEATURES), len(ids)), rows, seen


# ---------------------------------------------------------------- Spark


def _with_seen_lists(user_factors: DataFrame, seen: DataFrame) -> DataFrame:
    """(user_idx, features, seen): each user's seen item indices packed in one array."""
    lists = seen.groupBy(USER_IDX).agg(F.collect_list(F.col(ITEM_IDX).cast("int")).alias(SEEN))
    return user_factors.select(F.col(USER_IDX).cast("int").alias(USER_IDX), FEATURES).join(lists, USER_IDX, "left")


def _broadcast_top_n(users: DataFrame, item_factors: DataFrame, n: int, block_rows: int) -> DataFrame:
    """Item factors on every worker; one pass over the users, no shuffle of scores."""
    table = item_factors.select(ITEM_IDX, FEATURES).toArrow()
    ids = table.column(ITEM_IDX).to_numpy(zero_copy_only=False)
    items = users.sparkSession.sparkContext.broadcast(catalogue(ids, _vectors(table.column(FEATURES), len(ids))))

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from score_users(*_user_arrays(batch), items.value, n, block_rows)

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
        ids = item_table.column(ITEM_IDX).to_numpy(zero_copy_only=False)
        block = catalogue(ids, _vectors(item_table.column(FEATURES), len(ids)))
        batches = list(score_users(*_user_arrays(user_table), block, n, block_rows))
        return pa.Table.from_batches(batches, schema=_TOP_N_ARROW) if batches else _TOP_N_ARROW.empty_table()

    per_block = keyed_users.groupBy(BUCKET, BLOCK).cogroup(keyed_items.groupBy(BUCKET, BLOCK)).applyInArrow(
        per_pair, TOP_N_SCHEMA
    )
    order = Window.partitionBy(USER_IDX).orderBy(F.col(SCORE).desc(), F.col(ITEM_IDX).asc())
    merged = per_block.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= n)
    return merged.select(USER_IDX, RANK, ITEM_IDX, SCORE)


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
    stats = item_factors.agg(F.count(F.lit(1)).alias("items"), F.max(F.size(FEATURES)).alias("rank")).first()
    users = _with_seen_lists(user_factors, seen)
    if not stats["items"]:
        return users.limit(0).select(USER_IDX, F.lit(1).alias(RANK), F.lit(0).alias(ITEM_IDX), F.lit(0.0).alias(SCORE))
    if stats["items"] * stats["rank"] * 4 <= broadcast_limit_mb * (1 << 20):
        return _broadcast_top_n(users, item_factors, n, user_batch_size)
    return _blocked_top_n(users, item_factors, n, user_batch_size, item_block_size, user_factors.count())


def unit_vectors(factors: DataFrame) -> DataFrame:
    """The same rows with ``features`` scaled to length 1 (zero vectors stay zero), for cosine similarity."""
    norm = F.sqrt(F.aggregate(F.col(FEATURES), F.lit(0.0), lambda acc, x: acc + x * x))
    scaled = F.transform(F.col(FEATURES), lambda x: F.when(norm > 0, x / norm).otherwise(F.lit(0.0)).cast("float"))
    return factors.withColumn(FEATURES, scaled)


def similar_items(item_factors: DataFrame, candidates: DataFrame, n: int, **options: float) -> DataFrame:
    """(item_idx, rank, similar_item_idx, score): each item's n nearest ``candidates`` by cosine, itself excluded."""
    queries = unit_vectors(item_factors).withColumnRenamed(ITEM_IDX, USER_IDX)
    itself = item_factors.select(F.col(ITEM_IDX).alias(USER_IDX), ITEM_IDX)
    top = top_n_for_users(queries, unit_vectors(candidates), itself, n, **options)
    return top.select(F.col(USER_IDX).alias(ITEM_IDX), RANK, F.col(ITEM_IDX).alias(SIMILAR_IDX), SCORE)


# ---------------------------------------------------------------- eligibility and fallback (pure transforms)


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
    return catalogue_items.select(ITEM_IDX).join(counts, ITEM_IDX, "left").select(
        ITEM_IDX, F.array(F.coalesce(F.col(POPULARITY), F.lit(0)).cast("float")).alias(FEATURES)
    )


def users_without_factors(users: DataFrame, user_factors: DataFrame) -> DataFrame:
    """(user_idx, features=[1]) for every known user the model has no factors for."""
    return users.select(USER_IDX).join(user_factors.select(USER_IDX), USER_IDX, "left_anti").select(
        USER_IDX, F.array(F.lit(1.0).cast("float")).alias(FEATURES)
    )


def with_original_ids(top: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Swap integer indices for the ids the apps know."""
    return top.join(users, USER_IDX).join(F.broadcast(items), ITEM_IDX)


# ---------------------------------------------------------------- the stage


def _item_list(spark: SparkSession, root: str, key: str, location: str | None, items: DataFrame) -> DataFrame | None:
    """An item_id list (Delta table under the lakehouse root, or a path/URI) as item indices."""
    if location is None:
        return None
    uri = location if location.startswith("/") or "://" in location else table_uri(root, location)
    if not delta_exists(spark, uri):
        raise MissingTableError(f"recommend.{key}: no Delta table at {uri} (expected one with an {ITEM_ID} column)")
    listed = spark.read.format("delta").load(uri)
    if ITEM_ID not in listed.columns:
        raise InputError(f"recommend.{key}: {uri} has no {ITEM_ID} column (it has: {', '.join(listed.columns)})")
    return items.join(listed.select(F.col(ITEM_ID).cast("string").alias(ITEM_ID)), ITEM_ID, "left_semi")


def _window_start(run_date: dt.date, days: int | None) -> dt.datetime | None:
    if days is None:
        return None
    return dt.datetime.combine(run_date - dt.timedelta(days=days), dt.time(), tzinfo=dt.timezone.utc)


def _indexed_pairs(spark: SparkSession, root: str, start: dt.datetime | None, users: DataFrame, items: DataFrame) -> DataFrame:
    """(user_idx, item_idx) each user interacted with since ``start``: the prepared pairs for all history."""
    if start is None:
        return read_delta(spark, table_uri(root, INTERACTIONS), produced_by="prepare").select(USER_IDX, ITEM_IDX)
    events = since(read_delta(spark, table_uri(root, EVENTS), produced_by="validate"), start)
    return events.join(users, USER_ID).join(F.broadcast(items), ITEM_ID).select(USER_IDX, ITEM_IDX).distinct()


def _options(settings: RecommendSection) -> dict[str, float]:
    return {
        "user_batch_size": settings.user_batch_size,
        "broadcast_limit_mb": settings.broadcast_limit_mb,
        "item_block_size": settings.item_block_size,
    }


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.recommend
    version = latest_approved_version(spark, root)  # the newest model the quality gate let through
    model = ALSModel.load(model_uri(root, version))
    user_factors = model.userFactors.withColumnRenamed("id", USER_IDX)
    item_factors = model.itemFactors.withColumnRenamed("id", ITEM_IDX)
    users = read_delta(spark, table_uri(root, USER_IDS), produced_by="prepare")
    items = read_delta(spark, table_uri(root, ITEM_IDS), produced_by="prepare")
    allowed = _item_list(spark, root, "eligible_items", settings.eligible_items, items)
    denied = _item_list(spark, root, "excluded_items", settings.excluded_items, items)
    seen = _indexed_pairs(spark, root, _window_start(ctx.run_date, settings.exclude_seen_window_days), users, items)
    recent = _indexed_pairs(spark, root, _window_start(ctx.run_date, settings.fallback_window_days), users, items)
    options = _options(settings)

    als_top = top_n_for_users(user_factors, eligible(item_factors, allowed, denied), seen, settings.top_n, **options)
    popular_top = top_n_for_users(
        users_without_factors(users, user_factors),
        popularity_factors(eligible(items, allowed, denied), recent),
        seen,
        settings.top_n,
        **options,
    )
    top = als_top.withColumn(SOURCE, F.lit(SOURCE_ALS)).unionByName(popular_top.withColumn(SOURCE, F.lit(SOURCE_POPULAR)))
    output = with_original_ids(top, users, items).select(
        USER_ID,
        RANK,
        ITEM_ID,
        F.col(SCORE).cast("double").alias(SCORE),
        SOURCE,
        F.lit(version).alias(MODEL_VERSION),
        F.lit(ctx.run_date).alias(RUN_DATE),
    )
    metadata = {"run_id": ctx.run_id, "model_version": version, "stage": "recommend"}
    uri = table_uri(root, STAGED_RECOMMENDATIONS)
    write_delta(output, uri, metadata=metadata)
    stats = read_delta(spark, uri, produced_by="recommend").agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(USER_ID).alias("users"),
        F.countDistinct(F.when(F.col(SOURCE) == SOURCE_POPULAR, F.col(USER_ID))).alias("fallback_users"),
    ).first()
    counts, tables = stats.asDict(), {"staged_recommendations": uri}
    if settings.similar_items_top_n:
        similar = similar_items(item_factors, eligible(item_factors, allowed, denied), settings.similar_items_top_n, **options)
        neighbours = items.select(F.col(ITEM_IDX).alias(SIMILAR_IDX), F.col(ITEM_ID).alias(SIMILAR_ITEM_ID))
        similar_out = similar.join(items, ITEM_IDX).join(F.broadcast(neighbours), SIMILAR_IDX).select(
            ITEM_ID,
            RANK,
            SIMILAR_ITEM_ID,
            F.col(SCORE).cast("double").alias(SCORE),
            F.lit(version).alias(MODEL_VERSION),
            F.lit(ctx.run_date).alias(RUN_DATE),
        )
        similar_uri = table_uri(root, STAGED_SIMILAR_ITEMS)
        write_delta(similar_out, similar_uri, metadata=metadata)
        counts["similar_items_rows"] = read_delta(spark, similar_uri, produced_by="recommend").count()
        tables["staged_similar_items"] = similar_uri
    return StageResult(counts=counts, tables=tables, details={"model_version": version})


STAGE = Stage("recommend", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake recommend", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
