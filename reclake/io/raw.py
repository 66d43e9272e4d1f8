"""Raw interaction events as read, mapped onto the event contract (schemas/events.schema.json).

:func:`read_raw` reads any supported format without coercing anything;
:func:`to_events` is a pure transform onto user_id, item_id, event_type, value,
event_time, optionally keeping the row as read for the quarantine table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from reclake.config import InputSection
from reclake.constants import EVENT_TIME, EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from reclake.errors import InputError
from reclake.io.lakehouse import path_exists
from reclake.uris import no_glob

# Raw rows are kept as read for the quarantine table: source field `f` as column `_raw:f`.
RAW_PREFIX = "_raw:"
# Metadata key of a `_raw:f` column kept only where parsing changed the text: names the parsed column.
SAME_AS = "same_as_when_null"
# A CSV line the parser could not split into the expected fields, as read (else null).
CORRUPT_RECORD = "_corrupt_record"
# A landed Kafka message whose value was no JSON object (reclake/io/kafka.py): the value as it came, in a
# JSON line; read, it becomes the row's _corrupt_record, so validate quarantines it as a malformed line.
MALFORMED_VALUE = "_malformed_value"
# The value field as read, so validation can tell "not a number" from "absent".
RAW_VALUE = "_raw_value"
# File name endings of each format (after a compression suffix): a folder read as one format must not hold another.
FORMAT_SUFFIXES = {
    "csv": (".csv", ".tsv"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet",),
    "orc": (".orc",),
    "avro": (".avro",),
}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".deflate", ".snappy", ".lz4", ".zst", ".xz")
# Spark's error class for a file it cannot decode (truncated gzip, a Parquet file without footer, ...).
FAILED_READ_FILE = "FAILED_READ_FILE"


class RawSource(Protocol):
    """How a raw source is read: the input section (events) and the catalogue section have these."""

    @property
    def format(self) -> str: ...
    @property
    def header(self) -> bool: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def column_names(self) -> list[str] | None: ...
    @property
    def encoding(self) -> str: ...
    @property
    def multiline(self) -> bool: ...


def read_raw(spark: SparkSession, settings: RawSource, path: str) -> DataFrame:
    """Read a raw source (events, the catalogue) as it is, with CSV fields as strings (nothing is coerced yet)."""
    if not path_exists(spark, path):
        raise InputError(f"input not found: {path} (set input.path or pass --input)")
    path = no_glob(path)  # the path exists as written: `[a] {b} *` in a name are characters, not a pattern
    fmt = settings.format
    if fmt != "delta":
        _refuse_other_formats(spark, fmt, path)
    if fmt == "csv":
        return _read_csv(spark, settings, path)
    if fmt == "json":
        return _malformed_as_corrupt(spark.read.json(path))
    if fmt == "parquet":
        return spark.read.parquet(path)
    return spark.read.format("delta").load(path)


def _malformed_as_corrupt(raw: DataFrame) -> DataFrame:
    """A landed message that was no JSON object counts as a line the JSON reader could not parse."""
    if MALFORMED_VALUE not in raw.columns:
        return raw
    corrupt = F.col(CORRUPT_RECORD) if CORRUPT_RECORD in raw.columns else F.lit(None).cast("string")
    return raw.withColumn(CORRUPT_RECORD, F.coalesce(corrupt, F.col(MALFORMED_VALUE))).drop(MALFORMED_VALUE)


def format_of(file_name: str) -> str | None:
    """The format a file's name says it holds (``part-0.csv.gz``: csv), or None for a name that does not say."""
    name = file_name.lower()
    name = next((name.removesuffix(c) for c in COMPRESSION_SUFFIXES if name.endswith(c)), name)
    return next((fmt for fmt, suffixes in FORMAT_SUFFIXES.items() if name.endswith(suffixes)), None)


def _refuse_other_formats(spark: SparkSession, fmt: str, path: str) -> None:
    """Refuse input whose files are named as another format: read as ``fmt`` they would become garbage rows."""
    files = spark.read.format("text").load(path).inputFiles()  # lists the files Spark would read, reads none
    others = sorted(f.rsplit("/", 1)[-1] for f in files if format_of(f.rsplit("/", 1)[-1]) not in (None, fmt))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise InputError(f"input {path} holds files of another format than input.format {fmt}: {shown}")


@contextmanager
def unreadable_files_as_input_errors() -> Iterator[None]:
    """Spark failing to decode a file (truncated gzip, corrupt Parquet) becomes an InputError naming the file.

    Spark reads lazily, so the failure surfaces at the first action, wherever that is.
    """
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if FAILED_READ_FILE not in text:
            raise
        match = re.search(r"reading file (\S+?)\.?\s", text)
        where = match.group(1) if match else "a file"
        raise InputError(f"cannot read {where}: {_root_cause(exc)} (truncated or corrupt?)") from None


def _root_cause(exc: BaseException) -> str:
    """The innermost Java cause of a Spark failure, on one line (e.g. java.io.EOFException: Unexpected end ...)."""
    cause = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    if cause is None:
        return str(exc).splitlines()[0]
    while cause.getCause() is not None:
        cause = cause.getCause()
    return " ".join(str(cause.toString()).split())


