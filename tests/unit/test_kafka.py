"""Kafka messages as landed lines, on small in-code frames shaped like Spark's Kafka source (no broker here:
tests/e2e/test_kafka.py runs a real one): the line of each kind of value, its date, a replayed batch landing
once, the security options from the environment, the config's rules."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from pyspark.sql import functions as F

from reclake.config import load_config
from reclake.errors import ConfigError
from reclake.io.kafka import (
    LANDING_DATE,
    LINE,
    MALFORMED,
    REDACTED_OPTIONS,
    land_batch,
    landed_lines,
    source_options,
    staging_folder,
)
from reclake.io.kafka_login import SASL_PASSWORD_ENV, SASL_USERNAME_ENV, SECURITY_PROTOCOL_ENV
from reclake.io.raw import CORRUPT_RECORD, read_raw
from reclake.quality.batch import source_schema

SOURCE = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, timestampType int, "
    "headers array<struct<key: string, value: binary>>"
)
SENT = dt.datetime(2026, 11, 24, 6, 30, tzinfo=dt.timezone.utc)  # the message's timestamp: a day after the events
EVENT = {"user_id": "u1", "item_id": "i1", "event_type": "view", "timestamp": "2026-11-23T10:00:00Z"}
VALUES = [
    json.dumps(EVENT).encode(),
    b'{\n  "user_id": "u2",\r\n  "item_id": "i2", "event_type": "view", "timestamp": "2026-11-23T23:59:59Z"}\n',
    json.dumps({**EVENT, "timestamp": "soon"}).encode(),  # no readable event time: the message's date
    b"{}",
    b"not json",
    b"[1, 2]",
    b"",
    None,
]


# The headers of the first valid and the first malformed message: a key twice and once in other case (as
# object keys, Spark's JSON reader would refuse the folder), a value no UTF-8, a null value.
HEADERS = [("trace", b"t-1"), ("Trace", "t-2 é".encode()), ("blob", b"\xff\x00"), ("trace", b"t-3"), ("none", None)]
LANDED_HEADERS = [
    {"key": "trace", "value": "t-1"}, {"key": "Trace", "value": "t-2 é"}, {"key": "blob", "base64": "/wA="},
    {"key": "trace", "value": "t-3"}, {"key": "none"},
]  # fmt: skip


def messages(spark, values):
    headers = {0: HEADERS, 1: [], 4: HEADERS}
    rows = [(b"k" if i == 0 else None, v, "events", i % 2, i, SENT, 0, headers.get(i)) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, SOURCE)


def kafka_config(tmp_path, *sets):
    base = ["kafka.bootstrap_servers=127.0.0.1:9092", "kafka.topic=events"]
    return load_config(None, [*base, *sets], base_dir=tmp_path)


def test_each_value_becomes_one_json_line_under_its_event_date(spark):
    rows = landed_lines(messages(spark, VALUES), "timestamp", "iso8601").collect()
    lines = [json.loads(row[LINE]) for row in rows]
    assert [row[MALFORMED] for row in rows] == [False] * 4 + [True] * 4
    assert lines[0] == {
        **EVENT,
        "_kafka_topic": "events", "_kafka_partition": 0, "_kafka_offset": 0, "_kafka_key": "k",
        "_kafka_timestamp": "2026-11-24T06:30:00.000Z", "_kafka_headers": LANDED_HEADERS,
    }  # fmt: skip
    assert [i for i, line in enumerate(lines) if line["_kafka_headers"] != []] == [0, 4], "none: an empty list"
    assert lines[4]["_kafka_headers"] == LANDED_HEADERS and lines[4]["_malformed_value"] == "not json"
    assert "\n" not in rows[1][LINE] and lines[1]["user_id"] == "u2"  # line breaks between tokens: spaces
    assert lines[3] == {k: v for k, v in lines[3].items() if k.startswith("_kafka_")} and lines[3]["_kafka_key"] is None
    assert lines[3]["_kafka_headers"] == []
    assert [line.get("_malformed_value") for line in lines[4:]] == ["not json", "[1, 2]", "", ""]
    assert [row[LANDING_DATE] for row in rows] == [dt.date(2026, 11, 23)] * 2 + [SENT.date()] * 6


def test_validate_reads_a_malformed_message_as_a_malformed_line(spark, tmp_path):
    lines = landed_lines(messages(spark, VALUES), "timestamp", "iso8601")
    (tmp_path / "day").mkdir()
    (tmp_path / "day" / "batch.json").write_text("".join(f"{row[LINE]}\n" for row in lines.collect()))
    settings = load_config(None, ["input.format=json"]).input
    raw = read_raw(spark, settings, str(tmp_path / "day"))
    assert "_malformed_value" not in raw.columns
    read = raw.orderBy("_kafka_offset").collect()
    assert [row[CORRUPT_RECORD] for row in read] == [None] * 4 + ["not json", "[1, 2]", "", ""]
    assert [h.asDict() for h in read[0]["_kafka_headers"]] == [
        {"key": "trace", "value": "t-1", "base64": None}, {"key": "Trace", "value": "t-2 é", "base64": None},
        {"key": "blob", "value": None, "base64": "/wA="}, {"key": "trace", "value": "t-3", "base64": None},
        {"key": "none", "value": None, "base64": None},
    ]  # fmt: skip
    # A date whose messages had no headers reads them with the same columns and types (what schema drift compares).
    (tmp_path / "plain").mkdir()
    plain = landed_lines(
        messages(spark, VALUES).drop("headers").withColumn("headers", F.lit(None)), "timestamp", "iso8601"
    )
    (tmp_path / "plain" / "batch.json").write_text("".join(f"{row[LINE]}\n" for row in plain.collect()))
    assert source_schema(read_raw(spark, settings, str(tmp_path / "plain"))) == source_schema(raw)


def test_a_replayed_batch_lands_once_and_replaces_what_its_killed_attempt_left(spark, tmp_path):
    landing = tmp_path / "landing"
    lines = landed_lines(messages(spark, VALUES), "timestamp", "iso8601")
    folder = lambda day: str(landing / f"date={day}")  # noqa: E731
    staging = staging_folder(f"{landing}/date={{run_date}}")

    first = land_batch(spark, lines, 7, folder, staging, validated={dt.date(2026, 11, 23)})
    assert (first.messages, first.malformed, first.late) == (8, 4, 2)
    assert first.dates == {dt.date(2026, 11, 23), SENT.date()} and first.late_dates == {dt.date(2026, 11, 23)}
    stale = landing / "date=2026-11-23" / "batch-000000000007-00099.json"
    stale.write_text('{"user_id": "left by a killed attempt"}\n')  # a file of this batch from an earlier attempt
    other = landing / "date=2026-11-23" / "batch-000000000006-00000.json"
    other.write_text('{"user_id": "batch 6"}\n')  # another batch's: kept

    land_batch(spark, lines, 7, folder, staging, validated=set())  # the same batch replayed after a kill
    landed = [json.loads(line) for f in sorted(landing.glob("date=*/*.json")) for line in f.read_text().splitlines()]
    offsets = sorted(line["_kafka_offset"] for line in landed if "_kafka_offset" in line)
    assert offsets == list(range(len(VALUES))), "each message once"
    assert [line["user_id"] for line in landed if "_kafka_offset" not in line] == ["batch 6"]
    assert not (tmp_path / "landing" / "_ingest_staging").exists() or not any(
        (tmp_path / "landing" / "_ingest_staging").iterdir()
    )


def test_security_settings_come_from_the_environment_only(tmp_path):
    json_dates = ["input.format=json", "input.path=landing/date={run_date}"]
    settings = kafka_config(tmp_path, *json_dates, "kafka.max_offsets_per_trigger=500").kafka
    assert settings is not None
    plain = source_options(settings, {})
    assert plain == {
        "kafka.bootstrap.servers": "127.0.0.1:9092",
        "subscribe": "events",
        "startingOffsets": "earliest",
        "includeHeaders": "true",
        "maxOffsetsPerTrigger": "500",
    }
    env = {SECURITY_PROTOCOL_ENV: "SASL_SSL", SASL_USERNAME_ENV: "app", SASL_PASSWORD_ENV: 'p"w'}
    secure = source_options(settings, {**env, "RECLAKE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"})
    assert secure["kafka.security.protocol"] == "SASL_SSL" and secure["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert secure["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="app" password="p\\"w";'
    )
    assert re.search(REDACTED_OPTIONS, "kafka.sasl.jaas.config"), "Spark redacts the login in plans and logs"
    with pytest.raises(ConfigError, match="kafka.sasl_password: unknown key"):
        kafka_config(tmp_path, *json_dates, "kafka.sasl_password=secret")


def test_kafka_needs_json_lines_in_date_folders(tmp_path):
    with pytest.raises(ConfigError, match=r"input.format json and an input.path with \{run_date\}"):
        kafka_config(tmp_path)
    config = kafka_config(tmp_path, "input.format=json", "input.path=landing/date={run_date}")
    assert config.ingest_checkpoint == f"{tmp_path}/lakehouse/_ingest/events"
    assert staging_folder(config.input_path) == f"{tmp_path}/landing/_ingest_staging"
