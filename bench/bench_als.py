"""Spark MLlib ALS against the `implicit` library: fit time per iteration and ranking quality, same data and settings.

One synthetic implicit-feedback data set (seeded: users in taste clusters,
Zipf-like item popularity; ~4M pairs by default) is split per user (20% held
out). Then, one after the other on the same cores:

* ``implicit-cg``: ``implicit.cpu.als.AlternatingLeastSquares`` with its default
  conjugate-gradient solver; ``implicit-cholesky``: the same with ``use_cg=False``;
* ``spark-<variant>``: ``pyspark.ml.recommendation.ALS`` in a fresh local[N] JVM
  per variant (each changes Spark settings that apply only at start-up):
  ``stock`` (Spark's defaults: 10 blocks each side, Java serialisation,
  checkpoint every 10 iterations) and ``tuned`` (reclake's defaults: blocks = cores,
  Kryo, Java's vector API for netlib's BLAS, no checkpoint for 10 iterations).

Every fit uses rank, reg_param, alpha and iterations alike; confidence is
1 + alpha * strength for both libraries. Quality: precision@10 and NDCG@10 of each
model's top 10 (training items excluded) on the held-out pairs of 5,000 users.
Prints seconds per iteration and the ratio of each Spark variant to implicit.

    python bench/bench_als.py                                    # 200k users x 50k items, ~4.2M pairs
    python bench/bench_als.py --users 50000 --items 10000 --pairs-per-user 20   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
TUNED_CONF = {
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    # netlib's pure-Java BLAS uses the JDK's SIMD vector API when the module is present.
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC --add-modules=jdk.incubator.vector",
}


def synthetic_pairs(users: int, items: int, per_user: float, seed: int) -> sp.csr_matrix:
    """users x items strengths (1-5): 85% of a user's picks from their taste cluster, heavy-tailed activity, Zipf items."""
    rng = np.random.default_rng(seed)
    clusters = 32
    item_cluster = rng.integers(clusters, size=items)
    popularity = (rng.permutation(items) + 1.0) ** -0.8
    activity = rng.pareto(1.8, size=users) + 1.0
    draws = int(users * per_user)
    user = rng.choice(users, size=draws, p=activity / activity.sum())
    user_cluster = rng.integers(clusters, size=users)[user]
    item = rng.choice(items, size=draws, p=popularity / popularity.sum())
    own = rng.random(draws) < 0.85
    for c in range(clusters):
        members = np.flatnonzero(item_cluster == c)
        picks = np.flatnonzero(own & (user_cluster == c))
        weights = popularity[members] / popularity[members].sum()
        item[picks] = rng.choice(members, size=picks.size, p=weights)
    matrix = sp.csr_matrix((np.ones(draws, np.float32), (user, item)), shape=(users, items))
    matrix.sum_duplicates()
    matrix.data = np.minimum(matrix.data, 5).astype(np.float32)
    return matrix


