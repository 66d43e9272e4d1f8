"""An item catalogue through the whole pipeline: validation, content features, new items in the lists and the shelf.

The golden run's synthetic events plus a catalogue CSV written here: every
generated item with its planted taste cluster as a genre and a title word,
twelve new items (in the catalogue, never in the events) spread over the
clusters, and three bad rows (no id, a repeated id, a line with an extra field).
One `reclake run`; the tests read its tables back with delta-rs and Spark, and
serve them through the lookup client and the HTTP API.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from reclake import pipeline
from reclake.config import GenerateSection
from reclake.constants import SOURCE_ALS, SOURCE_CONTENT, SOURCE_FOLDIN
from reclake.serving.api import create_app
from reclake.serving.lookup import LookupClient
from reclake.stages import validate
from reclake.synthetic import _catalogue
from tests.helpers import Golden, spark_overrides

CLUSTERS, ITEMS, USERS = 4, 120, 400
WORDS = ["harbour", "meadow", "engine", "lantern"]  # one title word per planted cluster
NEW_ITEMS = [f"n{n:03d}" for n in range(12)]  # three per cluster: n000 in cluster 0, n001 in 1, ...
SHELF = 4
CATALOGUE_SETS = [
    "catalogue.text_columns=[title]",
    "catalogue.tag_columns={genres: '|'}",
    f"recommend.new_items_top_n={SHELF}",
    # Longer lists and a light ridge penalty (120 known items): new items then reach some users' lists.
    "recommend.top_n=30",
    "recommend.content_reg_params=[1]",
]


def item_clusters() -> np.ndarray:
    """The planted cluster of every generated item (the generator's own catalogue, same settings as golden)."""
    settings = GenerateSection(users=USERS, items=ITEMS, clusters=CLUSTERS, mean_items_per_user=15)
    return _catalogue(settings)[0]


def write_catalogue(path: Path, bad: list[list[str]]) -> None:
    rows = [[f"i{i:07d}", f"The {WORDS[c]} story {i}", f"c{c}|all"] for i, c in enumerate(item_clusters())]
    rows += [[item, f"A {WORDS[n % CLUSTERS]} tale", f"c{n % CLUSTERS}|all"] for n, item in enumerate(NEW_ITEMS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([["item_id", "title", "genres"], *rows, *bad])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())


BAD_ROWS = [
    ["", "A nameless film", "c1|all"],  # item_id_missing
    ["i0000003", "A second i0000003", "c2|all"],  # duplicate_item: the first row stays
    ["n100", "An extra field", "c0|all", "extra field"],  # malformed_line
]


def run_pipeline(args: list[str]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = pipeline.main([*spark_overrides(), *args, "--json"])
    return status, json.loads(out.getvalue().strip().splitlines()[-1])


@dataclass(frozen=True)
class Run:
    root: Path
    catalogue: Path
    summary: dict[str, Any]


def catalogue_args(root: Path, catalogue: Path) -> list[str]:
    sets = [f"catalogue.path={catalogue}", *CATALOGUE_SETS]
    return [*Golden.args(root), *[item for s in sets for item in ("--set", s)]]


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> Run:
    folder = tmp_path_factory.mktemp("catalogue")
    root, catalogue = folder / "lakehouse", folder / "catalogue.csv"
    write_catalogue(catalogue, BAD_ROWS)
    status, summary = run_pipeline(catalogue_args(root, catalogue))
    assert status == 0, summary.get("error")
    return Run(root, catalogue, summary)


def table(root: Path, name: str) -> list[dict[str, Any]]:
    return DeltaTable(str(root / name)).to_pyarrow_table().to_pylist()


def test_catalogue_is_validated_and_bad_rows_quarantined_with_the_reason(run):
    counts = run.summary["counts"]["validate"]
    raw = ITEMS + len(NEW_ITEMS) + len(BAD_ROWS)
    assert (counts["catalogue_raw_rows"], counts["catalogue_valid_rows"], counts["catalogue_quarantined_rows"]) == (
        raw,
        raw - 3,
        3,
    )
    assert counts["catalogue_rule.item_id_missing"] == counts["catalogue_rule.duplicate_item"] == 1
    assert counts["catalogue_rule.malformed_line"] == 1
    quarantined = {tuple(r["reasons"]): r["raw_record"] for r in table(run.root, "catalogue_quarantine")}
    assert set(quarantined) == {("item_id_missing",), ("duplicate_item",), ("malformed_line",)}
    assert "A second i0000003" in quarantined[("duplicate_item",)]
    assert quarantined[("malformed_line",)] == "n100,An extra field,c0|all,extra field"
    catalogue = table(run.root, "catalogue")
    assert len(catalogue) == raw - 3 == len({r["item_id"] for r in catalogue})
    first = next(r for r in catalogue if r["item_id"] == "i0000003")
    assert first["title"] == "The " + WORDS[item_clusters()[3]] + " story 3"  # the first copy was kept
    # Content: the title words in 5 titles or more (catalogue.text_min_df): "the", "story", "tale" and the 4 cluster
    # words, not the numbers; then the 5 distinct genres (c0..c3 and all) one-hot.
    assert {len(r["content"]) for r in catalogue} == {3 + len(WORDS) + CLUSTERS + 1}
    assert run.summary["tables"]["catalogue"].endswith("catalogue")


def test_new_items_get_a_shelf_for_every_user_ranked_from_their_content(run):
    counts = run.summary["counts"]["recommend"]
    assert counts["new_items"] == len(NEW_ITEMS)
    shelf = table(run.root, "new_item_recommendations")
    assert run.summary["tables"]["new_item_recommendations"].endswith("new_item_recommendations")
    users = {r["user_id"] for r in table(run.root, "recommendations") if r["source"] in (SOURCE_ALS, SOURCE_FOLDIN)}
    assert {r["user_id"] for r in shelf} == users  # every user with factors, learnt or folded in
    assert len(shelf) == SHELF * len(users) == counts["new_item_rows"]
    assert {r["item_id"] for r in shelf} <= set(NEW_ITEMS) and {r["source"] for r in shelf} == {SOURCE_CONTENT}
    by_user: dict[str, list[tuple[int, float]]] = {}
    for r in shelf:
        by_user.setdefault(r["user_id"], []).append((r["rank"], r["score"]))
    for ranked in by_user.values():
        ranks, scores = zip(*sorted(ranked), strict=True)
        assert list(ranks) == list(range(1, SHELF + 1)) and list(scores) == sorted(scores, reverse=True)
    # Planted structure: a user's best new item is mostly from their own taste cluster (chance: 1 in 4).
    cluster = {item: n % CLUSTERS for n, item in enumerate(NEW_ITEMS)}
    firsts = [r for r in shelf if r["rank"] == 1]
    own = sum(cluster[r["item_id"]] == (int(r["user_id"][1:]) * 2654435761) % CLUSTERS for r in firsts)
    assert own / len(firsts) > 0.6


def test_new_items_enter_the_lists_labelled_content_and_have_similar_items(run):
    recommendations = table(run.root, "recommendations")
    content_rows = [r for r in recommendations if r["source"] == SOURCE_CONTENT]
    assert content_rows and {r["item_id"] for r in content_rows} <= set(NEW_ITEMS)
    assert all(r["item_id"] in NEW_ITEMS for r in recommendations if r["item_id"].startswith("n"))
    assert run.summary["counts"]["recommend"]["rows.content"] == len(content_rows)
    similar = table(run.root, "similar_items")
    for item in NEW_ITEMS:
        neighbours = sorted((r["rank"], r["similar_item_id"]) for r in similar if r["item_id"] == item)
        assert len(neighbours) == 5 and item not in {n for _, n in neighbours}


def test_lookup_client_and_http_api_serve_the_shelf(run):
    rows = table(run.root, "new_item_recommendations")
    user = min(r["user_id"] for r in rows)
    shelf = sorted((r for r in rows if r["user_id"] == user), key=lambda r: r["rank"])
    client = LookupClient(str(run.root))
    result = client.new_items_for(user)
    assert [(i["rank"], i["item_id"], i["source"]) for i in result["items"]] == [
        (r["rank"], r["item_id"], r["source"]) for r in shelf
    ]
    http = TestClient(create_app(client))
    answer = http.get(f"/new-items/{user}")
    assert answer.status_code == 200 and answer.json()["items"] == result["items"]
    assert http.get("/new-items/nobody").status_code == 404


def test_evaluate_reports_the_cold_start_paths_and_content_diversity(run):
    metrics = run.summary["metrics"]["evaluate"]
    assert metrics["new_items.recall@10"] > metrics["new_items.random_recall@10"]
    assert 0 <= metrics["new_users.ndcg@10"] <= 1 and 0 <= metrics["new_users.popular_ndcg@10"] <= 1
    assert 0 < metrics["content_diversity"] <= 2 and 0 < metrics["baseline_content_diversity"] <= 2
    report = Path(run.summary["tables"]["report"]).read_text()
    assert "## Cold start" in report and "| feature group | features | chosen |" in report
    # The title word and the genre both name the planted cluster: the map keeps at least one, and says which.
    assert {metrics["content_map.text_on"], metrics["content_map.tags_on"]} <= {0.0, 1.0}
    assert (
        metrics["content_map.text_on"] + metrics["content_map.tags_on"] >= 1 and metrics["content_map.held_out_r2"] > 0
    )
    assert set(run.summary["content_map"]["groups"]) == {"text", "tags"}  # recommend's own choice


def test_a_catalogue_with_too_many_bad_rows_stops_the_run(run, run_cli, tmp_path):
    root, catalogue = tmp_path / "lakehouse", tmp_path / "bad.csv"
    shutil.copytree(run.root, root)
    write_catalogue(catalogue, [["", f"nameless {n}", "c0"] for n in range(10)])  # 10 of 142 rows: over 5%
    status, summary = run_cli(validate.main, *catalogue_args(root, catalogue))
    assert status == 2 and "catalogue_quarantine_share" in summary["error"]
    assert summary["counts"]["validate"]["catalogue_quarantined_rows"] == 10
    assert len(table(root, "catalogue")) == len(table(run.root, "catalogue"))  # not replaced
