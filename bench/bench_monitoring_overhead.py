"""What monitoring costs a run: `reclake run` on MovieLens 100k with monitoring on and off, interleaved.

Monitoring on is the default: the Prometheus metrics files, the HTML run report
(plots, the recommendation statistics' Spark aggregations, the registry read) and
the progress reporter (every 30 s). Off: ``monitoring.metrics=false``,
``monitoring.html_report=false``, ``monitoring.progress_interval_seconds=0``.
Each run is a separate ``reclake run`` process on a fresh lakehouse, timed wall
clock (JVM start to exit: the report is written after the run's own ``total``);
the pairs alternate which side goes first, and the figure is the median of the
per-pair ratios on / off.

    python bench/bench_monitoring_overhead.py              # 3 pairs, data from ../shared/data/movielens-100k
    python bench/bench_monitoring_overhead.py --pairs 5 --data /path/to/u.data
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFF = ["monitoring.metrics=false", "monitoring.html_report=false", "monitoring.progress_interval_seconds=0"]


def timed_run(data: Path, lakehouse: Path, sets: list[str]) -> float:
    """Wall-clock seconds of one `reclake run` process; fails loudly if the run does."""
    command = [
        sys.executable, "-m", "reclake.cli", "run", "--config", str(REPO / "conf" / "movielens-100k.yaml"),
        "--input", str(data), "--lakehouse", str(lakehouse), "--json",
        *(arg for s in sets for arg in ("--set", s)),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    if done.returncode != 0:
        raise SystemExit(f"run failed: {summary.get('error')}\n{done.stderr[-2000:]}")
    expected = {"metrics", "html"} if not sets else set()
    if set(summary.get("reports", {})) != expected:
        raise SystemExit(f"unexpected reports {summary.get('reports')} for --set {sets}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "movielens-100k" / "u.data")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="where the lakehouses go (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reclake-bench-monitoring-"))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    ratios = []
    for pair in range(args.pairs):
        order = [("on", []), ("off", OFF)] if pair % 2 == 0 else [("off", OFF), ("on", [])]
        seconds = {side: timed_run(args.data, workdir / f"{side}-{pair}", sets) for side, sets in order}
        ratios.append(seconds["on"] / seconds["off"])
        print(
            f"pair {pair + 1} ({order[0][0]} first): on {seconds['on']:.1f} s, off {seconds['off']:.1f} s, "
            f"ratio {ratios[-1]:.3f}; load average {os.getloadavg()}",
            flush=True,
        )
    median = statistics.median(ratios)
    print(f"median ratio on / off over {args.pairs} pairs: {median:.3f} (overhead {median - 1:+.1%}; target < +5%)")


if __name__ == "__main__":
    main()
