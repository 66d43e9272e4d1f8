"""Publish the staged recommendations (and similar items, and new items per user) to the tables app teams read.

One atomic Delta commit per table per run, then one to ``served_versions``, which
moves readers to the new versions of every table at once (``reclake.io.served``).
Re-running a run date replaces that date's rows (``replaceWhere``; a partition
overwrite when the table is partitioned by run date) instead of adding a second
copy, and with ``publish.retain_runs`` the same commit drops the run dates past
retention. The commit's metadata names the run id, the model version and the row
counts.

Rows are laid out for point lookups: each file holds one contiguous range of
users (``repartitionByRange``), sorted by user then rank, about
``publish.target_file_rows`` rows, so the per-file min/max statistics on
``user_id`` let a reader open a single file for a user. ``reclake.serving.lookup`` reads
them without Spark. With ``publish.sink: bigquery`` the recommendations go to
BigQuery instead (``reclake.sinks.bigquery``). Either way the ``runs`` table gets one row
per run with its status and figures, failed runs included.

    spark-submit jobs/publish.py --config conf/local.yaml --run-date 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession

from reclake.config import Config
from reclake.constants import ITEM_ID, USER_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError
from reclake.faults import fault_point
from reclake.io.lakehouse import delta_exists, last_commit_metadata, table_version
from reclake.io.layout import (
    RECOMMENDATION_COLUMNS,
    SIMILAR_ITEM_COLUMNS,
    publish_table,
    run_stats,
    staged_run,
)
from reclake.io.runs import record_run
from reclake.io.served import Served, newest_run_date, served_versions, write_served_versions
from reclake.io.tables import (
    NEW_ITEM_RECOMMENDATIONS,
    RECOMMENDATIONS,
    SIMILAR_ITEMS,
    STAGED_NEW_ITEM_RECOMMENDATIONS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    table_uri,
)
from reclake.model import registry
from reclake.runner import run_job


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.publish
    staged_uri = table_uri(root, STAGED_RECOMMENDATIONS)
    staged = staged_run(spark, staged_uri, ctx.run_date, RECOMMENDATION_COLUMNS)
    stats = run_stats(staged, USER_ID)
    # No rows is a result when recommend ran for this date (every user already has every eligible item).
    if not stats.rows and last_commit_metadata(spark, staged_uri).get("run_date") != ctx.run_date.isoformat():
        raise MissingTableError(
            f"staging/recommendations has no rows for run date {ctx.run_date}: "
            f"run `reclake recommend --run-date {ctx.run_date}` first"
        )
    counts: dict[str, int] = {}
    tables: dict[str, str] = {}
    published: dict[str, dict[str, int]] = {}  # table -> rows of this run and, for Delta, the version committed

    # Tables a run may or may not have staged (similar items, the new-items shelf): Delta only.
    optional = [
        (STAGED_SIMILAR_ITEMS, SIMILAR_ITEMS, SIMILAR_ITEM_COLUMNS, ITEM_ID, "similar_"),
        (STAGED_NEW_ITEM_RECOMMENDATIONS, NEW_ITEM_RECOMMENDATIONS, RECOMMENDATION_COLUMNS, USER_ID, "new_item_"),
    ]
    for staged_name, name, columns, key, prefix in optional:
        staged_uri = table_uri(root, staged_name)
        if settings.sink != "delta" or not delta_exists(spark, staged_uri):
            continue
        rows = staged_run(spark, staged_uri, ctx.run_date, columns)
        rows_stats = run_stats(rows, key)
        if rows_stats.rows:  # this run produced them
            uri = table_uri(root, name)
            written = publish_table(rows, uri, rows_stats, key=key, ctx=ctx, settings=settings)
            counts.update({f"{prefix}{count}": value for count, value in written.items()})
            tables[name] = uri
            published[name] = {"rows": written["rows"], "version": table_version(spark, uri)}
            fault_point("publish", "between_tables")

    if settings.sink == "bigquery":
        # google-cloud-bigquery is an optional extra: imported only when it is the sink.
        from reclake.sinks.bigquery import publish_to_bigquery

        counts.update(publish_to_bigquery(staged, stats.rows, settings, ctx))
        tables["recommendations"] = settings.bigquery_target.destination(ctx.run_date)
        published["recommendations"] = {"rows": stats.rows}
    else:
        uri = table_uri(root, RECOMMENDATIONS)
        counts.update(publish_table(staged, uri, stats, key=USER_ID, ctx=ctx, settings=settings))
        tables["recommendations"] = uri
        published["recommendations"] = {"rows": stats.rows, "version": table_version(spark, uri)}
        serve_published(spark, root, published, ctx)
    for version in filter(None, stats.model_version.split(",")):
        registry.mark_published(spark, root, version)  # the registry records what apps now read
    details = {"model_version": stats.model_version, "example_user_id": stats.first_key, "published": published}
    return StageResult(counts=counts, tables=tables, details=details)


def serve_published(spark: SparkSession, root: str, published: dict[str, dict[str, int]], ctx: RunContext) -> None:
    """Move readers to this run's table versions in one commit; tables it did not publish stay as served.

    A table's served run date never goes back: backfilling an older date republishes
    the table, and readers keep answering from the newest date.
    """
    served = served_versions(spark, root)
    for name in (SIMILAR_ITEMS, NEW_ITEM_RECOMMENDATIONS):  # published by an earlier run, before this table existed
        uri = table_uri(root, name)
        if name not in published and name not in served and delta_exists(spark, uri):
            served[name] = Served(table_version(spark, uri), newest_run_date(spark, uri))
    for name, written in published.items():
        before = served.get(name)
        newest = max(filter(None, (ctx.run_date, before.run_date if before else None)))
        served[name] = Served(written["version"], newest)
    fault_point("publish", "before_served")
    write_served_versions(spark, root, served, {"run_id": ctx.run_id, "run_date": ctx.run_date.isoformat()})


STAGE = Stage("publish", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake publish", __doc__.splitlines()[0], [STAGE], argv)
