"""Hold out part of each user's interactions: per-user random split and per-user time split.

Both are stratified by user: every user keeps at least one interaction in the
training part, and about ``test_ratio`` of each user's interactions (rounded,
so users with few interactions may have none) go to the test part. A user with
nothing held out is simply not evaluated.

The random order is a hash of (user, item, seed), not ``rand()``: the same seed
gives the same split whatever the partitioning, and recomputing a branch of the
plan cannot move a row from one side to the other.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from reclake.config import EvaluateSection
from reclake.constants import ITEM_IDX, LAST_EVENT_TIME, USER_IDX

_POS = "_split_pos"
_N = "_split_n"
_HASH_BUCKETS = 1_000_000


def _split_by_order(interactions: DataFrame, order: list[Column], test_ratio: float) -> tuple[DataFrame, DataFrame]:
    """The last round(n * test_ratio) rows of each user in ``order`` (at most n - 1) are the test part."""
    by_user = Window.partitionBy(USER_IDX)
    ranked = interactions.withColumn(_POS, F.row_number().over(by_user.orderBy(*order))).withColumn(
        _N, F.count(F.lit(1)).over(by_user)
    )
    n_test = F.least(F.round(F.col(_N) * F.lit(test_ratio)), F.col(_N) - 1)
    is_test = F.col(_POS) > F.col(_N) - n_test
    columns = interactions.columns
    return ranked.where(~is_test).select(*columns), ranked.where(is_test).select(*columns)


def random_split(interactions: DataFrame, test_ratio: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """(train, test): about ``test_ratio`` of each user's interactions, chosen at random, held out."""
    shuffled = F.xxhash64(F.col(USER_IDX), F.col(ITEM_IDX), F.lit(seed))
    return _split_by_order(interactions, [shuffled, F.col(ITEM_IDX)], test_ratio)


def time_split(interactions: DataFrame, test_ratio: float) -> tuple[DataFrame, DataFrame]:
    """(train, test): each user's latest interactions (by ``last_event_time``) held out; ties by item."""
    return _split_by_order(interactions, [F.col(LAST_EVENT_TIME), F.col(ITEM_IDX)], test_ratio)


def split(interactions: DataFrame, kind: str, test_ratio: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """Dispatch on the configured split kind ("random" or "time")."""
    if kind == "time":
        return time_split(interactions, test_ratio)
    return random_split(interactions, test_ratio, seed)


def holdout(interactions: DataFrame, settings: EvaluateSection) -> tuple[DataFrame, DataFrame]:
    """The evaluation split (train, test) every stage agrees on: deterministic for a given config."""
    return split(interactions, settings.split, settings.test_ratio, settings.seed)


def sample_users(test: DataFrame, max_users: int | None, seed: int) -> DataFrame:
    """``test`` kept for about ``max_users`` of its users (all their rows), or whole when it has no more.

    A seeded hash of the user picks them, not ``sample()``: the same users for the
    same data whatever the partitioning, so scoring cost stops growing with the
    user count while the fit still sees every training row.
    """
    if max_users is None:
        return test
    users = test.select(USER_IDX).distinct().count()
    if users <= max_users:
        return test
    bucket = F.pmod(F.xxhash64(F.col(USER_IDX), F.lit(seed)), F.lit(_HASH_BUCKETS))
    return test.where(bucket < F.lit(_HASH_BUCKETS * max_users // users))
