"""The one ``main`` behind every job: options, config, Spark session, stages in order, the summary.

:func:`run_job` parses the common options, loads the config, builds the session,
runs the stages under the lakehouse's writer lock, prints one line per stage and
the ``--json`` summary as the last line of stdout; :func:`execute` is the part
without a command line (benchmarks and ``reclake run`` share it). The stage
contract itself (``Stage``, ``StageResult``, ``RunContext``) is in
reclake/context.py, the lines a person sees in reclake/console.py, the log
plumbing in reclake/monitoring/logs.py.

Quiet by default: a person sees one line per stage and where the output is;
Spark's, Great Expectations' and py4j's logs go to a log file (``--verbose``
shows them on the terminal instead). Every log line names the run and the stage
(``--log-format json``: one JSON object per line), and a long stage reports its
progress (reclake/monitoring/progress.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reclake.config import Config, load_config
from reclake.console import closing_lines, failure_line, stage_line
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import CONDITIONS, ReclakeError
from reclake.io.lock import writer_lock
from reclake.monitoring.logs import LOG_FORMATS, RunLogContext, job_logging, jvm_log_file, log_file, stderr_to
from reclake.monitoring.metrics import publish_metrics
from reclake.monitoring.progress import StageProgress, job_description
from reclake.objectstore import storage_packages

if TYPE_CHECKING:  # pyspark is imported only when a job really runs
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Told after each stage: its name, seconds and result (the one line a person sees per stage).
ProgressFn = Callable[[str, float, StageResult], None]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options every job takes; ``--input``, ``--lakehouse`` and ``--run-date`` are shortcuts for config keys."""
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
    parser.add_argument(
        "--lakehouse", metavar="DIR", help="root of every table (shortcut for --set lakehouse.root=DIR)"
    )
    parser.add_argument("--run-date", metavar="YYYY-MM-DD", help="the date this run is for (default: today, UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary as the last line of stdout")
    parser.add_argument("--verbose", action="store_true", help="Spark and Great Expectations logs on the terminal")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="log lines as text, or one JSON object per line for log shippers (default: text)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file, then ``--set``, then the shortcuts, which are set as given: a path is a path, never YAML."""
    shortcuts = {"input.path": args.input, "lakehouse.root": args.lakehouse, "run.run_date": args.run_date}
    return load_config(args.config, args.overrides, values={k: v for k, v in shortcuts.items() if v is not None})


def import_in_background(modules: Sequence[str]) -> threading.Thread:
    """Import ``modules`` on a thread, so that their import overlaps the JVM's start.

    A module that fails to import is left alone: the stage's own import raises the error where it belongs.
    """

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:
                log.debug("background import of %s failed", name, exc_info=True)

    thread = threading.Thread(target=load, name="reclake-imports", daemon=True)
    thread.start()
    return thread


