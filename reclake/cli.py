"""The ``reclake`` command: ``reclake <job> [options]``, one subcommand per job.

Each subcommand hands its arguments to that module's ``main()``, the same
function ``spark-submit jobs/<job>.py`` runs, so both behave identically.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from reclake.console import exit_now

JOBS = {
    "run": "the whole pipeline: validate, prepare, train, evaluate, recommend, publish",
    "generate": "write synthetic interaction events to the input path",
    "ingest": "land events from a Kafka topic in the input folders, one per event date",
    "validate": "check raw events; quarantine bad rows, stop bad batches",
    "prepare": "events -> one strength per user-item pair on stable integer ids",
    "train": "train ALS and register the model",
    "evaluate": "score the newest model against a popularity baseline; gate it before publishing",
    "recommend": "top-N unseen items for every user",
    "publish": "publish the recommendations to the Delta table apps read",
    "maintain": "compact and cluster the published tables, vacuum old versions",
    "rollback": "undo a run date's publish: restore the published tables to the version before it",
    "lookup": "print one user's recommendations (no Spark): reclake lookup USER",
    "serve": "HTTP API over the published tables: GET /recommendations/{user_id}",
}

# The module whose main() runs each job: the stages, the whole pipeline, and the Spark-free readers.
MODULES = {
    **{job: f"reclake.stages.{job}" for job in JOBS if job not in ("run", "lookup", "serve")},
    "run": "reclake.pipeline",
    "lookup": "reclake.serving.lookup",
    "serve": "reclake.serving.api",
}

# The Spark-free readers end with `exit_now` (its docstring says why); the Spark jobs' own shutdown must run.
ENDS_WITHOUT_TEARDOWN = frozenset({"lookup", "serve"})

USAGE = "usage: reclake <job> [--config FILE] [--set SECTION.KEY=VALUE] [--input PATH] [--lakehouse DIR] [--json]"


def _help() -> str:
    lines = [USAGE, "", "Batch recommendations on Spark, published to Delta Lake.", "", "jobs:"]
    lines += [f"  {name:<10} {text}" for name, text in JOBS.items()]
    lines += ["", "`reclake <job> --help` lists a job's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_help())
        return 0 if args else 2
    job, rest = args[0], args[1:]
    if job not in JOBS:
        print(f"reclake: unknown job {job!r}; choose one of: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    if job == "serve":
        # Set before numpy loads OpenBLAS. The server's thread pool runs requests side by side: BLAS threads of
        # their own only spin against them (a real-time request's CPU 27 -> 11 ms, bench/bench_realtime.py).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Import only the job asked for: `reclake --help`, `lookup` and `serve` must not import pyspark.
    return importlib.import_module(MODULES[job]).main(rest)


def command() -> NoReturn:
    """The ``reclake`` console script: ``main``, then the exit its job needs."""
    argv = sys.argv[1:]
    status = main(argv)
    if argv and argv[0] in ENDS_WITHOUT_TEARDOWN:
        exit_now(status)
    sys.exit(status)


if __name__ == "__main__":
    command()
