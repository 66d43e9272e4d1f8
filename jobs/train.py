"""Train Spark MLlib ALS on the prepared interactions and register the model.

Implicit feedback by default (strength is a confidence, Hu et al. 2008);
explicit ratings with ``als.implicit_prefs: false``. Each model is saved under
``<lakehouse>/models/<version>`` and gets a row in the ``model_registry`` table
with its settings, the data it saw and the code that trained it.

    spark-submit jobs/train.py --config conf/local.yaml --set als.rank=64
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Sequence

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import jobs
from jobs.config import AlsSection, Config
from jobs.constants import ITEM_IDX, STRENGTH, USER_IDX
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import INTERACTIONS, MODEL_REGISTRY, MODELS, read_delta, table_uri, write_delta


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
    return build_als(settings).fit(interactions)


def new_model_version(now: dt.datetime | None = None) -> str:
    """Sortable and unique: m<UTC time>-<random>."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"m{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def model_uri(lakehouse_root: str, version: str) -> str:
    return table_uri(lakehouse_root, f"{MODELS}/{version}")


def latest_model_version(spark: SparkSession, lakehouse_root: str) -> str:
    """The newest registered model."""
    registry = read_delta(spark, table_uri(lakehouse_root, MODEL_REGISTRY), produced_by="train")
    return registry.orderBy(F.col("created_at").desc()).select("model_version").first()[0]


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    interactions_uri = table_uri(root, INTERACTIONS)
    interactions = read_delta(spark, interactions_uri, produced_by="prepare")
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    model = fit_als(interactions, config.als)
    version = new_model_version()
    uri = model_uri(root, version)
    model.write().overwrite().save(uri)

    snapshot = spark.sql(f"DESCRIBE HISTORY delta.`{interactions_uri}` LIMIT 1").select("version").first()[0]
    registry_row = spark.createDataFrame(
        [
            (
                version,
                dt.datetime.now(dt.timezone.utc),
                ctx.run_id,
                ctx.run_date,
                uri,
                json.dumps(config.als.model_dump(), sort_keys=True),
                json.dumps({"interactions_uri": interactions_uri, "interactions_version": snapshot}),
                jobs.__version__,
            )
        ],
        "model_version string, created_at timestamp, run_id string, run_date date, model_uri string, "
        "params string, data_snapshot string, code_version string",
    )
    registry_uri = table_uri(root, MODEL_REGISTRY)
    write_delta(registry_row, registry_uri, mode="append")
    return StageResult(
        counts={"users": model.userFactors.count(), "items": model.itemFactors.count()},
        tables={"model_registry": registry_uri, "model": uri},
        details={"model_version": version},
    )


STAGE = Stage("train", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake train", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
