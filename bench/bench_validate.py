"""Validate stage vs a plain read-and-write of the same rows, side by side in one Spark application.

Generates ~5 million synthetic events once (CSV, the default input format, with
a few hundred bad rows of every kind), then times, alternately:

  plain     read the CSV (every field as text) and write it to a Delta table
  validate  reclake.stages.validate.run: GX source suite, row rules in one pass, GX batch
            suite, events + quarantine + validation_runs writes, JSON report, Data Docs

and prints the ratio validate / plain (target <= 3x, aim < 1.5x).

    /work/main/.venv/bin/python bench/bench_validate.py --events 5000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import time
from pathlib import Path

from pyspark.sql import types as T

from reclake import synthetic
from reclake.config import SparkSection, load_config
from reclake.context import RunContext
from reclake.spark import build_spark_session
from reclake.stages import generate, validate

EVENTS_PER_USER = 12 * 1.45  # mean items per user x (view + 0.3 cart + 0.15 purchase)
BAD_ROWS = {kind: 100 for kind in synthetic.BAD_ROW_RULES}  # exact duplicates included: the sort runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--workdir", default="/tmp/reclake-bench-validate")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each, alternating")
    parser.add_argument(
        "--no-duplicates",
        action="store_true",
        help="inject no exact duplicates: no key hash repeats, so validate compares no rows by the exact key",
    )
    args = parser.parse_args()

    work = Path(args.workdir)
    users = max(1, round(args.events / EVENTS_PER_USER))
    sets = [
        f"lakehouse.root={work / 'lakehouse'}",
        f"input.path={work / 'input'}",
        f"generate.users={users}",
        "generate.items=5000",
        "generate.partitions=8",
        "run.run_date=2026-11-23",
        *[
            f"generate.bad_rows.{kind}={n}"
            for kind, n in BAD_ROWS.items()
            if not (args.no_duplicates and kind == "duplicate")
        ],
    ]
    config = load_config(None, sets)
    spark = build_spark_session(SparkSection(driver_memory="3g", shuffle_partitions=8, log_level="ERROR"))
    ctx = RunContext(run_date=dt.date(2026, 11, 23), run_id="bench")

    if not (work / "input").exists():
        t0 = time.perf_counter()
        generate.run(spark, config, ctx)
        print(f"generated input in {time.perf_counter() - t0:.1f}s", flush=True)
    names = spark.read.option("header", True).csv(config.input_path).columns
    schema = T.StructType([T.StructField(n, T.StringType()) for n in names])

    def plain() -> None:
        df = spark.read.option("header", True).schema(schema).csv(config.input_path)
        df.write.format("delta").mode("overwrite").save(str(work / "plain"))

    def validated() -> dict[str, int]:
        shutil.rmtree(work / "lakehouse", ignore_errors=True)  # every run a first run: same work each time
        return validate.run(spark, config, RunContext(run_date=ctx.run_date, run_id=f"bench-{time.time_ns()}")).counts

    timings: dict[str, list[float]] = {"plain": [], "validate": []}
    counts: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, fn in (("plain", plain), ("validate", validated)):
            t0 = time.perf_counter()
            result = fn()
            timings[name].append(time.perf_counter() - t0)
            counts = result or counts
            print(f"{name:9s} {timings[name][-1]:7.1f}s", flush=True)
    ratios = [v / p for p, v in zip(timings["plain"], timings["validate"])]
    warm = {name: runs[1:] or runs for name, runs in timings.items()}  # round 1 also warms the JVM up
    print(
        f"rows {counts['raw_rows']:,} (valid {counts['valid_rows']:,}, quarantined {counts['quarantined_rows']:,}); "
        f"validate/plain per round (side by side): {', '.join(f'{r:.2f}x' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}x; rounds 2 on: median validate / median plain "
        f"{statistics.median(warm['validate']) / statistics.median(warm['plain']):.2f}x, "
        f"all rounds together {sum(timings['validate']) / sum(timings['plain']):.2f}x "
        "(target <= 3x, aim < 1.5x)"
    )
    spark.stop()


if __name__ == "__main__":
    main()
