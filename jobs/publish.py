"""Publish the staged recommendations to the Delta table app teams read.

One atomic Delta commit per run. Re-running a run date replaces that date's
rows (``replaceWhere``) instead of adding a second copy; the commit's metadata
names the run id, the model version and the row count.

    spark-submit jobs/publish.py --config conf/local.yaml --run-date 2026-11-23
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import registry
from jobs.config import Config
from jobs.constants import MODEL_VERSION, RUN_DATE, USER_ID
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import RECOMMENDATIONS, STAGED_RECOMMENDATIONS, last_commit_rows, read_delta, table_uri, write_delta


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    staged = read_delta(spark, table_uri(root, STAGED_RECOMMENDATIONS), produced_by="recommend").where(
        F.col(RUN_DATE) == F.lit(ctx.run_date)
    )
    stats = staged.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(USER_ID).alias("users")).first()
    versions = [r[0] for r in staged.select(MODEL_VERSION).distinct().collect()]
    uri = table_uri(root, RECOMMENDATIONS)
    write_delta(
        staged.sortWithinPartitions(USER_ID),
        uri,
        replace_where=f"{RUN_DATE} = '{ctx.run_date}'",
        metadata={
            "run_id": ctx.run_id,
            "run_date": ctx.run_date.isoformat(),
            "model_version": ",".join(versions),
            "rows": stats["rows"],
        },
    )
    for version in versions:
        registry.mark_published(spark, root, version)
    return StageResult(
        counts={"rows": stats["rows"], "users": stats["users"], "written_rows": last_commit_rows(spark, uri)},
        tables={"recommendations": uri},
    )


STAGE = Stage("publish", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake publish", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
