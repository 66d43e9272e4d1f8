"""prepare over several dates: three runs (about 25 s), each summing only the dates that changed."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from reclake.constants import ITEM_IDX, USER_IDX
from reclake.io.lakehouse import write_delta
from reclake.stages import prepare
from tests.helpers import EVENTS_SCHEMA, strengths

DAY = dt.date(2026, 1, 4)  # the first of three dates


def test_prepare_sums_only_the_dates_that_changed_and_matches_a_full_reaggregation(spark, run_cli, tmp_path):
    root = tmp_path / "lakehouse"
    day_1, day_2, day_3 = (DAY + dt.timedelta(days=n) for n in range(3))
    t = dt.datetime(2026, 1, 3)

    def events_of(day, users, event_type="view"):
        return [(u, f"i{n % 3}", event_type, None, t, day) for n, u in enumerate(users)]

    def write_events(rows, replace_where=None):
        frame = spark.createDataFrame(rows, EVENTS_SCHEMA)
        write_delta(frame, str(root / "events"), replace_where=replace_where, partition_by=["ingest_date"])

    def prepare_for(day):
        status, summary = run_cli(prepare.main, "--lakehouse", str(root), "--run-date", str(day))
        assert status == 0, summary.get("error")
        return summary["counts"]["prepare"]

    def daily_rows(day):
        daily = spark.read.format("delta").load(str(root / "daily_pairs")).where(F.col("ingest_date") == day)
        return sorted(daily.drop("events_files").collect())

    write_events(events_of(day_1, ["a", "b", "c"]) + events_of(day_2, ["a", "d"], "purchase"))
    assert prepare_for(day_2)["days_summed"] == 2
    everything = spark.read.format("delta").load(str(root / "events"))
    assert prepared(spark, root) == plain_strengths(everything)
    assert prepared(spark, root)[("a", "i0")] == 6.0  # a view on day 1, a purchase on day 2
    day_1_rows = daily_rows(day_1)

    # Day 2 re-validated (its rows replaced) and day 3 arrives: those two are summed again, day 1 is not.
    write_events(events_of(day_2, ["a"], "add_to_cart"), replace_where=f"ingest_date = '{day_2}'")
    write_events(events_of(day_3, ["e", "b"]), replace_where=f"ingest_date = '{day_3}'")
    counts = prepare_for(day_3)
    assert counts["days_summed"] == 2 and counts["new_users"] == 1  # e
    assert daily_rows(day_1) == day_1_rows
    assert [(r.user_id, r.strength) for r in daily_rows(day_2)] == [("a", 3.0)]
    everything = spark.read.format("delta").load(str(root / "events"))
    assert prepared(spark, root) == plain_strengths(everything)

    # A whole-input run replaces every date: the daily rows of dates gone from events go too.
    write_events(events_of(day_3, ["z"]))
    assert prepare_for(day_3)["days_summed"] == 1
    daily = spark.read.format("delta").load(str(root / "daily_pairs"))
    assert {r.ingest_date for r in daily.select("ingest_date").distinct().collect()} == {day_3}
    assert prepared(spark, root) == {("z", "i0"): 1.0}


def plain_strengths(events) -> dict[tuple[str, str], float]:
    """The full re-aggregation, spelled out here: every event's weight (x value for ratings) summed per pair."""
    weight = F.when(F.col("event_type") == "rating", F.col("value")).otherwise(
        F.when(F.col("event_type") == "view", 1.0).when(F.col("event_type") == "add_to_cart", 3.0).otherwise(5.0)
    )
    summed = events.groupBy("user_id", "item_id").agg(F.sum(weight).alias("strength"))
    return {(r.user_id, r.item_id): round(r.strength, 6) for r in summed.collect()}


def prepared(spark, root) -> dict[tuple[str, str], float]:
    """interactions as (user_id, item_id) -> strength."""
    pairs = spark.read.format("delta").load(str(root / "interactions"))
    users = spark.read.format("delta").load(str(root / "user_ids"))
    items = spark.read.format("delta").load(str(root / "item_ids"))
    return strengths(pairs.join(users, USER_IDX).join(items, ITEM_IDX))
