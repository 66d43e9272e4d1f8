"""The ``runs`` table: one row per run id with its status and figures, failed runs included."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pyspark.sql import SparkSession

from reclake.config import Config
from reclake.constants import MODEL_VERSION, RUN_DATE, RUN_ID
from reclake.context import RunContext
from reclake.io import catalogue
from reclake.io.lakehouse import commit_conflict
from reclake.io.tables import RUNS

RUNS_SCHEMA = catalogue.schema(RUNS)


def run_row(ctx: RunContext, summary: dict[str, Any], finished_at: dt.datetime) -> dict[str, Any]:
    """The runs-table row for a finished job, from its summary."""
    return {
        RUN_ID: ctx.run_id,
        RUN_DATE: ctx.run_date,
        "job": summary["job"],
        "status": summary["status"],
        "started_at": ctx.started_at,
        "finished_at": finished_at,
        MODEL_VERSION: summary.get("model_version"),
        "counts": json.dumps(summary["counts"], sort_keys=True),
        "error": summary.get("error"),
    }


# A run refused the writer lock records itself while the holder may be recording too: Delta lets one
# commit win and refuses the other, which reads the table again and retries.
RECORD_ATTEMPTS = 5


def record_run(spark: SparkSession, config: Config, ctx: RunContext, summary: dict[str, Any]) -> None:
    """Upsert this run's row into the runs table, retrying a commit another job's record won."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            _upsert_run(spark, config, ctx, summary)
            return
        except Exception as exc:
            if attempt == RECORD_ATTEMPTS or commit_conflict(exc) is None:
                raise


def _upsert_run(spark: SparkSession, config: Config, ctx: RunContext, summary: dict[str, Any]) -> None:
    """Upsert this run's row: a retried run id replaces its earlier row."""
    root = config.lakehouse.root
    row = catalogue.rows(spark, RUNS, [tuple(run_row(ctx, summary, dt.datetime.now(dt.timezone.utc)).values())])
    row = row.coalesce(1)
    # Recorded by publish and by rollback: the stamp names the job.
    stamp = catalogue.commit_metadata(ctx, summary["job"]) | {"status": summary["status"]}
    if not catalogue.exists(spark, root, RUNS):
        catalogue.write(row, root, RUNS, ctx, stamp=stamp)
        return
    # A merge takes its commit's userMetadata from the session, not from a write option.
    with catalogue.stamped(spark, stamp):
        (
            catalogue.delta_table(spark, root, RUNS)
            .alias("recorded")
            .merge(row.alias("run"), f"recorded.{RUN_ID} = run.{RUN_ID}")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
