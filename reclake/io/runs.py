"""The ``runs`` table: one row per run id with its status and figures, failed runs included."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from reclake.config import Config
from reclake.constants import MODEL_VERSION, RUN_DATE, RUN_ID
from reclake.context import RunContext
from reclake.io.lakehouse import USER_METADATA, commit_conflict, delta_exists, session_conf, write_delta
from reclake.io.tables import RUNS, table_uri

RUNS_SCHEMA = T.StructType(
    [
        T.StructField(RUN_ID, T.StringType(), False),
        T.StructField(RUN_DATE, T.DateType(), False),
        T.StructField("job", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("finished_at", T.TimestampType(), False),
        T.StructField(MODEL_VERSION, T.StringType(), True),
        T.StructField("counts", T.StringType(), False),  # JSON: stage -> {count name: value}
        T.StructField("error", T.StringType(), True),
    ]
)


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
    uri = table_uri(config.lakehouse.root, RUNS)
    row = spark.createDataFrame([run_row(ctx, summary, dt.datetime.now(dt.timezone.utc))], RUNS_SCHEMA).coalesce(1)
    metadata = {"run_id": ctx.run_id, "status": summary["status"]}
    if not delta_exists(spark, uri):
        write_delta(row, uri, metadata=metadata)
        return
    # A merge takes its commit's userMetadata from the session, not from a write option.
    with session_conf(spark, {USER_METADATA: json.dumps(metadata, sort_keys=True)}):
        (
            DeltaTable.forPath(spark, uri)
            .alias("recorded")
            .merge(row.alias("run"), f"recorded.{RUN_ID} = run.{RUN_ID}")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