def _read_csv(spark: SparkSession, settings: RawSource, path: str) -> DataFrame:
    """Every field as text plus ``_corrupt_record``: the line itself when it has too few or too many fields.

    With ``multiline`` a quoted field may hold line breaks (the record is read
    whole). The column names come from input.column_names or the header line; an
    empty file yields a frame without columns.
    """
    reader = spark.read.options(
        header=settings.header, sep=settings.delimiter, encoding=settings.encoding, multiLine=settings.multiline
    )
    names = settings.column_names or reader.csv(path).columns
    if not names:
        return reader.csv(path)
    schema = T.StructType([T.StructField(n, T.StringType()) for n in [*names, CORRUPT_RECORD]])
    return (
        reader.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .option("enforceSchema", True)
        .csv(path)
    )


def parse_timestamp(column: Column, timestamp_format: str) -> Column:
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
    input error naming it. With ``keep_raw`` the row as read is kept too (see
    :func:`raw_record_text`): each source field ``f`` as ``_raw:f`` (the text
    fields behind the ids and the event type only where parsing changed them),
    plus ``_corrupt_record`` and ``_raw_value``.
    """
    mapping = settings.columns
    wanted = {USER_ID: mapping.user_id, ITEM_ID: mapping.item_id, EVENT_TIME: mapping.timestamp}
    if mapping.event_type is not None:
        wanted[EVENT_TYPE] = mapping.event_type
    if mapping.value is not None:
        wanted[VALUE] = mapping.value
    missing = sorted(f"{source!r} (for {field})" for field, source in wanted.items() if source not in raw.columns)
    if missing:
        present = ", ".join(c for c in raw.columns if c != CORRUPT_RECORD)
        raise InputError(f"input lacks column(s) {', '.join(missing)}; it has: {present}")

    def source(field: str) -> Column:
        return F.col(f"`{wanted[field]}`")

    event_type = source(EVENT_TYPE).cast("string") if EVENT_TYPE in wanted else F.lit(settings.default_event_type)
    # + 0.0 turns -0.0 into 0.0, so "-0" and "0" are the same value (and the same row for the duplicate rule).
    value = source(VALUE).try_cast("double") + 0.0 if VALUE in wanted else F.lit(None).cast("double")
    parsed = {
        USER_ID: F.trim(source(USER_ID).cast("string")),
        ITEM_ID: F.trim(source(ITEM_ID).cast("string")),
        EVENT_TYPE: F.lower(F.trim(event_type)),
        VALUE: value,
        EVENT_TIME: parse_timestamp(source(EVENT_TIME), settings.timestamp_format),
    }
    columns = [parsed[field].alias(field) for field in (USER_ID, ITEM_ID, EVENT_TYPE, VALUE, EVENT_TIME)]
    if keep_raw:
        corrupt = F.col(CORRUPT_RECORD) if CORRUPT_RECORD in raw.columns else F.lit(None).cast("string")
        raw_value = source(VALUE).cast("string") if VALUE in wanted else F.lit(None).cast("string")
        # Plain (binary-collated) strings only: under a collation "Click" may equal "click".
        text_fields = {f.name for f in raw.schema.fields if f.dataType == T.StringType()}
        # Text fields that parsing only trims or lower-cases: usually unchanged, so kept only where changed.
        twins = {wanted[f]: f for f in (EVENT_TYPE, ITEM_ID, USER_ID) if wanted.get(f) in text_fields}

        def as_read(name: str) -> Column:
            column, kept = F.col(f"`{name}`"), RAW_PREFIX + name
            if name not in twins:
                return column.alias(kept)
            twin = twins[name]
            return F.when(column != parsed[twin], column).alias(kept, metadata={SAME_AS: twin})

        columns += [
            *[as_read(c) for c in raw.columns if c != CORRUPT_RECORD],
            corrupt.alias(CORRUPT_RECORD),
            raw_value.alias(RAW_VALUE),
        ]
    return raw.select(*columns)


def raw_columns(events: DataFrame) -> list[str]:
    """The ``_raw:f`` columns :func:`to_events` keeps, in source order."""
    return [f.name for f in events.schema.fields if f.name.startswith(RAW_PREFIX)]


def raw_record_text(events: DataFrame) -> Column:
    """The row as read, as text: a malformed CSV line as it was, any other row as JSON of its fields.

    A field kept only where parsing changed it (metadata ``same_as_when_null``)
    is, where null, the text of its parsed column.
    """
    fields = []
    for field in events.schema.fields:
        if field.name.startswith(RAW_PREFIX):
            kept = F.col(f"`{field.name}`")
            twin = field.metadata.get(SAME_AS)
            fields.append((F.coalesce(kept, F.col(twin)) if twin else kept).alias(field.name.removeprefix(RAW_PREFIX)))
    return F.coalesce(F.col(CORRUPT_RECORD), F.to_json(F.struct(*fields)))
