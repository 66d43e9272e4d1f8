"""Event weights become one strength per pair, summed per ingest date then over the history; stable integer ids."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from reclake.config import EventType, PrepareSection
from reclake.constants import ITEM_ID, ITEM_IDX, USER_ID, USER_IDX
from reclake.context import RunContext
from reclake.features.ids import update_id_table
from reclake.features.interactions import daily_pair_sums, history_strengths, new_id_mappings
from reclake.io.tables import ITEM_IDS
from reclake.stages import prepare
from tests.helpers import EVENTS_SCHEMA, strengths

TYPES = {
    "view": EventType(weight=1.0),
    "add_to_cart": EventType(weight=3.0),
    "purchase": EventType(weight=5.0),
    "rating": EventType(weight=1.0, use_value=True),
}


DAY = dt.date(2026, 1, 4)


@pytest.fixture
def events(spark):
    rows = [
        ("u1", "i1", "view", None, dt.datetime(2026, 1, 1), DAY),
        ("u1", "i1", "purchase", 2.0, dt.datetime(2026, 1, 3), DAY),  # weight only: purchase does not use its value
        ("u1", "i2", "rating", 4.0, dt.datetime(2026, 1, 2), DAY),  # weight x value
        ("u2", "i1", "add_to_cart", None, dt.datetime(2026, 1, 1), DAY),
    ]
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


def pair_strengths(events, settings: PrepareSection, run_date: dt.date = DAY):
    return history_strengths(daily_pair_sums(events, TYPES), settings, run_date)


def test_weights_and_values_sum_per_pair(events):
    result = pair_strengths(events, PrepareSection(log_scaling=False))
    assert strengths(result) == {("u1", "i1"): 6.0, ("u1", "i2"): 4.0, ("u2", "i1"): 3.0}


def test_each_pair_keeps_its_latest_event_time(events):
    result = pair_strengths(events, PrepareSection(log_scaling=False))
    assert {(r.user_id, r.item_id): r.last_event_time.day for r in result.collect()} == {
        ("u1", "i1"): 3,
        ("u1", "i2"): 2,
        ("u2", "i1"): 1,
    }


def test_log_scaling(events):
    result = pair_strengths(events, PrepareSection(log_scaling=True, log_epsilon=2.0))
    assert strengths(result) == {
        ("u1", "i1"): round(math.log(1 + 6 / 2), 6),
        ("u1", "i2"): round(math.log(1 + 4 / 2), 6),
        ("u2", "i1"): round(math.log(1 + 3 / 2), 6),
    }


def test_history_days_and_half_life_weigh_days_by_ingest_date(spark):
    days = [DAY - dt.timedelta(days=n) for n in (2, 1, 0)] + [DAY + dt.timedelta(days=1)]
    rows = [("u1", "i1", "view", None, dt.datetime(2026, 1, 1), day) for day in days]  # one view a day, weight 1
    rows.append(("u2", "i2", "add_to_cart", None, dt.datetime(2026, 1, 1), days[0]))  # only 2 days before DAY
    daily = daily_pair_sums(spark.createDataFrame(rows, EVENTS_SCHEMA), TYPES)
    # All history up to DAY: the day after it (a backfill's later day) does not count.
    assert strengths(history_strengths(daily, PrepareSection(), DAY)) == {("u1", "i1"): 3.0, ("u2", "i2"): 3.0}
    # The last 2 days: DAY and the day before; u2's only day is older.
    assert strengths(history_strengths(daily, PrepareSection(history_days=2), DAY)) == {("u1", "i1"): 2.0}
    # Half-life 1 day: 1 + 0.5 + 0.25 for u1; u2's add_to_cart (3) two days old counts 0.75.
    decayed = history_strengths(daily, PrepareSection(half_life_days=1), DAY)
    assert strengths(decayed) == {("u1", "i1"): 1.75, ("u2", "i2"): 0.75}


def test_prepare_asks_for_validate_on_events_an_older_version_wrote(spark, run_cli, tmp_path):
    root = tmp_path / "lakehouse"
    schema = "user_id string, item_id string, event_type string, value double, event_time timestamp"
    spark.createDataFrame([("u", "i", "view", None, dt.datetime(2026, 1, 1))], schema).write.format("delta").save(
        str(root / "events")
    )
    status, summary = run_cli(prepare.main, "--lakehouse", str(root), "--run-date", str(DAY))
    assert status == 2 and summary["error"].startswith("MissingTableError")
    assert "ingest_date" in summary["error"] and "reclake validate" in summary["error"]


def mapping(df, id_col, idx_col):
    return {r[id_col]: r[idx_col] for r in df.collect()}


def test_new_ids_are_numbered_in_id_order_after_the_existing_ones(spark):
    existing = spark.createDataFrame([("b", 0), ("a", 1)], f"{USER_ID} string, {USER_IDX} int")
    ids = spark.createDataFrame([("z",), ("a",), ("c",), ("c",)], f"{USER_ID} string")
    assert mapping(new_id_mappings(ids, existing, USER_ID, USER_IDX), USER_ID, USER_IDX) == {"c": 2, "z": 3}


def test_id_tables_are_stable_across_runs(spark, tmp_path):
    root, ctx = str(tmp_path), RunContext.new()
    first = spark.createDataFrame([("i3",), ("i1",), ("i2",)], f"{ITEM_ID} string")
    table, added = update_id_table(spark, first, root, ITEM_IDS, ctx)
    assert added == 3
    assert mapping(table, ITEM_ID, ITEM_IDX) == {"i1": 0, "i2": 1, "i3": 2}

    # The second run drops i2 and brings i0 and i9: old ids keep their index, new ones follow.
    second = spark.createDataFrame([("i9",), ("i3",), ("i0",), ("i1",)], f"{ITEM_ID} string")
    table, added = update_id_table(spark, second, root, ITEM_IDS, ctx)
    assert added == 2
    assert mapping(table, ITEM_ID, ITEM_IDX) == {"i1": 0, "i2": 1, "i3": 2, "i0": 3, "i9": 4}

    # Nothing new: nothing appended, nothing renumbered.
    table, added = update_id_table(spark, second, root, ITEM_IDS, ctx)
    assert added == 0 and table.count() == 5
