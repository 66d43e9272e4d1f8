"""Crash at any point: a job killed with SIGKILL (its whole process group) leaves every published table complete.

Real `reclake` processes on a copy of the golden lakehouse, killed at the named
fault-injection points (RECLAKE_FAULT, reclake/faults.py) and at seeded random
moments of a whole run. After each kill delta-spark, deltalake and the lookup
client read exactly the golden run's lists; the next run for the date completes
with the same output; `reclake maintain` removes the files the killed writers left.

The random moments are stratified: the run's duration is cut into RECLAKE_RANDOM_KILLS
equal slices and one seeded moment is drawn in each, so even a few kills land early,
midway and late in the run. CI (`make test-e2e`) kills at 2 random moments after the named
points; the soak (`make test-soak`) at 20. One recovery run follows them all.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess

from deltalake import DeltaTable

from tests.helpers import (
    PUBLISHED,
    SUMMARY,
    assert_every_reader_sees,
    check_what_a_kill_left,
    finished,
    group_alive,
    killed_by_itself,
    last_publish,
    orphan_files,
    published_lists,
    start_job,
)

# (job, point, the published tables the kill leaves at a new complete version)
NAMED_POINTS = [
    ("validate", "validate:after_quarantine", ()),
    ("prepare", "prepare:after_ids", ()),
    ("train", "train:mid_model_save", ()),
    ("recommend", "recommend:after_staged", ()),
    ("publish", "publish:after_files", ()),
    ("publish", "publish:between_tables", ("similar_items",)),  # Delta has no transaction across two tables...
    ("publish", "publish:before_served", ("similar_items", "recommendations")),  # ...readers follow served_versions
]
RANDOM_KILLS = int(os.environ.get("RECLAKE_RANDOM_KILLS", "2"))  # `make test-soak`: 20
SEED = 17


def kill_at_random_moments(root, spark, expected, run_seconds: float) -> int:
    """Kill a whole run (validate ... publish) at seeded random moments, one in each of RANDOM_KILLS equal
    slices of ``run_seconds``. Every reader still sees the golden lists after each."""
    draw = random.Random(SEED)
    moments = [(i + draw.random()) * run_seconds / RANDOM_KILLS for i in range(RANDOM_KILLS)]
    kills = 0
    for i, moment in enumerate(moments):
        proc = start_job("run", root, "--set", f"run.run_id=random-kill-{i}")
        try:
            assert proc.wait(timeout=moment) == 0, proc.communicate()[1][-2000:]
            # finished before its moment came: a complete run, checked like the others
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it may just have finished
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        proc.communicate()
        assert not group_alive(proc.pid)
        assert_every_reader_sees(root, spark, expected)
    return kills


def test_kills_at_the_named_points_then_at_random_moments_leave_every_reader_a_complete_run(
    golden, golden_copy, spark, record_property
):
    root = golden_copy
    expected = {table: published_lists(golden.root, table) for table in PUBLISHED}
    versions = assert_every_reader_sees(root, spark, expected)
    kills = 0

    for job, point, advanced in NAMED_POINTS:
        run_id = f"killed-{point.replace(':', '-')}"
        killed_by_itself(start_job(job, root, "--set", f"run.run_id={run_id}", fault=point))
        kills += 1
        now = assert_every_reader_sees(root, spark, expected)
        check_what_a_kill_left(root, run_id, advanced, versions, now)
        versions = now
        if point == "publish:after_files":  # its data files were written, its commit never was
            assert orphan_files(root, "similar_items"), "the kill came after the commit, not before it"

    # Seeded random moments over a whole run: the golden's second run is the same work in a warm JVM, so the
    # moments fall inside a cold run (which adds the JVM start); a run that finishes first is checked likewise.
    run_seconds = golden.second["timings_s"]["total"]
    if RANDOM_KILLS:
        kills += kill_at_random_moments(root, spark, expected, run_seconds)

    summary = finished(start_job("run", root, "--set", "run.run_id=recovered"))
    assert summary["status"] == "succeeded"
    served = assert_every_reader_sees(root, spark, expected)
    assert all(committed == serving for committed, serving in served.values()), served  # readers moved at once
    assert last_publish(root, "recommendations")["run_id"] == "recovered"
    runs = {row["run_id"]: row["status"] for row in DeltaTable(str(root / "runs")).to_pyarrow_table().to_pylist()}
    assert runs["recovered"] == "succeeded"

    # What the killed writers left is never read (above) and goes with the next maintenance past retention.
    left = {table: orphan_files(root, table) for table in PUBLISHED}
    assert left["similar_items"]
    proc = start_job("maintain", root, "--set", "publish.vacuum_retention_hours=0")
    finished(proc)
    assert not any(orphan_files(root, table) for table in PUBLISHED)
    assert_every_reader_sees(root, spark, expected)
    record_property(
        SUMMARY,
        f"{len(NAMED_POINTS)} named points + {RANDOM_KILLS} random moments over {run_seconds:.0f} s; "
        f"{kills} kills, 1 recovery run; orphan files removed by maintain: {sum(map(len, left.values()))}; rows lost 0",
    )
