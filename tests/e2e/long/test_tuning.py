"""A tiny search that must prefer the better rank: two ALS fits and their scoring."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from reclake.config import AlsSection, GenerateSection, TuneSection
from reclake.model.tuning import tune
from reclake.synthetic import generate_events


def test_search_prefers_the_rank_that_recovers_the_clusters(spark):
    settings = GenerateSection(users=300, items=80, clusters=4, mean_items_per_user=12, partitions=2)
    events = generate_events(spark, settings, dt.date(2026, 11, 23)).where(F.col("event_type") == "view")
    interactions = events.select(
        F.regexp_replace("user_id", "u", "").cast("int").alias("user_idx"),
        F.regexp_replace("item_id", "i", "").cast("int").alias("item_idx"),
        F.lit(1.0).alias("strength"),
    ).distinct()
    space = TuneSection(strategy="grid", budget=2, rank=[1, 4], reg_param=[0.1], alpha=[5.0], metric="ndcg")
    result = tune(interactions, AlsSection(max_iter=5, num_user_blocks=2, num_item_blocks=2), space, k=5)
    assert [t["rank"] for t in result.trials] == [1, 4]
    assert result.trials[1]["ndcg@5"] > result.trials[0]["ndcg@5"]
    assert result.best.rank == 4 and result.best.max_iter == 5  # unsearched settings kept from the base
    assert result.summary()["best"] == {"rank": 4, "reg_param": 0.1, "alpha": 5.0}
