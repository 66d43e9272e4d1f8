"""The ridge map from content features to item factors, fitted by Spark ML, against numpy by hand (~18 s of fitting;
tests/e2e/long/test_catalogue.py runs it inside the pipeline)."""

from __future__ import annotations

import numpy as np
import pytest

from reclake.constants import FEATURES, ITEM_ID
from reclake.features.content import CONTENT, fit_content_map, mapped_factors


def test_ridge_map_matches_numpy_and_maps_new_items(spark):
    gen = np.random.default_rng(5)
    x = gen.normal(size=(40, 6))
    truth = gen.normal(size=(7, 3))  # 6 weights and an intercept per factor
    y = np.hstack([x, np.ones((40, 1))]) @ truth + 0.01 * gen.normal(size=(40, 3))
    content = spark.createDataFrame(
        [(f"i{n}", x[n].tolist()) for n in range(40)] + [("new", [1.0, 0.0, 0.0, 0.0, 0.0, 2.0])],
        f"{ITEM_ID} string, {CONTENT} array<double>",
    )
    factors = spark.createDataFrame(  # only the 40 known items have factors; one extra without content
        [(f"i{n}", y[n].tolist()) for n in range(40)] + [("gone", [9.0, 9.0, 9.0])],
        f"{ITEM_ID} string, {FEATURES} array<float>",
    )
    known_y = y.astype(np.float32).astype(np.float64)  # factors are float32, as ALS stores them
    for reg in (0.0, 2.5):
        weights = fit_content_map(content, factors, reg)
        assert weights == pytest.approx(ridge_by_hand(x, known_y, reg), rel=1e-6, abs=1e-8)
    assert fit_content_map(content, factors, 0.0) == pytest.approx(truth, abs=0.02)  # recovers the linear map
    weights = fit_content_map(content, factors, 2.5)
    mapped = {r[ITEM_ID]: r[FEATURES] for r in mapped_factors(content, weights).collect()}
    assert len(mapped) == 41
    assert mapped["new"] == pytest.approx((np.array([1.0, 0, 0, 0, 0, 2.0, 1.0]) @ weights).tolist(), rel=1e-5)
    assert mapped["i3"] == pytest.approx((np.append(x[3], 1.0) @ weights).tolist(), rel=1e-5, abs=1e-6)


def ridge_by_hand(x: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """Least squares on [x 1] with sqrt(reg) rows appended for every coefficient but the intercept."""
    design = np.hstack([x, np.ones((len(x), 1))])
    d = design.shape[1]
    penalty = np.sqrt(reg) * np.eye(d)[:-1]
    stacked = np.vstack([design, penalty])
    target = np.vstack([y, np.zeros((d - 1, y.shape[1]))])
    return np.linalg.lstsq(stacked, target, rcond=None)[0]
