"""Delta tables on the lakehouse: read, write (one atomic commit each), inspect; small files on any Hadoop FS.

Every Delta table is written here, by delta-spark (Delta Lake's own connector).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from delta.tables import DeltaTable
from deltalake import DeltaTable as DeltaRsTable
from pyspark.sql import DataFrame, SparkSession

from reclake.errors import ConcurrentWriteError, MissingTableError
from reclake.frames import one_row
from reclake.objectstore import storage_options
from reclake.uris import delta_rs_uri, join_uri

# A commit's userMetadata for operations without a write option for it (merge, restore).
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def hadoop_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """``uri`` as a Hadoop ``Path`` and its ``FileSystem``, through the session's JVM."""
    jvm = spark.sparkContext._jvm
    if jvm is None:  # set once a SparkContext has started, which ``spark.sparkContext`` guarantees
        raise RuntimeError("the Spark session has no JVM to reach Hadoop file systems through")
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def path_exists(spark: SparkSession, uri: str) -> bool:
    """True if a file or folder exists at ``uri`` on any Hadoop file system (local, s3a, gs, ...)."""
    path, fs = hadoop_path(spark, uri)
    return bool(fs.exists(path))


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write a small text file on any Hadoop file system (local, s3a, gs, abfss)."""
    write_bytes(spark, uri, text.encode("utf-8"))


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    """Write a small file on any Hadoop file system, replacing one of that name."""
    path, fs = hadoop_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def upload_folder(spark: SparkSession, local: str, uri: str) -> None:
    """Copy the files under the local folder ``local`` to the same paths under ``uri`` (any Hadoop file
    system), replacing files of those names.

    File by file through :func:`write_bytes`, not Hadoop's ``copyFromLocalFile``: on s3a that goes through
    the SDK's async transfer client, which fails against S3 APIs that answer ``100 Continue`` (moto).
    """
    folder = Path(local)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        write_bytes(spark, join_uri(uri, file.relative_to(folder).as_posix()), file.read_bytes())


@contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session settings for one block, then put the previous values back."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def load_delta(spark: SparkSession, uri: str, *, version: int | None = None) -> DataFrame:
    """The Delta table at ``uri`` (at ``version``: time travel), with no check that it exists."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(uri)


def read_delta(spark: SparkSession, uri: str, *, produced_by: str) -> DataFrame:
    """Read a Delta table, or say which stage has to run first."""
    if not DeltaTable.isDeltaTable(spark, uri):
        raise MissingTableError(f"no Delta table at {uri}: run `reclake {produced_by}` first")
    return load_delta(spark, uri)


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
    properties: dict[str, str] | None = None,
) -> None:
    """Write ``df`` as one atomic Delta commit (plus, once, one for new ``properties``).

    ``replace_where`` overwrites only the rows matching the predicate (idempotent
    re-runs of one date); ``metadata`` is stored in the commit (``userMetadata``)
    so ``DESCRIBE HISTORY`` tells which run wrote which version. ``properties``
    are Delta table properties (trusted constants, not user input): set when the
    write creates the table, and beforehand on an existing table that lacks them
    or has other values (overwrites keep them).
    """
    writer = df.write.format("delta").mode(mode)
    if properties:
        ensure_properties(df.sparkSession, uri, properties)
        for key, value in properties.items():
            writer = writer.option(key, value)
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if metadata:
        writer = writer.option("userMetadata", json.dumps(metadata, sort_keys=True, default=str))
    writer.save(uri)


