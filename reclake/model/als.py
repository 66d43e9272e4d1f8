"""Spark MLlib ALS over (user_idx, item_idx, strength), every setting from config, and model versions."""

from __future__ import annotations

import datetime as dt
import uuid

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame

from reclake.config import AlsSection
from reclake.constants import ITEM_IDX, STRENGTH, USER_IDX


def build_als(settings: AlsSection, cores: int) -> ALS:
    """An ALS estimator over (user_idx, item_idx, strength) with every setting from config.

    Blocks not set are one per core: each iteration runs one task per block, so fewer
    blocks than cores leave cores idle, and more only add shuffle (2 or 4 blocks on
    2 cores fit in the same time).
    """
    return ALS(
        userCol=USER_IDX,
        itemCol=ITEM_IDX,
        ratingCol=STRENGTH,
        implicitPrefs=settings.implicit_prefs,
        rank=settings.rank,
        regParam=settings.reg_param,
        alpha=settings.alpha,
        maxIter=settings.max_iter,
        nonnegative=settings.nonnegative,
        numUserBlocks=settings.num_user_blocks or cores,
        numItemBlocks=settings.num_item_blocks or cores,
        checkpointInterval=settings.checkpoint_interval,
        seed=settings.seed,
        coldStartStrategy="drop",
    )


def fit_als(interactions: DataFrame, settings: AlsSection) -> ALSModel:
    cores = interactions.sparkSession.sparkContext.defaultParallelism
    return build_als(settings, cores).fit(interactions.select(USER_IDX, ITEM_IDX, STRENGTH))


def new_model_version(now: dt.datetime | None = None) -> str:
    """Sortable and unique: m<UTC time>-<random>."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"m{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
