"""Table upkeep on Delta: cluster a run-date partition by its lookup key where a lookup would open several files, vacuum.

Whether a partition needs clustering is decided from the Delta log alone (file
row counts and key ranges, read with delta-rs), so a well-laid-out partition
costs nothing to check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from reclake.constants import RUN_DATE
from reclake.frames import one_row
from reclake.io.lakehouse import add_actions, session_conf
from reclake.io.layout import PARQUET_BLOCK_SIZE

# Delta refuses VACUUM below 7 days unless this check is off; a shorter retention is an explicit choice.
_DEFAULT_RETENTION_HOURS = 168
# Kept beyond the age of the first commit after a served version: the clock skew between the drivers that
# committed and this one, and the seconds this job takes to reach VACUUM.
_SERVED_MARGIN_S = 600


class FileStats(NamedTuple):
    """One data file: its rows, bytes and the min/max of the lookup key."""

    rows: int
    size_bytes: int
    low: str
    high: str


def needs_clustering(files: Sequence[FileStats], target_file_rows: int) -> bool:
    """True when a lookup could need more than one file, or small files could be merged.

    That is: two files' key ranges overlap, or more than one file holds under half
    the target rows.
    """
    ordered = sorted(files, key=lambda f: (f.low, f.high))
    overlapping = any(b.low <= a.high for a, b in zip(ordered, ordered[1:]))
    small = sum(f.rows < target_file_rows / 2 for f in files)
    return overlapping or small > 1


def files_by_run_date(uri: str, key: str) -> dict[str | None, list[FileStats]]:
    """The current data files of a table grouped by run date, from its Delta log (no data read)."""
    actions = add_actions(uri)
    dates = actions.get(f"partition.{RUN_DATE}", [None] * len(actions["path"]))
    grouped: dict[str | None, list[FileStats]] = {}
    for i, date in enumerate(dates):
        stats = FileStats(
            actions["num_records"][i], actions["size_bytes"][i], actions[f"min.{key}"][i], actions[f"max.{key}"][i]
        )
        grouped.setdefault(None if date is None else str(date), []).append(stats)
    return grouped


def data_file_count(spark: SparkSession, uri: str) -> int:
    return int(one_row(DeltaTable.forPath(spark, uri).detail().select("numFiles"))[0])


def cluster(spark: SparkSession, uri: str, key: str, target_file_rows: int, row_group_bytes: int) -> int:
    """Z-order by ``key`` the run-date partitions where it pays; return how many were rewritten."""
    table = DeltaTable.forPath(spark, uri)
    rewritten = 0
    for run_date, files in sorted(files_by_run_date(uri, key).items(), key=str):
        if not needs_clustering(files, target_file_rows):
            continue
        bytes_per_row = sum(f.size_bytes for f in files) / max(1, sum(f.rows for f in files))
        max_file = str(max(1, int(bytes_per_row * target_file_rows)))
        conf = {"spark.databricks.delta.optimize.maxFileSize": max_file, PARQUET_BLOCK_SIZE: str(row_group_bytes)}
        with session_conf(spark, conf):
            builder = table.optimize()
            if run_date is not None:  # None: the table is not partitioned by run date
                builder = builder.where(f"{RUN_DATE} = '{run_date}'")
            builder.executeZOrderBy(key)
        rewritten += 1
    return rewritten


def retention_keeping(spark: SparkSession, uri: str, served_version: int | None, retention_hours: int) -> int:
    """The VACUUM retention (whole hours: Delta rounds a fraction) that keeps every file of ``served_version``:
    ``retention_hours``, or longer while readers serve a version older than the table's newest (a publish killed
    between its commits and ``served_versions``, or no publish since maintenance last rewrote the table).

    VACUUM deletes a removed file once its removal is older than the retention, and the served version's files
    can only have been removed by the commits after it: keeping removals since the first of those keeps them.
    """
    if served_version is None:
        return retention_hours
    age = (
        DeltaTable.forPath(spark, uri)
        .history()
        .where(F.col("version") == served_version + 1)
        .select((F.unix_timestamp(F.current_timestamp()) - F.unix_timestamp("timestamp")).alias("age_s"))
        .first()
    )
    if age is None:  # the served version is the newest
        return retention_hours
    return max(retention_hours, math.ceil((age[0] + _SERVED_MARGIN_S) / 3600))


def vacuum(spark: SparkSession, uri: str, retention_hours: int) -> None:
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    if partitions is None:  # Spark always has a value for it (default 200)
        raise RuntimeError("spark.sql.shuffle.partitions is not set")
    conf = {
        "spark.databricks.delta.retentionDurationCheck.enabled": str(
            retention_hours >= _DEFAULT_RETENTION_HOURS
        ).lower(),
        # VACUUM lists files with this many tasks (default 10 000: ~50 s of overhead on 2 cores);
        # the shuffle partitions are already sized to the cluster.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": partitions,
    }
    with session_conf(spark, conf):
        DeltaTable.forPath(spark, uri).vacuum(float(retention_hours))
