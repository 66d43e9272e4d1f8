"""Incremental ingestion over several dates: validate, generate and prepare runs for each date (about 10 s of validate
each). The fast tier's one-date case: tests/integration/test_incremental.py."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from reclake.stages import generate, validate
from tests.helpers import DAY_0, DAY_1, DAY_2, events_per_date, land, rows, run_date


def test_each_date_replaces_only_its_own_partition(spark, run_cli, tmp_path, lakehouse):
    landing = tmp_path / "landing"
    land(landing, DAY_1, rows(DAY_1, 20, "a"))
    land(landing, DAY_2, [*rows(DAY_2, 20, "b"), f"b99,i1,teleport,,{DAY_1}T10:00:00Z"])  # 1 of 21 quarantined

    status, first = run_date(run_cli, lakehouse, landing, DAY_1)
    assert status == 0, first.get("error")
    assert first["counts"]["validate"]["raw_rows"] == 20
    day_1_rows = sorted(spark.read.format("delta").load(str(lakehouse / "events")).collect())

    for _ in range(2):  # the second run of day 2 is a re-run: it replaces day 2's rows, nothing else
        status, second = run_date(run_cli, lakehouse, landing, DAY_2)
        assert status == 0, second.get("error")
        counts = second["counts"]["validate"]
        assert (counts["raw_rows"], counts["valid_rows"], counts["quarantined_rows"]) == (21, 20, 1)
        assert events_per_date(spark, lakehouse) == {str(DAY_1): 20, str(DAY_2): 20}
        events = spark.read.format("delta").load(second["tables"]["events"])
        assert sorted(events.where(F.col("ingest_date") == F.lit(DAY_1)).collect()) == day_1_rows
        assert events.where(F.col("user_id").startswith("b")).count() == 20  # day 2's valid rows exactly once
        quarantine = spark.read.format("delta").load(second["tables"]["quarantine"])
        assert [(str(r.run_date), r.run_id) for r in quarantine.collect()] == [(str(DAY_2), second["run_id"])]

    runs = spark.read.format("delta").load(str(lakehouse / "validation_runs"))
    inputs = {r.input for r in runs.collect()}
    assert inputs == {f"{landing}/date={DAY_1}", f"{landing}/date={DAY_2}"}


def test_batch_rules_compare_with_the_latest_earlier_date_not_a_rerun_or_a_later_day(
    spark, run_cli, tmp_path, lakehouse
):
    landing = tmp_path / "landing"
    land(landing, DAY_1, rows(DAY_1, 10, "a"))
    land(landing, DAY_2, rows(DAY_2, 20, "b"))  # 2.0 x day 1: the most the default band allows
    assert run_date(run_cli, lakehouse, landing, DAY_1)[0] == 0
    assert run_date(run_cli, lakehouse, landing, DAY_2)[0] == 0

    # Day 2 landed again, bigger. Compared with day 1 (10 rows, band up to 20), not with day 2's first run (20).
    land(landing, DAY_2, rows(DAY_2, 25, "b"))
    status, summary = run_date(run_cli, lakehouse, landing, DAY_2)
    assert status == 2 and "volume_change:" in summary["error"] and "max_value=20" in summary["error"]
    assert events_per_date(spark, lakehouse) == {str(DAY_1): 10, str(DAY_2): 20}  # the rejected re-run wrote nothing

    # A backfill of an earlier date has no earlier batch: no volume band, although days 1 and 2 are far smaller.
    land(landing, DAY_0, rows(DAY_0, 100, "z"))
    status, summary = run_date(run_cli, lakehouse, landing, DAY_0)
    assert status == 0, summary.get("error")
    assert events_per_date(spark, lakehouse) == {str(DAY_0): 100, str(DAY_1): 10, str(DAY_2): 20}

    # A path without {run_date} is the whole input as one batch: it replaces every date's rows.
    whole = ["--input", str(landing / f"date={DAY_1}"), "--lakehouse", str(lakehouse), "--run-date", str(DAY_2)]
    status, summary = run_cli(validate.main, *whole, "--set", "validation.min_volume_ratio=null")
    assert status == 0, summary.get("error")
    assert events_per_date(spark, lakehouse) == {str(DAY_2): 10}


def test_generate_lands_one_folder_per_day_and_keeps_days_already_landed(spark, run_cli, tmp_path, lakehouse):
    pattern = f"{tmp_path}/landing/date={{run_date}}"
    sets = ["generate.users=30", "generate.items=20", "generate.days=2", "generate.bad_rows.malformed_line=2"]
    args = ["--input", pattern, "--lakehouse", str(lakehouse), *[a for s in sets for a in ("--set", s)]]
    status, summary = run_cli(generate.main, *args, "--run-date", str(DAY_2))
    assert status == 0, summary.get("error")
    assert summary["counts"]["generate"] == {"landing_days": 2, "bad_rows.malformed_line": 2}
    landed = sorted(p.name for p in (tmp_path / "landing").iterdir())
    assert landed == [f"date={DAY_1}", f"date={DAY_2}"]
    for day in (DAY_1, DAY_2):  # each folder holds the events of the day before it
        batch = spark.read.option("header", True).csv(str(tmp_path / "landing" / f"date={day}"))
        days = {r[0] for r in batch.select(F.substring("timestamp", 1, 10)).distinct().collect()}
        assert days == {str(day - dt.timedelta(days=1))}
    malformed = [p for p in (tmp_path / "landing").rglob("*.txt") if "extra field" in p.read_text()]
    assert [p.parent.name for p in malformed] == [f"date={DAY_2}"]  # the bad rows land with the run date's batch
    before = (tmp_path / "landing" / f"date={DAY_2}").stat().st_mtime_ns

    day_3 = DAY_2 + dt.timedelta(days=1)
    status, summary = run_cli(generate.main, *args, "--run-date", str(day_3))
    assert status == 0 and summary["counts"]["generate"] == {"landing_days": 1, "bad_rows.malformed_line": 2}
    assert (tmp_path / "landing" / f"date={DAY_2}").stat().st_mtime_ns == before
    assert (tmp_path / "landing" / f"date={day_3}").is_dir()
