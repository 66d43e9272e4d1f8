"""Fold-in: the per-user solve against a direct numpy least-squares fit, and against Spark ALS's own user factors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from reclake.config import AlsSection
from reclake.constants import FEATURES, ITEM_IDX, STRENGTH, USER_IDX
from reclake.model.als import fit_als
from reclake.recommend.fallback import folded_in_factors
from reclake.recommend.foldin import HISTORY, FoldInModel, fold_in_batch, solve_user

RANK_, REG, ALPHA = 4, 0.3, 2.0
rng = np.random.default_rng(3)
ITEM_IDS = np.array([40, 3, 17, 8, 22, 5, 31, 12, 9, 27])  # unsorted on purpose
VECTORS = rng.normal(size=(len(ITEM_IDS), RANK_))


def model(implicit: bool = True) -> FoldInModel:
    return FoldInModel.build(ITEM_IDS, VECTORS, REG, ALPHA, implicit)


def rows_of(items):
    return [int(np.flatnonzero(i == ITEM_IDS)[0]) for i in items]


def test_implicit_solve_is_the_weighted_ridge_least_squares_fit():
    # Items 17, 22, 9 liked (strengths 1, 3, 0.5), item 31 disliked (-2: confidence, no preference), 99 unknown.
    items, strengths = np.array([17, 22, 9, 31, 99]), np.array([1.0, 3.0, 0.5, -2.0, 4.0])
    # Directly: minimise sum over every item of c_i (p_i - x.y_i)^2 + lambda |x|^2, c_i = 1 + alpha |r_i| for
    # the user's items and 1 for the rest, p_i = 1 for r_i > 0; lambda = reg * 3 positive interactions.
    confidence, preference = np.ones(len(ITEM_IDS)), np.zeros(len(ITEM_IDS))
    for row, r in zip(rows_of(items[:4]), strengths[:4]):
        confidence[row], preference[row] = 1 + ALPHA * abs(r), float(r > 0)
    weight = np.sqrt(confidence)[:, None]
    design = np.vstack([weight * VECTORS, np.sqrt(REG * 3) * np.eye(RANK_)])
    target = np.concatenate([np.sqrt(confidence) * preference, np.zeros(RANK_)])
    expected = np.linalg.lstsq(design, target, rcond=None)[0]
    assert solve_user(model(), items, strengths) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_explicit_solve_is_the_ridge_fit_on_the_rated_items():
    items, ratings = np.array([3, 8, 27]), np.array([4.0, 1.0, 5.0])
    design = np.vstack([VECTORS[rows_of(items)], np.sqrt(REG * 3) * np.eye(RANK_)])
    expected = np.linalg.lstsq(design, np.concatenate([ratings, np.zeros(RANK_)]), rcond=None)[0]
    assert solve_user(model(implicit=False), items, ratings) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_users_without_usable_events_get_no_factors():
    assert solve_user(model(), np.array([99, 100]), np.array([1.0, 2.0])) is None  # items the model lacks
    assert solve_user(model(), np.array([17]), np.array([-1.0])) is None  # no positive interaction
    assert solve_user(model(), np.array([], dtype=int), np.array([])) is None


def test_batch_keeps_users_with_usable_events_in_order():
    history = pa.list_(pa.struct([(ITEM_IDX, pa.int32()), (STRENGTH, pa.float64())]))
    histories = [
        [{ITEM_IDX: 1, STRENGTH: 1.0}],  # unknown item: dropped
        [{ITEM_IDX: 17, STRENGTH: 1.0}, {ITEM_IDX: 22, STRENGTH: 2.0}],
        [{ITEM_IDX: 9, STRENGTH: 0.5}],
    ]
    batch = pa.RecordBatch.from_arrays(
        [pa.array([7, 8, 9], pa.int32()), pa.array(histories, history)], [USER_IDX, HISTORY]
    )
    for table in (batch, pa.Table.from_batches([batch]).slice(1)):  # a slice's list offsets do not start at 0
        out = fold_in_batch(table, model())
        assert out.column(USER_IDX).to_pylist() == [8, 9]
        second = solve_user(model(), np.array([17, 22]), np.array([1.0, 2.0]))
        assert out.column(FEATURES).to_pylist()[0] == pytest.approx(second.astype(np.float32).tolist())


def test_folding_in_trained_users_gives_back_spark_als_user_factors(spark):
    # Spark ALS ends every iteration with the user step against the final item factors: the very solve fold-in does.
    gen = np.random.default_rng(11)
    rows = [
        (u, i, float(gen.integers(1, 5)))
        for u in range(30)
        for i in gen.choice(25, size=int(gen.integers(2, 9)), replace=False).tolist()
    ]
    interactions = spark.createDataFrame(rows, f"{USER_IDX} int, {ITEM_IDX} int, {STRENGTH} double")
    settings = AlsSection(rank=3, reg_param=0.1, alpha=3.0, max_iter=4, num_user_blocks=1, num_item_blocks=1)
    als = fit_als(interactions, settings)
    items = als.itemFactors.withColumnRenamed("id", ITEM_IDX)
    users = interactions.select(USER_IDX).distinct()
    folded = {r[USER_IDX]: r[FEATURES] for r in folded_in_factors(users, interactions, items, settings).collect()}
    trained = {r["id"]: r["features"] for r in als.userFactors.collect()}
    assert set(folded) == set(trained) == set(range(30))
    for user, factors in trained.items():
        assert folded[user] == pytest.approx(factors, rel=1e-3, abs=1e-4), user
    # Explicit mode, the same: a fresh fit on ratings.
    explicit = settings.model_copy(update={"implicit_prefs": False})
    als = fit_als(interactions, explicit)
    items = als.itemFactors.withColumnRenamed("id", ITEM_IDX)
    folded_rows = folded_in_factors(users.where(F.col(USER_IDX) < 10), interactions, items, explicit).collect()
    trained = {r["id"]: r["features"] for r in als.userFactors.collect()}
    assert len(folded_rows) == 10
    for row in folded_rows:
        assert row[FEATURES] == pytest.approx(trained[row[USER_IDX]], rel=1e-3, abs=1e-4)
