"""Content features from catalogue columns, and the ridge map to item factors, against numpy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reclake.constants import FEATURES, ITEM_ID
from reclake.features.content import CONTENT, content_features, fit_content_map, mapped_factors

TEXT_FEATURES = 16


def test_content_features_encode_every_kind_of_column(spark):
    catalogue = spark.createDataFrame(
        [
            (1, "Toy Story", "Comedy|Animation", 1995.0, 1),
            (2, "Heat", "Action", 1995.0, 0),
            (3, "Nosferatu", None, 1922.0, 1),
            (4, "Heat Wave", "Comedy", None, 0),
        ],
        "movie int, title string, genres string, year double, colour int",
    )
    out = content_features(
        catalogue,
        id_column="movie",
        text_columns=["title"],
        tag_columns={"genres": "|"},
        numeric_columns=["year"],
        flag_columns=["colour"],
        text_features=TEXT_FEATURES,
    )
    rows = {r[ITEM_ID]: np.array(r[CONTENT]) for r in out.collect()}
    assert set(rows) == {"1", "2", "3", "4"}  # ids as strings, like item_ids
    # Layout: 16 hashed title words, 3 distinct genres, the standardised year, the flag.
    assert {len(v) for v in rows.values()} == {TEXT_FEATURES + 3 + 1 + 1}
    text, tags, year, flag = (
        {k: v[:16] for k, v in rows.items()},
        {k: v[16:19] for k, v in rows.items()},
        {k: v[19] for k, v in rows.items()},
        {k: v[20] for k, v in rows.items()},
    )
    assert [flag[k] for k in "1234"] == [1.0, 0.0, 1.0, 0.0]
    assert [tags[k].sum() for k in "1234"] == [2.0, 1.0, 0.0, 1.0]  # one-hot per tag, none for a missing list
    assert np.array_equal(tags["4"], tags["4"] * tags["1"])  # item 4's only genre (Comedy) is one of item 1's
    # Year: missing counts 0, then standardised with the sample standard deviation.
    years = np.array([1995.0, 1995.0, 1922.0, 0.0])
    assert [year[k] for k in "1234"] == pytest.approx(((years - years.mean()) / years.std(ddof=1)).tolist())
    # "heat" appears in two titles of four, so its IDF weight is log((4+1)/(2+1)); items 2 and 4 share it.
    shared = np.flatnonzero((text["2"] > 0) & (text["4"] > 0))
    assert len(shared) == 1 and text["2"][shared[0]] == pytest.approx(np.log(5 / 3))


def ridge_by_hand(x: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """Least squares on [x 1] with sqrt(reg) rows appended for every coefficient but the intercept."""
    design = np.hstack([x, np.ones((len(x), 1))])
    d = design.shape[1]
    penalty = np.sqrt(reg) * np.eye(d)[:-1]
    stacked = np.vstack([design, penalty])
    target = np.vstack([y, np.zeros((d - 1, y.shape[1]))])
    return np.linalg.lstsq(stacked, target, rcond=None)[0]


@pytest.mark.e2e  # ~18 s of Spark ML fitting; tests/e2e/test_catalogue.py runs it inside the pipeline
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
