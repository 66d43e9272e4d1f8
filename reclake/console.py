"""What a person sees on the terminal: one line per stage, then where the output is or what failed.

A failure is one line, ``<prog>: error [<code>] <Class>: <message>``, its code
from reclake/error-conditions.json (docs/errors.md lists them).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from reclake.config import Config
from reclake.context import StageResult
from reclake.errors import ReclakeError

# Counts named like "rule.x" or "x.files_before" are details for --json, not for the one line per stage.
_HEADLINE_COUNTS = 4


def stage_line(prog: str, name: str, seconds: float, result: StageResult) -> str:
    """``reclake run: validate   12.3 s  raw_rows 31,000  valid_rows 30,990 ...``: what a stage did."""
    counts = [(k, v) for k, v in result.counts.items() if "." not in k][:_HEADLINE_COUNTS]
    figures = "  ".join(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}" for key, value in counts)
    note = f"  ({result.note})" if result.note else ""
    return f"{prog}: {name:<10} {seconds:7.1f} s  {figures}{note}".rstrip()


def error_line(prog: str, code: str, error: str) -> str:
    """``reclake validate: error [RECLAKE-INPUT-UNREADABLE] InputError: input not found: ...``: what stopped a job.

    ``error`` is ``<Class>: <message>``, as the summary's ``error`` holds it.
    """
    return f"{prog}: error [{code}] {error}"


def failure_line(prog: str, exc: ReclakeError) -> str:
    """:func:`error_line` for an error raised before (or without) a run summary."""
    return error_line(prog, exc.code, exc.one_line())


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
        lines.append(error_line(prog, summary["error_code"], summary["error"]))
    if "html" in summary.get("reports", {}):
        lines.append(f"  run report: {summary['reports']['html']}")
    if log_path is not None:
        lines.append(f"  logs: {log_path}")
    return lines


def exit_now(status: int) -> NoReturn:
    """Flush the output and end the process without Python's interpreter teardown.

    For the Spark-free readers (``lookup``, ``serve``): Arrow's native thread pools race the teardown and abort a
    finished command about once in a few hundred runs under load ("terminate called without an active exception",
    exit -6; apache/arrow#34314), after its answer was printed. Nothing is left to tear down that matters.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
