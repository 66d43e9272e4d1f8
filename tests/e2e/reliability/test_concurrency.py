"""Concurrent writers: the writer lock serialises jobs on one lakehouse; Delta refuses a losing commit.

Real `reclake` processes on a copy of the golden lakehouse: a publish started
while a run for the same date holds the lock is refused with one line (exit
status 2); two publishes for different dates started together both finish, one
after the other (run.lock_wait_s). Either way the table holds one complete copy
per date and `runs` records both. Without the lock (two writers in one Spark
application) Delta's optimistic concurrency lets one commit win and refuses the
other, which reclake reports as a one-line ConcurrentWriteError.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

from deltalake import DeltaTable
from pyspark.sql import functions as F

from reclake.config import PublishSection
from reclake.context import RunContext
from reclake.errors import ConcurrentWriteError
from reclake.io.lakehouse import commit_conflict, write_delta
from reclake.io.layout import publish_table, run_stats, staged_run
from reclake.io.lock import LOCK_FILE
from reclake.io.tables import RECOMMENDATIONS
from tests.helpers import GOLDEN_RUN_DATE, outcome, published_lists, recorded_runs, start_job

DAY = dt.date.fromisoformat(GOLDEN_RUN_DATE)
NEXT_DAY = DAY + dt.timedelta(days=1)


def lists_by_date(root) -> dict[str, Counter]:
    rows = (
        DeltaTable(str(root / "recommendations")).to_pyarrow_table(columns=["run_date", "user_id", "rank"]).to_pylist()
    )
    return {
        str(day): Counter((r["user_id"], r["rank"]) for r in rows if r["run_date"] == day)
        for day in {r["run_date"] for r in rows}
    }


def test_a_publish_during_a_run_for_the_same_date_is_refused_in_one_line_and_both_are_recorded(golden, golden_copy):
    root = golden_copy
    expected = published_lists(golden.root, "recommendations")
    holder = start_job("run", root, "--set", "run.run_id=same-date-run")
    lock = root / LOCK_FILE
    while not (lock.exists() and "same-date-run" in lock.read_text()):
        assert holder.poll() is None, holder.communicate()[1][-2000:]
        time.sleep(0.2)
    status, summary, err = outcome(start_job("publish", root, "--set", "run.run_id=same-date-publish"))
    assert status == 2 and summary["error"].startswith("LakehouseBusy: reclake run (run same-date-run, pid ")
    assert summary["error_code"] == "RECLAKE-LAKEHOUSE-BUSY"
    assert [line for line in err.splitlines() if "error" in line] == [
        f"reclake publish: error [RECLAKE-LAKEHOUSE-BUSY] {summary['error']}"
    ]
    assert "Traceback" not in err
    status, summary, _ = outcome(holder)
    assert status == 0, summary.get("error")
    assert published_lists(root, "recommendations") == expected  # one complete copy of the date
    recorded = recorded_runs(root)
    assert recorded["same-date-run"]["status"] == "succeeded"
    assert recorded["same-date-publish"]["status"] == "failed"
    assert "LakehouseBusy" in recorded["same-date-publish"]["error"]


def test_publishes_for_two_dates_started_together_both_land_one_copy_each(spark, golden_copy):
    root = golden_copy
    for staged in ("staging/recommendations", "staging/similar_items"):  # the next day's run, staged
        uri = str(root / staged)
        day = spark.read.format("delta").load(uri).where(F.col("run_date") == F.lit(DAY))
        write_delta(day.withColumn("run_date", F.lit(NEXT_DAY)), uri, mode="append")
    wait = ("--set", "run.lock_wait_s=600")
    first = start_job("publish", root, *wait, "--set", "run.run_id=date-one")
    second = start_job("publish", root, *wait, "--set", "run.run_id=date-two", "--run-date", NEXT_DAY.isoformat())
    for proc in (first, second):
        status, summary, _ = outcome(proc)
        assert status == 0, summary.get("error")
    by_date = lists_by_date(root)
    assert set(by_date) == {DAY.isoformat(), NEXT_DAY.isoformat()}
    assert by_date[DAY.isoformat()] == by_date[NEXT_DAY.isoformat()]  # the same staged lists, once each
    assert max(by_date[DAY.isoformat()].values()) == 1  # no (user, rank) twice
    recorded = recorded_runs(root)
    assert recorded["date-one"]["status"] == recorded["date-two"]["status"] == "succeeded"


def race(staged, root: str, stats, run_ids: list[str]) -> list[Exception]:
    """Publish ``staged`` for DAY from one thread per run id, released together; return what they raised."""
    barrier, failures = threading.Barrier(len(run_ids)), []

    def publish(run_id: str) -> None:
        barrier.wait()
        try:
            ctx = RunContext(run_date=DAY, run_id=run_id)
            publish_table(staged, root, RECOMMENDATIONS, stats, ctx=ctx, settings=PublishSection())
        except Exception as exc:
            failures.append(exc)

    writers = [threading.Thread(target=publish, args=(run_id,)) for run_id in run_ids]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    return failures


def test_two_unlocked_writers_of_one_date_delta_refuses_one_and_the_table_stays_whole(spark, golden_copy):
    root = golden_copy
    staged = staged_run(spark, str(root), RECOMMENDATIONS, DAY).cache()
    stats = run_stats(staged, "user_id")
    expected = lists_by_date(root)
    conflicts: list[ConcurrentWriteError] = []
    for attempt in range(6):  # threads racing: most attempts overlap, each one may not
        failures = race(staged, str(root), stats, [f"unlocked-{attempt}-{n}" for n in range(2)])
        mapped = [commit_conflict(exc) for exc in failures]
        assert None not in mapped, failures  # nothing but a refused commit
        conflicts.extend(error for error in mapped if error is not None)
        assert lists_by_date(root) == expected  # whoever won, one complete copy
        if conflicts:
            break
    assert conflicts, "the two writers never overlapped in 6 attempts"
    message = str(conflicts[0])
    print(f"\nunlocked writers: Delta refused {len(conflicts)} commit(s) after {attempt + 1} attempt(s): {message}")
    assert "\n" not in message and "not made" in message and "DELTA_CONCURRENT" in message