def ensure_properties(spark: SparkSession, uri: str, properties: dict[str, str]) -> None:
    """Give an existing Delta table these ``properties`` values (one metadata commit, only when needed)."""
    if not delta_exists(spark, uri):
        return
    current = one_row(DeltaTable.forPath(spark, uri).detail())["properties"]
    differing = {key: value for key, value in properties.items() if current.get(key) != value}
    if differing:
        assignments = ", ".join(f"'{key}' = '{value}'" for key, value in differing.items())
        spark.sql(f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES ({assignments})")


def partition_columns(spark: SparkSession, uri: str) -> list[str]:
    """The partition columns of the Delta table at ``uri``."""
    return list(one_row(DeltaTable.forPath(spark, uri).detail().select("partitionColumns"))[0])


def add_actions(uri: str) -> dict[str, list[Any]]:
    """The current data files of a Delta table, with partition values and statistics, from its log (delta-rs)."""
    return pa.table(
        DeltaRsTable(delta_rs_uri(uri), storage_options=storage_options(uri)).get_add_actions(flatten=True)
    ).to_pydict()


def partition_fingerprints(uri: str, partition: str) -> dict[str, str]:
    """Partition value -> a short hash of the names of its data files, from the Delta log (no data read).

    Delta never rewrites a data file in place, so a partition whose rows were
    replaced has other files, and another fingerprint.
    """
    actions = add_actions(uri)
    files: dict[str, list[str]] = {}
    for path, value in zip(actions["path"], actions.get(f"partition.{partition}", [])):
        files.setdefault(str(value), []).append(path)
    return {value: hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()[:16] for value, paths in files.items()}


def partition_values(uri: str, partition: str, column: str) -> dict[str, str | None]:
    """Partition value -> the one value ``column`` holds in all its files, from file statistics (no data read).

    None where the partition's files hold different values or lack statistics.
    Meant for short string columns (statistics keep a 32-character prefix).
    """
    actions = add_actions(uri)
    values = actions.get(f"partition.{partition}", [])
    unknown = [None] * len(values)
    lows, highs = actions.get(f"min.{column}", unknown), actions.get(f"max.{column}", unknown)
    found: dict[str, set[str | None]] = {}
    for value, low, high in zip(values, lows, highs):
        found.setdefault(str(value), set()).add(low if low == high else None)
    return {value: next(iter(held)) if len(held) == 1 else None for value, held in found.items()}


def last_commit_rows(spark: SparkSession, uri: str, run_id: str) -> int:
    """Rows the latest commit of a Delta table wrote (Delta's own operation metrics) if run ``run_id`` made it
    (the ``metadata`` of :func:`write_delta`), else 0; one read of the history."""
    metrics, text = one_row(DeltaTable.forPath(spark, uri).history(1).select("operationMetrics", "userMetadata"))
    if (json.loads(text) if text else {}).get("run_id") != run_id:
        return 0
    return int(metrics.get("numOutputRows", 0))


def last_commit_metadata(spark: SparkSession, uri: str) -> dict[str, Any]:
    """The ``metadata`` the latest commit of a Delta table was written with (see :func:`write_delta`), or {}."""
    text = one_row(DeltaTable.forPath(spark, uri).history(1).select("userMetadata"))[0]
    return json.loads(text) if text else {}


def table_version(spark: SparkSession, uri: str) -> int:
    """The Delta table's current version: the commit a reader sees now."""
    return int(one_row(DeltaTable.forPath(spark, uri).history(1).select("version"))[0])


def commit_conflict(exc: BaseException) -> ConcurrentWriteError | None:
    """Delta's answer to losing an optimistic-concurrency race, as a one-line error; None for anything else.

    Each Delta commit checks what was committed since the version it read
    (ConcurrentAppendException: files added where it read, ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException, MetadataChangedException, ...); the losing
    commit writes nothing, so running the job again is safe.
    """
    from delta import exceptions as delta_errors

    names = delta_errors.__all__
    text = str(exc)
    raised = isinstance(exc, tuple(getattr(delta_errors, name) for name in names))
    if not raised and not any(f"io.delta.exceptions.{name}" in text for name in names):
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return ConcurrentWriteError(
        f"another job committed to the same Delta table first, so this run's commit was refused and not "
        f"made ({first}); run it again"
    )
