"""Publish the staged recommendations (and similar items) to the tables app teams read.

One atomic Delta commit per table per run. Re-running a run date replaces that
date's rows (``replaceWhere``; a partition overwrite when the table is
partitioned by run date) instead of adding a second copy, and with
``publish.retain_runs`` the same commit drops the run dates past retention. The
commit's metadata names the run id, the model version and the row counts.

Rows are laid out for point lookups: each file holds one contiguous range of
users (``repartitionByRange``), sorted by user then rank, about
``publish.target_file_rows`` rows, so the per-file min/max statistics on
``user_id`` let a reader open a single file for a user. ``jobs/lookup.py`` reads
them without Spark. With ``publish.sink: bigquery`` the recommendations go to
BigQuery instead (``jobs/bigquery.py``). Either way the ``runs`` table gets one row
per run with its status and figures, failed runs included.

    spark-submit jobs/publish.py --config conf/local.yaml --run-date 2026-11-23
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import registry
from jobs.config import Config, PublishSection
from jobs.constants import (
    ITEM_ID,
    MODEL_VERSION,
    RANK,
    RUN_DATE,
    RUN_ID,
    SCORE,
    SIMILAR_ITEM_ID,
    SOURCE,
    USER_ID,
)
from jobs.errors import MissingTableError
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import (
    RECOMMENDATIONS,
    RUNS,
    SIMILAR_ITEMS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    delta_exists,
    read_delta,
    table_uri,
    write_delta,
)

# The published schemas, in column order (schemas/recommendations.schema.json documents the first).
RECOMMENDATION_COLUMNS = (USER_ID, RANK, ITEM_ID, SCORE, SOURCE, MODEL_VERSION, RUN_DATE)
SIMILAR_ITEM_COLUMNS = (ITEM_ID, RANK, SIMILAR_ITEM_ID, SCORE, MODEL_VERSION, RUN_DATE)

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


# Parquet's row-group size in bytes; Delta ignores it as a write option but reads it from the session.
PARQUET_BLOCK_SIZE = "parquet.block.size"


@contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session settings for one block, then put the previous values back."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def file_count(rows: int, target_file_rows: int) -> int:
    """How many files ``rows`` rows are split into so each holds about ``target_file_rows``."""
    return max(1, math.ceil(rows / target_file_rows))


def lay_out_for_lookup(df: DataFrame, key: str, files: int) -> DataFrame:
    """``files`` partitions, each one contiguous range of ``key``, sorted by key then rank.

    Range partitioning never splits one key across partitions, so every key's rows
    land in exactly one file and that file's min/max statistics bracket it.
    """
    return df.repartitionByRange(files, F.col(key)).sortWithinPartitions(key, RANK)


def expired_before(run_date: dt.date, existing: Sequence[dt.date], retain_runs: int | None) -> dt.date | None:
    """The oldest run date kept once ``run_date`` is published, if older ones must go; else None.

    The K newest dates among the existing ones and ``run_date`` are kept.
    """
    if retain_runs is None:
        return None
    dates = sorted({*existing, run_date}, reverse=True)
    return dates[retain_runs - 1] if len(dates) > retain_runs else None


def replace_predicate(run_date: dt.date, cutoff: dt.date | None) -> str:
    """The rows one publishing commit replaces: this run date's, and any past retention."""
    predicate = f"{RUN_DATE} = '{run_date.isoformat()}'"
    return predicate if cutoff is None else f"{predicate} OR {RUN_DATE} < '{cutoff.isoformat()}'"


def _published_run_dates(spark: SparkSession, uri: str) -> list[dt.date]:
    if not delta_exists(spark, uri):
        return []
    return [r[0] for r in spark.read.format("delta").load(uri).select(RUN_DATE).distinct().collect()]


class RunStats(NamedTuple):
    rows: int
    keys: int  # distinct users (items)
    model_version: str  # every model version in the run, comma-separated


def run_stats(staged: DataFrame, key: str) -> RunStats:
    """Rows, distinct keys and model versions of one staged run, in one pass."""
    row = staged.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(key).alias("keys"),
        F.array_sort(F.collect_set(MODEL_VERSION)).alias("versions"),
    ).first()
    return RunStats(int(row["rows"]), int(row["keys"]), ",".join(row["versions"]))


