"""Kafka messages landed as raw events: one JSON line per message, in the input folder of its event date.

:func:`landed_lines` is the pure part (a message -> its landing date and line);
:func:`land_batch` writes one micro-batch of lines exactly once; :func:`ingest`
runs the stream (Spark Structured Streaming's Kafka source) until the topic is
drained (``available_now``) or until SIGTERM or SIGINT (``continuous``), which
stop it between two micro-batches.

Exactly once across restarts: Spark logs a micro-batch's offsets before running
it and marks it committed in the checkpoint only after :func:`land_batch`
returns; a run killed in between replays that batch, with the same offsets and
the same batch id, when it starts again. So each batch's files are named by the
batch id (``batch-<id>-<n>.json``, written under a staging folder, then renamed
into the date folders) and a replay first deletes whatever files of its id an
earlier attempt left: nothing lands twice, nothing is lost. Readers of a date
folder see whole files only (each is renamed in whole).

The line of a message whose value is a JSON object is that object with the
message's ``_kafka_topic``, ``_kafka_partition``, ``_kafka_offset``,
``_kafka_key``, ``_kafka_timestamp`` and ``_kafka_headers`` added (line breaks
between its tokens become spaces); any other value
(not JSON, an array, a number, empty) lands as it came in a ``_malformed_value``
field beside the same, which validate reads as a malformed line
(reclake/io/raw.py) and quarantines. The landing date
is the event's date (``input.columns.timestamp`` read as ``input.timestamp_format``,
UTC), or the message's Kafka timestamp's date when it has no readable event time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from reclake.config import KafkaSection
from reclake.faults import fault_point
from reclake.io import catalogue
from reclake.io.kafka_login import KafkaLogin
from reclake.io.lakehouse import hadoop_path
from reclake.io.raw import MALFORMED_VALUE, parse_timestamp
from reclake.io.tables import VALIDATION_RUNS
from reclake.uris import RUN_DATE_PLACEHOLDER, join_uri

log = logging.getLogger(__name__)

# What a landed line keeps of its message, beside the event's own fields (docs/data-contracts.md).
TOPIC, PARTITION, OFFSET, KEY, KAFKA_TIMESTAMP, HEADERS = (
    "_kafka_topic", "_kafka_partition", "_kafka_offset", "_kafka_key", "_kafka_timestamp", "_kafka_headers",
)  # fmt: skip
# A header of a landed line: its key and its value as text, or ``base64`` where the value is no valid UTF-8.
HEADER_KEY, HEADER_VALUE, HEADER_BASE64 = "key", "value", "base64"
LANDING_DATE = "landing_date"
LINE = "line"
MALFORMED = "malformed"

# Source options Spark must not show in plans, the UI or event logs: the login holds the password.
REDACTED_OPTIONS = "(?i)url|jaas|password"
# How often a running stream is checked for a stop signal, in seconds.
STOP_POLL_S = 1


def source_options(settings: KafkaSection, environ: Mapping[str, str]) -> dict[str, str]:
    """The Kafka source's options: the section's settings, and the security settings from ``environ``
    (reclake/io/kafka_login.py)."""
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "subscribe": settings.topic,
        "startingOffsets": settings.starting_offsets,
        "includeHeaders": "true",
    }
    if settings.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(settings.max_offsets_per_trigger)
    login = KafkaLogin.from_environ(environ)
    if login.security_protocol:
        options["kafka.security.protocol"] = login.security_protocol
    if login.sasl_mechanism:
        options["kafka.sasl.mechanism"] = login.sasl_mechanism
    if login.username:
        module = "scram.ScramLoginModule" if login.mechanism.startswith("SCRAM") else "plain.PlainLoginModule"
        user, password = json.dumps(login.username), json.dumps(login.password or "")
        options["kafka.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.{module} required username={user} password={password};"
        )
    return options


def _metadata(*extra: Column) -> Column:
    """The message's metadata (and ``extra``) as one JSON object; null fields kept, so every line has them all."""
    headers = _headers()
    fields = [
        F.col("topic").alias(TOPIC),
        F.col("partition").alias(PARTITION),
        F.col("offset").alias(OFFSET),
        F.col("key").cast("string").alias(KEY),
        F.col("timestamp").alias(KAFKA_TIMESTAMP),
        *extra,
    ]
    return _joined(F.to_json(F.struct(*fields), {"ignoreNullFields": "false"}), headers)


