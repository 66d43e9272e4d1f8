"""The published tables' layout: column order, files of one contiguous key range, one commit per run date.

Rows are laid out for point lookups: each file holds one contiguous range of
keys (``repartitionByRange``), sorted by key then rank, about
``publish.target_file_rows`` rows, so the per-file min/max statistics on the key
let a reader open a single file for one id. Re-publishing a run date replaces
that date's rows (``replaceWhere``) in the same commit that drops dates past
``publish.retain_runs``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import PublishSection
from reclake.constants import ITEM_ID, MODEL_VERSION, RANK, RUN_DATE, USER_ID
from reclake.context import RunContext
from reclake.errors import FirstPublish, MissingTableError, RollbackRefused
from reclake.faults import kill_between_files_and_commit
from reclake.frames import one_row
from reclake.io import catalogue
from reclake.io.lakehouse import session_conf
from reclake.io.tables import (
    ITEM_FACTORS,
    NEW_ITEM_RECOMMENDATIONS,
    RECOMMENDATIONS,
    SIMILAR_ITEMS,
    STAGED_ITEM_FACTORS,
    STAGED_NEW_ITEM_RECOMMENDATIONS,
    STAGED_RECOMMENDATIONS,
    STAGED_SIMILAR_ITEMS,
    STAGED_USER_HISTORIES,
    USER_HISTORIES,
    Table,
)
from reclake.objectstore import filesystem

# The published schemas, in column order: declared once, in reclake/io/tables.py.
RECOMMENDATION_COLUMNS = RECOMMENDATIONS.column_names
SIMILAR_ITEM_COLUMNS = SIMILAR_ITEMS.column_names
# Published table -> the column lookups select by (files hold one contiguous range of it).
LOOKUP_KEYS = {
    RECOMMENDATIONS: USER_ID,
    SIMILAR_ITEMS: ITEM_ID,
    NEW_ITEM_RECOMMENDATIONS: USER_ID,
    ITEM_FACTORS: ITEM_ID,
    USER_HISTORIES: USER_ID,
}
# Published table -> the staged table recommend writes it from.
STAGED = {
    RECOMMENDATIONS: STAGED_RECOMMENDATIONS,
    SIMILAR_ITEMS: STAGED_SIMILAR_ITEMS,
    NEW_ITEM_RECOMMENDATIONS: STAGED_NEW_ITEM_RECOMMENDATIONS,
    ITEM_FACTORS: STAGED_ITEM_FACTORS,
    USER_HISTORIES: STAGED_USER_HISTORIES,
}
# Parquet's row-group size in bytes; Delta ignores it as a write option but reads it from the session.
PARQUET_BLOCK_SIZE = "parquet.block.size"


def file_count(rows: int, target_file_rows: int) -> int:
    """How many files ``rows`` rows are split into so each holds about ``target_file_rows``."""
    return max(1, math.ceil(rows / target_file_rows))


def lay_out_for_lookup(df: DataFrame, key: str, files: int) -> DataFrame:
    """``files`` partitions, each one contiguous range of ``key``, sorted by key then rank (or item, without one).

    Range partitioning never splits one key across partitions, so every key's rows
    land in exactly one file and that file's min/max statistics bracket it.
    """
    then = [c for c in (RANK, ITEM_ID) if c in df.columns and c != key][:1]
    return df.repartitionByRange(files, F.col(key)).sortWithinPartitions(key, *then)


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


def _published_run_dates(spark: SparkSession, root: str, table: Table) -> list[dt.date]:
    published = catalogue.read_if_exists(spark, root, table)
    return [] if published is None else [r[0] for r in published.select(RUN_DATE).distinct().collect()]


class RunStats(NamedTuple):
    rows: int
    keys: int  # distinct users (items)
    model_version: str  # every model version in the run, comma-separated
    first_key: str | None  # the smallest key: an id to try a lookup with


def run_stats(staged: DataFrame, key: str) -> RunStats:
    """Rows, distinct keys and model versions of one staged run, in one pass."""
    row = one_row(
        staged.agg(
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(key).alias("keys"),
            F.array_sort(F.collect_set(MODEL_VERSION)).alias("versions"),
            F.min(key).alias("first_key"),
        )
    )
    return RunStats(int(row["rows"]), int(row["keys"]), ",".join(row["versions"]), row["first_key"])


def publish_table(
    staged: DataFrame, root: str, table: Table, stats: RunStats, *, ctx: RunContext, settings: PublishSection
) -> dict[str, int]:
    """Write one run's ``staged`` rows to the published ``table`` in one commit; return the counts."""
    key = LOOKUP_KEYS[table]
    files = file_count(stats.rows, settings.target_file_rows)
    existing = _published_run_dates(staged.sparkSession, root, table) if settings.retain_runs else []
    cutoff = expired_before(ctx.run_date, existing, settings.retain_runs)
    with (
        session_conf(staged.sparkSession, {PARQUET_BLOCK_SIZE: str(settings.row_group_bytes)}),
        kill_between_files_and_commit("publish", "after_files", lambda: filesystem(table.uri(root)), files),
    ):
        catalogue.write(
            lay_out_for_lookup(staged, key, files),
            root,
            table,
            ctx,
            replace_where=replace_predicate(ctx.run_date, cutoff),
            partitioned=settings.partition_by_run_date,
            metadata={
                "model_version": stats.model_version,
                "rows": stats.rows,
                f"{key}s": stats.keys,
                "files": files,
                "expired_before": cutoff.isoformat() if cutoff else None,
            },
        )
    return {"rows": stats.rows, f"{key}s": stats.keys, "files": files}


def staged_run(spark: SparkSession, root: str, table: Table, run_date: dt.date) -> DataFrame:
    """One run date's rows of the staged ``table`` (published as ``table``), in the published column order."""
    staged = catalogue.read(spark, root, STAGED[table])
    return staged.where(F.col(RUN_DATE) == F.lit(run_date)).select(*table.column_names)


def version_before_last_publish(history: Sequence[tuple[int, str | None]], table: str, run_date: dt.date) -> int:
    """The version of a published table just before ``run_date``'s latest publish, to restore it to.

    ``history`` is (version, userMetadata) per commit. Commits after that publish
    which carry no run date (maintenance, an earlier rollback) are undone with it;
    a later publish of another date would be undone too, so that is refused.
    """
    day = run_date.isoformat()
    dates = {version: _commit_run_date(metadata) for version, metadata in history}
    publishes = [version for version, date in dates.items() if date == day]
    if not publishes:
        raise MissingTableError(f"{table} has no publish for run date {day} to roll back")
    last = max(publishes)
    later = sorted((version, date) for version, date in dates.items() if version > last and date is not None)
    if later:
        named = ", ".join(f"version {version} (run date {date})" for version, date in later)
        raise RollbackRefused(
            f"{table}: run date {day} was published at version {last}, and later by {named}; "
            "restoring would undo those too: roll them back first, newest first"
        )
    if last == 0:
        raise FirstPublish(f"{table}: run date {day} is the table's first publish (version 0): nothing to restore")
    return last - 1


def _commit_run_date(metadata: str | None) -> str | None:
    """The run date a publish commit names in its userMetadata (None for other commits)."""
    try:
        date = json.loads(metadata).get("run_date") if metadata else None
    except (ValueError, AttributeError):
        return None
    return date if isinstance(date, str) else None
