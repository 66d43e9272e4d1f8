"""How far a long stage is: Spark's status tracker read every few seconds by a daemon thread.

While a stage runs, every ``interval_s`` seconds (``monitoring.progress_interval_seconds``)
the reporter logs one line: the stage, the seconds so far, and the active Spark
stages' completed tasks out of their total (the fraction done). The line always goes
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


@dataclass(frozen=True)
class Snapshot:
    """The active Spark stages of the application at one moment."""

    spark_stages: tuple[int, ...]
    tasks_total: int
    tasks_done: int

    @property
    def fraction(self) -> float | None:
        return self.tasks_done / self.tasks_total if self.tasks_total else None


def snapshot(spark: SparkSession) -> Snapshot:
    """Completed and total tasks of the active Spark stages (``statusTracker``; stages already gone are skipped)."""
    tracker = spark.sparkContext.statusTracker()
    infos = [info for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None]
    return Snapshot(
        tuple(sorted(info.stageId for info in infos)),
        sum(info.numTasks for info in infos),
        sum(info.numCompletedTasks for info in infos),
    )


def progress_line(stage: str, elapsed_s: float, now: Snapshot) -> str:
    """``train: 95 s, 40% of the running Spark tasks done (8/20, Spark stages 31, 32)``."""
    if now.fraction is None:
        return f"{stage}: {elapsed_s:.0f} s, no Spark tasks running (driver work)"
    ids = ", ".join(map(str, now.spark_stages))
    return (
        f"{stage}: {elapsed_s:.0f} s, {now.fraction:.0%} of the running Spark tasks done "
        f"({now.tasks_done}/{now.tasks_total}, Spark stage{'s' if len(now.spark_stages) > 1 else ''} {ids})"
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
                now = snapshot(spark)
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
