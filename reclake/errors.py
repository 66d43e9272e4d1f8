"""The errors reclake raises on purpose: each names what is wrong and what to do, under a stable code.

Every class maps to one condition in ``reclake/error-conditions.json`` (package
data, like PySpark's ``error-conditions.json``): a stable code such as
``RECLAKE-INPUT-UNREADABLE``, a one-line description, what to do, and the exit
status. The command line prints ``<prog>: error [<code>] <Class>: <message>``
on one line (reclake/console.py), the ``--json`` summary carries ``error_code``,
and the job exits with the condition's status; anything that is not a
:class:`ReclakeError` is a bug and keeps its traceback. ``docs/errors.md`` is
generated from the data: ``python -m reclake.errors > docs/errors.md``.

A leaf: it imports nothing of reclake's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

REGENERATE_REFERENCE = ".venv/bin/python -m reclake.errors > docs/errors.md"
CODE = re.compile(r"RECLAKE(-[A-Z]+)+")


@dataclass(frozen=True)
class Condition:
    """One error condition: its stable code, the class raised for it, what it means, what to do, the exit status."""

    code: str
    error_class: str
    description: str
    action: str
    exit_status: int


class ReclakeError(Exception):
    """Base class: an error a person can act on.

    ``counts`` and ``metrics`` are what the failing stage had measured before it
    stopped (a rejected batch's quarantine counts, a rejected model's metrics):
    the run's summary and its Prometheus metrics keep them.
    """

    def __init__(
        self, message: str, *, counts: Mapping[str, int] | None = None, metrics: Mapping[str, float] | None = None
    ) -> None:
        super().__init__(message)
        self.counts = dict(counts or {})
        self.metrics = dict(metrics or {})

    @property
    def condition(self) -> Condition:
        """This error's condition: its class's, or the nearest base class's that has one."""
        return condition_of(type(self))

    @property
    def code(self) -> str:
        return self.condition.code

    def one_line(self) -> str:
        """``InputError: input not found: ...``: the class and the message, as the summary's ``error`` keeps them."""
        return f"{type(self).__name__}: {self}"


class ConfigError(ReclakeError):
    """The configuration (file or --set override) is invalid."""


class InputError(ReclakeError):
    """The raw input cannot be read as interaction events."""


class ValidationFailed(ReclakeError):
    """A batch-level data rule failed; nothing downstream may run."""


class MissingTableError(ReclakeError):
    """A stage needs a table an earlier stage has not written yet."""


class QualityGateFailed(ReclakeError):
    """A trained model is not good enough to publish (see `reclake evaluate`)."""


class ConcurrentWriteError(ReclakeError):
    """Another writer committed first to a Delta table this job was committing to."""


class LakehouseBusy(ReclakeError):
    """Another job holds the lakehouse's writer lock (reclake/io/lock.py)."""


class WriterLeaseLost(ReclakeError):
    """A stalled job's writer lease expired and another job took it over (reclake/io/lease.py)."""


class SinkError(ReclakeError):
    """The BigQuery sink could not be reached or refused the load (reclake/sinks/bigquery.py)."""


class NotFound(ReclakeError):
    """The id (or table version) asked for is not in the published table (reclake/serving/lookup.py)."""


class RequestRefused(ReclakeError):
    """A real-time lookup's recent items cannot be used as given (reclake/serving/realtime.py)."""


class RollbackRefused(ReclakeError):
    """Restoring a published table would undo a later run date's publish too (reclake/io/layout.py)."""


class FirstPublish(ReclakeError):
    """The publish to undo created the table: there is no version before it (reclake/io/layout.py)."""


def _load_conditions() -> dict[str, Condition]:
    """The conditions in error-conditions.json, by code, in the file's order."""
    text = resources.files("reclake").joinpath("error-conditions.json").read_text(encoding="utf-8")
    return {
        code: Condition(code, entry["class"], entry["description"], entry["action"], int(entry["exit_status"]))
        for code, entry in json.loads(text).items()
    }


CONDITIONS: Mapping[str, Condition] = _load_conditions()
_BY_CLASS = {condition.error_class: condition for condition in CONDITIONS.values()}


def condition_of(error_class: type[ReclakeError]) -> Condition:
    """The condition of ``error_class``: its own, or that of the nearest class of this module it derives from."""
    for cls in error_class.__mro__:
        if cls.__module__ == __name__ and cls.__name__ in _BY_CLASS:
            return _BY_CLASS[cls.__name__]
    raise LookupError(f"{error_class.__name__} is not a ReclakeError")  # unreachable for a ReclakeError


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference_markdown() -> str:
    """``docs/errors.md``: every condition, from error-conditions.json."""
    lines = [
        "# Errors",
        "",
        f"Generated from `reclake/error-conditions.json`; do not edit by hand. Regenerate: `{REGENERATE_REFERENCE}`",
        "",
        "A job that stops on a problem a person can act on (bad config, unreadable input, a rejected",
        "batch or model, a busy lakehouse) prints one line and exits with the condition's status;",
        "anything else is a bug and keeps its traceback. The line names the job, the code, the class",
        "and the message:",
        "",
        "```",
        "reclake validate: error [RECLAKE-INPUT-UNREADABLE] InputError: input not found: /data/events (set input.path or pass --input)",
        "```",
        "",
        'With `--json` the summary (the last line of stdout) has `"status": "failed"`, `"error"`',
        '(`<Class>: <message>`), `"error_code"` and, when a stage had started, `"failed_stage"`.',
        "`reclake lookup` and `reclake serve` print the same line. The codes are stable: match on",
        "them, not on the message. In Python, every class derives from `reclake.errors.ReclakeError`",
        "and carries its `code`.",
        "",
        "| Code | Class | What it means | What to do | Exit status |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{c.code}` | `{c.error_class}` | {_cell(c.description)} | {_cell(c.action)} | {c.exit_status} |"
        for c in CONDITIONS.values()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