def _headers() -> Column:
    """``{"_kafka_headers": [{"key": ..., "value": ...}, ...]}`` as text, ``[]`` for a message without headers.

    A list, not an object by header name: validate's JSON reader would make names into fields, and two
    names differing in case only (in any two lines of a date) make Spark refuse the whole folder. On every
    line, never omitted: validate compares a date's columns and their types with the last run's (schema
    drift), and a list reads as an array whatever it holds. A value that is no valid UTF-8 is kept as
    ``base64`` instead of ``value``; a null value has neither.
    """
    headers = F.coalesce(F.col("headers"), F.array().cast("array<struct<key: string, value: binary>>"))

    def header(h: Column) -> Column:
        text = h[HEADER_VALUE].cast("string")
        valid = F.is_valid_utf8(text)
        return F.struct(
            h[HEADER_KEY].alias(HEADER_KEY),
            F.when(valid, text).alias(HEADER_VALUE),
            F.when(~valid, F.base64(h[HEADER_VALUE])).alias(HEADER_BASE64),
        )

    return F.to_json(F.struct(F.transform(headers, header).alias(HEADERS)))


def _joined(left: Column, right: Column) -> Column:
    """Two JSON objects' texts as one object's: ``{"a":1}`` and ``{"b":2}`` -> ``{"a":1,"b":2}``."""
    return F.concat(left.substr(F.lit(1), F.length(left) - 1), F.lit(","), right.substr(F.lit(2), F.length(right)))


def landed_lines(messages: DataFrame, timestamp_field: str, timestamp_format: str) -> DataFrame:
    """Kafka messages (the source's columns) -> (landing_date, line, malformed): one JSON line each.

    ``timestamp_field`` and ``timestamp_format`` say where an event's time is and how it reads
    (input.columns.timestamp, input.timestamp_format).
    """
    value = F.col("value").cast("string")
    text = F.trim(F.regexp_replace(value, r"[\r\n]+", " "))
    keys = F.json_object_keys(text)  # null unless the value is one JSON object
    meta = _metadata()
    line = F.when(keys.isNull(), _metadata(F.coalesce(value, F.lit("")).alias(MALFORMED_VALUE)))
    line = line.when(F.size(keys) == 0, meta).otherwise(_joined(meta, text))
    event_time = parse_timestamp(F.get_json_object(text, f"$['{timestamp_field}']"), timestamp_format)
    landing = F.coalesce(F.when(keys.isNotNull(), F.to_date(event_time)), F.to_date("timestamp"))
    return messages.select(landing.alias(LANDING_DATE), line.alias(LINE), keys.isNull().alias(MALFORMED))


@dataclass
class Landed:
    """What one or more micro-batches landed: messages, the malformed and the late among them, the dates."""

    messages: int = 0
    malformed: int = 0
    late: int = 0
    dates: set[dt.date] = field(default_factory=set)
    late_dates: set[dt.date] = field(default_factory=set)

    def add(self, other: Landed) -> None:
        self.messages, self.malformed, self.late = (
            self.messages + other.messages, self.malformed + other.malformed, self.late + other.late,
        )  # fmt: skip
        self.dates |= other.dates
        self.late_dates |= other.late_dates


