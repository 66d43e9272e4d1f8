"""Per-user random and time splits: sizes, disjointness, determinism, and which rows are held out."""

from __future__ import annotations

import datetime as dt

import pytest

from reclake.model.splitters import random_split, sample_users, split, time_split

T0 = dt.datetime(2026, 1, 1)


@pytest.fixture
def interactions(spark):
    # User u has 4 * u interactions (4, 8, 12), item i touched at day i; user 4 has a single one.
    rows = [(u, i, 1.0, T0 + dt.timedelta(days=i)) for u in (1, 2, 3) for i in range(4 * u)]
    rows.append((4, 0, 1.0, T0))
    return spark.createDataFrame(rows, "user_idx int, item_idx int, strength double, last_event_time timestamp")


def pairs(df):
    return {(r["user_idx"], r["item_idx"]) for r in df.select("user_idx", "item_idx").collect()}


def per_user(df):
    return {r["user_idx"]: r["count"] for r in df.groupBy("user_idx").count().collect()}


def test_random_split_sizes_and_partition(interactions):
    train, test = random_split(interactions, 0.25, seed=42)
    assert pairs(train) | pairs(test) == pairs(interactions)
    assert not pairs(train) & pairs(test)
    # round(n / 4) held out: 1 of 4, 2 of 8, 3 of 12; the single-interaction user keeps it for training.
    assert per_user(test) == {1: 1, 2: 2, 3: 3}
    assert per_user(train) == {1: 3, 2: 6, 3: 9, 4: 1}
    assert train.columns == interactions.columns


def test_random_split_is_reproducible_and_depends_on_seed(interactions):
    first = pairs(random_split(interactions, 0.25, seed=42)[1])
    assert pairs(random_split(interactions.repartition(3), 0.25, seed=42)[1]) == first
    others = [pairs(random_split(interactions, 0.25, seed=s)[1]) for s in (1, 2, 3)]
    assert any(o != first for o in others)


def test_time_split_holds_out_each_users_latest(interactions):
    train, test = time_split(interactions, 0.25)
    assert pairs(test) == {(1, 3), (2, 6), (2, 7), (3, 9), (3, 10), (3, 11)}
    assert pairs(train) == pairs(interactions) - pairs(test)


def test_split_dispatches_on_kind(interactions):
    assert pairs(split(interactions, "time", 0.25, seed=1)[1]) == pairs(time_split(interactions, 0.25)[1])
    assert pairs(split(interactions, "random", 0.25, seed=7)[1]) == pairs(random_split(interactions, 0.25, 7)[1])


def test_sample_users_keeps_about_max_users_whole_and_the_same_ones(spark):
    # 2,000 users with 3 test rows each: about 200 are kept, each with all 3 rows, the same ones every time.
    test = spark.createDataFrame([(u, i) for u in range(2000) for i in range(3)], "user_idx int, item_idx int")
    kept = sample_users(test, 200, seed=42)
    counts = per_user(kept)
    assert 150 <= len(counts) <= 250
    assert set(counts.values()) == {3}
    assert per_user(sample_users(test.repartition(7), 200, seed=42)) == counts
    assert per_user(sample_users(test, 200, seed=7)) != counts


def test_sample_users_leaves_a_small_test_part_whole(interactions):
    assert sample_users(interactions, None, seed=42) is interactions
    assert sample_users(interactions, 4, seed=42) is interactions
    assert len(per_user(sample_users(interactions, 2, seed=42))) < 4
