"""How far a long stage is: Spark's status tracker read every few seconds by a daemon thread.

While a stage runs, every ``interval_s`` seconds (``monitoring.progress_interval_seconds``)
the reporter logs one line: the stage, the seconds so far, the active Spark
stages' completed tasks out of their total (the fraction done) and the rows the
stage's Spark jobs have read so far. The line always goes
to the log; when the console is a terminal it is also written there as one live
line that rewrites itself (``\\r`` and erase-line), cleared when the stage ends so
the console keeps one line per finished stage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from reclake.monitoring.logs import NO_STAGE, RunLogContext

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
CLEAR_LINE = "\r\x1b[K"  # carriage return, then erase to the end of the line


def job_description(stage: str, run_id: str) -> str:
    """What every Spark job of a reclake stage is described as (the UI, the event log; rows are counted by it)."""
    return f"reclake {stage} (run {run_id})"


@dataclass(frozen=True)
class Snapshot:
    """The active Spark stages of the application at one moment, and the rows the reclake stage has read so far."""

    spark_stages: tuple[int, ...]
    tasks_total: int
    tasks_done: int
    rows_read: int = 0

    @property
    def fraction(self) -> float | None:
        return self.tasks_done / self.tasks_total if self.tasks_total else None


def snapshot(spark: SparkSession, stage: str, run_id: str) -> Snapshot:
    """Completed and total tasks of the active Spark stages (``statusTracker``; stages already gone are skipped)."""
    tracker = spark.sparkContext.statusTracker()
    infos = [info for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None]
    return Snapshot(
        tuple(sorted(info.stageId for info in infos)),
        sum(info.numTasks for info in infos),
        sum(info.numCompletedTasks for info in infos),
        rows_read(spark, job_description(stage, run_id)),
    )


def rows_read(spark: SparkSession, description: str) -> int:
    """Rows the finished tasks of the jobs described so have read, from files or shuffles.

    PySpark's status tracker has no record counts; Spark's status store (what the UI
    shows) has them per Spark stage, updated as each task ends.
    """
    gateway = spark.sparkContext._gateway
    assert gateway is not None
    store = spark.sparkContext._jsc.sc().statusStore()
    stages = store.stageList(None, False, False, gateway.new_array(gateway.jvm.double, 0), None)
    total = 0
    for i in range(stages.size()):
        data = stages.apply(i)
        if data.description().isDefined() and data.description().get() == description:
            total += data.inputRecords() + data.shuffleReadRecords()
    return int(total)


def progress_line(stage: str, elapsed_s: float, now: Snapshot) -> str:
    """``train: 95 s, 40% of the running Spark tasks done (8/20, Spark stages 31, 32), 1,234,567 rows read so far``."""
    if now.fraction is None:
        return f"{stage}: {elapsed_s:.0f} s, no Spark tasks running (driver work)"
    ids = ", ".join(map(str, now.spark_stages))
    return (
        f"{stage}: {elapsed_s:.0f} s, {now.fraction:.0%} of the running Spark tasks done "
        f"({now.tasks_done}/{now.tasks_total}, Spark stage{'s' if len(now.spark_stages) > 1 else ''} {ids}), "
        f"{now.rows_read:,} rows read so far"
    )


class StageProgress:
    """Names the running stage on every log line and reports its progress while it runs.

    ``console``: the terminal for the live line, or None (not a terminal, or ``--verbose``,
    where the log lines are on the console already). ``interval_s`` 0: no progress reports.
    """

    def __init__(self, context: RunLogContext, interval_s: float, console: TextIO | None) -> None:
        self.context = context
        self.interval_s = interval_s
        self.console = console

    @contextmanager
    def stage(self, name: str, spark: SparkSession) -> Iterator[None]:
        self.context.stage = name
        stop = threading.Event()
        reporter = threading.Thread(target=self._report, args=(name, spark, stop), name="reclake-progress", daemon=True)
        if self.interval_s > 0:
            reporter.start()
        try:
            yield
        finally:
            stop.set()
            if reporter.is_alive():
                reporter.join()
            self.context.stage = NO_STAGE

    def _report(self, name: str, spark: SparkSession, stop: threading.Event) -> None:
        started = time.monotonic()
        shown = False
        while not stop.wait(self.interval_s):
            try:
                now = snapshot(spark, name, self.context.run_id)
            except Exception as exc:  # the session may be stopping; progress must never fail a run
                log.debug("no progress for %s: %s", name, exc)
                continue
            elapsed = time.monotonic() - started
            line = progress_line(name, elapsed, now)
            log.info(
                line,
                extra={
                    "fraction": now.fraction,
                    "tasks_done": now.tasks_done,
                    "tasks_total": now.tasks_total,
                    "rows_read": now.rows_read,
                    "spark_stages": list(now.spark_stages),
                    "elapsed_s": round(elapsed, 1),
                },
            )
            if self.console is not None and not stop.is_set():
                self.console.write(f"{CLEAR_LINE}{line}")
                self.console.flush()
                shown = True
        if shown and self.console is not None:
            self.console.write(CLEAR_LINE)
            self.console.flush()
