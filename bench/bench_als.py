"""Spark MLlib ALS against the `implicit` library: fit time per iteration and ranking quality, same data and settings.

One synthetic implicit-feedback data set (seeded: users in taste clusters,
Zipf-like item popularity; ~4M pairs by default) is split per user (20% held
out). Then, one after the other on the same cores:

* ``implicit-cg``: ``implicit.cpu.als.AlternatingLeastSquares`` with its default
  conjugate-gradient solver; ``implicit-cholesky``: the same with ``use_cg=False``;
* ``spark-<variant>``: ``pyspark.ml.recommendation.ALS`` in a fresh local[N] JVM
  per variant (each changes settings that apply only at start-up), ``VARIANTS``:
  ``stock`` (Spark's defaults: 10 blocks a side), ``before`` (reclake 0.2.0: 4),
  ``reclake`` (now: one block per core), ``kryo`` (plus Kryo, no checkpoint), and
  ``java-lapack`` / ``java-blas``: netlib's Java LAPACK (the Cholesky solves) or
  Java BLAS (the rank-1 updates) instead of the native OpenBLAS through JNI.

Every fit uses rank, reg_param, alpha and iterations alike; confidence is
1 + alpha * strength for both libraries. Quality: precision@10 and NDCG@10 of each
model's top 10 (training items excluded) on the held-out pairs of 5,000 users.
Prints seconds per iteration and each fit's ratio to implicit's two solvers.

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
# Spark variants: (extra Spark conf, ALS blocks per side (None: one per core), checkpoint interval). Each fits in
# its own JVM, since serializer and JVM options apply at start-up only.
NOT_NATIVE = "none.so"  # a library name netlib cannot load: it falls back to its Java implementation
VARIANTS: dict[str, tuple[dict[str, str], int | None, int]] = {
    "stock": ({}, 10, 10),  # Spark's own defaults
    "before": ({}, 4, 10),  # reclake 0.2.0: 4 blocks a side
    "reclake": ({}, None, 10),  # reclake's defaults now: one block per core
    "kryo": ({"spark.serializer": "org.apache.spark.serializer.KryoSerializer"}, None, -1),
    "java-lapack": ({"spark.driver.extraJavaOptions": f"-Ddev.ludovic.netlib.lapack.nativeLib={NOT_NATIVE}"}, None, 10),
    "java-blas": ({"spark.driver.extraJavaOptions": f"-Ddev.ludovic.netlib.blas.nativeLib={NOT_NATIVE}"}, None, 10),
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


def fit_spark(workdir: Path, args: argparse.Namespace) -> dict:
    """In this (child) process: a fresh JVM with the variant's settings, fit, factors saved as .npy."""
    from pyspark.ml.recommendation import ALS

    from reclake.config import SparkSection
    from reclake.spark import build_spark_session

    conf, blocks, checkpoint = VARIANTS[args.spark_variant]
    if "spark.driver.extraJavaOptions" in conf:  # keep the session builder's collector choice
        conf = {**conf, "spark.driver.extraJavaOptions": "-XX:+UseParallelGC " + conf["spark.driver.extraJavaOptions"]}
    spark = build_spark_session(
        SparkSection(master=f"local[{args.cores}]", driver_memory="12g", shuffle_partitions=args.cores * 4, conf=conf)
    )
    jvm = spark._jvm  # which BLAS and LAPACK netlib picked: native (JNI) or Java
    blas = jvm.dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getSimpleName()
    lapack = jvm.dev.ludovic.netlib.lapack.LAPACK.getInstance().getClass().getSimpleName()
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
        numUserBlocks=blocks or args.cores,
        numItemBlocks=blocks or args.cores,
        checkpointInterval=checkpoint,
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
    return {"seconds": seconds, "blas": blas, "lapack": lapack}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--pairs-per-user", type=float, default=24.5)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
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
        fitted = json.loads(done.stdout.strip().splitlines()[-1])
        users, items = (np.load(workdir / f"{variant}-{name}.npy") for name in ("user", "item"))
        results[f"spark-{variant}"] = {**fitted, **quality(users, items, train, test)}
        print(f"spark-{variant}", results[f"spark-{variant}"], flush=True)
    cg, cholesky = results["implicit-cg"]["seconds"], results["implicit-cholesky"]["seconds"]
    for label, result in results.items():
        print(
            f"{label:>18}: {result['seconds'] / args.iterations:6.2f} s/iteration  "
            f"{result['seconds'] / cg:5.2f}x implicit-cg  {result['seconds'] / cholesky:5.2f}x implicit-cholesky  "
            f"precision@10 {result['precision@10']:.4f}  NDCG@10 {result['ndcg@10']:.4f}"
            + (f"  ({result['blas']}, {result['lapack']})" if "blas" in result else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
