"""The stage contract: which run this is, what a stage is, and what it reports.

A leaf: it imports nothing of reclake's at run time (the config only for type
hints), so the lakehouse helpers, the stages and the runner can all share it
without an import running back up.

A stage is a function ``(spark, config, ctx) -> StageResult`` that reads its
inputs from the lakehouse and writes its outputs there, so it runs the same
alone (``spark-submit jobs/train.py``), through the CLI (``reclake train``) or
inside ``reclake run`` (reclake/runner.py runs it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # type hints only: pyspark and the config are not imported at run time
    from pyspark.sql import SparkSession

    from reclake.config import Config


@dataclass(frozen=True)
class RunContext:
    """Which run this is: the date it is for (idempotency key) and this attempt's id."""

    run_date: dt.date
    run_id: str
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def new(cls, run_date: dt.date | None = None, run_id: str | None = None) -> RunContext:
        """A context for ``run_date`` (default: today, UTC) and ``run_id`` (default: derived from date and time)."""
        now = dt.datetime.now(dt.timezone.utc)
        run_date = run_date or now.date()
        return cls(run_date=run_date, run_id=run_id or f"{run_date:%Y%m%d}-{now:%H%M%S}-{uuid.uuid4().hex[:6]}")


@dataclass
class StageResult:
    """What a stage reports: row counts, metrics, the tables it wrote (name -> URI).

    A stage with more to say returns a subclass with typed fields (``TrainResult``
    has ``model_version``); each such field is a top-level key of the run's
    ``--json`` summary (:meth:`summary_fields`), except those listed in ``UNSUMMARISED``.
    """

    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    note: str = ""  # a few words for the person watching, e.g. the quality gate's verdict

    UNSUMMARISED: ClassVar[frozenset[str]] = frozenset({"counts", "metrics", "tables", "note"})

    def summary_fields(self) -> dict[str, Any]:
        """The fields a subclass adds, as summary keys (name -> value)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.UNSUMMARISED}


StageFn = Callable[["SparkSession", "Config", RunContext], StageResult]
# Called once the job has finished, succeeded or failed, with its final summary.
FinishFn = Callable[["SparkSession", "Config", RunContext, dict[str, Any]], None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    on_finish: FinishFn | None = None  # e.g. publish records the run's outcome in the runs table
    # Checks that need no Spark, run before anything is written (no log, no table): raise a ReclakeError to refuse.
    check: Callable[[Config, RunContext], None] | None = None
    # Slow-to-import modules the stage will need, imported in the background while the JVM starts.
    imports: tuple[str, ...] = ()
    # Spark connectors (Maven coordinates) the stage needs beyond Delta's, e.g. Kafka's source for ingest.
    packages: tuple[str, ...] = ()
    # Whether the stage writes lakehouse tables, and so holds the writer lock (reclake/io/lock.py) while it runs.
    writes_tables: bool = True
