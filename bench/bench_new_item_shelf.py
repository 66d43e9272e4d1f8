"""MovieLens 100k new items through ``reclake run``: the published new-item shelf with and without the title.

Issue 28's protocol, end to end as a user would meet it. ``u.item`` becomes the
catalogue a user would write (bench_content_groups.py's ``user_catalogue``:
``item_id``, ``title``, ``genres`` ``|``-separated, ``decade`` such as 1990s); 10% of
the items are held out of the events entirely (by default every item whose id ends
in 0, 168 items; ``--seed N``: a seeded random 10% instead) and the other ratings
are written to a file; then ``python -m reclake.cli run`` runs twice as separate
processes, in fresh lakehouses, with ``conf/movielens-100k-catalogue.yaml`` and the
catalogue given as ``tag_columns: {genres: "|", decade: ","}``, once with
``text_columns: [title]`` and once without, every other setting the default. The
published ``new_item_recommendations`` (read with delta-rs) are scored for every
user with a held-out rating: recall@10 = hits / min(relevant, 10) and binary NDCG@10
(ideal over min(relevant, 10)) among the held-out items, a user without a list
scoring 0, beside a seeded random order of the same items per user. It prints
both rows, the random reference, the ratio of the recalls (with / without the
title) and what the content map chose in each run.

    python bench/bench_new_item_shelf.py
    python bench/bench_new_item_shelf.py --seed 7 --workdir /tmp/shelf --set spark.driver_memory=3g
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench_cold_start import CONFIG, REPO, K, check_data, movielens_arguments
from bench_content_groups import USER_CATALOGUE, user_catalogue
from deltalake import DeltaTable

from reclake.model.metrics import ideal_dcg

RUNS = {
    "genres + decade": "catalogue.text_columns=[]",
    "genres + decade + title as text": "catalogue.text_columns=[title]",
}
SHELF = "new_item_recommendations"


def held_out_items(ratings: list[str], seed: int | None) -> set[str]:
    """10% of the rated items: those whose id ends in 0 (no seed), or a seeded random sample."""
    items = sorted({line.split("\t")[1] for line in ratings}, key=int)
    if seed is None:
        return {item for item in items if int(item) % 10 == 0}
    return set(random.Random(seed).sample(items, len(items) // 10))


def split_events(data_dir: Path, held: set[str], kept: Path) -> dict[str, set[str]]:
    """Writes u.data without the ``held`` items' ratings to ``kept``; returns each user's held-out items."""
    relevant: dict[str, set[str]] = defaultdict(set)
    with kept.open("w", encoding="utf-8") as out:
        for line in (data_dir / "u.data").read_text(encoding="utf-8").splitlines(keepends=True):
            user, item = line.split("\t")[:2]
            if item in held:
                relevant[user].add(item)
            else:
                out.write(line)
    return relevant


def run(lakehouse: Path, events: Path, sets: Iterable[str]) -> dict[str, Any]:
    """One ``reclake run`` process (its progress on stderr); its ``--json`` summary. Fails loudly."""
    command = [sys.executable, "-m", "reclake.cli", "run", "--config", str(CONFIG), "--lakehouse", str(lakehouse)]
    command += ["--input", str(events), "--json", *(arg for s in sets for arg in ("--set", s))]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=REPO, check=False)
    lines = done.stdout.strip().splitlines()
    summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or summary.get("status") != "succeeded":
        sys.exit(f"reclake run failed ({done.returncode}): {summary.get('error')}")
    return summary


def shelf(lakehouse: Path) -> dict[str, list[str]]:
    """The published new-item lists: user id -> item ids by rank."""
    rows = DeltaTable(str(lakehouse / SHELF)).to_pyarrow_table(columns=["user_id", "rank", "item_id"]).to_pylist()
    lists: dict[str, list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (str(r["user_id"]), r["rank"])):
        lists[str(row["user_id"])].append(str(row["item_id"]))
    return lists


def scored(ranked: list[str], relevant: set[str]) -> tuple[float, float]:
    """(recall@K = hits / min(relevant, K), NDCG@K) of one list."""
    hits = [n for n, item in enumerate(ranked[:K]) if item in relevant]
    best = min(len(relevant), K)
    return len(hits) / best, sum(1 / math.log2(n + 2) for n in hits) / ideal_dcg(K)[best - 1]


def mean(lists: Mapping[str, list[str]], relevant: Mapping[str, set[str]]) -> tuple[float, float]:
    """Mean recall@K and NDCG@K over the users with relevant items (no list: 0)."""
    found = [scored(lists.get(user, []), items) for user, items in relevant.items()]
    return sum(r for r, _ in found) / len(found), sum(n for _, n in found) / len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    movielens_arguments(parser)
    parser.add_argument(
        "--seed", type=int, help="hold out a seeded random 10%% of the items (default: ids ending in 0)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the catalogue, events and lakehouses here (default: temp)")
    args = parser.parse_args()
    check_data(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="reclake-shelf-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        items, kept = work / "items.csv", work / "u.data.kept"
        user_catalogue(args.data_dir, items)
        held = held_out_items((args.data_dir / "u.data").read_text(encoding="utf-8").splitlines(), args.seed)
        relevant = dict(sorted(split_events(args.data_dir, held, kept).items(), key=lambda kv: int(kv[0])))
        ratings = sum(len(v) for v in relevant.values())
        print(f"{len(held)} items held out ({ratings} ratings by {len(relevant)} users)", flush=True)
        figures = {}
        for n, (name, text) in enumerate(RUNS.items()):
            sets = [f"catalogue.path={items}", *USER_CATALOGUE, text, *args.overrides]
            summary = run(work / f"lakehouse-{n}", kept, sets)
            figures[name] = mean(shelf(work / f"lakehouse-{n}"), relevant)
            print(
                f"{name}: recall@{K} {figures[name][0]:.4f} NDCG@{K} {figures[name][1]:.4f} "
                f"(run {summary['timings_s']['total']:.0f} s; content map {json.dumps(summary.get('content_map'))})",
                flush=True,
            )
        order = sorted(held, key=int)
        rng = random.Random(args.seed if args.seed is not None else 42)
        shuffled = mean({user: rng.sample(order, len(order)) for user in relevant}, relevant)
        print(f"random order of the {len(order)} items: recall@{K} {shuffled[0]:.4f} NDCG@{K} {shuffled[1]:.4f}")
        without, with_title = figures.values()
        print(
            f"with / without the title: recall@{K} {with_title[0] / without[0]:.3f}x (issue 28: >= 0.95x, both >= 0.28)"
        )


if __name__ == "__main__":
    main()
