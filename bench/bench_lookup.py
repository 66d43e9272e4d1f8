"""Lookup latency on a published table of 1 million users x 20 recommendations.

Builds the table once with delta-spark through ``reclake.io.layout.publish_table`` (the
real layout: run-date partition, files of contiguous user ranges), then, in one
process and side by side:

* client: ``LookupClient.recommendations_for`` for random existing users, p50/p99;
* scan: the same lookup as a full-table scan (every row read, then filtered);
* HTTP: ``GET /recommendations/{user_id}`` against ``reclake serve``'s app under
  uvicorn on 127.0.0.1, from a few client threads, bounded in requests and time.

Target: client p99 <= 50 ms.

    /work/main/.venv/bin/python bench/bench_lookup.py            # builds /tmp/reclake-bench-lookup once
    /work/main/.venv/bin/python bench/bench_lookup.py --rebuild --users 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN_DATE = dt.date(2026, 11, 23)


def user_id(n: int) -> str:
    return f"u{n:07d}"


def build(root: Path, users: int, recs: int, target_file_rows: int) -> None:
    """Stage users x recs synthetic rows and publish them with the real publish code path."""
    import os

    os.environ["PYTHONPATH"] = str(REPO)
    from pyspark.sql import functions as F

    from reclake.config import PublishSection, SparkSection
    from reclake.context import RunContext
    from reclake.io.layout import RECOMMENDATION_COLUMNS, publish_table, run_stats
    from reclake.io.tables import RECOMMENDATIONS
    from reclake.spark import build_spark_session

    spark = build_spark_session(
        SparkSection(master="local[2]", app_name="reclake-bench-lookup", shuffle_partitions=8, driver_memory="3g")
    )
    n = F.col("id")
    user = (n / recs).cast("long")
    staged = (
        spark.range(0, users * recs, numPartitions=8)
        .select(
            F.format_string("u%07d", user).alias("user_id"),
            ((n % recs) + 1).cast("int").alias("rank"),
            F.format_string("i%06d", (user * 7919 + n % recs * 104729) % 200_000).alias("item_id"),
            (F.lit(1.0) / ((n % recs) + 1)).alias("score"),
            F.lit("als").alias("source"),
            F.lit("bench-model").alias("model_version"),
            F.lit(RUN_DATE).alias("run_date"),
        )
        .select(*RECOMMENDATION_COLUMNS)
    )
    settings = PublishSection(target_file_rows=target_file_rows)
    publish_table(
        staged,
        str(root),
        RECOMMENDATIONS,
        run_stats(staged, "user_id"),
        ctx=RunContext(RUN_DATE, "bench"),
        settings=settings,
    )
    spark.stop()


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    return statistics.median(ms), ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]


def bench_client(client, users: list[str]) -> list[float]:
    samples = []
    for user in users:
        t0 = time.perf_counter()
        result = client.recommendations_for(user)
        samples.append(time.perf_counter() - t0)
        assert len(result["items"]) > 0 and result["user_id"] == user
    return samples


def bench_scan(uri: str, users: list[str]) -> list[float]:
    """The lookup without statistics: read every row of the table, then keep the user's."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    samples = []
    for user in users:
        t0 = time.perf_counter()
        table = DeltaTable(uri).to_pyarrow_table()
        rows = table.filter(pc.equal(table["user_id"], user))
        samples.append(time.perf_counter() - t0)
        assert rows.num_rows > 0
        del table
    return samples


def bench_http(client, pick, requests: int, threads: int, seconds: float) -> tuple[list[float], int]:
    """Loopback only: a uvicorn server thread and ``threads`` client threads, bounded in requests and time."""
    import httpx
    import uvicorn

    from reclake.serving.api import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(client), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    samples: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    budget = iter(range(requests))

    def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while time.monotonic() < deadline:
                with lock:
                    if next(budget, None) is None:
                        return
                t0 = time.perf_counter()
                status = http.get(f"/recommendations/{pick(rng)}").status_code
                elapsed = time.perf_counter() - t0
                with lock:
                    samples.append(elapsed)
                    errors += status != 200

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    server.should_exit = True
    thread.join(timeout=10)
    return samples, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/reclake-bench-lookup"))
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--recs", type=int, default=20)
    parser.add_argument("--target-file-rows", type=int, default=250_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--scans", type=int, default=3)
    parser.add_argument("--http-requests", type=int, default=2000)
    parser.add_argument("--http-threads", type=int, default=4)
    parser.add_argument("--http-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    root = args.dir / f"{args.users}x{args.recs}-{args.target_file_rows}"
    if args.rebuild:
        shutil.rmtree(root, ignore_errors=True)
    if not (root / "recommendations" / "_delta_log").exists():
        t0 = time.perf_counter()
        build(root, args.users, args.recs, args.target_file_rows)
        print(f"built {args.users} users x {args.recs} in {time.perf_counter() - t0:.0f}s at {root}")

    from deltalake import DeltaTable

    from reclake.serving.lookup import LookupClient

    uri = str(root / "recommendations")
    files = len(DeltaTable(uri).file_uris())
    rng = random.Random(args.seed)

    def pick(r: random.Random) -> str:
        return user_id(r.randrange(args.users))

    client = LookupClient(str(root))
    bench_client(client, [pick(rng) for _ in range(20)])  # warm the snapshot and the OS file cache
    users = [pick(rng) for _ in range(args.lookups)]
    c50, c99 = percentiles(bench_client(client, users))
    s50, _ = percentiles(bench_scan(uri, users[: args.scans]))
    http, errors = bench_http(client, pick, args.http_requests, args.http_threads, args.http_seconds)
    h50, h99 = percentiles(http)

    print(f"table: {args.users} users x {args.recs} recs = {args.users * args.recs} rows in {files} files")
    print(
        f"client  ({args.lookups} random users): p50 {c50:.1f} ms  p99 {c99:.1f} ms  (target p99 <= 50 ms: "
        f"{'met' if c99 <= 50 else 'MISSED'})"
    )
    print(f"scan    ({args.scans} of the same users): p50 {s50:.0f} ms  -> client p50 is {s50 / c50:.0f}x faster")
    print(
        f"http    ({len(http)} requests, {args.http_threads} threads, loopback): p50 {h50:.1f} ms  p99 {h99:.1f} ms  "
        f"non-200: {errors}"
    )
    return 0 if c99 <= 50 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
