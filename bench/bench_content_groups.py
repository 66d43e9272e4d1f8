"""MovieLens 100k new items by catalogue columns: the content map with and without a title, and each group alone.

The catalogue as a user would write it (issue 28): ``u.item`` converted into a CSV
with a header, ``item_id``, ``title`` (year removed), ``genres`` (names separated
by ``|``) and ``decade`` (e.g. ``1990s``). ``reclake`` validate and prepare run
with ``conf/movielens-100k-catalogue.yaml``'s events and ALS settings in a
temporary lakehouse. Then, per split (``--splits``, seeds 42, 43, ...), the issue's
protocol: 10% of the items (by a seeded hash of their index) held out of the
events entirely, one ALS fit on the rest with every user, and for each
configuration of catalogue columns the content features computed as validate
does, the content map fit as recommend does (default settings: a penalty per
feature group chosen by cross-validation) and every user's top 10 among the
held-out items (the ``new_item_recommendations`` computation) scored against
their interactions with them (reclake/model/coldstart.py's ``new_item_metrics``):
recall@10 = hits / min(relevant, 10) and NDCG@10, beside a seeded random order of
the same items. One ALS fit per split serves every configuration, so the rows of
a split differ only by the content.

    python bench/bench_content_groups.py
    python bench/bench_content_groups.py --splits 1 --set catalogue.text_min_df=1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench_cold_start import CONFIG, K, bench_overrides, check_data, genre_names, movielens_arguments, movies, write_csv
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import CatalogueSection, Config, load_config
from reclake.constants import ITEM_ID, ITEM_IDX, USER_IDX
from reclake.features.content import CONTENT, content_features
from reclake.io import catalogue
from reclake.io.tables import CATALOGUE, INTERACTIONS, ITEM_IDS
from reclake.model.als import fit_als
from reclake.model.coldstart import HeldOut, new_item_metrics
from reclake.runner import execute
from reclake.spark import build_spark_session
from reclake.stages import prepare, validate

# The catalogue: section for user_catalogue's CSV, bar the path and the text columns.
USER_CATALOGUE = [
    "catalogue.id_column=item_id",
    "catalogue.flag_columns=[]",
    "catalogue.tag_columns={genres: '|', decade: ','}",
]
TITLE, GENRES, DECADE = {"text_columns": ["title"]}, {"genres": "|"}, {"decade": ","}
# Catalogue columns per configuration, as the catalogue: section would name them.
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "genres + decade (the tags group alone)": {"tag_columns": GENRES | DECADE},
    "genres + decade + title as text": {"tag_columns": GENRES | DECADE, **TITLE},
    "title alone (the text group alone)": TITLE,
    "genres alone": {"tag_columns": GENRES},
    "decade alone": {"tag_columns": DECADE},
    # The vocabulary's floor: every title word a feature, as hashing made them.
    "genres + decade + title, text_min_df 1": {"tag_columns": GENRES | DECADE, **TITLE, "text_min_df": 1},
    "title alone, text_min_df 1": {**TITLE, "text_min_df": 1},
}


def user_catalogue(data_dir: Path, out: Path) -> int:
    """u.item -> item_id, title, genres (``|``-separated names), decade: the catalogue of issue 28. Returns rows."""
    genres = genre_names(data_dir)
    rows = [
        [movie, title, "|".join(name for name, flag in zip(genres, flags, strict=True) if flag == "1"), decade]
        for movie, title, decade, flags in movies(data_dir)
    ]
    return write_csv(out, ["item_id", "title", "genres", "decade"], rows)


def configured(spark: SparkSession, root: str, config: Config, columns: Mapping[str, Any]) -> DataFrame:
    """(item_idx, content) of the validated catalogue with only ``columns`` as content, computed as validate does."""
    assert config.catalogue is not None
    section = CatalogueSection.model_validate(
        {"path": config.catalogue.path, "text_min_df": config.catalogue.text_min_df} | dict(columns)
    )
    features = content_features(
        catalogue.read(spark, root, CATALOGUE).drop(CONTENT),
        id_column=ITEM_ID,
        text_columns=section.text_columns,
        tag_columns=section.tag_columns,
        text_min_df=section.text_min_df,
    )
    items = catalogue.read(spark, root, ITEM_IDS)
    return features.join(items, ITEM_ID).select(ITEM_IDX, CONTENT).localCheckpoint(eager=True)


def items_held_out(interactions: DataFrame, item_ids: DataFrame, seed: int) -> HeldOut:
    """10% of the items (a seeded hash of the index) held out of the events entirely; every user trained."""
    items = item_ids.where(F.pmod(F.xxhash64(ITEM_IDX, F.lit(seed)), F.lit(10)) == 0).select(ITEM_IDX)
    items = items.persist(StorageLevel.MEMORY_AND_DISK)
    train = interactions.join(items, ITEM_IDX, "left_anti").persist(StorageLevel.MEMORY_AND_DISK)
    return HeldOut(items, interactions.select(USER_IDX).limit(0).persist(), train)


def line(found: Mapping[str, Any]) -> str:
    """One configuration's figures and what the content map chose."""
    groups = found["content_map"]["groups"]
    chosen = {g: "off" if s["reg_param"] is None else f"ridge {s['reg_param']:g}" for g, s in groups.items()}
    features = {g: s["features"] for g, s in groups.items()}
    return (
        f"recall@{K} {found['recall']:.4f} NDCG@{K} {found['ndcg']:.4f} ({found['users']} users); random "
        f"recall@{K} {found['random_recall']:.4f} NDCG@{K} {found['random_ndcg']:.4f}; held-out R2 "
        f"{found['content_map']['held_out_r2']:.4f}; chosen {chosen}; features {features}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    movielens_arguments(parser)
    parser.add_argument("--splits", type=int, default=3, help="seeded item splits, averaged (default 3)")
    args = parser.parse_args()
    check_data(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="reclake-groups-") as tmp:
        items = Path(tmp) / "items.csv"
        user_catalogue(args.data_dir, items)
        overrides = [
            *bench_overrides(tmp, args.data_dir, items),
            *USER_CATALOGUE,
            "catalogue.text_columns=[title]",
            "monitoring.html_report=false",
            *args.overrides,
        ]
        config = load_config(CONFIG, overrides)
        started = time.perf_counter()
        summary = execute([validate.STAGE, prepare.STAGE], config, "bench")
        if summary["status"] != "succeeded":
            sys.exit(f"bench failed in {summary.get('failed_stage')}: {summary.get('error')}")
        spark, root = build_spark_session(config.spark), config.lakehouse.root
        interactions = catalogue.read(spark, root, INTERACTIONS)
        item_ids = catalogue.read(spark, root, ITEM_IDS)
        contents = {name: configured(spark, root, config, columns) for name, columns in CONFIGURATIONS.items()}
        settings = config.recommend
        print(f"content map: reg_params {settings.content_reg_params}, folds {settings.content_folds}")
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
        for seed in range(config.evaluate.seed, config.evaluate.seed + args.splits):
            split = items_held_out(interactions, item_ids, seed)
            model = fit_als(split.train, config.als)
            print(f"split seed {seed}: {split.items.count()} items held out")
            for name, content in contents.items():
                found[name].append(
                    new_item_metrics(interactions, content, split, model, k=K, seed=seed, settings=settings)
                )
                print(f"  {name}: {line(found[name][-1])}")
            for frame in split:
                frame.unpersist()
        print(f"mean of {args.splits} splits:")
        for name, runs in found.items():
            mean = {m: sum(r[m] for r in runs) / len(runs) for m in ("recall", "ndcg", "random_recall", "random_ndcg")}
            print(
                f"  {name}: recall@{K} {mean['recall']:.4f} NDCG@{K} {mean['ndcg']:.4f}; random recall@{K} "
                f"{mean['random_recall']:.4f} NDCG@{K} {mean['random_ndcg']:.4f}; lift {mean['recall'] / mean['random_recall']:.2f}x"
            )
        print(f"took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
