"""What every job shares at run time: the run's identity, stage results, and ``main``.

A stage is a function ``(spark, config, ctx) -> StageResult`` that reads its
inputs from the lakehouse and writes its outputs there, so it runs the same
alone (``spark-submit jobs/train.py``), through the CLI (``reclake train``) or
inside ``reclake run``. :func:`run_job` is the one ``main`` behind all of them:
it parses the common options, loads the config, builds the session, times the
stages and prints the ``--json`` summary as the last line of stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from reclake.config import Config, RunSection, load_config
from reclake.errors import ReclakeError

log = logging.getLogger("reclake")


@dataclass(frozen=True)
class RunContext:
    """Which run this is: the date it is for (idempotency key) and this attempt's id."""

    run_date: dt.date
    run_id: str
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def from_config(cls, run: RunSection) -> RunContext:
        run_date = run.run_date or dt.datetime.now(dt.timezone.utc).date()
        run_id = run.run_id or f"{run_date:%Y%m%d}-{dt.datetime.now(dt.timezone.utc):%H%M%S}-{uuid.uuid4().hex[:6]}"
        return cls(run_date=run_date, run_id=run_id)


@dataclass
class StageResult:
    """What a stage reports: row counts, metrics, the tables it wrote (name -> URI)."""

    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


StageFn = Callable[[SparkSession, Config, RunContext], StageResult]
# Called once the job has finished, succeeded or failed, with its final summary.
FinishFn = Callable[[SparkSession, Config, RunContext, dict[str, Any]], None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    on_finish: FinishFn | None = None  # e.g. publish records the run's outcome in the runs table


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options every job takes; the shortcuts are plain config overrides."""
    parser.add_argument("--config", metavar="FILE", help="YAML config (default: built-in defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        help="override one config key for this run (repeatable), e.g. --set als.rank=64",
    )
    parser.add_argument("--input", metavar="PATH", help="raw events (shortcut for --set input.path=PATH)")
    parser.add_argument("--lakehouse", metavar="DIR", help="root of every table (shortcut for --set lakehouse.root=DIR)")
    parser.add_argument("--run-date", metavar="YYYY-MM-DD", help="the date this run is for (default: today, UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary as the last line of stdout")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = list(args.overrides)
    if args.input:
        overrides.append(f"input.path={args.input}")
    if args.lakehouse:
        overrides.append(f"lakehouse.root={args.lakehouse}")
    if args.run_date:
        overrides.append(f"run.run_date={args.run_date}")
    return load_config(args.config, overrides)


def execute(stages: Sequence[Stage], config: Config, job: str) -> dict[str, Any]:
    """Run ``stages`` in order in one Spark application; return the JSON summary.

    A :class:`ReclakeError` stops the run and is reported as ``status: failed``
    with the error; any other exception is a bug and propagates.
    """
    from reclake.spark import (
        build_spark_session,  # pyspark is imported only when a job really runs
    )

    ctx = RunContext.from_config(config.run)
    summary: dict[str, Any] = {
        "job": job,
        "status": "running",
        "run_id": ctx.run_id,
        "run_date": ctx.run_date.isoformat(),
        "counts": {},
        "metrics": {},
        "timings_s": {},
        "tables": {},
    }
    started = time.perf_counter()
    spark = None
    try:
        spark = build_spark_session(config.spark)
        for stage in stages:
            log.info("stage %s: starting (run %s)", stage.name, ctx.run_id)
            t0 = time.perf_counter()
            result = stage.run(spark, config, ctx)
            summary["timings_s"][stage.name] = round(time.perf_counter() - t0, 3)
            summary["counts"][stage.name] = result.counts
            if result.metrics:
                summary["metrics"][stage.name] = result.metrics
            summary["tables"].update(result.tables)
            summary.update(result.details)
            log.info("stage %s: done in %.1fs %s", stage.name, summary["timings_s"][stage.name], result.counts)
        summary["status"] = "succeeded"
    except ReclakeError as exc:
        # A data or config problem, not a bug: report it in the summary, no traceback.
        summary["status"] = "failed"
        summary["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        summary["timings_s"]["total"] = round(time.perf_counter() - started, 3)
    if spark is not None:
        _finish(stages, spark, config, ctx, summary)
    return summary


def _finish(stages: Sequence[Stage], spark: SparkSession, config: Config, ctx: RunContext, summary: dict) -> None:
    """Run the stages' finish hooks; a hook failing after a failed run must not hide the first error."""
    for stage in stages:
        if stage.on_finish is None:
            continue
        try:
            stage.on_finish(spark, config, ctx, summary)
        except Exception:
            if summary["status"] == "succeeded":
                raise
            log.exception("stage %s: could not record the failed run", stage.name)


def run_job(prog: str, description: str, stages: Sequence[Stage], argv: Sequence[str] | None = None) -> int:
    """Parse options, run ``stages``, report; exit status 0, or 2 with a one-line error."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_common_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        summary = execute(stages, config_from_args(args), prog)
    except ReclakeError as exc:  # the config itself is invalid
        summary = {"job": prog, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    status = 0
    if summary["status"] != "succeeded":
        print(f"{prog}: error: {summary['error']}", file=sys.stderr)
        status = 2
    if args.json:
        print(json.dumps(summary, default=str), flush=True)
    return status
