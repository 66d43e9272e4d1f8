"""Top-N for every user: reclake's recommend vs ALSModel.recommendForAllUsers vs a numpy matmul bound.

All three run in this one script on the same synthetic factors (seeded):

* ``numpy``: the users x items float32 product alone, in user blocks, one
  process with every core (no top-k, no exclusion): a lower bound.
* ``reclake``: :func:`reclake.recommend.topn.top_n_for_users`, exact top N with each
  user's seen items excluded, broadcast path (or blocked with ``--blocked``).
* ``als``: ``ALSModel.recommendForAllUsers(N)`` on the same factors, loaded as
  a saved ALS model (it does not exclude seen items).

Spark results are written to the ``noop`` sink so the whole computation runs.
Peak memory is the largest resident set of this process and all its children
(the JVM and Spark's Python workers) sampled every 0.2 s during each phase.

    python bench/bench_recommend.py                       # 200k users x 50k items, rank 64, N=20
    python bench/bench_recommend.py --users 20000 --items 5000   # a quick run
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from measure import PeakRss

os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
)


def factors_table(ids: np.ndarray, vectors: np.ndarray, id_col: str) -> pa.Table:
    """(id, features list<float>) without a Python object per row."""
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    features = pa.ListArray.from_arrays(offsets, pa.array(vectors.ravel()))
    return pa.table({id_col: pa.array(ids.astype(np.int32)), "features": features})


def timed(label: str, fn: Callable[[], object], results: dict) -> None:
    with PeakRss() as rss:
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
    results[label] = {"seconds": round(seconds, 2), "peak_rss_gib": round(rss.peak / 2**30, 2)}
    print(f"{label:>8}: {seconds:7.1f} s  peak RSS {rss.peak / 2**30:5.2f} GiB", flush=True)


def numpy_bound(users: np.ndarray, items: np.ndarray, block: int = 2048) -> None:
    """The matrix product alone, in user blocks (the full product would not fit in memory)."""
    for start in range(0, len(users), block):
        users[start : start + block] @ items.T


def saved_als_model(spark, workdir: Path, rank: int, user_path: Path, item_path: Path) -> str:
    """An ALSModel on disk holding the synthetic factors: fit a tiny model of the same rank, swap its factors."""
    from pyspark.ml.recommendation import ALS

    tiny = spark.createDataFrame([(0, 0, 1.0), (1, 1, 1.0), (0, 1, 1.0)], "user int, item int, rating float")
    path = workdir / "als_model"
    ALS(rank=rank, maxIter=1, userCol="user", itemCol="item", seed=1).fit(tiny).write().overwrite().save(str(path))
    for name, source in (("userFactors", user_path), ("itemFactors", item_path)):
        shutil.rmtree(path / name)
        spark.read.parquet(str(source)).toDF("id", "features").write.parquet(str(path / name))
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seen-per-user", type=int, default=20, help="random seen items per user, excluded by reclake")
    parser.add_argument("--blocked", action="store_true", help="force reclake's item-blocked path")
    parser.add_argument("--driver-memory", default="3g")
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    users = (rng.standard_normal((args.users, args.rank), dtype=np.float32) / np.sqrt(args.rank)).astype(np.float32)
    items = rng.standard_normal((args.items, args.rank), dtype=np.float32)
    results: dict = {"args": vars(args), "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    timed("numpy", functools.partial(numpy_bound, users, items), results)

    from pyspark.ml.recommendation import ALSModel

    from reclake.config import SparkSection
    from reclake.recommend.topn import top_n_for_users
    from reclake.spark import build_spark_session

    workdir = Path(tempfile.mkdtemp(prefix="bench_recommend_"))
    try:
        user_path, item_path, seen_path = workdir / "user_idx", workdir / "item_idx", workdir / "seen"
        pq.write_table(factors_table(np.arange(args.users), users, "user_idx"), user_path)
        pq.write_table(factors_table(np.arange(args.items), items, "item_idx"), item_path)
        seen_users = np.repeat(np.arange(args.users, dtype=np.int32), args.seen_per_user)
        seen_items = rng.integers(0, args.items, size=len(seen_users), dtype=np.int32)
        pq.write_table(pa.table({"user_idx": seen_users, "item_idx": seen_items}), seen_path)
        del users, items, seen_users, seen_items

        settings = SparkSection(
            master="local[2]", app_name="bench-recommend", driver_memory=args.driver_memory, shuffle_partitions=8
        )
        spark = build_spark_session(settings)
        model_path = saved_als_model(spark, workdir, args.rank, user_path, item_path)
        user_factors = spark.read.parquet(str(user_path))
        item_factors = spark.read.parquet(str(item_path))
        seen = spark.read.parquet(str(seen_path))
        options = {"broadcast_limit_mb": 1e-6, "item_block_size": 16384} if args.blocked else {}

        def reclake() -> None:
            top_n_for_users(user_factors, item_factors, seen, args.n, **options).write.format("noop").mode(
                "overwrite"
            ).save()

        def als() -> None:
            ALSModel.load(model_path).recommendForAllUsers(args.n).write.format("noop").mode("overwrite").save()

        spark.range(1000).mapInArrow(lambda b: b, "id long").count()  # start the Python workers once
        timed("reclake", reclake, results)
        timed("als", als, results)
        spark.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    seconds = {k: results[k]["seconds"] for k in ("numpy", "reclake", "als")}
    results["reclake_over_als"] = round(seconds["reclake"] / seconds["als"], 3)
    results["reclake_over_numpy"] = round(seconds["reclake"] / seconds["numpy"], 3)
    print(f"reclake / recommendForAllUsers = {results['reclake_over_als']:.2f}  (target <= 0.33)")
    print(f"reclake / numpy matmul bound   = {results['reclake_over_numpy']:.2f}  (aim <= 2)")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
