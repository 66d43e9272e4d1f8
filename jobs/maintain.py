"""Keep the published tables fast and small: compact small files, cluster by id where it pays, vacuum.

``publish`` already writes each run date as files of one contiguous user range,
so rewriting those would cost a full pass and gain nothing. A run-date partition
is re-clustered (``OPTIMIZE ... ZORDER BY (user_id)``, files capped near
``publish.target_file_rows`` rows) only when its files' user ranges overlap or it
has several small files, i.e. when a lookup would have to open more than one
file. Tables without a lookup key (runs, quarantine) get plain compaction of
small files. Then ``VACUUM`` deletes files no version younger than
``publish.vacuum_retention_hours`` needs (time travel further back stops working).

    spark-submit jobs/maintain.py --config conf/local.yaml
    reclake maintain --lakehouse lakehouse --set publish.vacuum_retention_hours=336
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NamedTuple

from delta.tables import DeltaTable
import pyarrow as pa
from deltalake import DeltaTable as DeltaRsTable
from pyspark.sql import SparkSession

from jobs.config import Config
from jobs.constants import ITEM_ID, RUN_DATE, USER_ID
from jobs.lookup import delta_rs_uri
from jobs.publish import PARQUET_BLOCK_SIZE, session_conf
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import QUARANTINE, RECOMMENDATIONS, RUNS, SIMILAR_ITEMS, delta_exists, table_uri

# Published table -> the column lookups select by (None: no point lookups, compaction only).
TABLES = {RECOMMENDATIONS: USER_ID, SIMILAR_ITEMS: ITEM_ID, RUNS: None, QUARANTINE: None}
# Delta refuses VACUUM below 7 days unless this check is off; a shorter retention is an explicit choice.
_DEFAULT_RETENTION_HOURS = 168


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
    actions = pa.table(DeltaRsTable(delta_rs_uri(uri)).get_add_actions(flatten=True)).to_pydict()
    dates = actions.get(f"partition.{RUN_DATE}", [None] * len(actions["path"]))
    grouped: dict[str | None, list[FileStats]] = {}
    for i, date in enumerate(dates):
        stats = FileStats(actions["num_records"][i], actions["size_bytes"][i], actions[f"min.{key}"][i], actions[f"max.{key}"][i])
        grouped.setdefault(None if date is None else str(date), []).append(stats)
    return grouped


def _file_count(spark: SparkSession, uri: str) -> int:
    return int(DeltaTable.forPath(spark, uri).detail().select("numFiles").first()[0])


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


def vacuum(spark: SparkSession, uri: str, retention_hours: int) -> None:
    check = "true" if retention_hours >= _DEFAULT_RETENTION_HOURS else "false"
    with session_conf(spark, {"spark.databricks.delta.retentionDurationCheck.enabled": check}):
        DeltaTable.forPath(spark, uri).vacuum(float(retention_hours))


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root, settings = config.lakehouse.root, config.publish
    counts: dict[str, int] = {}
    tables: dict[str, str] = {}
    for name, key in TABLES.items():
        uri = table_uri(root, name)
        if not delta_exists(spark, uri):
            continue
        counts[f"{name}.files_before"] = _file_count(spark, uri)
        if key is None:
            if counts[f"{name}.files_before"] > 1:
                DeltaTable.forPath(spark, uri).optimize().executeCompaction()
        else:
            counts[f"{name}.partitions_clustered"] = cluster(
                spark, uri, key, settings.target_file_rows, settings.row_group_bytes
            )
        vacuum(spark, uri, settings.vacuum_retention_hours)
        counts[f"{name}.files_after"] = _file_count(spark, uri)
        tables[name] = uri
    return StageResult(counts=counts, tables=tables)


STAGE = Stage("maintain", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake maintain", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
