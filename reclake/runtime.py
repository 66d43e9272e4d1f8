"""What every job shares at run time: the run's identity, stage results, and ``main``.

A stage is a function ``(spark, config, ctx) -> StageResult`` that reads its
inputs from the lakehouse and writes its outputs there, so it runs the same
alone (``spark-submit jobs/train.py``), through the CLI (``reclake train``) or
inside ``reclake run``. :func:`run_job` is the one ``main`` behind all of them:
it parses the common options, loads the config, builds the session, times the
stages and prints the ``--json`` summary as the last line of stdout.

Quiet by default: a person sees one line per stage and where the output is;
Spark's, Great Expectations' and py4j's logs go to a log file (``--verbose``
shows them on the terminal instead). Every log line names the run and the stage
(``--log-format json``: one JSON object per line), and a long stage reports its
progress (reclake/monitoring/progress.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reclake.config import Config, RunSection, load_config, local_folder
from reclake.errors import ReclakeError
from reclake.io.lock import writer_lock
from reclake.monitoring.logs import LOG_FORMATS, RunLogContext, log_formatter
from reclake.monitoring.metrics import publish_metrics
from reclake.monitoring.progress import StageProgress, job_description

if TYPE_CHECKING:  # pyspark is imported only when a job really runs
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


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
    note: str = ""  # a few words for the person watching, e.g. the quality gate's verdict


StageFn = Callable[["SparkSession", Config, RunContext], StageResult]
# Called once the job has finished, succeeded or failed, with its final summary.
FinishFn = Callable[["SparkSession", Config, RunContext, dict[str, Any]], None]
# Told after each stage: its name, seconds and result (the one line a person sees per stage).
ProgressFn = Callable[[str, float, StageResult], None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    on_finish: FinishFn | None = None  # e.g. publish records the run's outcome in the runs table
    # Checks that need no Spark, run before anything is written (no log, no table): raise a ReclakeError to refuse.
    check: Callable[[Config, RunContext], None] | None = None


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
    overrides = list(args.overrides)
    if args.input:
        overrides.append(f"input.path={args.input}")
    if args.lakehouse:
        overrides.append(f"lakehouse.root={args.lakehouse}")
    if args.run_date:
        overrides.append(f"run.run_date={args.run_date}")
    return load_config(args.config, overrides)


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
    with the error, the ``failed_stage`` and what it had counted; any other
    exception is a bug and propagates. The finished job's Prometheus metrics
    are written (and pushed) and its HTML report rendered last; ``reports``
    names the files. ``progress`` hears of each finished stage; a JVM this
    starts logs to ``jvm_log``; ``watch`` names the running stage in the logs
    and reports its progress.
    """
    from reclake.io.lakehouse import commit_conflict  # pyspark is imported only when a job really runs
    from reclake.spark import build_spark_session

    ctx = ctx or RunContext.from_config(config.run)
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
    stage = None
    lock = ExitStack()  # the lakehouse's writer lock: held from the first stage until the run is recorded
    try:
        with stderr_to(jvm_log):  # a JVM started here writes its logs there
            spark = build_spark_session(config.spark, config.monitoring.event_log_dir)
        lock.enter_context(writer_lock(config.lakehouse.root, ctx.run_id, job, config.run.lock_wait_s))
        for stage in stages:
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
            summary.update(result.details)
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
    summary["error"] = f"{type(exc).__name__}: {exc}"
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


def log_file(config: Config, ctx: RunContext) -> Path:
    """Where a quiet run's logs go: ``<lakehouse>/_logs/<run_id>.log``, or the temp folder for a remote lakehouse."""
    root = local_folder(config.lakehouse.root)
    folder = root / "_logs" if root is not None else Path(tempfile.gettempdir()) / "reclake-logs"
    return folder / f"{ctx.run_id}.log"


def jvm_log_file(log_path: Path | None, log_format: str) -> Path | None:
    """Where the JVM's own lines go: the log file, or beside it when that file must hold JSON only."""
    if log_path is None or log_format == "text":
        return log_path
    return log_path.with_suffix(".jvm.log")


@contextmanager
def job_logging(path: Path | None, context: RunLogContext, log_format: str = "text") -> Iterator[None]:
    """Logs of this process and of the Spark JVM it starts go to ``path`` (None: to the terminal).

    The JVM inherits file descriptor 2 when it starts, so stderr is pointed at
    the log file while the session is built and restored right after: Ivy's
    resolution report and log4j's console lines land in the file, this
    process's own messages stay on the terminal. Python warnings are logged too.
    Every line carries the run id and the stage (``context``), in ``log_format``.
    """
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
    handler.setFormatter(log_formatter(log_format))
    handler.addFilter(context)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()


@contextmanager
def stderr_to(path: Path | None) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` for the block (a child process started in it keeps it)."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


# Counts named like "rule.x" or "x.files_before" are details for --json, not for the one line per stage.
_HEADLINE_COUNTS = 4


def stage_line(prog: str, name: str, seconds: float, result: StageResult) -> str:
    """``reclake run: validate   12.3 s  raw_rows 31,000  valid_rows 30,990 ...``: what a stage did."""
    counts = [(k, v) for k, v in result.counts.items() if "." not in k][:_HEADLINE_COUNTS]
    figures = "  ".join(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}" for key, value in counts)
    note = f"  ({result.note})" if result.note else ""
    return f"{prog}: {name:<10} {seconds:7.1f} s  {figures}{note}".rstrip()


def closing_lines(prog: str, summary: dict[str, Any], config: Config, log_path: Path | None) -> list[str]:
    """Where the output is and how to look at it, or what failed; and where the logs are."""
    lines = []
    if summary["status"] == "succeeded":
        lines.append(
            f"{prog}: succeeded in {summary['timings_s']['total']:.1f} s; tables under {config.lakehouse.root}"
        )
        user = summary.get("example_user_id")
        if user is not None and "recommendations" in summary.get("tables", {}):
            lines.append(f"  look up one user: reclake lookup {user} --lakehouse {config.lakehouse.root}")
        if "report" in summary.get("tables", {}):
            lines.append(f"  evaluation report: {summary['tables']['report']}")
    else:
        lines.append(f"{prog}: error: {summary['error']}")
    if "html" in summary.get("reports", {}):
        lines.append(f"  run report: {summary['reports']['html']}")
    if log_path is not None:
        lines.append(f"  logs: {log_path}")
    return lines


def run_job(prog: str, description: str, stages: Sequence[Stage], argv: Sequence[str] | None = None) -> int:
    """Parse options, run ``stages``, report; exit status 0, or 2 with a one-line error."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_common_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        ctx = RunContext.from_config(config.run)
        for stage in stages:
            if stage.check is not None:
                stage.check(config, ctx)
    except ReclakeError as exc:  # the config is invalid, or a check refused it: nothing written yet
        print(f"{prog}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"job": prog, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 2
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
    return 0 if summary["status"] == "succeeded" else 2
