"""How a submitted job starts (reclake/jvm.py), two ways side by side, interleaved.

What the daily DAG does for each job: ``spark-submit jobs/<job>.py`` in ``local[2]``, here for
``validate`` then ``prepare`` on a generated day of 200 users x 60 items (the DAG tests' size).
``--compare archive`` (default): the driver with ``reclake.jvm.driver_java_options()`` (the
collector and this environment's class-data archive) against the collector alone, both with
``--packages <Delta>``. ``--compare connector``: the Delta connector as the jar files bootstrap
listed (``--conf spark.jars=...``, what the DAG and ``reclake`` use) against ``--packages``
(Ivy resolves it at every start), both with the archive. ``--compare jit``: Java's full tiered
JIT against C1 alone (``spark.quick_jit``), both with the listed jars and the archive. The pairs
alternate which side goes first; the figures are the medians over pairs of the second side / the
first (``without / with``, ``packages / jars``, ``tiered / quick``), per job, for the wall clock
and the CPU time (user + system, the JVM and its Python workers) of the spark-submit process.

    python bench/bench_class_archive.py                       # 3 pairs, the archive
    python bench/bench_class_archive.py --compare connector --pairs 5
    python bench/bench_class_archive.py --compare jit
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reclake import DELTA_PACKAGE
from reclake.jvm import COLLECTOR, class_archive, connector_conf, connector_jars_list, driver_java_options

REPO = Path(__file__).resolve().parents[1]
JOBS = ("validate", "prepare")
RUN_DATE = "2026-01-15"
SMALL = ["--set", "generate.users=200", "--set", "generate.items=60", "--set", "validation.data_docs=false"]


PACKAGES = ["--packages", DELTA_PACKAGE]


def submit(job: str, lakehouse: Path, options: list[str], *args: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one spark-submit of ``jobs/<job>.py`` with ``options``; fails loudly."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYSPARK_PYTHON"] = sys.executable
    command = [
        "spark-submit", "--master", "local[2]", *options,
        str(REPO / "jobs" / f"{job}.py"), "--lakehouse", str(lakehouse), "--run-date", RUN_DATE, *SMALL, *args,
    ]  # fmt: skip
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"{job} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, cpu


def children_cpu() -> float:
    """User + system seconds of this process's finished children (and theirs, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--compare", choices=("archive", "connector", "jit"), default="archive")
    args = parser.parse_args()
    if not class_archive().is_file():
        sys.exit(f"no archive at {class_archive()}: run scripts/bootstrap.sh (make setup) first")
    archive = ["--conf", f"spark.driver.extraJavaOptions={driver_java_options()}"]
    if args.compare == "archive":
        sides = {
            "with": [*PACKAGES, *archive],
            "without": [*PACKAGES, "--conf", f"spark.driver.extraJavaOptions={COLLECTOR}"],
        }
    else:
        listed = connector_conf(DELTA_PACKAGE).get("spark.jars")
        if listed is None:
            sys.exit(
                f"no jar list at {connector_jars_list(DELTA_PACKAGE)}: run scripts/bootstrap.sh (make setup) first"
            )
        jars = ["--conf", f"spark.jars={listed}"]
        if args.compare == "connector":
            sides = {"jars": [*jars, *archive], "packages": [*PACKAGES, *archive]}
        else:
            quick = ["--conf", f"spark.driver.extraJavaOptions={driver_java_options(quick_jit=True)}"]
            sides = {"quick": [*jars, *quick], "tiered": [*jars, *archive]}
    first, second = sides
    with tempfile.TemporaryDirectory() as work:
        events = Path(work) / "generated"
        submit("generate", events, sides[first])
        source = ["--input", str(events / "landing" / "events")]
        measured: dict[str, dict[str, list[tuple[float, float]]]] = {side: {job: [] for job in JOBS} for side in sides}
        for pair in range(args.pairs):
            order = list(sides) if pair % 2 == 0 else list(reversed(sides))
            for side in order:
                lakehouse = Path(work) / f"{side}-{pair}"
                for job in JOBS:
                    measured[side][job].append(submit(job, lakehouse, sides[side], *source))
            print(
                f"pair {pair + 1}: "
                + ", ".join(
                    f"{s} {measured[s][j][-1][0]:.1f} s, CPU {measured[s][j][-1][1]:.1f} s ({j})"
                    for s in order
                    for j in JOBS
                )
            )
    for job in JOBS:
        for what, index in (("wall", 0), ("CPU", 1)):
            taken = {side: [m[index] for m in measured[side][job]] for side in sides}
            ratios = [a / b for a, b in zip(taken[second], taken[first], strict=True)]
            print(
                f"{job} {what}: {second} {statistics.median(taken[second]):.1f} s, "
                f"{first} {statistics.median(taken[first]):.1f} s (medians); "
                f"per pair {'/'.join(f'{r:.2f}' for r in ratios)}x, median {statistics.median(ratios):.2f}x"
            )


if __name__ == "__main__":
    main()
