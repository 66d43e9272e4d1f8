"""Incremental ingestion: `{run_date}` in input.path, one landing batch per date, `events` partitioned by ingest date.

Small hand-written landing folders on real Spark and Delta; expected counts by hand.
The fast tier replaces one date's partition once; the runs of several dates (about
10 s of validate each) are in the e2e tier, as is the two-day scenario through the
whole pipeline (tests/e2e/long/test_two_days.py).
"""

from __future__ import annotations

import datetime as dt

from reclake.config import load_config
from reclake.errors import ConfigError
from reclake.io.lakehouse import write_delta
from tests.helpers import DAY_1, DAY_2, EVENTS_SCHEMA, land, rows, run_date


def test_the_run_date_fills_in_the_input_path():
    config = load_config(None, ["input.path=/landing/events/date={run_date}"])
    assert config.incremental and config.batch_path(DAY_1) == "/landing/events/date=2026-11-21"
    whole = load_config(None, ["input.path=/landing/events"])
    assert not whole.incremental and whole.batch_path(DAY_1) == "/landing/events"


def test_a_dates_batch_replaces_that_dates_rows_and_no_others(spark, run_cli, tmp_path, lakehouse):
    earlier = dt.datetime(2026, 11, 20, 10)
    day_1 = [(f"a{i}", "i1", "view", None, earlier, DAY_1) for i in range(3)]
    stale_day_2 = [(f"old{i}", "i1", "view", None, earlier, DAY_2) for i in range(4)]  # an earlier run of day 2
    write_delta(
        spark.createDataFrame(day_1 + stale_day_2, EVENTS_SCHEMA),
        str(lakehouse / "events"),
        partition_by=["ingest_date"],
    )
    landing = tmp_path / "landing"
    land(landing, DAY_2, rows(DAY_2, 5, "b"))
    land(landing, DAY_1, rows(DAY_1, 50, "x"))  # another date's folder: not read

    status, summary = run_date(run_cli, lakehouse, landing, DAY_2)
    assert status == 0, summary.get("error")
    assert summary["counts"]["validate"]["raw_rows"] == 5
    events = spark.read.format("delta").load(str(lakehouse / "events"))
    users = sorted((str(r.ingest_date), r.user_id) for r in events.collect())
    assert users == [(str(DAY_1), f"a{i}") for i in range(3)] + [(str(DAY_2), f"b{i}") for i in range(5)]


def test_a_clean_batch_after_one_with_quarantined_rows_loses_nothing_and_passes(spark, run_cli, tmp_path, lakehouse):
    """Delta commits nothing for a write with no rows to add or replace: the clean date's quarantine write leaves
    the table's latest commit the earlier date's, which must not count as rows this batch wrote."""
    landing = tmp_path / "landing"
    land(landing, DAY_1, [*rows(DAY_1, 40, "a"), f"a0,i1,teleport,,{DAY_1 - dt.timedelta(days=1)}T10:00:00Z"])
    land(landing, DAY_2, rows(DAY_2, 40, "b"))
    status, summary = run_date(run_cli, lakehouse, landing, DAY_1)
    assert status == 0 and summary["counts"]["validate"]["quarantined_rows"] == 1, summary.get("error")
    status, summary = run_date(run_cli, lakehouse, landing, DAY_2)
    assert status == 0, summary.get("error")
    assert summary["counts"]["validate"]["raw_rows"] == 40 and summary["counts"]["validate"]["quarantined_rows"] == 0
    quarantine = spark.read.format("delta").load(str(lakehouse / "quarantine")).collect()
    assert [(str(row.run_date), "teleport" in row.raw_record) for row in quarantine] == [(str(DAY_1), True)]


def test_dates_cannot_go_into_an_events_table_without_ingest_dates(spark, run_cli, tmp_path, lakehouse):
    schema = "user_id string, item_id string, event_type string, value double, event_time timestamp"
    spark.createDataFrame([], schema).write.format("delta").save(str(lakehouse / "events"))
    land(tmp_path / "landing", DAY_1, rows(DAY_1, 10, "a"))
    status, summary = run_date(run_cli, lakehouse, tmp_path / "landing", DAY_1)
    assert status == 2 and summary["error"].startswith(ConfigError.__name__) and "ingest_date" in summary["error"]
