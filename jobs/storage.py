"""I/O at the edges: reading raw input, naming lakehouse tables, reading and writing Delta.

Everything between these functions is a DataFrame -> DataFrame transformation.
Every Delta table is written by delta-spark (Delta Lake's own connector).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.config import InputSection, join_uri
from jobs.constants import EVENT_TIME, EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from jobs.errors import InputError, MissingTableError

# Table names under the lakehouse root. One place, so every stage agrees.
EVENTS = "events"  # validated events of the latest run
QUARANTINE = "quarantine"  # rows validation rejected, with the reasons
INTERACTIONS = "interactions"  # one strength per (user_idx, item_idx)
USER_IDS = "user_ids"  # user_id <-> user_idx, stable across runs
ITEM_IDS = "item_ids"  # item_id <-> item_idx, stable across runs
MODEL_REGISTRY = "model_registry"  # one row per trained model
MODELS = "models"  # folder of saved ALS models, one per version
STAGED_RECOMMENDATIONS = "staging/recommendations"  # recommend's output, before publishing
RECOMMENDATIONS = "recommendations"  # the published table app teams read
STAGED_SIMILAR_ITEMS = "staging/similar_items"  # item-to-item neighbours, before publishing
SIMILAR_ITEMS = "similar_items"  # the published item-to-item table
RUNS = "runs"  # one row per published (or failed) run: status and figures

# Raw rows are kept as read, as one JSON string, for the quarantine table.
RAW_RECORD = "_raw_record"


def table_uri(lakehouse_root: str, name: str) -> str:
    return join_uri(lakehouse_root, name)


def path_exists(spark: SparkSession, uri: str) -> bool:
    """True if a file or folder exists at ``uri`` on any Hadoop file system (local, s3a, gs, ...)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the documented way to reach Hadoop's FileSystem
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))  # noqa: SLF001


# ---------------------------------------------------------------- raw input


def read_raw(spark: SparkSession, settings: InputSection, path: str) -> DataFrame:
    """Read the raw events as they are, with CSV fields as strings (nothing is coerced yet)."""
    if not path_exists(spark, path):
        raise InputError(f"input not found: {path} (set input.path or pass --input)")
    fmt = settings.format
    if fmt == "csv":
        reader = spark.read.option("header", settings.header).option("sep", settings.delimiter)
        if settings.column_names:
            reader = reader.schema(T.StructType([T.StructField(n, T.StringType()) for n in settings.column_names]))
        return reader.csv(path)
    if fmt == "json":
        return spark.read.json(path)
    if fmt == "parquet":
        return spark.read.parquet(path)
    return spark.read.format("delta").load(path)


def _timestamp(column: Column, timestamp_format: str) -> Column:
    """Parse a timestamp column; unparseable values become null (never an exception)."""
    if timestamp_format == "unix_seconds":
        return F.timestamp_seconds(column.try_cast("double"))
    if timestamp_format == "unix_millis":
        return F.timestamp_millis(column.try_cast("double").cast("long"))
    if timestamp_format == "iso8601":
        return F.coalesce(column.try_cast("timestamp"), F.try_to_timestamp(column.cast("string")))
    return F.try_to_timestamp(column.cast("string"), F.lit(timestamp_format))


def to_events(raw: DataFrame, settings: InputSection, *, keep_raw: bool = False) -> DataFrame:
    """Map raw columns onto the event contract: user_id, item_id, event_type, value, event_time.

    Ids become strings (integers or strings in the source), ``value`` a double and
    ``event_time`` a UTC timestamp. Values that do not parse become null, for
    validation to reject with a reason; a mapped column that does not exist is an
    input error naming it. With ``keep_raw`` the row as read is kept as JSON.
    """
    mapping = settings.columns
    wanted = {USER_ID: mapping.user_id, ITEM_ID: mapping.item_id, EVENT_TIME: mapping.timestamp}
    if mapping.event_type is not None:
        wanted[EVENT_TYPE] = mapping.event_type
    if mapping.value is not None:
        wanted[VALUE] = mapping.value
    missing = sorted(f"{source!r} (for {field})" for field, source in wanted.items() if source not in raw.columns)
    if missing:
        raise InputError(f"input lacks column(s) {', '.join(missing)}; it has: {', '.join(raw.columns)}")

    def source(field: str) -> Column:
        return F.col(f"`{wanted[field]}`")

    event_type = source(EVENT_TYPE).cast("string") if EVENT_TYPE in wanted else F.lit(settings.default_event_type)
    value = source(VALUE).try_cast("double") if VALUE in wanted else F.lit(None).cast("double")
    columns = [
        F.trim(source(USER_ID).cast("string")).alias(USER_ID),
        F.trim(source(ITEM_ID).cast("string")).alias(ITEM_ID),
        F.lower(F.trim(event_type)).alias(EVENT_TYPE),
        value.alias(VALUE),
        _timestamp(source(EVENT_TIME), settings.timestamp_format).alias(EVENT_TIME),
    ]
    if keep_raw:
        columns.append(F.to_json(F.struct(*[F.col(f"`{c}`") for c in raw.columns])).alias(RAW_RECORD))
    return raw.select(*columns)


# ---------------------------------------------------------------- Delta


def read_delta(spark: SparkSession, uri: str, *, produced_by: str) -> DataFrame:
    """Read a Delta table, or say which stage has to run first."""
    if not DeltaTable.isDeltaTable(spark, uri):
        raise MissingTableError(f"no Delta table at {uri}: run `reclake {produced_by}` first")
    return spark.read.format("delta").load(uri)


def delta_exists(spark: SparkSession, uri: str) -> bool:
    return bool(DeltaTable.isDeltaTable(spark, uri))


def write_delta(
    df: DataFrame,
    uri: str,
    *,
    mode: Literal["overwrite", "append"] = "overwrite",
    replace_where: str | None = None,
    partition_by: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``df`` as one atomic Delta commit.

    ``replace_where`` overwrites only the rows matching the predicate (idempotent
    re-runs of one date); ``metadata`` is stored in the commit (``userMetadata``)
    so ``DESCRIBE HISTORY`` tells which run wrote which version.
    """
    writer = df.write.format("delta").mode(mode)
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if metadata:
        writer = writer.option("userMetadata", json.dumps(metadata, sort_keys=True, default=str))
    writer.save(uri)


def last_commit_rows(spark: SparkSession, uri: str) -> int:
    """Rows the latest commit of a Delta table wrote, from Delta's own operation metrics."""
    metrics = DeltaTable.forPath(spark, uri).history(1).select("operationMetrics").first()[0]
    return int(metrics.get("numOutputRows", 0))
