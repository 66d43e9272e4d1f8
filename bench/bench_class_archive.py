"""A submitted job with and without the driver's class-data archive (reclake/jvm.py), interleaved.

What the daily DAG does for each job: ``spark-submit --packages <Delta> jobs/<job>.py`` in
``local[2]``, here for ``validate`` then ``prepare`` on a generated day of 200 users x 60 items
(the DAG tests' size). One side gives the driver ``reclake.jvm.driver_java_options()`` (the
collector and this environment's archive), the other the collector alone. The pairs alternate
which side goes first; the figure is the median over pairs of without / with, per job, for the
wall clock of the spark-submit process.

    python bench/bench_class_archive.py             # 3 pairs
    python bench/bench_class_archive.py --pairs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reclake import DELTA_PACKAGE
from reclake.jvm import COLLECTOR, class_archive, driver_java_options

REPO = Path(__file__).resolve().parents[1]
JOBS = ("validate", "prepare")
RUN_DATE = "2026-01-15"
SMALL = ["--set", "generate.users=200", "--set", "generate.items=60", "--set", "validation.data_docs=false"]


def submit(job: str, lakehouse: Path, java_options: str, *args: str) -> float:
    """Wall-clock seconds of one spark-submit of ``jobs/<job>.py``; fails loudly."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYSPARK_PYTHON"] = sys.executable
    command = [
        "spark-submit", "--master", "local[2]", "--packages", DELTA_PACKAGE,
        "--conf", f"spark.driver.extraJavaOptions={java_options}",
        str(REPO / "jobs" / f"{job}.py"), "--lakehouse", str(lakehouse), "--run-date", RUN_DATE, *SMALL, *args,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{job} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    if not class_archive().is_file():
        sys.exit(f"no archive at {class_archive()}: run scripts/bootstrap.sh (make setup) first")
    sides = {"with": driver_java_options(), "without": COLLECTOR}
    with tempfile.TemporaryDirectory() as work:
        events = Path(work) / "generated"
        submit("generate", events, COLLECTOR)
        source = ["--input", str(events / "landing" / "events")]
        seconds: dict[str, dict[str, list[float]]] = {side: {job: [] for job in JOBS} for side in sides}
        for pair in range(args.pairs):
            order = list(sides) if pair % 2 == 0 else list(reversed(sides))
            for side in order:
                lakehouse = Path(work) / f"{side}-{pair}"
                for job in JOBS:
                    seconds[side][job].append(submit(job, lakehouse, sides[side], *source))
            print(f"pair {pair + 1}: " + ", ".join(f"{s} {seconds[s][j][-1]:.1f} s ({j})" for s in order for j in JOBS))
    for job in JOBS:
        ratios = [a / b for a, b in zip(seconds["without"][job], seconds["with"][job], strict=True)]
        print(
            f"{job}: without {statistics.median(seconds['without'][job]):.1f} s, "
            f"with {statistics.median(seconds['with'][job]):.1f} s (medians); "
            f"per pair {'/'.join(f'{r:.2f}' for r in ratios)}x, median {statistics.median(ratios):.2f}x"
        )


if __name__ == "__main__":
    main()
