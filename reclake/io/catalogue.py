"""Read and write the lakehouse's tables through their declarations (reclake/io/tables.py).

Every Delta table of the lakehouse is read with :func:`read` (a missing table
says which stage to run first) and written with :func:`write`, which lays the
table out as declared (partitioning, Delta properties) and stamps the commit's
``userMetadata`` with :func:`commit_metadata` (run id, run date, the stage that
wrote it) plus whatever the caller adds, so ``DESCRIBE HISTORY`` tells which run
wrote which version. Commits that are not writes (a merge, a restore) take the
same stamp through :func:`stamped`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from reclake.context import RunContext
from reclake.io.lakehouse import (
    USER_METADATA,
    delta_exists,
    last_commit_metadata,
    last_commit_rows,
    load_delta,
    partition_columns,
    read_delta,
    session_conf,
    table_version,
    write_delta,
)
from reclake.io.tables import Table

_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "array<string>": T.ArrayType(T.StringType()),
    "array<float>": T.ArrayType(T.FloatType()),
    "boolean": T.BooleanType(),
}


def commit_metadata(ctx: RunContext, stage: str) -> dict[str, Any]:
    """What every commit records: which run wrote it, for which date, in which stage."""
    return {"run_id": ctx.run_id, "run_date": ctx.run_date.isoformat(), "stage": stage}


def rollback_metadata(ctx: RunContext) -> dict[str, Any]:
    """A rollback's commits: the run, and the date it rolled back -- never ``run_date``, which marks a publish."""
    return {"run_id": ctx.run_id, "rolled_back_run_date": ctx.run_date.isoformat()}


def schema(table: Table) -> T.StructType:
    """The declared columns of ``table`` as a Spark schema (tables with config-dependent columns have none)."""
    if table.columns is None:
        raise ValueError(f"{table.name} has no fixed schema")
    return T.StructType([T.StructField(c.name, _TYPES[c.type], c.nullable) for c in table.columns])


def rows(spark: SparkSession, table: Table, data: Iterable[Sequence[Any]]) -> DataFrame:
    """A small DataFrame of ``data`` (tuples in column order) with ``table``'s schema."""
    return spark.createDataFrame(list(data), schema(table))


def conform(df: DataFrame, table: Table) -> DataFrame:
    """``df``'s columns as ``table`` declares them: that order, those types."""
    return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in table.columns or ()])


def exists(spark: SparkSession, root: str, table: Table) -> bool:
    return delta_exists(spark, table.uri(root))


def read(spark: SparkSession, root: str, table: Table, *, version: int | None = None) -> DataFrame:
    """The table (at ``version``), or a MissingTableError naming the stage that writes it."""
    if version is not None:
        return load_delta(spark, table.uri(root), version=version)
    return read_delta(spark, table.uri(root), produced_by=table.produced_by)


def read_if_exists(spark: SparkSession, root: str, table: Table) -> DataFrame | None:
    """The table, or None before its first write."""
    return load_delta(spark, table.uri(root)) if exists(spark, root, table) else None


def write(
    df: DataFrame,
    root: str,
    table: Table,
    ctx: RunContext,
    *,
    mode: Literal["overwrite", "append"] = "overwrite",
    replace_where: str | None = None,
    partitioned: bool = True,
    metadata: Mapping[str, Any] | None = None,
    stage: str | None = None,
    stamp: Mapping[str, Any] | None = None,
) -> str:
    """Write ``df`` to ``table`` in one commit, laid out as declared; return the table's URI.

    The commit carries ``stamp`` (default: :func:`commit_metadata` for ``stage``,
    by default the table's writer) plus ``metadata``. ``partitioned=False`` writes
    a table declared partitioned without partitions (``publish.partition_by_run_date``).
    """
    uri = table.uri(root)
    stamp = commit_metadata(ctx, stage or table.produced_by) if stamp is None else stamp
    write_delta(
        df,
        uri,
        mode=mode,
        replace_where=replace_where,
        partition_by=list(table.partition_by) if partitioned and table.partition_by else None,
        metadata={**stamp, **(metadata or {})},
        properties=table.table_properties or None,
    )
    return uri


@contextmanager
def stamped(spark: SparkSession, metadata: Mapping[str, Any]) -> Iterator[None]:
    """Commits made in this block (merges, restores: no write option for it) carry ``metadata``."""
    with session_conf(spark, {USER_METADATA: json.dumps(dict(metadata), sort_keys=True)}):
        yield


def delta_table(spark: SparkSession, root: str, table: Table) -> DeltaTable:
    """The table as delta-spark's DeltaTable, for merges, updates, restores."""
    return DeltaTable.forPath(spark, table.uri(root))


def history(spark: SparkSession, root: str, table: Table) -> list[tuple[int, str | None]]:
    """(version, userMetadata) of every commit of the table, newest first."""
    commits = delta_table(spark, root, table).history().select("version", "userMetadata").collect()
    return [(r[0], r[1]) for r in commits]


def version(spark: SparkSession, root: str, table: Table) -> int:
    """The table's current version: the commit a reader sees now."""
    return table_version(spark, table.uri(root))


def last_metadata(spark: SparkSession, root: str, table: Table) -> dict[str, Any]:
    """The metadata the table's latest commit was stamped with, or {}."""
    return last_commit_metadata(spark, table.uri(root))


def rows_written(spark: SparkSession, root: str, table: Table, ctx: RunContext) -> int:
    """Rows this run's latest write of ``table`` committed (Delta's own operation metrics).

    0 when the latest commit is not this run's: Delta commits nothing for a write with no rows to add and
    none to replace (a date's batch with nothing to quarantine), so that commit is an earlier run's.
    """
    return last_commit_rows(spark, table.uri(root), ctx.run_id)


def partitioning(spark: SparkSession, root: str, table: Table) -> list[str]:
    """The partition columns the table has on disk (which may predate its declaration)."""
    return partition_columns(spark, table.uri(root))