def publish_table(
    staged: DataFrame, uri: str, stats: RunStats, *, key: str, ctx: RunContext, settings: PublishSection
) -> dict[str, int]:
    """Write one run's ``staged`` rows to the Delta table at ``uri`` in one commit; return the counts."""
    files = file_count(stats.rows, settings.target_file_rows)
    existing = _published_run_dates(staged.sparkSession, uri) if settings.retain_runs else []
    cutoff = expired_before(ctx.run_date, existing, settings.retain_runs)
    with session_conf(staged.sparkSession, {PARQUET_BLOCK_SIZE: str(settings.row_group_bytes)}):
        write_delta(
            lay_out_for_lookup(staged, key, files),
            uri,
            replace_where=replace_predicate(ctx.run_date, cutoff),
            partition_by=[RUN_DATE] if settings.partition_by_run_date else None,
            metadata={
                "run_id": ctx.run_id,
                "run_date": ctx.run_date.isoformat(),
                "model_version": stats.model_version,
                "rows": stats.rows,
                f"{key}s": stats.keys,
                "files": files,
                "expired_before": cutoff.isoformat() if cutoff else None,
            },
        )
    return {"rows": stats.rows, f"{key}s": stats.keys, "files": files}


def staged_run(spark: SparkSession, uri: str, run_date: dt.date, columns: Sequence[str]) -> DataFrame:
    """One run date's rows of a staged table, in the published column order."""
    staged = read_delta(spark, uri, produced_by="recommend")
    return staged.where(F.col(RUN_DATE) == F.lit(run_date)).select(*columns)


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.publish
    staged = staged_run(spark, table_uri(root, STAGED_RECOMMENDATIONS), ctx.run_date, RECOMMENDATION_COLUMNS)
    stats = run_stats(staged, USER_ID)
    if not stats.rows:
        raise MissingTableError(
            f"staging/recommendations has no rows for run date {ctx.run_date}: "
            f"run `reclake recommend --run-date {ctx.run_date}` first"
        )
    counts: dict[str, int] = {}
    tables: dict[str, str] = {}

    similar_uri = table_uri(root, STAGED_SIMILAR_ITEMS)
    if settings.sink == "delta" and delta_exists(spark, similar_uri):
        similar = staged_run(spark, similar_uri, ctx.run_date, SIMILAR_ITEM_COLUMNS)
        similar_stats = run_stats(similar, ITEM_ID)
        if similar_stats.rows:  # this run produced similar items
            uri = table_uri(root, SIMILAR_ITEMS)
            written = publish_table(similar, uri, similar_stats, key=ITEM_ID, ctx=ctx, settings=settings)
            counts.update({f"similar_{name}": value for name, value in written.items()})
            tables["similar_items"] = uri

    if settings.sink == "bigquery":
        from jobs.bigquery import publish_to_bigquery  # google-cloud-bigquery only when it is the sink

        counts.update(publish_to_bigquery(staged, stats.rows, settings, ctx))
        tables["recommendations"] = settings.bigquery.destination(ctx.run_date)
    else:
        uri = table_uri(root, RECOMMENDATIONS)
        counts.update(publish_table(staged, uri, stats, key=USER_ID, ctx=ctx, settings=settings))
        tables["recommendations"] = uri
    for version in filter(None, stats.model_version.split(",")):
        registry.mark_published(spark, root, version)  # the registry records what apps now read
    return StageResult(counts=counts, tables=tables, details={"model_version": stats.model_version})


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


def record_run(spark: SparkSession, config: Config, ctx: RunContext, summary: dict[str, Any]) -> None:
    """Write this run's row to the runs table, replacing an earlier row of the same run id."""
    uri = table_uri(config.lakehouse.root, RUNS)
    row = spark.createDataFrame([run_row(ctx, summary, dt.datetime.now(dt.timezone.utc))], RUNS_SCHEMA)
    metadata = {"run_id": ctx.run_id, "status": summary["status"]}
    if delta_exists(spark, uri):
        quoted = ctx.run_id.replace("\\", "\\\\").replace("'", "\\'")  # a SQL string literal, whatever the id
        write_delta(row.coalesce(1), uri, replace_where=f"{RUN_ID} = '{quoted}'", metadata=metadata)
    else:
        write_delta(row.coalesce(1), uri, metadata=metadata)


STAGE = Stage("publish", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake publish", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
