"""Train Spark MLlib ALS on the prepared interactions and register the model.

Implicit feedback by default (strength is a confidence, Hu et al. 2008);
explicit ratings with ``als.implicit_prefs: false``. Each model is saved under
``<lakehouse>/models/<version>`` and gets a row in the ``model_registry`` table
with its settings, the data it saw and the code that trained it (reclake/model/registry.py).
With ``tune.enabled`` rank, reg_param and alpha are first searched on a
validation split of the evaluation's training part (reclake/model/tuning.py) and the
winner is fit on all interactions.

    spark-submit jobs/train.py --config conf/local.yaml --set als.rank=64
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import ITEM_IDX, USER_IDX
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import ConfigError
from reclake.faults import fault_point
from reclake.frames import one_row
from reclake.io.lakehouse import read_delta
from reclake.io.tables import INTERACTIONS, MODEL_REGISTRY, table_uri
from reclake.model import registry
from reclake.model.als import fit_als, new_model_version
from reclake.model.registry import model_uri
from reclake.model.splitters import holdout
from reclake.model.tuning import tune
from reclake.runner import run_job


def check_rank(config: Config, items: int) -> None:
    """Refuse, before anything is fitted or written, a rank above the number of items: no factors to find."""
    key, rank = ("tune.rank", max(config.tune.rank)) if config.tune.enabled else ("als.rank", config.als.rank)
    if rank > items:
        raise ConfigError(f"{key} {rank} is more than the {items} items to factorise: set it to at most {items}")


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    interactions_uri = table_uri(root, INTERACTIONS)
    interactions = read_delta(spark, interactions_uri, produced_by="prepare")
    stats = one_row(
        interactions.agg(
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(USER_IDX).alias("users"),
            F.countDistinct(ITEM_IDX).alias("items"),
        )
    )
    check_rank(config, stats["items"])
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    settings, tuning = config.als, None
    if config.tune.enabled:
        # Tuning sees only the evaluation's training part, so `evaluate`'s test part stays unseen.
        tuning = tune(holdout(interactions, config.evaluate)[0], config.als, config.tune, config.evaluate.k)
        settings = tuning.best
    model = fit_als(interactions, settings)
    version = new_model_version()
    uri = model_uri(root, version)
    model.write().overwrite().save(uri)
    fault_point("train", "mid_model_save")

    snapshot = one_row(spark.sql(f"DESCRIBE HISTORY delta.`{interactions_uri}` LIMIT 1").select("version"))[0]
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
