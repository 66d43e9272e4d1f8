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
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from reclake.config import Config, PublishSection
from reclake.constants import USER_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError
from reclake.faults import fault_point
from reclake.io import catalogue
from reclake.io.layout import LOOKUP_KEYS, STAGED, RunStats, publish_table, run_stats, staged_run
from reclake.io.runs import record_run
from reclake.io.served import serve_published
from reclake.io.tables import (
    ITEM_FACTORS,
    NEW_ITEM_RECOMMENDATIONS,
    RECOMMENDATIONS,
    SIMILAR_ITEMS,
    STAGED_RECOMMENDATIONS,
    USER_HISTORIES,
    Table,
)
from reclake.model import registry
from reclake.runner import run_job

__all__ = ["STAGE", "PublishResult", "main", "publish_table", "run", "run_stats", "serve_published"]

# Tables a run may or may not have staged (similar items, the new-items shelf; what real-time lists fold in
# against, absent from runs before they existed), and their counts' prefix: Delta only.
OPTIONAL = (
    (SIMILAR_ITEMS, "similar_"),
    (NEW_ITEM_RECOMMENDATIONS, "new_item_"),
    (ITEM_FACTORS, "item_factor_"),
    (USER_HISTORIES, "history_"),
)


@dataclass
class PublishResult(StageResult):
    """What apps now read: the model versions, a user id to try, and per table the rows and Delta version committed."""

    model_version: str = ""
    example_user_id: str | None = None
    published: dict[str, dict[str, int]] = field(default_factory=dict)


def run(spark: SparkSession, config: Config, ctx: RunContext) -> PublishResult:
    """Read the run date's rows of the ``staging/`` tables; write ``recommendations`` (or BigQuery),
    ``similar_items``, ``new_item_recommendations``, ``item_factors``, ``user_histories`` and
    ``served_versions``; mark the model published."""
    root, settings = config.lakehouse.root, config.publish
    staged = staged_run(spark, root, RECOMMENDATIONS, ctx.run_date)
    stats = run_stats(staged, USER_ID)
    # No rows is a result when recommend ran for this date (every user already has every eligible item).
    if (
        not stats.rows
        and catalogue.last_metadata(spark, root, STAGED_RECOMMENDATIONS).get("run_date") != ctx.run_date.isoformat()
    ):
        raise MissingTableError(
            f"staging/recommendations has no rows for run date {ctx.run_date}: "
            f"run `reclake recommend --run-date {ctx.run_date}` first"
        )
    result = PublishResult(model_version=stats.model_version, example_user_id=stats.first_key)
    for table, prefix in OPTIONAL if settings.sink == "delta" else ():
        if not catalogue.exists(spark, root, STAGED[table]):
            continue
        rows = staged_run(spark, root, table, ctx.run_date)
        rows_stats = run_stats(rows, LOOKUP_KEYS[table])
        if rows_stats.rows:  # this run produced them
            _commit(spark, root, table, rows, rows_stats, ctx, settings, result, prefix)
            fault_point("publish", "between_tables")
    if settings.sink == "bigquery":
        # google-cloud-bigquery is an optional extra: imported only when it is the sink.
        from reclake.sinks.bigquery import publish_to_bigquery

        result.counts.update(publish_to_bigquery(staged, stats.rows, settings, ctx))
        result.tables[RECOMMENDATIONS.name] = settings.bigquery_target.destination(ctx.run_date)
        result.published[RECOMMENDATIONS.name] = {"rows": stats.rows}
    else:
        _commit(spark, root, RECOMMENDATIONS, staged, stats, ctx, settings, result)
        serve_published(spark, root, result.published, ctx)
    for version in filter(None, stats.model_version.split(",")):
        registry.mark_published(spark, root, version)  # the registry records what apps now read
    return result


def _commit(
    spark: SparkSession,
    root: str,
    table: Table,
    rows: DataFrame,
    stats: RunStats,
    ctx: RunContext,
    settings: PublishSection,
    result: PublishResult,
    prefix: str = "",
) -> None:
    """Publish ``rows`` to ``table`` in one commit, and note its counts, URI and version in ``result``."""
    written = publish_table(rows, root, table, stats, ctx=ctx, settings=settings)
    result.counts.update({f"{prefix}{count}": value for count, value in written.items()})
    result.tables[table.name] = table.uri(root)
    result.published[table.name] = {"rows": written["rows"], "version": catalogue.version(spark, root, table)}


STAGE = Stage("publish", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake publish", __doc__.splitlines()[0], [STAGE], argv)
