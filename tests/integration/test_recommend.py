"""recommend: exact top-N against brute-force numpy, exclusions, fallback coverage, blocked == broadcast."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest
from pyspark.sql import functions as F

from reclake.config import load_config
from reclake.constants import (
    FEATURES,
    ITEM_ID,
    ITEM_IDX,
    RANK,
    SCORE,
    SOURCE,
    SOURCE_ALS,
    SOURCE_FOLDIN,
    SOURCE_POPULAR,
    USER_ID,
    USER_IDX,
)
from reclake.errors import ConfigError
from reclake.io.tables import (
    INTERACTIONS,
    ITEM_IDS,
    STAGED_RECOMMENDATIONS,
    USER_IDS,
)
from reclake.recommend.kernel import top_k_entries
from reclake.recommend.topn import top_n_for_users
from reclake.stages import recommend
from tests.helpers import GOLDEN_RUN_DATE

RUN_DATE = dt.date.fromisoformat(GOLDEN_RUN_DATE)


def brute_force(scores: np.ndarray, excluded: set[tuple[int, int]], k: int) -> list[tuple[int, int, int]]:
    """(row, rank from 1, column): every row sorted by score desc then column, excluded cells skipped."""
    out = []
    for r, row in enumerate(scores):
        cols = sorted(
            (c for c in range(len(row)) if (r, c) not in excluded and np.isfinite(row[c])), key=lambda c: (-row[c], c)
        )
        out += [(r, rank, c) for rank, c in enumerate(cols[:k], start=1)]
    return out


@pytest.mark.parametrize("n_cols", [7, 320, 1024])
def test_top_k_entries_matches_a_full_sort_with_ties_and_exclusions(n_cols: int) -> None:
    rng = np.random.default_rng(n_cols)
    for levels in (3, 40, 10**6):  # few distinct values = many ties, also across the cut
        scores = rng.integers(0, levels, size=(30, n_cols)).astype(np.float32)
        scores[rng.random(scores.shape) < 0.2] = -np.inf
        scores[0, :-2] = -np.inf  # a row with fewer than k candidates
        rows, cols, ranks = top_k_entries(scores, 6)
        got = sorted(zip(rows.tolist(), (ranks + 1).tolist(), cols.tolist()))
        assert got == brute_force(scores, set(), 6)


def _factors(spark, ids: np.ndarray, vectors: np.ndarray, id_col: str):
    rows = [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors)]
    return spark.createDataFrame(rows, f"{id_col} int, {FEATURES} array<float>")


@pytest.fixture(scope="module")
def random_model(spark):
    """Small integer factors (so scores tie often), non-contiguous ids, random seen pairs."""
    rng = np.random.default_rng(7)
    user_ids = rng.choice(10_000, size=40, replace=False)
    item_ids = np.sort(rng.choice(100_000, size=700, replace=False))  # column order = item index order
    users = rng.integers(-2, 3, size=(40, 3)).astype(np.float32)
    items = rng.integers(-2, 3, size=(700, 3)).astype(np.float32)
    seen = {(int(u), int(i)) for u, i in zip(rng.integers(0, 40, 900), rng.integers(0, 700, 900))}
    seen |= {(0, i) for i in range(697)}  # user 0 has seen all but 3 items
    seen_df = spark.createDataFrame(
        [(int(user_ids[u]), int(item_ids[i])) for u, i in seen], f"{USER_IDX} int, {ITEM_IDX} int"
    )
    expected = [(int(user_ids[r]), rank, int(item_ids[c])) for r, rank, c in brute_force(users @ items.T, seen, 7)]
    shuffled = rng.permutation(700)  # the DataFrame's row order must not matter
    item_df = _factors(spark, item_ids[shuffled], items[shuffled], ITEM_IDX)
    return _factors(spark, user_ids, users, USER_IDX), item_df, seen_df, sorted(expected)


def _rows(top) -> list[tuple[int, int, int]]:
    return sorted((r[USER_IDX], r[RANK], r[ITEM_IDX]) for r in top.collect())


def test_broadcast_path_equals_brute_force(random_model) -> None:
    users, items, seen, expected = random_model
    assert _rows(top_n_for_users(users, items, seen, 7, user_batch_size=16)) == expected


def test_blocked_path_equals_brute_force_and_broadcast(random_model) -> None:
    users, items, seen, expected = random_model
    blocked = top_n_for_users(users, items, seen, 7, broadcast_limit_mb=1e-6, item_block_size=150)
    assert "CoGroup" in blocked._jdf.queryExecution().executedPlan().toString()
    assert _rows(blocked) == expected


def test_scores_are_the_dot_products(random_model) -> None:
    users, items, seen, _ = random_model
    top = top_n_for_users(users, items, seen, 3)
    joined = top.join(users.withColumnRenamed(FEATURES, "u"), USER_IDX).join(
        items.withColumnRenamed(FEATURES, "i"), ITEM_IDX
    )
    dots = joined.select(
        SCORE, F.aggregate(F.zip_with("u", "i", lambda a, b: a * b), F.lit(0.0), lambda s, x: s + x).alias("dot")
    )
    assert all(abs(r[SCORE] - r["dot"]) < 1e-4 for r in dots.collect())


# ---------------------------------------------------------------- the stage, end to end


@pytest.fixture(scope="module")
def lakehouse_with_model(spark, golden, tmp_path_factory):
    """A copy of the golden lakehouse (trained, evaluated, approved), plus two users who arrived after training.

    The newcomer has two interactions, the lurker none.
    """
    root = tmp_path_factory.mktemp("rec") / "lakehouse"
    shutil.copytree(golden.root, root)
    users = spark.read.format("delta").load(f"{root}/{USER_IDS}")
    items = spark.read.format("delta").load(f"{root}/{ITEM_IDS}")
    new_idx = users.agg(F.max(USER_IDX)).first()[0] + 1
    spark.createDataFrame(
        [("newcomer", new_idx), ("lurker", new_idx + 1)], f"{USER_ID} string, {USER_IDX} int"
    ).write.format("delta").mode("append").save(f"{root}/{USER_IDS}")
    had = items.orderBy(ITEM_IDX).limit(2).collect()
    spark.createDataFrame(
        [(new_idx, r[ITEM_IDX], 1.0) for r in had], f"{USER_IDX} int, {ITEM_IDX} int, strength double"
    ).write.format("delta").mode("append").option("mergeSchema", "true").save(f"{root}/{INTERACTIONS}")
    return root, new_idx, {r[ITEM_ID] for r in had}


def _recommend(run_cli, root, *overrides: str):
    args = ["--lakehouse", str(root), "--run-date", RUN_DATE.isoformat(), "--set", "recommend.top_n=5"]
    for o in overrides:
        args += ["--set", o]
    status, summary = run_cli(recommend.main, *args)
    assert status == 0, summary
    return summary


def test_everyone_gets_unseen_eligible_items_and_newcomers_without_fold_in_get_popular_ones(
    spark, run_cli, lakehouse_with_model
) -> None:
    root, new_idx, newcomer_had = lakehouse_with_model
    items = spark.read.format("delta").load(f"{root}/{ITEM_IDS}")
    denied = [r[ITEM_ID] for r in items.orderBy(ITEM_IDX).limit(20).collect()]
    spark.createDataFrame([(i,) for i in denied], f"{ITEM_ID} string").write.format("delta").mode("overwrite").save(
        f"{root}/catalogue/out_of_stock"
    )
    summary = _recommend(
        run_cli,
        root,
        "recommend.excluded_items=catalogue/out_of_stock",
        "recommend.fallback_window_days=null",
        "recommend.similar_items_top_n=0",
        "recommend.fold_in=false",
    )
    out = spark.read.format("delta").load(f"{root}/{STAGED_RECOMMENDATIONS}")
    users = spark.read.format("delta").load(f"{root}/{USER_IDS}")

    per_user = {r[USER_ID]: r["n"] for r in out.groupBy(USER_ID).agg(F.count("*").alias("n")).collect()}
    assert set(per_user) == {r[USER_ID] for r in users.collect()} and set(per_user.values()) == {5}
    assert summary["counts"]["recommend"]["fallback_users"] == 2
    assert summary["counts"]["recommend"]["foldin_users"] == 0
    newcomers = F.col(USER_ID).isin("newcomer", "lurker")
    assert {r[SOURCE] for r in out.where(~newcomers).collect()} == {SOURCE_ALS}
    assert {r[SOURCE] for r in out.where(newcomers).collect()} == {SOURCE_POPULAR}

    seen = spark.read.format("delta").load(f"{root}/{INTERACTIONS}").join(users, USER_IDX).join(items, ITEM_IDX)
    assert out.join(seen, [USER_ID, ITEM_ID]).count() == 0
    assert out.where(F.col(ITEM_ID).isin(denied)).count() == 0

    # The newcomer: the 5 items most users interacted with, not denied, not theirs; ties by item index.
    popularity = seen.groupBy(ITEM_ID, ITEM_IDX).agg(F.countDistinct(USER_ID).alias("p")).collect()
    ranked = sorted(
        (r for r in popularity if r[ITEM_ID] not in denied and r[ITEM_ID] not in newcomer_had),
        key=lambda r: (-r["p"], r[ITEM_IDX]),
    )
    newcomer = out.where(F.col(USER_ID) == "newcomer").orderBy(RANK).collect()
    assert [r[ITEM_ID] for r in newcomer] == [r[ITEM_ID] for r in ranked[:5]]
    assert [r[SCORE] for r in newcomer] == [float(r["p"]) for r in ranked[:5]]
    assert {r[SOURCE] for r in newcomer} == {SOURCE_POPULAR}


def test_a_newcomer_with_events_is_folded_in_and_one_without_gets_popular_items(
    spark, run_cli, lakehouse_with_model
) -> None:
    root, new_idx, newcomer_had = lakehouse_with_model
    summary = _recommend(run_cli, root, "recommend.similar_items_top_n=0")
    assert summary["counts"]["recommend"]["foldin_users"] == 1
    assert summary["counts"]["recommend"]["fallback_users"] == 1
    out = spark.read.format("delta").load(f"{root}/{STAGED_RECOMMENDATIONS}")
    assert {r[SOURCE] for r in out.where(F.col(USER_ID) == "lurker").collect()} == {SOURCE_POPULAR}
    newcomer = out.where(F.col(USER_ID) == "newcomer").orderBy(RANK).collect()
    assert {r[SOURCE] for r in newcomer} == {SOURCE_FOLDIN}

    # Expected, from outside: the model's item factors and settings, the newcomer's factors as the
    # confidence-weighted ridge fit over every item (numpy least squares), then the 5 best unseen items.
    version = summary["model_version"]
    params = json.loads((root / "models" / version / "metadata.json").read_text())["params"]
    factors = spark.read.parquet(f"{root}/models/{version}/model/itemFactors").orderBy("id").collect()
    item_idx = np.array([r["id"] for r in factors])
    matrix = np.array([r["features"] for r in factors], dtype=np.float64)
    ids = {r[ITEM_IDX]: r[ITEM_ID] for r in spark.read.format("delta").load(f"{root}/{ITEM_IDS}").collect()}
    had = np.isin([ids[i] for i in item_idx], list(newcomer_had))
    confidence = np.where(had, 1 + params["alpha"] * 1.0, 1.0)  # strength 1.0 on each of the two items
    design = np.vstack(
        [np.sqrt(confidence)[:, None] * matrix, np.sqrt(params["reg_param"] * 2) * np.eye(len(matrix[0]))]
    )
    target = np.concatenate([np.sqrt(confidence) * had, np.zeros(len(matrix[0]))])
    user = np.linalg.lstsq(design, target, rcond=None)[0]
    scores = np.where(had, -np.inf, matrix @ user)
    best = sorted(range(len(scores)), key=lambda i: (-scores[i], item_idx[i]))[:5]
    assert [r[ITEM_ID] for r in newcomer] == [ids[item_idx[i]] for i in best]
    assert [r[SCORE] for r in newcomer] == pytest.approx([scores[i] for i in best], rel=1e-4)


@pytest.mark.parametrize(
    "override",
    ["recommend.broadcast_limit_mb=0", "recommend.exclude_seen_window_days=0", "recommend.similar_items_top_n=-1"],
)
def test_impossible_settings_fail_at_load_naming_the_key(override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        load_config(None, [override])
