"""Two days of landing data through the whole pipeline, the second day run twice: real Spark and Delta.

Day 1 and day 2 land as `date=<day>` folders (`reclake generate` with a `{run_date}`
path); `reclake run` runs for day 1, for day 2, and again for day 2. Expected
figures come from reading the landing CSV files with Python's csv module.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from deltalake import DeltaTable

from reclake import pipeline
from reclake.stages import generate
from tests.helpers import REPO

DAY_1, DAY_2 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
TINY = [
    "generate.users=150",
    "generate.items=40",
    "generate.clusters=3",
    "generate.mean_items_per_user=6",
    "generate.days=2",
    "generate.partitions=2",
    "als.rank=3",
    "als.max_iter=3",
    "recommend.top_n=3",
    "evaluate.gate=false",  # not what this test is about: a model fit on half a tiny day may lose to popularity
]
Row = tuple[str, str, str, str, str]


def landed(landing: Path, day: dt.date) -> tuple[int, set[Row]]:
    """(raw rows, distinct rows) of one day's landing folder, read with the csv module."""
    rows: list[Row] = []
    for path in sorted((landing / f"date={day}").glob("*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows += [(r["user_id"], r["item_id"], r["event_type"], r["value"], r["timestamp"]) for r in reader]
    return len(rows), set(rows)


def as_rows(events) -> set[Row]:
    """``events`` rows as the landing CSV spells them (value blank when null, ISO-8601 UTC seconds)."""
    return {
        (
            r.user_id,
            r.item_id,
            r.event_type,
            "" if r.value != r.value else f"{r.value:g}",
            f"{r.event_time:%Y-%m-%dT%H:%M:%SZ}",
        )
        for r in events.itertuples()
    }


def normalised(rows: set[Row]) -> set[Row]:
    return {(u, i, t, "" if v == "" else f"{float(v):g}", ts) for u, i, t, v, ts in rows}


def test_two_days_run_each_then_rerun_day_two(run_cli, tmp_path):
    lakehouse, landing = tmp_path / "lakehouse", tmp_path / "landing"
    sets = [a for s in [f"input.path={landing}/date={{run_date}}", *TINY] for a in ("--set", s)]
    args = ["--config", str(REPO / "conf" / "local.yaml"), "--lakehouse", str(lakehouse), *sets]
    status, summary = run_cli(generate.main, *args, "--run-date", str(DAY_2))
    assert status == 0 and summary["counts"]["generate"]["landing_days"] == 2
    raw_1, rows_1 = landed(landing, DAY_1)
    raw_2, rows_2 = landed(landing, DAY_2)
    users_1, users_2 = {r[0] for r in rows_1}, {r[0] for r in rows_2}
    assert raw_1 and raw_2 and users_2 - users_1, "the sample has users who first appear on day 2"

    summaries = {}
    for name, day in (("day 1", DAY_1), ("day 2", DAY_2), ("day 2 again", DAY_2)):
        status, summaries[name] = run_cli(pipeline.main, *args, "--run-date", str(day))
        assert status == 0, summaries[name].get("error")
    for name, raw in (("day 1", raw_1), ("day 2", raw_2), ("day 2 again", raw_2)):
        assert summaries[name]["counts"]["validate"]["raw_rows"] == raw, name  # that day's batch only

    # Day 1's and day 2's valid rows, each exactly once, under their own date.
    events = DeltaTable(str(lakehouse / "events")).to_pandas()
    for day, rows in ((DAY_1, rows_1), (DAY_2, rows_2)):
        of_day = events[events["ingest_date"] == day]
        assert len(of_day) == len(rows) and as_rows(of_day) == normalised(rows), day
    assert len(events) == len(rows_1) + len(rows_2)

    # interactions: one pair per distinct (user, item) over both days.
    pairs = DeltaTable(str(lakehouse / "interactions")).to_pandas()
    assert len(pairs) == len({(u, i) for u, i, *_ in rows_1 | rows_2})
    assert summaries["day 2 again"]["counts"]["prepare"]["users"] == len(users_1 | users_2)

    # Published: day 2's recommendations cover every user of both days, those new on day 2 from the model.
    recs = DeltaTable(str(lakehouse / "recommendations")).to_pandas()
    day_2 = recs[recs["run_date"] == DAY_2]
    assert set(day_2["user_id"]) == users_1 | users_2
    assert set(day_2[day_2["user_id"].isin(users_2 - users_1)]["source"]) == {"als"}
    assert set(recs[recs["run_date"] == DAY_1]["user_id"]) == users_1
    assert set(day_2["model_version"]) == {summaries["day 2 again"]["model_version"]}  # the re-run replaced day 2
