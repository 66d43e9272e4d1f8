"""Ranking metrics against values worked out by hand (k = 3, binary relevance)."""

from __future__ import annotations

import math

import pytest

from reclake.frames import measure_together
from reclake.model.metrics import (
    average_popularity,
    catalogue_coverage,
    distributional_coverage,
    history_profiles,
    ideal_dcg,
    intra_list_diversity,
    item_popularity,
    novelty,
    per_user_ranking_metrics,
    ranking_metrics,
    serendipity,
    unit_item_vectors,
)

L2, L3 = 1 / math.log2(3), 1 / math.log2(4)  # discounts of positions 2 and 3

# user -> (recommended items best first, relevant items)
CASES = {
    1: ([10, 11, 12], {11, 13}),  # one hit at position 2
    2: ([10, 11, 12], {10}),  # fewer relevant items than k
    3: ([14, 10], {10, 11, 12, 13, 14}),  # a list shorter than k, more relevant items than k
    4: ([], {10}),  # relevant items but no recommendations at all
    5: ([10, 11, 12], set()),  # no relevant items: not evaluated
}
EXPECTED = {  # worked out by hand from the definitions in reclake/model/metrics.py
    1: {"precision": 1 / 3, "recall": 1 / 2, "ndcg": L2 / (1 + L2), "map": (1 / 2) / 2},
    2: {"precision": 1 / 3, "recall": 1.0, "ndcg": 1.0, "map": 1.0},
    3: {"precision": 2 / 3, "recall": 2 / 5, "ndcg": (1 + L2) / (1 + L2 + L3), "map": (1 + 1) / 3},
    4: {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0},
}


@pytest.fixture
def frames(spark):
    recs = [(u, rank, item) for u, (items, _) in CASES.items() for rank, item in enumerate(items, start=1)]
    rel = [(u, item) for u, (_, items) in CASES.items() for item in items]
    recommended = spark.createDataFrame(recs, "user_idx int, rank int, item_idx int")
    relevant = spark.createDataFrame(rel, "user_idx int, item_idx int")
    return recommended, relevant


def test_ideal_dcg_is_cumulative_discount():
    assert ideal_dcg(3) == pytest.approx([1.0, 1 + L2, 1 + L2 + L3])


def test_per_user_values_match_hand_computed(frames):
    rows = {r["user_idx"]: r.asDict() for r in per_user_ranking_metrics(*frames, k=3).collect()}
    assert set(rows) == {1, 2, 3, 4}  # user 5 has no relevant items
    for user, expected in EXPECTED.items():
        for name, value in expected.items():
            assert rows[user][name] == pytest.approx(value), (user, name)


def test_means_over_users_with_relevant_items(frames):
    result = ranking_metrics(*frames, k=3).value()
    assert result["users"] == 4
    for name in ("precision", "recall", "ndcg", "map"):
        assert result[name] == pytest.approx(sum(e[name] for e in EXPECTED.values()) / 4), name
    # For the record, the same means written out: precision (1/3+1/3+2/3+0)/4, recall (.5+1+.4+0)/4.
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(0.475)


def test_only_the_first_k_positions_count_and_rank_gaps_do_not_matter(spark):
    recommended = spark.createDataFrame(
        [(1, 1, 7), (1, 5, 8), (1, 9, 9), (1, 12, 6)], "user_idx int, rank int, item_idx int"
    )
    relevant = spark.createDataFrame([(1, 9), (1, 6)], "user_idx int, item_idx int")
    result = ranking_metrics(recommended, relevant, k=3).value()
    # Item 9 is third (hit), item 6 fourth (beyond k): precision 1/3, recall 1/2,
    # NDCG (1/log2 4) / (1 + 1/log2 3), MAP (1/3) / min(3, 2).
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["ndcg"] == pytest.approx(L3 / (1 + L2))
    assert result["map"] == pytest.approx((1 / 3) / 2)


def test_perfect_lists_score_one(spark):
    recommended = spark.createDataFrame([(1, 1, 3), (1, 2, 4), (2, 1, 5)], "user_idx int, rank int, item_idx int")
    relevant = spark.createDataFrame([(1, 3), (1, 4), (2, 5)], "user_idx int, item_idx int")
    result = ranking_metrics(recommended, relevant, k=2).value()
    assert result["recall"] == result["ndcg"] == result["map"] == pytest.approx(1.0)
    assert result["precision"] == pytest.approx((2 / 2 + 1 / 2) / 2)  # user 2's list is one short of k


