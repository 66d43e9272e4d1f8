"""Real-time lists over HTTP: POST /recommendations/{user_id} with ~20 recent items on a real `reclake serve` process.

Builds (once, in ``--workdir``) a lakehouse published by the real publish path
(delta-spark): ``item_factors`` with ``--items`` items at ``--rank`` (random
factors, seed 42), ``user_histories`` with ``--users`` users of ``--history``
items each, and ``served_versions``. Then starts ``reclake serve`` on it and loads
it with bench_http.py's method: ``--connections`` keep-alive connections send
``POST /recommendations/{user_id}`` with ``--recent`` random items (random event
types among view, add_to_cart, purchase) for random users, a tenth of them users
the run never saw. One request first loads the factors (timed apart: the server
does it once per published version). Prints p50, p99, max, requests/s and the
server's CPU time per request (load-independent) per connection count.

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/bench_realtime.py --workdir /tmp/bench-realtime
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import load, served

RUN_DATE = dt.date(2026, 12, 1)
EVENT_TYPES = ("view", "add_to_cart", "purchase")


def item_name(i: int) -> str:
    return f"i{i:07d}"


def user_name(u: int) -> str:
    return f"u{u:07d}"


def build(workdir: Path, items: int, rank: int, users: int, history: int) -> Path:
    """Publish item factors and user histories with delta-spark, as `reclake publish` does."""
    from reclake.config import AlsSection, EventsSection, PrepareSection, PublishSection, SparkSection
    from reclake.context import RunContext
    from reclake.io.layout import publish_table, run_stats
    from reclake.io.served import serve_published
    from reclake.io.tables import ITEM_FACTORS, USER_HISTORIES
    from reclake.recommend.foldin import FoldInSettings
    from reclake.spark import build_spark_session

    root = workdir / "lakehouse"
    rng = np.random.default_rng(42)
    vectors = (rng.normal(size=(items, rank)) / np.sqrt(rank)).astype(np.float32)
    settings = FoldInSettings(
        AlsSection(rank=rank, reg_param=0.1, alpha=2.0), EventsSection().types, PrepareSection(log_scaling=True), 10
    )
    factors = pa.table(
        {
            "item_id": [item_name(i) for i in range(items)],
            "item_idx": pa.array(np.arange(items, dtype=np.int32)),
            "features": pa.ListArray.from_arrays(
                pa.array(np.arange(items + 1, dtype=np.int32) * rank), pa.array(vectors.ravel())
            ),
            "source": ["als"] * items,
            "eligible": [True] * items,
            "model_version": ["bench"] * items,
            "settings": [settings.to_json()] * items,
            "run_date": [RUN_DATE] * items,
        }
    )
    picks = rng.integers(0, items, size=(users, history))
    histories = pa.table(
        {
            "user_id": np.repeat([user_name(u) for u in range(users)], history).tolist(),
            "item_id": [item_name(int(i)) for i in picks.ravel()],
            "strength": rng.uniform(0.5, 3.0, size=users * history),
            "excluded": [True] * (users * history),
            "model_version": ["bench"] * (users * history),
            "run_date": [RUN_DATE] * (users * history),
        }
    )
    pq.write_table(factors, workdir / "item_factors.parquet")
    pq.write_table(histories, workdir / "user_histories.parquet")
    spark = build_spark_session(SparkSection(master="local[2]", driver_memory="3g"))
    ctx = RunContext(RUN_DATE, "bench-realtime")
    published = {}
    for table in (ITEM_FACTORS, USER_HISTORIES):
        rows = spark.read.parquet(str(workdir / f"{table.name}.parquet")).dropDuplicates(["user_id", "item_id"]
            if table is USER_HISTORIES else ["item_id"]).select(*table.column_names)  # fmt: skip
        stats = run_stats(rows, "item_id" if table is ITEM_FACTORS else "user_id")
        written = publish_table(rows, str(root), table, stats, ctx=ctx, settings=PublishSection())
        published[table.name] = {"rows": written["rows"], "version": 0}
    serve_published(spark, str(root), published, ctx)
    spark.stop()
    return root


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/bench-realtime")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=30, help="items per user in the run's history")
    parser.add_argument("--recent", type=int, default=20, help="recent items per request")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "lakehouse"
    if args.rebuild or not (root / "served_versions").exists():
        started = time.perf_counter()
        build(workdir, args.items, args.rank, args.users, args.history)
        print(f"built the lakehouse in {time.perf_counter() - started:.0f} s", flush=True)
    pool = random.Random(7)
    users = [user_name(pool.randrange(args.users)) for _ in range(900)] + [f"new{n:05d}" for n in range(100)]

    def request(rng: random.Random, user: str) -> tuple[str, str, bytes | None]:
        items = [item_name(rng.randrange(args.items)) for _ in range(args.recent)]
        body = {"items": items, "event_types": [rng.choice(EVENT_TYPES) for _ in items]}
        return "POST", "/recommendations/" + urllib.parse.quote(user, safe=""), json.dumps(body).encode()

    results = []
    server: list = []
    with served(str(root), workdir / "serve.log", server) as url:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        method, path, body = request(random.Random(0), users[0])
        started = time.perf_counter()
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        answer = json.loads(first.read())
        load_ms = (time.perf_counter() - started) * 1000
        conn.close()
        assert first.status == 200 and answer["items"][0]["source"] == "realtime", answer
        print(f"first request (loads {args.items} x {args.rank} factors): {load_ms:.0f} ms", flush=True)
        for connections in args.connections:
            cpu_before = cpu_seconds(server[0].pid)
            figures = load(url, users, args.requests, connections, args.seconds, 42, request)
            # The server's CPU time per request: what a request costs, whatever the neighbours' load.
            figures["server_cpu_ms_per_request"] = round(
                (cpu_seconds(server[0].pid) - cpu_before) * 1000 / max(figures["requests"], 1), 2
            )
            results.append(figures)
            print(
                f"{figures['requests']} requests over {connections} connections in {figures['seconds']} s: "
                f"{figures['requests_per_s']} requests/s, {figures['errors']} errors, p50 {figures['p50_ms']} ms, "
                f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; "
                f"server CPU {figures['server_cpu_ms_per_request']} ms per request",
                flush=True,
            )
    if args.json:
        print(json.dumps({"first_request_ms": round(load_ms, 1), "loads": results}))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
