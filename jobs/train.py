"""Train Spark MLlib ALS on the prepared interactions and register the model.

Implicit feedback by default (strength is a confidence, Hu et al. 2008);
explicit ratings with ``als.implicit_prefs: false``. Each model is saved under
``<lakehouse>/models/<version>`` and gets a row in the ``model_registry`` table
with its settings, the data it saw and the code that trained it (jobs/registry.py).
With ``tune.enabled`` rank, reg_param and alpha are first searched on a
validation split of the evaluation's training part (jobs/tuning.py) and the
winner is fit on all interactions.

    spark-submit jobs/train.py --config conf/local.yaml --set als.rank=64
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import registry
from jobs.config import AlsSection, Config, EvaluateSection
from jobs.constants import ITEM_IDX, STRENGTH, USER_IDX
from jobs.registry import model_uri
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.splitters import split
from jobs.storage import INTERACTIONS, MODEL_REGISTRY, read_delta, table_uri


def build_als(settings: AlsSection) -> ALS:
    """An ALS estimator over (user_idx, item_idx, strength) with every setting from config."""
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
        numUserBlocks=settings.num_user_blocks,
        numItemBlocks=settings.num_item_blocks,
        checkpointInterval=settings.checkpoint_interval,
        seed=settings.seed,
        coldStartStrategy="drop",
    )


def fit_als(interactions: DataFrame, settings: AlsSection) -> ALSModel:
    return build_als(settings).fit(interactions.select(USER_IDX, ITEM_IDX, STRENGTH))


def new_model_version(now: dt.datetime | None = None) -> str:
    """Sortable and unique: m<UTC time>-<random>."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"m{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def holdout(interactions: DataFrame, settings: EvaluateSection) -> tuple[DataFrame, DataFrame]:
    """The evaluation split (train, test) every stage agrees on: deterministic for a given config."""
    return split(interactions, settings.split, settings.test_ratio, settings.seed)


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    interactions_uri = table_uri(root, INTERACTIONS)
    interactions = read_delta(spark, interactions_uri, produced_by="prepare")
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    settings, tuning = config.als, None
    if config.tune.enabled:
        from jobs.tuning import tune  # tuning builds on this module's fit_als

        # Tuning sees only the evaluation's training part, so `evaluate`'s test part stays unseen.
        tuning = tune(holdout(interactions, config.evaluate)[0], config.als, config.tune, config.evaluate.k)
        settings = tuning.best
    model = fit_als(interactions, settings)
    version = new_model_version()
    uri = model_uri(root, version)
    model.write().overwrite().save(uri)

    snapshot = spark.sql(f"DESCRIBE HISTORY delta.`{interactions_uri}` LIMIT 1").select("version").first()[0]
    stats = interactions.agg(
        F.count(F.lit(1)).alias("rows"), F.countDistinct(USER_IDX).alias("users"), F.countDistinct(ITEM_IDX).alias("items")
    ).first()
    registry.register(
        spark,
        root,
        {
            "model_version": version,
            "run_id": ctx.run_id,
            "run_date": ctx.run_date,
            "model_uri": uri,
            "params": settings.model_dump(),
            "data_snapshot": {
                "input_path": config.input_path,
                "interactions_uri": interactions_uri,
                "interactions_version": snapshot,
                **stats.asDict(),
            },
            "tuning": tuning.summary() if tuning else None,
        },
    )
    return StageResult(
        counts={"users": model.userFactors.count(), "items": model.itemFactors.count(), "interactions": stats["rows"]},
        tables={"model_registry": table_uri(root, MODEL_REGISTRY), "model": uri},
        details={"model_version": version, **({"tuning": tuning.summary()} if tuning else {})},
    )


STAGE = Stage("train", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake train", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
