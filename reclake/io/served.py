"""The ``served_versions`` table: which version and run date of each published table readers serve.

Delta commits one table at a time, so a publish of recommendations, similar
items and new items is three commits. Readers do not follow the tables'
newest versions; they follow this one small table, replaced in one commit
after every table commit of a publish (or a rollback) has succeeded. A job
killed between two table commits therefore leaves readers on the previous
run's versions of every table, and a run that published no rows for its date
is served as that date (with no rows), not as the date before it.

A lakehouse without this table (published before it existed, or written by
another tool) is read as before: each table's newest version and newest run date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import NamedTuple

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.constants import RUN_DATE, TABLE_NAME, TABLE_VERSION
from reclake.context import RunContext
from reclake.faults import fault_point
from reclake.io import catalogue
from reclake.io.tables import NEW_ITEM_RECOMMENDATIONS, SERVED_VERSIONS, SIMILAR_ITEMS, Table


class Served(NamedTuple):
    """One table's served version, and the run date a lookup answers from (None: nothing published yet)."""

    version: int
    run_date: dt.date | None


def served_versions(spark: SparkSession, lakehouse_root: str, version: int | None = None) -> dict[str, Served]:
    """Table name -> what readers serve now (or at ``version`` of the table); {} before the first publish."""
    if not catalogue.exists(spark, lakehouse_root, SERVED_VERSIONS):
        return {}
    rows = catalogue.read(spark, lakehouse_root, SERVED_VERSIONS, version=version).collect()
    return {row[TABLE_NAME]: Served(row[TABLE_VERSION], row[RUN_DATE]) for row in rows}


def newest_run_date(spark: SparkSession, lakehouse_root: str, table: Table) -> dt.date | None:
    """The newest run date in a published table's current version (what readers served before this table)."""
    return catalogue.read(spark, lakehouse_root, table).agg(F.max(RUN_DATE)).first()[0]  # type: ignore[index]


def write_served_versions(
    spark: SparkSession,
    lakehouse_root: str,
    served: Mapping[str, Served],
    ctx: RunContext,
    stamp: Mapping[str, str] | None = None,
) -> None:
    """Replace what readers serve with ``served``, in one commit stamped as the job's table commits."""
    rows = [(name, entry.version, entry.run_date) for name, entry in sorted(served.items())]
    frame = catalogue.rows(spark, SERVED_VERSIONS, rows).coalesce(1)
    catalogue.write(frame, lakehouse_root, SERVED_VERSIONS, ctx, stamp=stamp)


def serve_published(
    spark: SparkSession, root: str, published: Mapping[str, Mapping[str, int]], ctx: RunContext
) -> None:
    """Move readers to this run's table versions in one commit; tables it did not publish stay as served.

    ``published``: table name -> {"rows", "version"} of this run's commit. A table's
    served run date never goes back: backfilling an older date republishes the
    table, and readers keep answering from the newest date.
    """
    served = served_versions(spark, root)
    for table in (SIMILAR_ITEMS, NEW_ITEM_RECOMMENDATIONS):  # published by an earlier run, before this table existed
        if table.name not in published and table.name not in served and catalogue.exists(spark, root, table):
            served[table.name] = Served(catalogue.version(spark, root, table), newest_run_date(spark, root, table))
    for name, written in published.items():
        before = served.get(name)
        newest = max(filter(None, (ctx.run_date, before.run_date if before else None)))
        served[name] = Served(written["version"], newest)
    fault_point("publish", "before_served")
    write_served_versions(spark, root, served, ctx)