def execute(
    stages: Sequence[Stage],
    config: Config,
    job: str,
    ctx: RunContext | None = None,
    progress: ProgressFn | None = None,
    jvm_log: Path | None = None,
    watch: StageProgress | None = None,
) -> dict[str, Any]:
    """Run ``stages`` in order in one Spark application; return the JSON summary.

    A :class:`ReclakeError` stops the run and is reported as ``status: failed``
    with the error, its ``error_code``, the ``failed_stage`` and what it had counted; any other
    exception is a bug and propagates. The finished job's Prometheus metrics
    are written (and pushed) and its HTML report rendered last; ``reports``
    names the files. ``progress`` hears of each finished stage; a JVM this
    starts logs to ``jvm_log``; ``watch`` names the running stage in the logs
    and reports its progress.
    """
    from reclake.io.lakehouse import commit_conflict  # pyspark is imported only when a job really runs
    from reclake.spark import build_spark_session

    ctx = ctx or RunContext.new(config.run.run_date, config.run.run_id)
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
    report = ("reclake.monitoring.run_report",) if config.monitoring.html_report else ()  # matplotlib
    imports = import_in_background([*dict.fromkeys(m for s in stages for m in s.imports), *report])
    spark = None
    stage = None
    lock = ExitStack()  # the lakehouse's writer lock: held from the first stage until the run is recorded
    try:
        with stderr_to(jvm_log):  # a JVM started here writes its logs there
            packages = [package for s in stages for package in s.packages]
            packages += storage_packages(config.lakehouse.root, config.input.path, config.monitoring.event_log_dir)
            spark = build_spark_session(config.spark, config.monitoring.event_log_dir, packages)
        still_held = None  # raises if a stalled job's writer lease was taken over (reclake/io/lease.py)
        if any(stage.writes_tables for stage in stages):
            still_held = lock.enter_context(writer_lock(config.lakehouse, ctx.run_id, job, config.run.lock_wait_s))
        for stage in stages:
            if still_held is not None:
                still_held()
            with watch.stage(stage.name, spark) if watch is not None else nullcontext():
                log.info("stage %s: starting (run %s)", stage.name, ctx.run_id)
                # The UI, the event log and the status tracker then attribute every Spark job to its stage.
                spark.sparkContext.setJobGroup(stage.name, job_description(stage.name, ctx.run_id))
                t0 = time.perf_counter()
                result = stage.run(spark, config, ctx)
                summary["timings_s"][stage.name] = round(time.perf_counter() - t0, 3)
                log.info("stage %s: done in %.1fs %s", stage.name, summary["timings_s"][stage.name], result.counts)
            summary["counts"][stage.name] = result.counts
            if result.metrics:
                summary["metrics"][stage.name] = result.metrics
            summary["tables"].update(result.tables)
            summary.update(result.summary_fields())
            if progress is not None:
                progress(stage.name, summary["timings_s"][stage.name], result)
        summary["status"] = "succeeded"
    except ReclakeError as exc:
        # A data or config problem, not a bug: report it in the summary, no traceback.
        _failed(summary, stage, exc)
    except Exception as exc:
        conflict = commit_conflict(exc)  # another writer won a Delta commit: said in one line, not a bug
        if conflict is None:
            lock.close()
            raise
        _failed(summary, stage, conflict)
    finally:
        summary["timings_s"]["total"] = round(time.perf_counter() - started, 3)
        imports.join()
    with lock:
        if spark is not None:
            _finish(stages, spark, config, ctx, summary)
    summary["reports"] = publish_metrics(summary, config)
    if spark is not None and config.monitoring.html_report:
        html_report = _html_report(spark, config, summary)
        if html_report is not None:
            summary["reports"]["html"] = html_report
    return summary


def _failed(summary: dict[str, Any], stage: Stage | None, exc: ReclakeError) -> None:
    """Record a run stopped by ``exc`` in its summary: the error, the stage and what it had counted."""
    summary["status"] = "failed"
    summary["error"] = exc.one_line()
    summary["error_code"] = exc.code
    if stage is not None:
        summary["failed_stage"] = stage.name
        if exc.counts:
            summary["counts"][stage.name] = exc.counts
        if exc.metrics:
            summary["metrics"][stage.name] = exc.metrics


def _html_report(spark: SparkSession, config: Config, summary: dict[str, Any]) -> str | None:
    """Write the run's HTML report; a report that fails is logged, never fails the run it describes."""
    from reclake.monitoring.run_report import write_run_report  # matplotlib is imported only for a report

    try:
        return write_run_report(spark, config, summary)
    except Exception:
        log.exception("could not write the HTML run report")
        return None


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
    """Parse options, run ``stages``, report; exit status 0, or the error condition's (docs/errors.md) and one line."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_common_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        ctx = RunContext.new(config.run.run_date, config.run.run_id)
        for stage in stages:
            if stage.check is not None:
                stage.check(config, ctx)
    except ReclakeError as exc:  # the config is invalid, or a check refused it: nothing written yet
        print(failure_line(prog, exc), file=sys.stderr)
        if args.json:
            failed = {"job": prog, "status": "failed", "error": exc.one_line(), "error_code": exc.code}
            print(json.dumps(failed), flush=True)
        return exc.condition.exit_status
    log_path = None if args.verbose else log_file(config, ctx)
    context = RunLogContext(ctx.run_id)
    # The live progress line only on a terminal, and not among --verbose's log lines.
    console = sys.stderr if log_path is not None and sys.stderr.isatty() else None
    watch = StageProgress(context, config.monitoring.progress_interval_seconds, console)

    def progress(name: str, seconds: float, result: StageResult) -> None:
        print(stage_line(prog, name, seconds, result), file=sys.stderr, flush=True)

    with job_logging(log_path, context, args.log_format):
        summary = execute(
            stages, config, prog, ctx, progress, jvm_log=jvm_log_file(log_path, args.log_format), watch=watch
        )
    for line in closing_lines(prog, summary, config, log_path):
        print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(summary, default=str), flush=True)
    return 0 if summary["status"] == "succeeded" else CONDITIONS[summary["error_code"]].exit_status
