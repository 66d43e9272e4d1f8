"""MovieLens 100k cold-start benchmark: new items through the content map, new users through fold-in.

Data: u.data through validate + prepare with conf/movielens-100k.yaml (implicit ALS,
the shipped settings), and u.item (Latin-1, pipe-separated, no header) converted
here into content columns: title words (text), release decade (a tag) and the 19
genre flags. k = 10, seed 42.

1. New items: 10% of the items that have interactions are held out entirely (all
   their interactions). ALS is fit on the rest; a ridge map from content to the
   ALS item factors is fit on the items the model has (reclake/content.py) and
   gives the held-out items factors; each user's top 10 among the held-out items
   (the same kernel as recommend) is scored against their held-out interactions:
   recall@10 = hits / min(relevant, 10) and NDCG@10, next to a random ranking of
   the same items for the same users.
2. New users: 10% of the users are held out of training; half of each one's
   interactions (random, seed 42) is folded in against the fixed item factors
   (reclake/recommend/foldin.py), the other half is the test set. Their top 10
   (folded-in items excluded) against the popularity fallback's (popularity
   from the training users), precision@10 and NDCG@10.

    python bench/bench_cold_start.py
    python bench/bench_cold_start.py --data-dir /path/to/ml-100k --reg 1 10 100
    python bench/bench_cold_start.py --no-title   # content: genres and decade only
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from reclake.config import load_config
from reclake.constants import FEATURES, ITEM_ID, ITEM_IDX, RANK, USER_IDX
from reclake.content import CONTENT, content_features, fit_content_map, mapped_factors
from reclake.io.tables import INTERACTIONS, ITEM_IDS, table_uri
from reclake.model.als import fit_als
from reclake.model.metrics import per_user_ranking_metrics
from reclake.recommend.fallback import folded_in_factors, popularity_factors
from reclake.recommend.topn import top_n_for_users
from reclake.runtime import execute
from reclake.spark import build_spark_session
from reclake.stages import prepare, validate

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "movielens-100k"
CONFIG = REPO / "conf" / "movielens-100k.yaml"
K, SEED, SHARE = 10, 42, 0.1
GENRES = [f"genre_{i}" for i in range(19)]


def item_catalogue(spark, path: Path) -> DataFrame:
    """u.item as content columns: movie, title (year removed), decade, 19 genre flags."""
    names = ["movie", "raw_title", "release", "video_release", "url", *GENRES]
    raw = spark.read.option("sep", "|").option("encoding", "ISO-8859-1").csv(str(path)).toDF(*names)
    year = F.regexp_extract("release", r"(\d{4})$", 1)
    return raw.select(
        "movie",
        F.regexp_replace("raw_title", r"\s*\(\d{4}\)\s*$", "").alias("title"),
        F.when(year != "", F.concat(F.substring(year, 1, 3), F.lit("0s"))).alias("decade"),
        *GENRES,
    )


def capped_scores(top: DataFrame, relevant: DataFrame) -> dict[str, float]:
    """Mean recall@K = hits / min(relevant, K) and NDCG@K over users with relevant items."""
    per_user = per_user_ranking_metrics(top, relevant, K)
    sizes = relevant.groupBy(USER_IDX).agg(F.count(F.lit(1)).alias("_n"))
    capped = per_user.join(sizes, USER_IDX).select(
        (F.col("precision") * K / F.least(F.col("_n"), F.lit(K))).alias("recall"), "ndcg", "precision"
    )
    row = capped.agg(*[F.avg(c).alias(c) for c in ("recall", "ndcg", "precision")], F.count(F.lit(1)).alias("users"))
    return row.first().asDict()


def random_top(users: DataFrame, items: DataFrame) -> DataFrame:
    """Each user's first K items of a random order of ``items`` (seeded)."""
    order = Window.partitionBy(USER_IDX).orderBy(F.rand(SEED))
    pairs = users.select(USER_IDX).crossJoin(items.select(ITEM_IDX))
    return pairs.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= K)


