"""Event weights become one strength per pair; integer ids stay stable across runs."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from reclake.config import EventType, PrepareSection
from reclake.constants import ITEM_ID, ITEM_IDX, USER_ID, USER_IDX
from reclake.interactions import new_id_mappings, pair_strengths
from reclake.stages.prepare import update_id_table

TYPES = {
    "view": EventType(weight=1.0),
    "add_to_cart": EventType(weight=3.0),
    "purchase": EventType(weight=5.0),
    "rating": EventType(weight=1.0, use_value=True),
}


@pytest.fixture
def events(spark):
    rows = [
        ("u1", "i1", "view", None, dt.datetime(2026, 1, 1)),
        ("u1", "i1", "purchase", 2.0, dt.datetime(2026, 1, 3)),  # weight only: purchase does not use its value
        ("u1", "i2", "rating", 4.0, dt.datetime(2026, 1, 2)),  # weight x value
        ("u2", "i1", "add_to_cart", None, dt.datetime(2026, 1, 1)),
    ]
    return spark.createDataFrame(
        rows, "user_id string, item_id string, event_type string, value double, event_time timestamp"
    )


def strengths(df):
    return {(r.user_id, r.item_id): round(r.strength, 6) for r in df.collect()}


def test_weights_and_values_sum_per_pair(events):
    result = pair_strengths(events, TYPES, PrepareSection(log_scaling=False))
    assert strengths(result) == {("u1", "i1"): 6.0, ("u1", "i2"): 4.0, ("u2", "i1"): 3.0}


def test_each_pair_keeps_its_latest_event_time(events):
    result = pair_strengths(events, TYPES, PrepareSection(log_scaling=False))
    assert {(r.user_id, r.item_id): r.last_event_time.day for r in result.collect()} == {
        ("u1", "i1"): 3,
        ("u1", "i2"): 2,
        ("u2", "i1"): 1,
    }


def test_log_scaling(events):
    result = pair_strengths(events, TYPES, PrepareSection(log_scaling=True, log_epsilon=2.0))
    assert strengths(result) == {
        ("u1", "i1"): round(math.log(1 + 6 / 2), 6),
        ("u1", "i2"): round(math.log(1 + 4 / 2), 6),
        ("u2", "i1"): round(math.log(1 + 3 / 2), 6),
    }


def mapping(df, id_col, idx_col):
    return {r[id_col]: r[idx_col] for r in df.collect()}


def test_new_ids_are_numbered_in_id_order_after_the_existing_ones(spark):
    existing = spark.createDataFrame([("b", 0), ("a", 1)], f"{USER_ID} string, {USER_IDX} int")
    ids = spark.createDataFrame([("z",), ("a",), ("c",), ("c",)], f"{USER_ID} string")
    assert mapping(new_id_mappings(ids, existing, USER_ID, USER_IDX), USER_ID, USER_IDX) == {"c": 2, "z": 3}


def test_id_tables_are_stable_across_runs(spark, tmp_path):
    uri = str(tmp_path / "item_ids")
    first = spark.createDataFrame([("i3",), ("i1",), ("i2",)], f"{ITEM_ID} string")
    table, added = update_id_table(spark, first, uri, ITEM_ID, ITEM_IDX)
    assert added == 3
    assert mapping(table, ITEM_ID, ITEM_IDX) == {"i1": 0, "i2": 1, "i3": 2}

    # The second run drops i2 and brings i0 and i9: old ids keep their index, new ones follow.
    second = spark.createDataFrame([("i9",), ("i3",), ("i0",), ("i1",)], f"{ITEM_ID} string")
    table, added = update_id_table(spark, second, uri, ITEM_ID, ITEM_IDX)
    assert added == 2
    assert mapping(table, ITEM_ID, ITEM_IDX) == {"i1": 0, "i2": 1, "i3": 2, "i0": 3, "i9": 4}

    # Nothing new: nothing appended, nothing renumbered.
    table, added = update_id_table(spark, second, uri, ITEM_ID, ITEM_IDX)
    assert added == 0 and table.count() == 5
