"""The whole pipeline in one Spark application: validate, prepare, train, evaluate, recommend, publish.

With ``input.generate_if_missing`` (set in conf/local.yaml) synthetic events are
generated first when the input does not exist yet. A model the quality gate in
``evaluate`` rejects stops the run before anything is recommended or published.

    spark-submit jobs/run.py --config conf/local.yaml
    reclake run --config conf/movielens-100k.yaml --input ../shared/data/movielens-100k/u.data --json
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession

from reclake.config import Config
from reclake.context import RunContext, Stage, StageResult
from reclake.io.lakehouse import path_exists
from reclake.runner import run_job
from reclake.stages import (
    evaluate,
    generate,
    prepare,
    publish,
    recommend,
    train,
    validate,
)

PIPELINE = (validate.STAGE, prepare.STAGE, train.STAGE, evaluate.STAGE, recommend.STAGE, publish.STAGE)


def generate_if_missing(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Generate sample input on first use, when the config asks for it."""
    if config.input.generate_if_missing and not path_exists(spark, config.batch_path(ctx.run_date)):
        return generate.run(spark, config, ctx)
    return StageResult()


STAGES = (Stage("generate", generate_if_missing), *PIPELINE)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake run", __doc__.splitlines()[0], STAGES, argv)