def land_batch(
    spark: SparkSession,
    lines: DataFrame,
    batch_id: int,
    folder: Callable[[dt.date], str],
    staging: str,
    validated: set[dt.date],
) -> Landed:
    """Land one micro-batch of :func:`landed_lines` in ``folder(date)``; an event for a date in ``validated``
    is late.

    Written under ``staging`` first (one Spark job, which also counts), then each file renamed to
    ``batch-<id>-<n>.json`` in its date's folder, after deleting the files an earlier attempt of the
    same batch left there.
    """
    staged = join_uri(staging, f"batch={batch_id}")
    seen = Observation(f"ingest_batch_{batch_id}")
    is_late = F.col(LANDING_DATE).isin(sorted(validated)) if validated else F.lit(False)
    counted = lines.observe(
        seen,
        F.count(F.lit(1)).alias("messages"),
        F.count_if(MALFORMED).alias("malformed"),
        F.count_if(is_late).alias("late"),
    )
    counted.select(LANDING_DATE, LINE).write.mode("overwrite").partitionBy(LANDING_DATE).text(staged)
    root, fs = hadoop_path(spark, staged)
    days = sorted(
        dt.date.fromisoformat(str(s.getPath().getName()).removeprefix(f"{LANDING_DATE}="))
        for s in fs.listStatus(root)
        if s.isDirectory()
    )
    prefix = f"batch-{batch_id:012d}-"
    for day in days:
        target, fs = hadoop_path(spark, folder(day))
        fs.mkdirs(target)
        for status in fs.listStatus(target):
            if status.getPath().getName().startswith(prefix):  # what an earlier attempt of this batch landed
                fs.delete(status.getPath(), False)
        source, _ = hadoop_path(spark, join_uri(staged, f"{LANDING_DATE}={day.isoformat()}"))
        parts = sorted(str(s.getPath().getName()) for s in fs.listStatus(source))
        for n, name in enumerate(p for p in parts if p.startswith("part-")):
            moved = fs.rename(source.suffix(f"/{name}"), target.suffix(f"/{prefix}{n:05d}.json"))
            if not moved:
                raise OSError(f"could not move {name} of batch {batch_id} into {folder(day)}")
            fault_point("ingest", "mid_batch")
    fs.delete(root, True)
    counts = seen.get if days else {"messages": 0, "malformed": 0, "late": 0}
    return Landed(
        counts["messages"], counts["malformed"], counts["late"], set(days), {d for d in days if d in validated}
    )


def staging_folder(input_path: str) -> str:
    """Where micro-batches are written before their files are renamed into the date folders: beside those
    folders (a rename stays on one file system), in a folder whose ``_`` makes Spark's readers skip it."""
    parent = input_path.split(RUN_DATE_PLACEHOLDER)[0].rstrip("/").rsplit("/", 1)[0]
    return join_uri(parent, "_ingest_staging")


def validated_dates(spark: SparkSession, root: str) -> set[dt.date]:
    """Run dates validate has already taken in (a succeeded run): an event landing for one of them is late."""
    if not catalogue.exists(spark, root, VALIDATION_RUNS):
        return set()
    runs = catalogue.read(spark, root, VALIDATION_RUNS).where(F.col("status") == "succeeded")
    return {row["run_date"] for row in runs.select("run_date").distinct().collect()}


def ingest(
    spark: SparkSession,
    settings: KafkaSection,
    options: Mapping[str, str],
    folder: Callable[[dt.date], str],
    checkpoint: str,
    staging: str,
    timestamp: tuple[str, str],
    validated: set[dt.date],
) -> Landed:
    """Run the stream from the topic into the date folders; return what it landed.

    Micro-batches are written under ``staging`` first (see :func:`staging_folder`); ``timestamp`` is the
    event time's field and format; an event for a date in ``validated`` is late. ``available_now``
    returns once the topic's messages up to the start are landed; ``continuous`` after SIGTERM or SIGINT, at the
    end of the micro-batch running then (either signal does the same to ``available_now``).
    """
    messages = spark.readStream.format("kafka").options(**options).load()
    lines = landed_lines(messages, *timestamp)
    landed = Landed()

    def land(batch: DataFrame, batch_id: int) -> None:
        done = land_batch(spark, batch, batch_id, folder, staging, validated)
        log.info("ingest: batch %d landed %d messages for %d dates", batch_id, done.messages, len(done.dates))
        landed.add(done)  # batches run one at a time, on the stream's thread

    writer = lines.writeStream.foreachBatch(land).option("checkpointLocation", checkpoint).queryName("ingest")
    if settings.trigger == "available_now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.trigger_interval_s} seconds")
    with _stop_signals() as stopping:
        _run_until_stopped(writer.start(), stopping)
    return landed


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event SIGTERM and SIGINT set while the block runs, instead of ending the process mid-batch (a
    continuous ingest is stopped by ``kill``); the earlier handlers are back afterwards."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_until_stopped(query: StreamingQuery, stopping: threading.Event) -> None:
    """Wait until the query ends by itself, or, once ``stopping`` is set, until its current micro-batch is
    done, then stop it. A batch that starts in between is interrupted, not committed, and replayed by the
    next run (the module's docstring says why that lands nothing twice)."""
    while not query.awaitTermination(STOP_POLL_S):
        if stopping.is_set():
            while query.status["isTriggerActive"]:
                time.sleep(STOP_POLL_S / 5)
            log.info("ingest: stopping on a signal, between micro-batches")
            query.stop()
