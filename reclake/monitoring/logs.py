"""Log lines people and log shippers can follow: every line names its run and stage.

:class:`RunLogContext` is a handler filter that stamps each record with the run id
and the stage running now (set by the runtime, read by every thread, the
progress reporter's included). ``--log-format text`` writes them as
``run=<id> stage=<name>`` in each line; ``--log-format json`` writes one JSON
object per line: ts, level, run_id, stage, logger, message, and the record's extras.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reclake.config import Config
from reclake.context import RunContext
from reclake.uris import local_folder

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s run=%(run_id)s stage=%(stage)s %(name)s: %(message)s"
NO_STAGE = "-"  # before the first stage and after the last
# Attributes every LogRecord has: anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "run_id", "stage"}


class RunLogContext(logging.Filter):
    """Stamps every record with the run id and the current stage (a plain attribute: threads see it too)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.stage = NO_STAGE

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        record.stage = self.stage
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers: the fixed keys first, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "run_id": getattr(record, "run_id", None),
            "stage": getattr(record, "stage", None),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``--log-format`` (``text`` or ``json``)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


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