def new_items(spark, config, interactions: DataFrame, catalogue: DataFrame, regs: list[float]) -> None:
    items = interactions.select(ITEM_IDX).distinct()
    held_items = items.sample(fraction=SHARE, seed=SEED).cache()
    train = interactions.join(held_items, ITEM_IDX, "left_anti").cache()
    test = interactions.join(held_items, ITEM_IDX, "left_semi").select(USER_IDX, ITEM_IDX).cache()
    print(f"new items: {held_items.count()} held out, {test.count()} held-out interactions, {train.count()} train")
    started = time.perf_counter()
    model = fit_als(train, config.als)
    factors = model.itemFactors.select(F.col("id").alias(ITEM_IDX), FEATURES)
    users = model.userFactors.select(F.col("id").alias(USER_IDX), FEATURES)
    no_seen = spark.createDataFrame([], f"{USER_IDX} int, {ITEM_IDX} int")
    random_scores = capped_scores(random_top(users, held_items), test)
    print(f"  random ranking of the new items: {fmt(random_scores)}")
    for reg in regs:
        weights = fit_content_map(catalogue, factors, reg)
        mapped = mapped_factors(catalogue.join(held_items, ITEM_IDX, "left_semi"), weights)
        scores = capped_scores(top_n_for_users(users, mapped, no_seen, K), test)
        lift = scores["recall"] / random_scores["recall"]
        print(f"  content map, ridge reg {reg:g}: {fmt(scores)}  recall lift over random {lift:.2f}x")
    print(f"  took {time.perf_counter() - started:.0f}s")


def new_users(spark, config, interactions: DataFrame) -> None:
    everyone = interactions.select(USER_IDX).distinct()
    held_users = everyone.sample(fraction=SHARE, seed=SEED).cache()
    train = interactions.join(held_users, USER_IDX, "left_anti").cache()
    theirs = interactions.join(held_users, USER_IDX, "left_semi").withColumn("_r", F.rand(SEED))
    known = theirs.where(F.col("_r") < 0.5).drop("_r").cache()
    test = theirs.where(F.col("_r") >= 0.5).select(USER_IDX, ITEM_IDX).cache()
    print(f"new users: {held_users.count()} held out, {known.count()} folded-in interactions, {test.count()} test")
    started = time.perf_counter()
    model = fit_als(train, config.als)
    factors = model.itemFactors.select(F.col("id").alias(ITEM_IDX), FEATURES)
    folded = folded_in_factors(held_users, known, factors, config.als)
    seen = known.select(USER_IDX, ITEM_IDX)
    foldin = capped_scores(top_n_for_users(folded, factors, seen, K), test)
    ones = held_users.select(USER_IDX, F.array(F.lit(1.0).cast("float")).alias(FEATURES))
    popular = top_n_for_users(ones, popularity_factors(factors.select(ITEM_IDX), train), seen, K)
    print(f"  fold-in:             {fmt(foldin)}")
    print(f"  popularity fallback: {fmt(capped_scores(popular, test))}")
    print(f"  took {time.perf_counter() - started:.0f}s")


def fmt(scores: dict[str, float]) -> str:
    return (
        f"precision@{K} {scores['precision']:.4f}  recall@{K} (capped) {scores['recall']:.4f}  "
        f"NDCG@{K} {scores['ndcg']:.4f}  ({scores['users']} users)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"MovieLens 100k folder (default: {DATA_DIR})")
    parser.add_argument("--reg", type=float, nargs="+", default=[1.0, 10.0, 100.0], help="ridge reg_param values")
    parser.add_argument("--no-title", action="store_true", help="content from genres and decade only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not (args.data_dir / "u.data").exists() or not (args.data_dir / "u.item").exists():
        sys.exit(f"MovieLens 100k u.data and u.item not found in {args.data_dir} (pass --data-dir)")
    with tempfile.TemporaryDirectory(prefix="reclake-cold-") as tmp:
        overrides = [f"lakehouse.root={tmp}/lakehouse", f"input.path={args.data_dir / 'u.data'}"]
        config = load_config(CONFIG, [*overrides, "spark.driver_memory=3g", "validation.data_docs=false"])
        summary = execute([validate.STAGE, prepare.STAGE], config, "bench")
        if summary["status"] != "succeeded":
            sys.exit(f"bench failed: {summary.get('error')}")
        spark = build_spark_session(config.spark)
        spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
        root = config.lakehouse.root
        interactions = spark.read.format("delta").load(table_uri(root, INTERACTIONS)).cache()
        item_ids = spark.read.format("delta").load(table_uri(root, ITEM_IDS))
        content = content_features(
            item_catalogue(spark, args.data_dir / "u.item"),
            id_column="movie",
            text_columns=[] if args.no_title else ["title"],
            tag_columns={"decade": "|"},
            flag_columns=GENRES,
        )
        catalogue = content.join(item_ids, ITEM_ID).select(ITEM_IDX, CONTENT).cache()
        new_items(spark, config, interactions, catalogue, args.reg)
        new_users(spark, config, interactions)
        spark.stop()


if __name__ == "__main__":
    main()
