"""The report's small aggregations, against counts worked out by hand, its SVG output and its content map table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reclake.model.gate import cold_start_flat
from reclake.model.report import (
    content_map_lines,
    history_lengths,
    popularity_decile_share,
    score_histogram,
    svg_bars,
)


def test_history_lengths_bucket_users_by_training_interactions(spark):
    # Users 1..4 with 1, 3, 3 and 12 interactions.
    rows = [(1, 0)] + [(u, i) for u in (2, 3) for i in range(3)] + [(4, i) for i in range(12)]
    train = spark.createDataFrame(rows, "user_idx int, item_idx int")
    buckets = dict(history_lengths(train))
    assert buckets["1"] == 1 and buckets["2-4"] == 2 and buckets["10-19"] == 1
    assert sum(buckets.values()) == 4 and list(buckets)[-1] == "1000+"


def test_popularity_deciles_and_score_histogram(spark):
    # 10 items; item i touched by 10 - i users, so item 0 is the whole first decile, item 9 the last.
    train = spark.createDataFrame([(u, i) for i in range(10) for u in range(10 - i)], "user_idx int, item_idx int")
    top = spark.createDataFrame(
        [(1, 1, 0, 1.0), (1, 2, 9, 0.5), (2, 1, 0, 0.0), (2, 2, 5, 0.25)],
        "user_idx int, rank int, item_idx int, score float",
    )
    assert popularity_decile_share(top, train) == [0.5, 0, 0, 0, 0, 0.25, 0, 0, 0, 0.25]
    histogram = score_histogram(top, bins=4)  # width 0.25: [0, .25), [.25, .5), [.5, .75), [.75, 1]
    assert [count for _, count in histogram] == [1, 1, 1, 1]
    assert histogram[0][0] == "0.00"


def test_svg_bars_is_well_formed_with_one_bar_per_value():
    svg = svg_bars("t <&>", ["a", "b"], {"x": [1, 2], "y": [0, 3]}, "n")
    root = ET.fromstring(svg)
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("height") not in ("10",)]
    assert len(bars) == 4


CONTENT_MAP = {
    "groups": {"text": {"features": 120, "reg_param": None}, "tags": {"features": 27, "reg_param": 10.0}},
    "held_out_r2": 0.2345,
    "folds": 5,
}


def test_the_content_map_choice_is_in_the_report_and_the_json_metrics():
    lines = "\n".join(content_map_lines(CONTENT_MAP))
    assert "| text | 120 | off |" in lines and "| tags | 27 | on, ridge 10 |" in lines
    assert "5-fold" in lines and "0.2345" in lines
    cold_start = {
        "new_items": {"items": 3, "users": 2, "recall": 0.5},
        "new_users": {"users": 2, "ndcg": 0.25},
        "content_map": CONTENT_MAP,
    }
    assert cold_start_flat(cold_start, 10) == {
        "new_items.recall@10": 0.5,
        "new_users.ndcg@10": 0.25,
        "content_map.held_out_r2": 0.2345,
        "content_map.text_on": 0.0,
        "content_map.tags_on": 1.0,
    }