def test_coverage_and_average_popularity(spark):
    # Training data: 4 users; item 1 touched by all, item 2 by two, items 3 and 4 by one each.
    train = spark.createDataFrame(
        [(1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (2, 2), (3, 3), (4, 4)], "user_idx int, item_idx int"
    )
    popularity = item_popularity(train)
    assert {r["item_idx"]: r["popularity"] for r in popularity.collect()} == {1: 1.0, 2: 0.5, 3: 0.25, 4: 0.25}
    recommended = spark.createDataFrame(
        [(1, 1, 1), (1, 2, 3), (1, 3, 4), (2, 1, 1), (2, 2, 3)], "user_idx int, rank int, item_idx int"
    )
    # Top-2 slots: items 1, 3, 1, 3 -> 2 of 4 catalogue items; popularity (1 + .25 + 1 + .25) / 4.
    assert catalogue_coverage(recommended, train.select("item_idx"), k=2).value() == pytest.approx(2 / 4)
    assert average_popularity(recommended, popularity, k=2).value() == pytest.approx(0.625)


# Item vectors for the similarity metrics: after scaling to unit length, 1 = (1, 0), 2 = (0, 1),
# 3 = (1, 1)/sqrt 2, 4 = (-1, 0); 5 is the zero vector (no direction, left out).
VECTORS = {1: [2.0, 0.0], 2: [0.0, 3.0], 3: [1.0, 1.0], 4: [-1.0, 0.0], 5: [0.0, 0.0]}
S = 1 / math.sqrt(2)  # cos(1, 3) = cos(2, 3); cos(1, 2) = 0, cos(1, 4) = -1, cos(3, 4) = -S


@pytest.fixture
def vectors(spark):
    return spark.createDataFrame(list(VECTORS.items()), "item_idx int, features array<float>")


def lists(spark, by_user):
    rows = [(u, rank, item) for u, items in by_user.items() for rank, item in enumerate(items, start=1)]
    return spark.createDataFrame(rows, "user_idx int, rank int, item_idx int")


def pairs(spark, by_user):
    return spark.createDataFrame(
        [(u, item) for u, items in by_user.items() for item in items], "user_idx int, item_idx int"
    )


def test_intra_list_diversity_is_mean_pairwise_cosine_distance(spark, vectors):
    recommended = lists(spark, {1: [1, 2, 3], 2: [1, 1, 4, 5], 3: [3, 5], 4: [1, 2, 3, 4]})
    # User 1: pairs (1,2) 1 - 0, (1,3) and (2,3) 1 - S each. User 2: item 1 listed twice counts once, one
    # pair (1,4), 1 - (-1) = 2. User 3: item 5 has no direction, one usable item, no pair, skipped.
    # User 4: rank 4 is beyond k = 3, as user 1.
    user_1 = (1 + 2 * (1 - S)) / 3
    assert intra_list_diversity(recommended, unit_item_vectors(vectors), k=3).value() == pytest.approx(
        (user_1 + 2 + user_1) / 3
    )


def test_serendipity_is_unexpectedness_times_relevance(spark, vectors):
    train = pairs(spark, {1: [1], 2: [2, 4, 5]})
    recommended = lists(spark, {1: [2, 3], 2: [1, 3, 4], 3: [1]})
    # k = 2. User 1 (history {1}): item 2 is 1 - 0 = 1 unexpected, item 3 1 - S.
    # User 2 (history {2, 4}; item 5 has no direction): item 1 is 1 - (0 + -1)/2 = 1.5, item 3 is 1 - (S - S)/2 = 1.
    # User 3 has no history: left out.
    every_item_relevant = ((1 + (1 - S)) / 2 + (1.5 + 1) / 2) / 2
    units = unit_item_vectors(vectors)
    profiles = history_profiles(train, units)
    assert serendipity(recommended, profiles, units, k=2).value() == pytest.approx(every_item_relevant)
    # Held out: user 1 liked item 3, user 2 item 1 (the rest counts 0).
    relevant = pairs(spark, {1: [3], 2: [1]})
    held_out_relevance = ((0 + (1 - S)) / 2 + (1.5 + 0) / 2) / 2
    assert serendipity(recommended, profiles, units, k=2, relevant=relevant).value() == pytest.approx(
        held_out_relevance
    )
    # Profiles for user 1 only: the other listed users are left out.
    only_user_1 = history_profiles(train, units, spark.createDataFrame([(1,)], "user_idx int"))
    assert serendipity(recommended, only_user_1, units, k=2).value() == pytest.approx((1 + (1 - S)) / 2)


def test_novelty_is_mean_self_information_of_recommended_items(spark):
    # 8 training interactions: item 1 four times (p = 1/2, 1 bit), item 2 twice (2 bits), items 3, 4 once (3 bits).
    train = pairs(spark, {1: [1, 2, 3], 2: [1, 2, 4], 3: [1], 4: [1]})
    recommended = lists(spark, {1: [1, 3, 4], 2: [1, 2], 3: [9, 3]})
    # Top-2 slots: 1, 3 | 1, 2 | 9 (never trained on: left out), 3 -> (1 + 3 + 1 + 2 + 3) / 5 bits.
    assert novelty(recommended, train, k=2).value() == pytest.approx(2.0)


def test_distributional_coverage_is_entropy_of_the_slots(spark):
    recommended = lists(spark, {1: [1, 3, 4], 2: [1, 2], 3: [9, 3]})
    # Top-2 slots: items 1 and 3 twice each, 2 and 9 once each, of 6.
    expected = -(2 * (2 / 6) * math.log2(2 / 6) + 2 * (1 / 6) * math.log2(1 / 6))
    assert distributional_coverage(recommended, k=2).value() == pytest.approx(expected)
    # Everyone gets the same single item: no spread at all; four items evenly: two bits.
    assert distributional_coverage(lists(spark, {1: [7], 2: [7]}), k=2).value() == pytest.approx(0.0)
    assert distributional_coverage(lists(spark, {1: [1, 2], 2: [3, 4]}), k=2).value() == pytest.approx(2.0)


# Spark's own evaluator, by metric name: what ranking_metrics claims parity with.
SPARK_METRIC_NAMES = {
    "precision": "precisionAtK",
    "recall": "recallAtK",
    "ndcg": "ndcgAtK",
    "map": "meanAveragePrecisionAtK",
}


def test_ranking_metrics_match_sparks_ranking_evaluator_on_random_lists(spark):
    import random

    from pyspark.ml.evaluation import RankingEvaluator
    from pyspark.sql import functions as F

    k, rng = 5, random.Random(7)
    recs, rel = [], []
    for user in range(60):
        # Lists of 0..8 items (some shorter than k, some empty) and 1..6 relevant items from 20.
        for rank, item in enumerate(rng.sample(range(20), rng.randint(0, 8)), start=1):
            recs.append((user, rank, item))
        rel += [(user, item) for item in rng.sample(range(20), rng.randint(1, 6))]
    recommended = spark.createDataFrame(recs, "user_idx int, rank int, item_idx int")
    relevant = spark.createDataFrame(rel, "user_idx int, item_idx int")

    def as_lists(frame, order):
        return frame.groupBy("user_idx").agg(
            F.transform(F.array_sort(F.collect_list(F.struct(*order))), lambda s: s["item_idx"].cast("double")).alias(
                "v"
            )
        )

    # One row per user with relevant items; a user without recommendations has an empty list.
    lists = (
        as_lists(relevant, ["item_idx"]).withColumnRenamed("v", "label")
        .join(as_lists(recommended, ["rank", "item_idx"]).withColumnRenamed("v", "prediction"), "user_idx", "left")
        .select("label", F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"))
    )  # fmt: skip
    ours = ranking_metrics(recommended, relevant, k).value()
    assert ours["users"] == 60
    for name, spark_name in SPARK_METRIC_NAMES.items():
        evaluator = RankingEvaluator(metricName=spark_name, k=k, labelCol="label", predictionCol="prediction")
        assert ours[name] == pytest.approx(evaluator.evaluate(lists), abs=1e-12), name


def test_measures_computed_together_equal_each_computed_alone(spark):
    train = pairs(spark, {1: [1, 2, 3], 2: [1, 2, 4], 3: [1], 4: [1]})
    recommended = lists(spark, {1: [1, 3, 4], 2: [1, 2], 3: [9, 3]})
    measures = {
        "novelty": novelty(recommended, train, k=2),
        "spread": distributional_coverage(recommended, k=2),
        "coverage": catalogue_coverage(recommended, train.select("item_idx"), k=2),
        ("ranking", 3): ranking_metrics(recommended, train, k=3),  # a dict-valued figure, a tuple key
    }
    together = measure_together(measures)
    assert list(together) == list(measures)
    assert together == {key: measure.value() for key, measure in measures.items()}
    assert together["novelty"] == pytest.approx(2.0) and together["coverage"] == pytest.approx(4 / 4)  # 1, 2, 3, 9
