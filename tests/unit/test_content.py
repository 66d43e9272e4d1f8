"""Content features from catalogue columns, against numpy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reclake.constants import ITEM_ID
from reclake.features.content import CONTENT, LAYOUT, content_features


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
        text_min_df=2,
    )
    rows = {r[ITEM_ID]: np.array(r[CONTENT]) for r in out.collect()}
    assert set(rows) == {"1", "2", "3", "4"}  # ids as strings, like item_ids
    # Layout: the one title word in two titles or more ("heat"), 3 distinct genres, the standardised year, the flag;
    # recorded in the column's metadata for the content map's groups.
    assert {len(v) for v in rows.values()} == {1 + 3 + 1 + 1}
    layout = {"text": [0, 1], "tags": [1, 4], "numeric": [4, 5], "flags": [5, 6]}
    assert out.schema[CONTENT].metadata[LAYOUT] == layout
    text, tags, year, flag = ({k: v[slice(*layout[g])] for k, v in rows.items()} for g in layout)
    assert [flag[k][0] for k in "1234"] == [1.0, 0.0, 1.0, 0.0]
    assert [tags[k].sum() for k in "1234"] == [2.0, 1.0, 0.0, 1.0]  # one-hot per tag, none for a missing list
    assert np.array_equal(tags["4"], tags["4"] * tags["1"])  # item 4's only genre (Comedy) is one of item 1's
    # Year: missing counts 0, then standardised with the sample standard deviation.
    years = np.array([1995.0, 1995.0, 1922.0, 0.0])
    assert [year[k][0] for k in "1234"] == pytest.approx(((years - years.mean()) / years.std(ddof=1)).tolist())
    # "heat" appears in two titles of four, so its IDF weight is log((4+1)/(2+1)); the other words are in one title.
    assert [text[k][0] for k in "1234"] == pytest.approx([0.0, np.log(5 / 3), 0.0, np.log(5 / 3)])
