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
