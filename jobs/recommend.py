"""Top-N recommendations for every user, already-seen items excluded inside the computation.

Item factors are broadcast once; each Python worker scores a block of users
against the whole catalogue with one BLAS matrix product, masks the items each
user has already interacted with, and selects the top N with ``argpartition``
(linear in the catalogue) instead of a full sort. Ties are broken by item index,
so output is deterministic. Nothing proportional to users x items leaves a
worker, and nothing proportional to users reaches the driver.

    spark-submit jobs/recommend.py --config conf/local.yaml --set recommend.top_n=20
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.config import Config
from jobs.constants import (
    FEATURES,
    ITEM_ID,
    ITEM_IDX,
    MODEL_VERSION,
    RANK,
    RUN_DATE,
    SCORE,
    SOURCE,
    SOURCE_ALS,
    USER_ID,
    USER_IDX,
)
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import (
    INTERACTIONS,
    ITEM_IDS,
    STAGED_RECOMMENDATIONS,
    USER_IDS,
    read_delta,
    table_uri,
    write_delta,
)
from jobs.registry import latest_approved_version, model_uri

SEEN = "seen"
TOP_N_SCHEMA = f"{USER_IDX} int, {RANK} int, {ITEM_IDX} int, {SCORE} float"
# Largest score block (users x items) one worker holds at a time: 16M float32 = 64 MiB.
MAX_BLOCK_CELLS = 1 << 24


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest scores per row, by score descending then index ascending.

    ``argpartition`` finds the top k in linear time; rows where a score equal to
    the k-th also lies outside the selection (a tie across the cut) are
    re-ranked with a full stable sort, so the result is exact and deterministic.
    """
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, axis=1)
    top = np.take_along_axis(part, np.lexsort((part, -values), axis=1), axis=1)
    kth = np.take_along_axis(scores, top[:, -1:], axis=1)
    tied_outside = (scores == kth).sum(axis=1) > (np.take_along_axis(scores, top, axis=1) == kth).sum(axis=1)
    for row in np.flatnonzero(tied_outside):
        top[row] = np.argsort(-scores[row], kind="stable")[:k]
    return top


def score_block(
    user_vectors: np.ndarray, seen: Sequence[np.ndarray], item_vectors: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-n item positions for a block of users, as (user row, item position, score) arrays.

    Rows come out grouped by user, best first; seen positions never appear.
    """
    scores = user_vectors @ item_vectors.T
    lengths = np.fromiter((len(s) for s in seen), dtype=np.int64, count=len(seen))
    if lengths.sum():
        scores[np.repeat(np.arange(len(seen)), lengths), np.concatenate(seen)] = -np.inf
    top = top_k_indices(scores, n)
    top_scores = np.take_along_axis(scores, top, axis=1)
    keep = np.isfinite(top_scores)  # users with fewer than n unseen items get fewer rows
    rows = np.broadcast_to(np.arange(len(seen))[:, None], top.shape)
    return rows[keep], top[keep], top_scores[keep]


def top_n_for_users(
    user_factors: DataFrame,
    item_factors: DataFrame,
    seen: DataFrame,
    n: int,
    *,
    user_batch_size: int = 4096,
) -> DataFrame:
    """(user_idx, rank, item_idx, score): each user's n best unseen items, rank 1 first.

    ``user_factors``/``item_factors`` have (user_idx|item_idx, features) as ALS
    produces them; ``seen`` has (user_idx, item_idx) pairs to exclude.
    """
    items = item_factors.select(ITEM_IDX, FEATURES).toPandas().sort_values(ITEM_IDX)
    item_ids = items[ITEM_IDX].to_numpy(dtype=np.int32)
    item_matrix = np.asarray(np.stack(items[FEATURES].to_numpy()), dtype=np.float32)
    broadcast = user_factors.sparkSession.sparkContext.broadcast((item_ids, item_matrix))
    block = max(1, min(user_batch_size, MAX_BLOCK_CELLS // max(1, len(item_ids))))

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ids, matrix = broadcast.value
        for batch in batches:
            for start in range(0, len(batch), block):
                chunk = batch.iloc[start : start + block]
                vectors = np.asarray(np.stack(chunk[FEATURES].to_numpy()), dtype=np.float32)
                seen_pos = [
                    np.searchsorted(ids, s) if s is not None and len(s) else np.empty(0, np.int64)
                    for s in chunk[SEEN]
                ]
                rows, positions, scores = score_block(vectors, seen_pos, matrix, n)
                yield pd.DataFrame(
                    {
                        USER_IDX: chunk[USER_IDX].to_numpy(dtype=np.int32)[rows],
                        RANK: (np.arange(len(rows)) - np.searchsorted(rows, rows) + 1).astype(np.int32),
                        ITEM_IDX: ids[positions],
                        SCORE: scores.astype(np.float32),
                    }
                )

    seen_lists = seen.groupBy(USER_IDX).agg(F.collect_list(ITEM_IDX).alias(SEEN))
    users = user_factors.select(USER_IDX, FEATURES).join(seen_lists, USER_IDX, "left")
    return users.mapInPandas(per_batch, schema=TOP_N_SCHEMA)


def with_original_ids(top: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Swap integer indices for the ids the apps know."""
    return top.join(users, USER_IDX).join(items, ITEM_IDX)


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    version = latest_approved_version(spark, root)  # the newest model the quality gate let through
    model = ALSModel.load(model_uri(root, version))
    seen = read_delta(spark, table_uri(root, INTERACTIONS), produced_by="prepare").select(USER_IDX, ITEM_IDX)
    top = top_n_for_users(
        model.userFactors.withColumnRenamed("id", USER_IDX),
        model.itemFactors.withColumnRenamed("id", ITEM_IDX),
        seen,
        config.recommend.top_n,
        user_batch_size=config.recommend.user_batch_size,
    )
    users = read_delta(spark, table_uri(root, USER_IDS), produced_by="prepare")
    items = read_delta(spark, table_uri(root, ITEM_IDS), produced_by="prepare")
    output = with_original_ids(top, users, items).select(
        USER_ID,
        RANK,
        ITEM_ID,
        F.col(SCORE).cast("double").alias(SCORE),
        F.lit(SOURCE_ALS).alias(SOURCE),
        F.lit(version).alias(MODEL_VERSION),
        F.lit(ctx.run_date).alias(RUN_DATE),
    )
    uri = table_uri(root, STAGED_RECOMMENDATIONS)
    write_delta(output, uri, metadata={"run_id": ctx.run_id, "model_version": version, "stage": "recommend"})
    stats = read_delta(spark, uri, produced_by="recommend").agg(
        F.count(F.lit(1)).alias("rows"), F.countDistinct(USER_ID).alias("users")
    ).first()
    return StageResult(counts=stats.asDict(), tables={"staged_recommendations": uri}, details={"model_version": version})


STAGE = Stage("recommend", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake recommend", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
