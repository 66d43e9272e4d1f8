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
from pyspark.sql import types as T

from reclake.constants import RUN_DATE, TABLE_NAME, TABLE_VERSION
from reclake.io.lakehouse import delta_exists, write_delta
from reclake.io.tables import SERVED_VERSIONS, table_uri

_SCHEMA = T.StructType(
    [
        T.StructField(TABLE_NAME, T.StringType(), False),
        T.StructField(TABLE_VERSION, T.LongType(), False),
        T.StructField(RUN_DATE, T.DateType(), True),
    ]
)


class Served(NamedTuple):
    """One table's served version, and the run date a lookup answers from (None: nothing published yet)."""

    version: int
    run_date: dt.date | None


def served_versions(spark: SparkSession, lakehouse_root: str, version: int | None = None) -> dict[str, Served]:
    """Table name -> what readers serve now (or at ``version`` of the table); {} before the first publish."""
    uri = table_uri(lakehouse_root, SERVED_VERSIONS)
    if not delta_exists(spark, uri):
        return {}
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return {row[TABLE_NAME]: Served(row[TABLE_VERSION], row[RUN_DATE]) for row in reader.load(uri).collect()}


def newest_run_date(spark: SparkSession, uri: str) -> dt.date | None:
    """The newest run date in a published table's current version (what readers served before this table)."""
    return spark.read.format("delta").load(uri).agg(F.max(RUN_DATE)).first()[0]  # type: ignore[index]


def write_served_versions(
    spark: SparkSession, lakehouse_root: str, served: Mapping[str, Served], metadata: Mapping[str, str]
) -> None:
    """Replace what readers serve with ``served``, in one commit carrying ``metadata`` (the job's, as its tables')."""
    rows = [(name, entry.version, entry.run_date) for name, entry in sorted(served.items())]
    write_delta(
        spark.createDataFrame(rows, _SCHEMA).coalesce(1),
        table_uri(lakehouse_root, SERVED_VERSIONS),
        metadata=dict(metadata),
    )
