"""Undo a bad publish: restore the published tables to their version before a run date's last publish.

Delta's ``RESTORE`` makes one new commit whose files are those of the earlier
version, so readers move from the bad run to the previous one atomically, and
the bad version stays in the history (time travel still reaches it until
``maintain`` vacuums it). Readers move when ``served_versions`` is replaced
after the restores, with the run dates served before that publish. Only the
newest publish can be rolled back this way: when another date was published
after it, the rollback is refused and names that publish. The model registry's
``PUBLISHED`` pointer follows the restored rows, and the ``runs`` table records
the rollback like any other job. With ``publish.sink: bigquery`` the BigQuery table's
rows of the date are replaced instead, by the staged files of the run the date held
before its last publish (the ``runs`` table names it), through the sink's load job
and transaction (reclake/sinks/bigquery.py); no earlier run: the date's rows go.

    spark-submit jobs/rollback.py --config conf/local.yaml --run-date 2026-11-23
    reclake rollback --lakehouse lakehouse --run-date 2026-11-23
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import MODEL_VERSION, RUN_DATE, RUN_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import FirstPublish, MissingTableError
from reclake.io import catalogue
from reclake.io.layout import version_before_last_publish
from reclake.io.runs import record_run
from reclake.io.served import Served, newest_run_date, served_versions, write_served_versions
from reclake.io.tables import (
    ITEM_FACTORS,
    NEW_ITEM_RECOMMENDATIONS,
    RECOMMENDATIONS,
    RUNS,
    SERVED_VERSIONS,
    SIMILAR_ITEMS,
    USER_HISTORIES,
    Table,
)
from reclake.model import registry
from reclake.runner import run_job

LISTS = (RECOMMENDATIONS, SIMILAR_ITEMS, NEW_ITEM_RECOMMENDATIONS)  # the published lists
REALTIME = (ITEM_FACTORS, USER_HISTORIES)  # what real-time lists fold in: absent from runs of older code


@dataclass
class RollbackResult(StageResult):
    """The model version apps read again (None: the restored rows name none)."""

    model_version: str | None = None


def run(spark: SparkSession, config: Config, ctx: RunContext) -> RollbackResult:
    """Read the published tables' and ``served_versions``' history; restore ``recommendations``, ``similar_items``,
    ``new_item_recommendations``, ``item_factors``, ``user_histories`` to before the run date's last publish and
    rewrite ``served_versions``; with the BigQuery sink, replace the date's rows there instead."""
    root = config.lakehouse.root
    if config.publish.sink == "bigquery":
        return _rollback_bigquery(spark, config, ctx)
    present = [t for t in (*LISTS, *REALTIME) if catalogue.exists(spark, root, t)]
    if RECOMMENDATIONS not in present:
        raise MissingTableError(f"no Delta table at {RECOMMENDATIONS.uri(root)}: nothing was published to roll back")
    # Every target first: a refusal for one table must leave every table as it is.
    targets, unchanged, created = {}, [], []
    for table in present:
        try:
            targets[table] = _version_before_last_publish(spark, root, table, ctx)
        except MissingTableError as exc:  # that publish left this table alone (nothing staged, no rows to replace)
            unchanged.append(exc)
        except FirstPublish:
            if table not in REALTIME:
                raise
            created.append(table)  # real-time tables a run of older code never wrote: served no more
    served_before = _served_before_last_publish(spark, root, ctx)
    if not targets and served_before is None:
        raise unchanged[0]
    served_before = served_before or {}
    stamp = catalogue.rollback_metadata(ctx)
    with catalogue.stamped(spark, stamp):
        for table, version in targets.items():
            catalogue.delta_table(spark, root, table).restoreToVersion(version)
    restored = {}
    for table in (t for t in present if t not in created):
        before = served_before.get(table.name)
        run_date = before.run_date if before else newest_run_date(spark, root, table)
        restored[table.name] = Served(catalogue.version(spark, root, table), run_date)
    write_served_versions(spark, root, restored, ctx, stamp=stamp)
    latest = catalogue.read(spark, root, RECOMMENDATIONS).orderBy(F.col(RUN_DATE).desc()).select(MODEL_VERSION).first()
    model_version = latest[MODEL_VERSION] if latest is not None else None
    if model_version:
        registry.mark_published(spark, root, model_version)  # the pointer names what apps read again
    return RollbackResult(
        counts={f"{table.name}.restored_to_version": version for table, version in targets.items()},
        tables={table.name: table.uri(root) for table in present},
        note=", ".join(f"{t.name} back at version {v}" for t, v in targets.items()) or "tables unchanged",
        model_version=model_version,
    )


def _rollback_bigquery(spark: SparkSession, config: Config, ctx: RunContext) -> RollbackResult:
    """The date's BigQuery rows back to the run it held before its last publish; the registry follows."""
    # google-cloud-bigquery is an optional extra: imported only when it is the sink.
    from reclake.sinks.bigquery import make_client, newest_model_version, restore_date, run_to_restore

    settings = config.publish.bigquery_target
    client = make_client(settings)
    restore = run_to_restore(_bigquery_events(spark, config.lakehouse.root, ctx), ctx.run_date)
    counts = restore_date(client, settings, ctx, restore)
    model_version = newest_model_version(client, settings)
    if model_version:
        registry.mark_published(spark, config.lakehouse.root, model_version)
    return RollbackResult(
        counts=counts,
        tables={RECOMMENDATIONS.name: settings.destination(ctx.run_date)},
        note=f"BigQuery {ctx.run_date} back at run {restore[0]}'s rows"
        if restore
        else f"BigQuery {ctx.run_date} rows removed",
        model_version=model_version,
    )


def _bigquery_events(spark: SparkSession, root: str, ctx: RunContext) -> list[tuple[str, str, int]]:
    """The run date's BigQuery publishes and rollbacks, oldest first, as (run id, kind, rows) from ``runs``."""
    rows = (
        catalogue.read(spark, root, RUNS)
        .where(F.col(RUN_DATE) == F.lit(ctx.run_date))
        .orderBy("finished_at")
        .select(RUN_ID, "job", "status", "counts")
        .collect()
    )
    events = []
    for row in rows:
        counts = json.loads(row["counts"])
        published = counts.get("publish", {}).get("bigquery_rows")  # present once the date's transaction committed
        if published is not None:
            events.append((row[RUN_ID], "publish", published))
        elif row["job"] == "reclake rollback" and row["status"] == "succeeded":
            restored = counts.get("rollback", {}).get("bigquery_rows")
            if restored is not None:
                events.append((row[RUN_ID], "rollback", restored))
    return events


def _version_before_last_publish(spark: SparkSession, root: str, table: Table, ctx: RunContext) -> int:
    return version_before_last_publish(catalogue.history(spark, root, table), table.name, ctx.run_date)


def _served_before_last_publish(spark: SparkSession, root: str, ctx: RunContext) -> dict[str, Served] | None:
    """What readers were served before the run date's last publish; None: served_versions has no publish of it.

    {} when that publish was the first to write served_versions (nothing named before it).
    """
    if not catalogue.exists(spark, root, SERVED_VERSIONS):
        return None
    try:
        version = _version_before_last_publish(spark, root, SERVED_VERSIONS, ctx)
    except MissingTableError:
        return None
    except FirstPublish:
        return {}
    return served_versions(spark, root, version)


STAGE = Stage("rollback", run, on_finish=record_run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake rollback", __doc__.splitlines()[0], [STAGE], argv)
