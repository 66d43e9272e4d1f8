"""recommend on a copy of the golden lakehouse with a seen window and similar items (three recommend runs, ~15 s)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from reclake.constants import (
    ITEM_ID,
    ITEM_IDX,
    RANK,
    SCORE,
    USER_ID,
)
from reclake.io.tables import (
    EVENTS,
    INTERACTIONS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
)
from reclake.stages import recommend
from tests.helpers import GOLDEN_RUN_DATE

RUN_DATE = dt.date.fromisoformat(GOLDEN_RUN_DATE)


def _recommend(run_cli, root, *overrides: str):
    args = ["--lakehouse", str(root), "--run-date", RUN_DATE.isoformat(), "--set", "recommend.top_n=5"]
    for o in overrides:
        args += ["--set", o]
    status, summary = run_cli(recommend.main, *args)
    assert status == 0, summary
    return summary


def test_seen_window_and_similar_items(spark, run_cli, golden_copy) -> None:
    root = golden_copy
    _recommend(run_cli, root, "recommend.exclude_seen_window_days=3", "recommend.similar_items_top_n=4")
    out = spark.read.format("delta").load(f"{root}/{STAGED_RECOMMENDATIONS}")
    events = spark.read.format("delta").load(f"{root}/{EVENTS}")
    cutoff = dt.datetime.combine(RUN_DATE - dt.timedelta(days=3), dt.time(), tzinfo=dt.timezone.utc)
    recent = events.where(F.col("event_time") >= F.lit(cutoff)).select(USER_ID, ITEM_ID)
    older = events.where(F.col("event_time") < F.lit(cutoff)).select(USER_ID, ITEM_ID).subtract(recent)
    assert recent.count() and older.count()
    assert out.join(recent, [USER_ID, ITEM_ID]).count() == 0
    assert out.join(older, [USER_ID, ITEM_ID]).count() > 0  # older history may come back

    similar = spark.read.format("delta").load(f"{root}/{STAGED_SIMILAR_ITEMS}")
    assert similar.columns == [ITEM_ID, RANK, "similar_item_id", SCORE, "model_version", "run_date"]
    with_factors = spark.read.format("delta").load(f"{root}/{INTERACTIONS}").select(ITEM_IDX).distinct().count()
    assert similar.count() == 4 * with_factors
    assert similar.where(F.col(ITEM_ID) == F.col("similar_item_id")).count() == 0
    assert similar.where((F.col(SCORE) > 1.0001) | (F.col(SCORE) < -1.0001)).count() == 0
