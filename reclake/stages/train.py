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
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import ITEM_IDX, USER_IDX
from reclake.context import RunContext, Stage, StageResult
from reclake.faults import fault_point
from reclake.frames import one_row
from reclake.io import catalogue
from reclake.io.tables import INTERACTIONS, MODEL_REGISTRY
from reclake.model import registry
from reclake.model.als import new_model_version
from reclake.model.registry import model_uri
from reclake.model.tuning import check_rank, fit_tuned
from reclake.runner import run_job


@dataclass
class TrainResult(StageResult):
    """The model trained, and the tuning search's summary when one ran."""

    model_version: str = ""
    tuning: dict[str, Any] | None = None

    def summary_fields(self) -> dict[str, Any]:
        return {"model_version": self.model_version, **({"tuning": self.tuning} if self.tuning else {})}


def run(spark: SparkSession, config: Config, ctx: RunContext) -> TrainResult:
    """Read ``interactions``; save the model under ``models/<version>`` and append its ``model_registry`` row."""
    root = config.lakehouse.root
    interactions = catalogue.read(spark, root, INTERACTIONS)
    stats = one_row(
        interactions.agg(
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(USER_IDX).alias("users"),
            F.countDistinct(ITEM_IDX).alias("items"),
        )
    )
    check_rank(config.als, config.tune, stats["items"])
    spark.sparkContext.setCheckpointDir(config.checkpoint_dir)
    model, settings, tuning = fit_tuned(interactions, config.als, config.tune, config.evaluate)
    version = new_model_version()
    uri = model_uri(root, version)
    model.write().overwrite().save(uri)
    fault_point("train", "mid_model_save")
    snapshot = {
        "input_path": config.input_path,
        "interactions_uri": INTERACTIONS.uri(root),
        "interactions_version": catalogue.version(spark, root, INTERACTIONS),
        **stats.asDict(),
    }
    entry = {"model_version": version, "model_uri": uri, "params": settings.model_dump(), "data_snapshot": snapshot}
    registry.register(spark, root, ctx, {**entry, "tuning": tuning.summary() if tuning else None})
    return TrainResult(
        counts={"users": model.userFactors.count(), "items": model.itemFactors.count(), "interactions": stats["rows"]},
        tables={"model_registry": MODEL_REGISTRY.uri(root), "model": uri},
        model_version=version,
        tuning=tuning.summary() if tuning else None,
    )


STAGE = Stage("train", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake train", __doc__.splitlines()[0], [STAGE], argv)