def split(matrix: sp.csr_matrix, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(train, test): 20% of the pairs held out at random."""
    coo = matrix.tocoo()
    held = np.random.default_rng(seed).random(coo.nnz) < 0.2
    part = lambda mask: sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=matrix.shape)  # noqa: E731
    return part(~held), part(held)


def quality(user_factors: np.ndarray, item_factors: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix) -> dict:
    """precision@10 and NDCG@10 on the held-out pairs of up to 5,000 users (seeded), training items excluded."""
    candidates = np.flatnonzero(np.diff(test.indptr) > 0)
    users = np.random.default_rng(0).choice(candidates, size=min(5000, candidates.size), replace=False)
    scores = user_factors[users] @ item_factors.T
    seen = train[users]
    scores[seen.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    discounts = 1.0 / np.log2(np.arange(2, 12))
    precision, ndcg = [], []
    for row, user in enumerate(users):
        relevant = set(test.indices[test.indptr[user] : test.indptr[user + 1]])
        hits = np.array([item in relevant for item in top[row]])
        precision.append(hits.mean())
        ndcg.append((hits * discounts).sum() / discounts[: min(len(relevant), 10)].sum())
    return {"precision@10": round(float(np.mean(precision)), 4), "ndcg@10": round(float(np.mean(ndcg)), 4)}


def fit_implicit(train: sp.csr_matrix, args: argparse.Namespace, use_cg: bool) -> tuple[float, np.ndarray, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares

    # implicit weighs a pair by its stored value c (preference 1); Spark by 1 + alpha * strength: store that.
    confidence = train.copy()
    confidence.data = 1.0 + args.alpha * confidence.data
    model = AlternatingLeastSquares(
        factors=args.rank,
        regularization=args.reg,
        alpha=1.0,
        iterations=args.iterations,
        use_cg=use_cg,
        calculate_training_loss=False,
        random_state=42,
    )
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads inside them only contend
        model.fit(confidence, show_progress=False)
    return time.perf_counter() - t0, np.asarray(model.user_factors), np.asarray(model.item_factors)


def spark_settings(variant: str, cores: int) -> tuple[dict[str, str], dict]:
    """(Spark conf, ALS params) of a variant: what reclake did before tuning, or its tuned defaults."""
    if variant == "before":  # reclake 0.2.0: 4 blocks a side, checkpoint every 10 iterations, Java serialisation
        return {"spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}, {"blocks": 4, "checkpoint": 10}
    return dict(TUNED_CONF), {"blocks": cores, "checkpoint": -1}


def fit_spark(workdir: Path, args: argparse.Namespace) -> dict:
    """In this (child) process: a fresh JVM with the variant's settings, fit, factors saved as .npy."""
    from pyspark.ml.recommendation import ALS

    from reclake.config import SparkSection
    from reclake.spark import build_spark_session

    conf, params = spark_settings(args.spark_variant, args.cores)
    spark = build_spark_session(
        SparkSection(master=f"local[{args.cores}]", driver_memory="12g", shuffle_partitions=args.cores * 4, conf=conf)
    )
    spark.sparkContext.setCheckpointDir(str(workdir / "checkpoints"))
    pairs = spark.read.parquet(str(workdir / "train.parquet")).repartition(args.cores * 2).cache()
    pairs.count()
    als = ALS(
        userCol="user",
        itemCol="item",
        ratingCol="strength",
        implicitPrefs=True,
        rank=args.rank,
        regParam=args.reg,
        alpha=args.alpha,
        maxIter=args.iterations,
        numUserBlocks=params["blocks"],
        numItemBlocks=params["blocks"],
        checkpointInterval=params["checkpoint"],
        seed=42,
    )
    t0 = time.perf_counter()
    model = als.fit(pairs)
    user_rows = model.userFactors.collect()  # fit is lazy in part: the factors' first action ends it
    item_rows = model.itemFactors.collect()
    seconds = time.perf_counter() - t0
    for name, rows, size in (("user", user_rows, args.users), ("item", item_rows, args.items)):
        factors = np.zeros((size, args.rank), np.float32)
        for row in rows:
            factors[row["id"]] = row["features"]
        np.save(workdir / f"{args.spark_variant}-{name}.npy", factors)
    spark.stop()
    return {"seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--pairs-per-user", type=float, default=21.0)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--variants", nargs="+", default=["before", "tuned"])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--spark-variant", help=argparse.SUPPRESS)  # set for the child process of one Spark fit
    args = parser.parse_args()
    if args.spark_variant:
        print(json.dumps(fit_spark(args.workdir, args)))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reclake-bench-als-"))
    train, test = split(synthetic_pairs(args.users, args.items, args.pairs_per_user, seed=42), seed=7)
    coo = train.tocoo()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"user": coo.row, "item": coo.col, "strength": coo.data}), workdir / "train.parquet")
    print(
        f"{args.users:,} users x {args.items:,} items, {train.nnz:,} training pairs, {test.nnz:,} held out; "
        f"rank {args.rank}, {args.iterations} iterations, {args.cores} cores",
        flush=True,
    )
    results = {}
    for label, use_cg in (("implicit-cg", True), ("implicit-cholesky", False)):
        seconds, users, items = fit_implicit(train, args, use_cg)
        results[label] = {"seconds": seconds, **quality(users, items, train, test)}
        print(label, results[label], flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for variant in args.variants:
        argv = [sys.executable, __file__, "--spark-variant", variant, "--workdir", str(workdir)]
        argv += [
            f"--{key.replace('_', '-')}={value}"
            for key, value in vars(args).items()
            if key in ("users", "items", "rank", "iterations", "reg", "alpha", "cores")
        ]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        users, items = (np.load(workdir / f"{variant}-{name}.npy") for name in ("user", "item"))
        results[f"spark-{variant}"] = {"seconds": seconds, **quality(users, items, train, test)}
        print(f"spark-{variant}", results[f"spark-{variant}"], flush=True)
    base = results["implicit-cg"]["seconds"]
    for label, result in results.items():
        print(
            f"{label:>18}: {result['seconds'] / args.iterations:6.2f} s/iteration  "
            f"{result['seconds'] / base:5.2f}x implicit-cg  precision@10 {result['precision@10']:.4f}  "
            f"NDCG@10 {result['ndcg@10']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
