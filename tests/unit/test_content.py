"""Content features from catalogue columns, and the ridge map to item factors, against numpy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reclake.constants import ITEM_ID
from reclake.features.content import CONTENT, content_features

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
