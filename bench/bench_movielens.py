"""MovieLens 100k offline benchmark: tuned implicit ALS against a popularity baseline.

Protocol: per-user random 75/25 split of u.data with seed 42 (reclake/model/splitters.py),
every held-out interaction relevant, k = 10, already-seen items excluded.

1. tuned: validate + prepare u.data, then ``train`` with ``tune.enabled`` (the
   search in conf/movielens-100k.yaml's ``tune`` section, scored on a validation
   split carved out of the 75% training part, never the test part), then
   ``evaluate``: the winner fit on the 75% and scored on the 25%, next to the
   popularity baseline.
2. shipped: the 75% written back as a u.data-format file, and a plain
   ``reclake run --config conf/movielens-100k.yaml --input <that file>``; the
   published top-10 lists are scored against the 25% (the check made from
   outside the project). The shipped settings should equal step 1's winner.

    python bench/bench_movielens.py            # both steps, data from ../shared/data/movielens-100k
    python bench/bench_movielens.py --data /path/to/u.data
    python bench/bench_movielens.py --shipped  # step 2 only
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from reclake import pipeline
from reclake.config import load_config
from reclake.constants import (
    EVENT_TIME,
    ITEM_ID,
    ITEM_IDX,
    RANK,
    USER_ID,
    USER_IDX,
    VALUE,
)
from reclake.io.tables import (
    EVENTS,
    INTERACTIONS,
    ITEM_IDS,
    RECOMMENDATIONS,
    USER_IDS,
    table_uri,
)
from reclake.model.metrics import RANKING_METRICS
from reclake.model.report import REPORTED_METRICS
from reclake.model.scoring import list_quality
from reclake.model.splitters import holdout
from reclake.runner import execute
from reclake.spark import build_spark_session
from reclake.stages import evaluate, prepare, train, validate

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "movielens-100k" / "u.data"
CONFIG = REPO / "conf" / "movielens-100k.yaml"
K = 10
PROTOCOL = ["evaluate.split=random", "evaluate.test_ratio=0.25", "evaluate.seed=42", f"evaluate.k={K}"]
COMMON = ["spark.driver_memory=3g", "evaluate.gate=false"]


def show(name: str, metrics: dict[str, float]) -> None:
    """One line: every reported metric present in ``metrics`` (the published lists lack the factor-based ones)."""
    labels = {m: f"{m}@{K}" if m in RANKING_METRICS else m for m in REPORTED_METRICS if m in metrics}
    print(f"{name:<22} " + "  ".join(f"{label}={metrics[m]:.4f}" for m, label in labels.items()), flush=True)


def tuned(lakehouse: Path, data: Path) -> dict:
    """Step 1: validate, prepare, train with tuning, evaluate on the held-out 25%."""
    overrides = [f"lakehouse.root={lakehouse}", f"input.path={data}", "tune.enabled=true", *PROTOCOL, *COMMON]
    config = load_config(CONFIG, overrides)
    started = time.perf_counter()
    summary = execute([validate.STAGE, prepare.STAGE, train.STAGE, evaluate.STAGE], config, "bench")
    if summary["status"] != "succeeded":
        sys.exit(f"bench failed: {summary.get('error')}")
    m = summary["metrics"]["evaluate"]
    print(f"step 1 (tuned) took {time.perf_counter() - started:.0f}s: {summary['timings_s']}")
    for trial in summary["tuning"]["trials"]:
        print("  trial", json.dumps(trial))
    print("winner:", json.dumps(summary["tuning"]["best"]))
    show(
        "ALS (tuned winner)",
        {name: m[f"{name}@{K}" if name in RANKING_METRICS else name] for name in REPORTED_METRICS},
    )
    show(
        "popularity baseline",
        {name: m["baseline_" + (f"{name}@{K}" if name in RANKING_METRICS else name)] for name in REPORTED_METRICS},
    )
    return summary["tuning"]["best"]


def shipped(lakehouse: Path, workdir: Path, data: Path) -> None:
    """Step 2: the shipped config on a 75% training file; score the published lists on the 25%."""
    config = load_config(CONFIG, [f"lakehouse.root={lakehouse}", f"input.path={data}", *PROTOCOL, *COMMON])
    spark = build_spark_session(config.spark)
    if not (lakehouse / INTERACTIONS.name).exists():
        execute([validate.STAGE, prepare.STAGE], config, "bench")
    root = str(lakehouse)
    interactions = spark.read.format("delta").load(table_uri(root, INTERACTIONS))
    train_part, test_part = holdout(interactions, config.evaluate)
    users = spark.read.format("delta").load(table_uri(root, USER_IDS))
    items = spark.read.format("delta").load(table_uri(root, ITEM_IDS))

    def with_ids(part):
        return part.join(users, USER_IDX).join(items, ITEM_IDX).select(USER_ID, ITEM_ID)

    events = spark.read.format("delta").load(table_uri(root, EVENTS))
    train_file = workdir / "u75.data"
    (
        with_ids(train_part)
        .join(events, [USER_ID, ITEM_ID])
        .select(USER_ID, ITEM_ID, F.col(VALUE).cast("int"), F.unix_timestamp(EVENT_TIME))
        .coalesce(1)
        .write.mode("overwrite")
        .option("sep", "\t")
        .csv(str(train_file))
    )
    out = workdir / "shipped-lakehouse"
    started = time.perf_counter()
    status = pipeline.main(["--config", str(CONFIG), "--input", str(train_file), "--lakehouse", str(out)])
    if status:
        sys.exit("reclake run with the shipped config failed")
    print(f"step 2 (shipped config, reclake run on the 75% file) took {time.perf_counter() - started:.0f}s")
    published = spark.read.format("delta").load(table_uri(str(out), RECOMMENDATIONS))
    top = published.select(F.col(USER_ID).alias(USER_IDX), RANK, F.col(ITEM_ID).alias(ITEM_IDX))
    relevant = with_ids(test_part).toDF(USER_IDX, ITEM_IDX)
    show("ALS (shipped config)", list_quality(top, with_ids(train_part).toDF(USER_IDX, ITEM_IDX), relevant, K))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipped", action="store_true", help="only step 2: the shipped config from outside")
    parser.add_argument("--data", type=Path, default=DATA, help=f"MovieLens 100k u.data (default: {DATA})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if not args.data.exists():
        sys.exit(f"MovieLens 100k not found at {args.data} (pass --data)")
    with tempfile.TemporaryDirectory(prefix="reclake-bench-") as tmp:
        lakehouse = Path(tmp) / "lakehouse"
        if not args.shipped:
            best = tuned(lakehouse, args.data)
            als = load_config(CONFIG).als
            mismatch = {k: (getattr(als, k), v) for k, v in best.items() if getattr(als, k) != v}
            print(
                "shipped conf carries the winner" if not mismatch else f"shipped conf differs from winner: {mismatch}"
            )
        shipped(lakehouse, Path(tmp), args.data)


if __name__ == "__main__":
    main()
