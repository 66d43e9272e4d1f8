"""Every input format maps onto the event contract; string and integer ids both work."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from reclake.config import load_config
from reclake.constants import EVENT_TIME
from reclake.errors import InputError
from reclake.io.lakehouse import write_delta
from reclake.io.raw import format_of, read_raw, to_events

UTC = dt.timezone.utc
T1 = dt.datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
T2 = dt.datetime(2026, 11, 21, 17, 0, 5, tzinfo=UTC)


def events_of(spark, overrides, path):
    config = load_config(overrides=[f"input.path={path}", *overrides])
    df = to_events(read_raw(spark, config.input, config.input_path), config.input)
    # Times as UTC text (the session zone), so the check does not depend on the machine's zone.
    df = df.withColumn(EVENT_TIME, F.date_format(EVENT_TIME, "yyyy-MM-dd HH:mm:ss"))
    return sorted(tuple(r) for r in df.collect())


def expected(user_a="u1", user_b="u2"):
    """The two events every fixture below encodes, as to_events should return them."""
    return sorted(
        [(user_a, "i9", "view", None, "2026-11-20 08:30:00"), (user_b, "i7", "purchase", 2.0, "2026-11-21 17:00:05")]
    )


def test_csv_with_header(spark, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,item_id,event_type,value,timestamp\n"
        "u1,i9,view,,2026-11-20T08:30:00Z\n"
        "u2,i7,PURCHASE,2,2026-11-21T17:00:05Z\n"
    )
    assert events_of(spark, [], path) == expected()


def test_headerless_csv_with_other_delimiter_and_renamed_columns(spark, tmp_path):
    path = tmp_path / "e.tsv"
    path.write_text(f"u1\ti9\tview\t\t{int(T1.timestamp())}\nu2\ti7\tpurchase\t2\t{int(T2.timestamp())}\n")
    overrides = [
        "input.header=false",
        r"input.delimiter=\t",  # as typed in a shell: backslash-t, which Spark reads as a tab
        "input.column_names=[who, what, kind, amount, at]",
        "input.columns={user_id: who, item_id: what, event_type: kind, value: amount, timestamp: at}",
        "input.timestamp_format=unix_seconds",
    ]
    assert events_of(spark, overrides, path) == expected()


def test_json_lines_with_integer_ids_and_millis(spark, tmp_path):
    path = tmp_path / "e.jsonl"
    rows = [
        {"user_id": 1, "item_id": "i9", "event_type": "view", "timestamp": int(T1.timestamp() * 1000)},
        {"user_id": 2, "item_id": "i7", "event_type": "purchase", "value": 2, "timestamp": int(T2.timestamp() * 1000)},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    overrides = ["input.format=json", "input.timestamp_format=unix_millis"]
    assert events_of(spark, overrides, path) == expected("1", "2")


def typed_frame(spark):
    return spark.createDataFrame(
        [(1, "i9", "view", None, T1), (2, "i7", "purchase", 2, T2)],
        "user_id long, item_id string, event_type string, value int, timestamp timestamp",
    )


def test_parquet_with_integer_ids_and_typed_timestamps(spark, tmp_path):
    typed_frame(spark).write.parquet(str(tmp_path / "p"))
    assert events_of(spark, ["input.format=parquet"], tmp_path / "p") == expected("1", "2")


def test_delta_input(spark, tmp_path):
    write_delta(typed_frame(spark), str(tmp_path / "d"))
    assert events_of(spark, ["input.format=delta"], tmp_path / "d") == expected("1", "2")


def test_custom_timestamp_pattern_and_constant_event_type(spark, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user,item,rating,when\nu1,i9,4,20/11/2026 08:30\n")
    overrides = [
        "input.columns={user_id: user, item_id: item, event_type: null, value: rating, timestamp: when}",
        "input.default_event_type=rating",
        "input.timestamp_format=dd/MM/yyyy HH:mm",
    ]
    assert events_of(spark, overrides, path) == [("u1", "i9", "rating", 4.0, "2026-11-20 08:30:00")]


def test_unparseable_values_become_null_for_validation_to_reject(spark, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event_type,value,timestamp\nu1,i9,view,lots,yesterday\n")
    assert events_of(spark, [], path) == [("u1", "i9", "view", None, None)]


def test_missing_column_is_named(spark, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item,event_type,value,timestamp\nu1,i9,view,,2026-11-20T08:30:00Z\n")
    with pytest.raises(InputError, match=r"'item_id' \(for item_id\).*it has: user_id, item, event_type"):
        events_of(spark, [], path)


def test_missing_input_is_named(spark, tmp_path):
    with pytest.raises(InputError, match="input not found: .*nowhere"):
        events_of(spark, [], tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("part-0.csv", "csv"),
        ("part-0.csv.gz", "csv"),
        ("x.snappy.parquet", "parquet"),
        ("e.JSONL", "json"),
        ("notes.txt", None),
        ("part-00000", None),
    ],
)
def test_a_file_name_says_its_format_or_nothing(name, fmt):
    assert format_of(name) == fmt
