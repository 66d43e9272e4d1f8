"""The content map fitted through Spark, against numpy by hand: the fold Gramians, the chosen groups, the mapped
factors (tests/e2e/long/test_catalogue.py runs it inside the pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from reclake.constants import FEATURES, ITEM_ID
from reclake.features.content import CONTENT, LAYOUT, fit_content_map, fold_gramians, mapped_factors

FOLDS = 3


def test_fold_gramians_and_the_map_match_numpy_and_a_random_group_is_switched_off(spark):
    gen = np.random.default_rng(5)
    genre = gen.integers(0, 3, 60)
    x = np.hstack([np.eye(3)[genre], gen.normal(size=(60, 4))])  # a planted genre group, a random numeric group
    y = gen.normal(size=(3, 2))[genre] + 0.05 * gen.normal(size=(60, 2))
    layout = {"tags": [0, 3], "numeric": [3, 7]}
    rows = [(f"i{n}", x[n].tolist()) for n in range(60)] + [("new", [0.0, 1.0, 0.0, 5.0, 5.0, 5.0, 5.0])]
    content = spark.createDataFrame(rows, f"{ITEM_ID} string, {CONTENT} array<double>")
    content = content.select(ITEM_ID, F.col(CONTENT).alias(CONTENT, metadata={LAYOUT: layout}))
    factors = spark.createDataFrame(  # only the 60 known items have factors; one extra without content
        [(f"i{n}", y[n].tolist()) for n in range(60)] + [("gone", [9.0, 9.0])],
        f"{ITEM_ID} string, {FEATURES} array<float>",
    )
    grams = fold_gramians(content, factors, FOLDS, seed=7)
    known = np.hstack([x, np.ones((60, 1)), y.astype(np.float32)])  # factors are float32, as ALS stores them
    assert grams.shape == (FOLDS, 10, 10) and grams.sum(axis=0) == pytest.approx(known.T @ known)
    assert all(g[7, 7] > 0 for g in grams)  # g[7, 7]: the items in the fold, spread by a hash of their id

    found = fit_content_map(content, factors, [0.1, 10.0], FOLDS, seed=7)
    assert found.chosen["groups"]["numeric"]["reg_param"] is None and found.chosen["groups"]["tags"]["reg_param"]
    mapped = {r[ITEM_ID]: r[FEATURES] for r in mapped_factors(content, found.weights).collect()}
    assert len(mapped) == 61
    # The new item is of genre 1: the random numbers it has are ignored, it lands near genre 1's items.
    assert mapped["new"] == pytest.approx(y[genre == 1].mean(axis=0).tolist(), abs=0.05)
