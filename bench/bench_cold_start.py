"""MovieLens 100k cold-start benchmark through the pipeline: new items by the content map, new users by fold-in.

``u.item`` (headerless Latin-1, pipe-separated, 19 genre flags) is converted here
into a CSV with a header (movie, title without the year, decade, one 0/1 column per
genre of ``u.genre``), since the catalogue keys cannot describe it. Then
``reclake`` validate, prepare, train, evaluate and recommend run with
``conf/movielens-100k-catalogue.yaml`` (implicit ALS, the shipped settings; the
catalogue's content: decade as a tag, the genre flags) in a temporary lakehouse.
``evaluate`` measures the cold-start paths (reclake/model/coldstart.py; k = 10,
seed 42): 10% of the items with content and 10% of the users held out of training;
new items ranked through the content map against a random ranking (recall@10 =
hits / min(relevant, 10), NDCG@10); new users folded in against the popularity
fallback (precision@10, NDCG@10). The warm figures (model vs popularity) are
printed too, to compare with the MovieLens rows of bench/README.md.

    python bench/bench_cold_start.py
    python bench/bench_cold_start.py --set "recommend.content_reg_params=[10]" --set "catalogue.text_columns=[title]"
    python bench/bench_cold_start.py --convert lakehouse/movielens-100k-catalogue/u.item.csv   # convert only
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from reclake.config import load_config
from reclake.runner import execute
from reclake.stages import evaluate, prepare, recommend, train, validate

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "movielens-100k"
CONFIG = REPO / "conf" / "movielens-100k-catalogue.yaml"
K = 10


def genre_names(data_dir: Path) -> list[str]:
    """u.genre's names, in the order of u.item's genre flags."""
    lines = (data_dir / "u.genre").read_text(encoding="latin-1").splitlines()
    return [line.split("|")[0] for line in lines if line.strip()]


def genre_columns(data_dir: Path) -> list[str]:
    """u.genre's names as column names: "Children's" -> children_s, "Sci-Fi" -> sci_fi."""
    return [re.sub(r"[^a-z]+", "_", name.lower()).strip("_") for name in genre_names(data_dir)]


def movies(data_dir: Path) -> Iterator[tuple[str, str, str, list[str]]]:
    """u.item's (movie, title without the year, decade such as 1990s or "", the 0/1 genre flags)."""
    for line in (data_dir / "u.item").read_text(encoding="latin-1").splitlines():
        movie, title, release, _video, _url, *flags = line.split("|")
        year = re.search(r"(\d{4})$", release)
        yield movie, re.sub(r"\s*\(\d{4}\)\s*$", "", title), f"{year.group(1)[:3]}0s" if year else "", flags


def write_csv(out: Path, header: list[str], rows: list[list[str]]) -> int:
    """A UTF-8 CSV with a header; returns the rows written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return len(rows)


def convert_items(data_dir: Path, out: Path) -> int:
    """u.item -> a UTF-8 CSV with a header: movie, title, decade, the genre flags. Returns the rows written."""
    rows = [[movie, title, decade, *flags] for movie, title, decade, flags in movies(data_dir)]
    return write_csv(out, ["movie", "title", "decade", *genre_columns(data_dir)], rows)


def movielens_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every MovieLens cold-start benchmark takes: the data folder and config overrides."""
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help=f"MovieLens 100k folder (default: {DATA_DIR})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")


def check_data(data_dir: Path) -> None:
    """Warnings only, and stop when MovieLens 100k's files are missing."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not all((data_dir / name).exists() for name in ("u.data", "u.item", "u.genre")):
        sys.exit(f"MovieLens 100k u.data, u.item and u.genre not found in {data_dir} (pass --data-dir)")


def bench_overrides(tmp: str, data_dir: Path, items: Path) -> list[str]:
    """A temporary lakehouse, MovieLens' events and ``items`` as the catalogue, no Data Docs."""
    return [
        f"lakehouse.root={tmp}/lakehouse",
        f"input.path={data_dir / 'u.data'}",
        f"catalogue.path={items}",
        "spark.driver_memory=3g",
        "validation.data_docs=false",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    movielens_arguments(parser)
    parser.add_argument("--convert", type=Path, metavar="CSV", help="only convert u.item to this CSV, then stop")
    args = parser.parse_args()
    check_data(args.data_dir)
    if args.convert:
        print(f"{convert_items(args.data_dir, args.convert)} items written to {args.convert}")
        return
    with tempfile.TemporaryDirectory(prefix="reclake-cold-") as tmp:
        items = Path(tmp) / "u.item.csv"
        convert_items(args.data_dir, items)
        config = load_config(CONFIG, [*bench_overrides(tmp, args.data_dir, items), *args.overrides])
        started = time.perf_counter()
        stages = [validate.STAGE, prepare.STAGE, train.STAGE, evaluate.STAGE, recommend.STAGE]
        summary = execute(stages, config, "bench")
        if summary["status"] != "succeeded":
            sys.exit(f"bench failed in {summary.get('failed_stage')}: {summary.get('error')}")
        took = time.perf_counter() - started
    metrics, counts = summary["metrics"]["evaluate"], summary["counts"]
    print(f"catalogue: {json.dumps({k: v for k, v in counts['validate'].items() if k.startswith('catalogue_')})}")
    print(
        f"warm (model vs popularity): ndcg@{K} {metrics[f'ndcg@{K}']:.4f} vs {metrics[f'baseline_ndcg@{K}']:.4f}, "
        f"precision@{K} {metrics[f'precision@{K}']:.4f}, recall@{K} {metrics[f'recall@{K}']:.4f}, "
        f"map@{K} {metrics[f'map@{K}']:.4f}; content diversity {metrics['content_diversity']:.4f} "
        f"vs {metrics['baseline_content_diversity']:.4f}"
    )
    recall, random = metrics[f"new_items.recall@{K}"], metrics[f"new_items.random_recall@{K}"]
    print(
        f"new items: content map recall@{K} {recall:.4f} NDCG@{K} {metrics[f'new_items.ndcg@{K}']:.4f}; random "
        f"recall@{K} {random:.4f} NDCG@{K} {metrics[f'new_items.random_ndcg@{K}']:.4f}; lift {recall / random:.2f}x"
    )
    print(
        f"new users: fold-in precision@{K} {metrics[f'new_users.precision@{K}']:.4f} "
        f"NDCG@{K} {metrics[f'new_users.ndcg@{K}']:.4f}; popularity precision@{K} "
        f"{metrics[f'new_users.popular_precision@{K}']:.4f} NDCG@{K} {metrics[f'new_users.popular_ndcg@{K}']:.4f}"
    )
    print(f"recommend: {json.dumps(counts['recommend'])}")
    print(f"took {took:.0f}s")


if __name__ == "__main__":
    main()
