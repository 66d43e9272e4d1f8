"""The validation gate: every kind of bad input, alone and mixed, on real Spark, Delta and Great Expectations.

Expected counts are worked out by hand from the tiny inputs written here.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections import Counter
from functools import reduce
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from reclake import pipeline, synthetic
from reclake.config import Config, load_config
from reclake.io.raw import read_raw, to_events
from reclake.quality import batch
from reclake.quality.gx import GxValidator
from reclake.quality.rules import (
    UNIQUE,
    any_rule_broken,
    later_copies,
    repeated_key_rows,
    row_rules,
    unexpected,
)
from reclake.quality.suites import ROW_SUITE, load_suite, resolve, rule_names
from reclake.stages import generate, validate
from tests.helpers import Golden, prom_value, prom_values

HEADER = "user_id,item_id,event_type,value,timestamp"
T = "2026-11-22T10:00:00Z"  # a valid time: the day before the run date
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
RUN_DATE = "2026-11-23"


def good_rows(n: int, *, prefix: str = "u", when: str = T) -> list[str]:
    return [f"{prefix}{i},i{i % 7},view,,{when}" for i in range(n)]


def write_csv(folder: Path, lines: list[str], *, header: str | None = HEADER, name: str = "events.csv") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(f"{line}\n" for line in ([header] if header else []) + lines))
    return str(path)


def row_suite(config: Config) -> list[dict]:
    params, groups = batch.row_parameters(config.events.types, config.validation, NOW)
    return resolve(load_suite(ROW_SUITE), params, groups)


def split(spark, path: str, *overrides: str) -> tuple[dict[str, int], list[list[str]]]:
    """The row-rule split as validate runs it: counts per rule, and each row's reasons."""
    config = load_config(None, [f"input.path={path}", *overrides])
    raw = read_raw(spark, config.input, path)
    checks = row_suite(config)
    with batch.split_batch(to_events(raw, config.input, keep_raw=True), checks) as flagged:
        tally = flagged.agg(*batch.batch_totals(), *batch.rule_counts(rule_names(checks))).first().asDict()
        counts = batch.reason_counts(tally)
        rows = flagged.select(batch.VALID, batch.REASONS).collect()  # tiny inputs only
    assert all(valid == (reasons is None) for valid, reasons in rows)  # reasons exactly for the rows rejected
    return counts, [sorted(reasons or []) for _, reasons in rows]


def broken(counts: dict[str, int]) -> dict[str, int]:
    return {key.removeprefix("rule."): n for key, n in counts.items() if key.startswith("rule.") and n}


MALFORMED = [f"m1,i1,view,,{T},extra", "m2,i2"]
WRONG_TYPES = [f"w1,i1,purchase,three,{T}", f"w2,i1,rating,4 stars,{T}"]
NULLS = [f",i1,view,,{T}", f"n2,,view,,{T}", f"n3,i1,,,{T}", f"  ,i1,view,,{T}"]
UNKNOWN_TYPES = [f"k1,i1,click,,{T}", f"k2,i1,Views,,{T}"]
OUT_OF_RANGE = [
    f"r1,i1,purchase,0,{T}",
    f"r2,i1,purchase,1001,{T}",
    f"r3,i1,rating,5.5,{T}",
    f"r4,i1,rating,,{T}",  # a rating needs a value
    f"r5,i1,rating,0.5,{T}",  # valid: the bound itself
]
# NOW is 12:00 and the tolerance 5 minutes: 12:06 is in the future, 12:04 is not.
FUTURE = ["f1,i1,view,,2999-01-01T00:00:00Z", "f2,i1,view,,2026-11-23T12:06:00Z", "f3,i1,view,,2026-11-23T12:04:00Z"]
UNPARSEABLE = ["p1,i1,view,,yesterday", "p2,i1,view,,2026-13-45T00:00:00Z", "p3,i1,view,,"]
DUPLICATES = [
    *[f"d1,i1,purchase,2,{T}"] * 3,
    *[f"d2,i1,view,,{T}"] * 2,
    f"d1,i1,purchase,3,{T}",  # same but the value: not a duplicate
]
LONG_IDS = ["u" * 129 + f",i1,view,,{T}", "l2," + "i" * 129 + f",view,,{T}", "u" * 128 + f",i1,view,,{T}"]
NON_ASCII = [f"ü9,i1,view,,{T}", f"用户,商品,view,,{T}", f"c\x07,i1,view,,{T}"]

# name -> (bad lines, quarantined rows, rows broken per rule), by hand.
MATRIX = {
    "malformed_lines": (MALFORMED, 2, {"malformed_line": 2, "event_type_unknown": 1, "timestamp_unparseable": 1}),
    "wrong_types": (WRONG_TYPES, 2, {"value_not_numeric": 2, "value_missing": 1}),
    "nulls": (NULLS, 4, {"user_id_missing": 2, "item_id_missing": 1, "event_type_unknown": 1}),
    "unknown_event_types": (UNKNOWN_TYPES, 2, {"event_type_unknown": 2}),  # "Views" is lower-cased: still unknown
    "out_of_range": (OUT_OF_RANGE, 4, {"value_out_of_range": 3, "value_missing": 1}),
    "future_timestamps": (FUTURE, 2, {"timestamp_in_future": 2}),
    "unparseable_timestamps": (UNPARSEABLE, 3, {"timestamp_unparseable": 3}),
    "duplicates": (DUPLICATES, 3, {"duplicate": 3}),
    "long_ids": (LONG_IDS, 2, {"user_id_invalid": 1, "item_id_invalid": 1}),
    "non_ascii_and_control_ids": (NON_ASCII, 1, {"user_id_invalid": 1}),
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_each_kind_of_bad_row_is_quarantined_with_its_reason(spark, tmp_path, case):
    lines, quarantined, rules = MATRIX[case]
    path = write_csv(tmp_path, good_rows(5) + lines)
    counts, reasons = split(spark, path)
    assert broken(counts) == rules
    assert counts["raw_rows"] == 5 + len(lines)
    assert counts["raw_rows"] - counts["valid_rows"] == quarantined
    assert sum(1 for r in reasons if r) == quarantined


def test_all_kinds_mixed_add_up(spark, tmp_path):
    bad = [line for lines, _, _ in MATRIX.values() for line in lines]
    path = write_csv(tmp_path, good_rows(20) + bad)
    counts, _ = split(spark, path)
    expected = Counter()
    for _, _, rules in MATRIX.values():
        expected.update(rules)
    assert broken(counts) == dict(expected)
    assert counts["raw_rows"] == 20 + len(bad)
    assert counts["raw_rows"] - counts["valid_rows"] == sum(q for _, q, _ in MATRIX.values())


# A quoted field broken by a line break whose second half has the right number of fields: u9 / i9" would pass.
QUOTED_LINE_BREAK = ['u2,"i2', f'u9,i9",view,,{T}', f'u3,"i3, boxed",view,,{T}']


def test_a_quoted_line_break_quarantines_both_halves_or_is_read_whole_with_multiline(spark, tmp_path):
    path = write_csv(tmp_path, good_rows(2) + QUOTED_LINE_BREAK)
    counts, reasons = split(spark, path)
    assert counts["raw_rows"] == 5 and counts["valid_rows"] == 3  # the halves quarantined, never a row
    assert broken(counts)["malformed_line"] == 1  # u2,"i2: too few fields
    assert broken(counts)["item_id_invalid"] == 1 and "user_id_invalid" not in broken(counts)  # i9": a stray quote

    counts, reasons = split(spark, path, "input.multiline=true")  # one record: u2 / "i2\nu9,i9"
    assert counts["raw_rows"] == 4 and counts["valid_rows"] == 3
    assert broken(counts) == {"item_id_invalid": 1}  # a line break is no part of an id


@pytest.mark.parametrize("broadcast_limit", [batch.BROADCAST_ROWS, 0], ids=["broadcast", "shuffle"])
def test_the_first_copy_as_read_stays_valid_and_later_copies_keep_their_text(spark, tmp_path, broadcast_limit):
    """Copies are equal once parsed ("2" and "2.0", " d1" and "d1"); the quarantine keeps each later copy as read."""
    lines = [f"d1,i1,purchase,2,{T}", f"d1,i1,purchase,2.0,{T}", f"d1,i1,purchase, 2 ,{T}", f" d1,i1,Purchase,2,{T}"]
    path = write_csv(tmp_path, lines)
    config = load_config(None, [f"input.path={path}"])
    events = to_events(read_raw(spark, config.input, path), config.input, keep_raw=True)
    # Both ways of joining copies back: by broadcast (the default limit) and by shuffle (0 rows count as small).
    with batch.split_batch(events, row_suite(config), broadcast_rows=broadcast_limit) as flagged:
        rows = flagged.orderBy(batch.ROW_ORDER).select(batch.VALID, batch.REASONS).collect()
        kept = [json.loads(r["raw_record"]) for r in batch.quarantine_rows(flagged, "r", NOW.date()).collect()]
    assert rows == [(True, None), *[(False, ["duplicate"])] * 3]
    assert sorted((r["user_id"], r["event_type"], r["value"]) for r in kept) == [
        (" d1", "Purchase", "2"),
        ("d1", "purchase", " 2 "),
        ("d1", "purchase", "2.0"),
    ]


def test_the_quarantine_keeps_text_fields_as_read_where_parsing_changed_them(spark, tmp_path):
    """Ids and event types are kept only where trimming or lower-casing changed them; the text is exact either way."""
    lines = [f"  ,i1,view,,{T}", f" u9 ,i1,Click,,{T}", f"k1,i1,click,,{T}"]
    path = write_csv(tmp_path, lines)
    config = load_config(None, [f"input.path={path}"])
    events = to_events(read_raw(spark, config.input, path), config.input, keep_raw=True)
    with batch.split_batch(events, row_suite(config)) as flagged:
        kept = batch.quarantine_rows(flagged, "r", NOW.date()).select("raw_record").collect()
    assert sorted(json.loads(r.raw_record)["user_id"] for r in kept) == ["  ", " u9 ", "k1"]
    assert sorted(json.loads(r.raw_record)["event_type"] for r in kept) == ["Click", "click", "view"]
    assert all(json.loads(r.raw_record)["timestamp"] == T for r in kept)


def test_rows_that_only_share_a_key_hash_are_not_copies(spark):
    """A hash collision makes rows candidates, never copies: the exact key decides."""
    rows = spark.createDataFrame(
        [(0, "u1", "i1"), (1, "u1", "i2"), (2, "u2", "i1"), (3, "u1", "i1"), (4, None, "i1"), (5, None, "i1")],
        "n long, user_id string, item_id string",
    )
    key = ["user_id", "item_id"]
    every_row_collides = rows.select("n")
    copies = later_copies(rows, key, "n", every_row_collides)
    assert sorted(r["n"] for r in copies.collect()) == [3, 5]  # nulls are equal, as in GX
    assert sorted(r["n"] for r in repeated_key_rows(rows, key, "n").collect()) == [0, 3, 4, 5]


def test_ascii_only_ids_and_a_shorter_limit_are_configurable(spark, tmp_path):
    path = write_csv(tmp_path, NON_ASCII + ["abcdef,i1,view,,2026-11-22T10:00:00Z"])
    counts, _ = split(spark, path, "validation.id_charset=ascii", "validation.id_max_length=5")
    assert broken(counts) == {"user_id_invalid": 4, "item_id_invalid": 1}


def test_spark_translation_finds_the_rows_great_expectations_finds(spark, tmp_path):
    """The row suite run by GX itself is the oracle for the one-pass Spark translation."""
    bad = [line for lines, _, _ in MATRIX.values() for line in lines]
    path = write_csv(tmp_path, good_rows(10) + bad)
    config = load_config(None, [f"input.path={path}"])
    events = to_events(read_raw(spark, config.input, path), config.input, keep_raw=True).cache()
    suite = row_suite(config)
    result = GxValidator(None).validate(events, "rows-oracle", suite)
    numbered = events.withColumn("_n", F.monotonically_increasing_id())
    assert len(result.results) == len(suite)
    for expectation, outcome in zip(suite, result.results):
        theirs = outcome.result["unexpected_count"]
        if expectation["type"] == UNIQUE:
            # GX counts every copy; we keep the first copy of each group: 5 copies in 2 groups.
            key = expectation["kwargs"]["column_list"]
            ours = later_copies(numbered, key, "_n", repeated_key_rows(numbered, key, "_n")).count()
            assert (theirs, ours) == (5, 3)
        else:
            ours = events.withColumn("_broken", unexpected(expectation)).where("_broken").count()
            assert ours == theirs, expectation
    events.unpersist()


@pytest.mark.parametrize("charset", ["printable", "ascii"])
def test_the_one_pass_validity_check_breaks_exactly_the_rows_some_rule_breaks(spark, tmp_path, charset):
    """any_rule_broken joins the id character checks into one regex call; it must agree row by row."""
    bad = [line for lines, _, _ in MATRIX.values() for line in lines]
    path = write_csv(tmp_path, good_rows(10) + bad + [f"ok,c\x07,view,,{T}", f"ü,,view,,{T}"])
    config = load_config(None, [f"input.path={path}", f"validation.id_charset={charset}"])
    events = to_events(read_raw(spark, config.input, path), config.input, keep_raw=True)
    suite = row_suite(config)
    any_rule = reduce(operator.or_, row_rules(suite).values())
    checked = events.select(any_rule_broken(suite).alias("fast"), any_rule.alias("each")).collect()
    assert [r.fast for r in checked] == [r.each for r in checked]
    assert sum(r.fast for r in checked) == {"printable": 24, "ascii": 26}[charset]


def test_ids_ending_in_a_line_break_are_invalid_alone_and_joined(spark):
    """Line breaks in ids break the character rule wherever they are (Java's $ would let a final one pass)."""
    ids = ["u1", "u1\n", "u1\r\n", "\n", "u1\u2028", "u\n1", "ü", ""]
    rows = [(u, i, "view", None, NOW.replace(tzinfo=None), None, None) for u in ids for i in ("i1", "i1\n")]
    schema = "user_id string, item_id string, event_type string, value double, event_time timestamp, "
    events = spark.createDataFrame(rows, schema + "_corrupt_record string, _raw_value string")
    suite = row_suite(load_config(None, []))
    rules = row_rules(suite)
    checked = events.select(
        "user_id", "item_id", any_rule_broken(suite).alias("fast"), rules["user_id_invalid"].alias("user_invalid")
    ).collect()
    assert [r.fast for r in checked] == [r.user_invalid or "\n" in r.item_id or r.user_id == "" for r in checked]
    assert {r.user_id for r in checked if r.user_invalid} == {"u1\n", "u1\r\n", "\n", "u1\u2028", "u\n1"}


# ---------------------------------------------------------------- whole runs


def validate_run(run_cli, lakehouse: Path, path: str, *sets: str):
    args = ["--input", path, "--lakehouse", str(lakehouse), "--run-date", RUN_DATE]
    for item in sets:
        args += ["--set", item]
    return run_cli(validate.main, *args)


def delta_version(spark, uri: str) -> int:
    return DeltaTable.forPath(spark, uri).history(1).first()["version"]


def test_generated_bad_rows_are_quarantined_in_exact_numbers(spark, run_cli, tmp_path, lakehouse):
    bad = {
        "malformed_line": 3,
        "wrong_type": 2,
        "null_id": 2,
        "unknown_event_type": 2,
        "out_of_range": 2,
        "future_timestamp": 1,
        "unparseable_timestamp": 2,
        "duplicate": 2,
        "long_id": 1,
        "control_char_id": 1,
    }
    sets = ["generate.users=40", "generate.items=30", "generate.partitions=2", f"run.run_date={RUN_DATE}"]
    sets.append("validation.data_docs=true")  # this test reads them
    sets += [f"generate.bad_rows.{kind}={n}" for kind, n in bad.items()]
    args = [item for s in sets for item in ("--set", s)]
    status, summary = run_cli(generate.main, "--lakehouse", str(lakehouse), *args)
    assert status == 0, summary
    status, summary = run_cli(validate.main, "--lakehouse", str(lakehouse), *args)
    assert status == 0, summary
    counts = summary["counts"]["validate"]
    expected = Counter()
    for kind, n in bad.items():
        expected[synthetic.BAD_ROW_RULES[kind]] += n
    assert broken(counts) == dict(expected)
    assert counts["quarantined_rows"] == sum(bad.values())
    assert counts["raw_rows"] == counts["valid_rows"] + counts["quarantined_rows"]

    quarantine = spark.read.format("delta").load(summary["tables"]["quarantine"])
    events = spark.read.format("delta").load(summary["tables"]["events"])
    assert quarantine.count() == sum(bad.values())
    assert events.count() == counts["valid_rows"]
    assert quarantine.where(F.col("run_id") == summary["run_id"]).count() == sum(bad.values())
    malformed = [r.raw_record for r in quarantine.where(F.array_contains("reasons", "malformed_line")).collect()]
    assert len(malformed) == 3 and all(line.endswith(",extra field") for line in malformed)  # the line as read
    assert events.where(F.col("user_id").startswith("bad-") & (F.col("user_id") != "bad-duplicate")).count() == 0

    report = json.loads(Path(summary["validation"]["report"]).read_text())
    assert report["status"] == "succeeded" and report["counts"] == counts
    assert set(report["great_expectations"]) == {"events.source", "events.batch"}
    assert Path(summary["validation"]["data_docs"]).is_file()
    runs = spark.read.format("delta").load(summary["tables"]["validation_runs"]).collect()
    assert [(r.status, r.raw_rows, r.valid_rows) for r in runs] == [
        ("succeeded", counts["raw_rows"], counts["valid_rows"])
    ]


@pytest.mark.parametrize(
    ("lines", "header", "rule"),
    [
        ([], None, "empty_input"),  # an empty file
        ([], HEADER, "empty_input"),  # a header and no rows
        (["u1,i1,view,,"], "user_id,item_id,event_type,value,when", "missing_columns"),
        (good_rows(10) + UNKNOWN_TYPES, HEADER, "quarantine_share"),  # 2 of 12 > 5%
        (good_rows(10, when="2026-11-19T10:00:00Z"), HEADER, "stale_input"),  # newest 110 h before the date's end
    ],
)
def test_a_bad_batch_stops_with_the_rule_and_writes_no_events(spark, run_cli, tmp_path, lakehouse, lines, header, rule):
    path = write_csv(tmp_path / "in", lines, header=header)
    status, summary = validate_run(run_cli, lakehouse, path)
    assert status == 2 and summary["status"] == "failed"
    assert summary["error"].startswith("ValidationFailed: ") and f"{rule}:" in summary["error"]
    assert not DeltaTable.isDeltaTable(spark, str(lakehouse / "events"))
    runs = spark.read.format("delta").load(str(lakehouse / "validation_runs")).collect()
    assert [r.status for r in runs] == ["failed"]


def test_volume_and_schema_are_compared_with_the_last_successful_run(spark, run_cli, tmp_path, lakehouse):
    first = write_csv(tmp_path / "a", good_rows(20))
    assert validate_run(run_cli, lakehouse, first)[0] == 0
    events = str(lakehouse / "events")
    version = delta_version(spark, events)

    bigger = write_csv(tmp_path / "b", good_rows(41))  # above 2.0 x 20
    status, summary = validate_run(run_cli, lakehouse, bigger)
    assert status == 2 and "volume_change:" in summary["error"] and "observed 41" in summary["error"]
    assert "max_value=40" in summary["error"]

    extra = write_csv(tmp_path / "c", [f"{line},web" for line in good_rows(20)], header=HEADER + ",channel")
    status, summary = validate_run(run_cli, lakehouse, extra)
    assert status == 2 and "schema_drift:" in summary["error"] and "channel" in summary["error"]

    renamed = write_csv(tmp_path / "d", good_rows(20), header=HEADER.replace("value", "amount"))
    status, summary = validate_run(run_cli, lakehouse, renamed, "input.columns.value=amount")
    assert status == 2 and "schema_drift:" in summary["error"] and "amount" in summary["error"]

    assert delta_version(spark, events) == version  # no rejected batch reached the events table
    smaller = write_csv(tmp_path / "e", good_rows(12))  # within 0.5 x 20 .. 2.0 x 20
    assert validate_run(run_cli, lakehouse, smaller)[0] == 0
    assert spark.read.format("delta").load(events).count() == 12


def test_events_keep_file_statistics_on_event_time_only_even_in_a_table_made_before(
    spark, run_cli, tmp_path, lakehouse
):
    events = str(lakehouse / "events")
    schema = "user_id string, item_id string, event_type string, value double, event_time timestamp"
    older = spark.createDataFrame([("u", "i", "view", None, NOW)], schema)  # made before the property existed
    older.write.format("delta").save(events)
    assert validate_run(run_cli, lakehouse, write_csv(tmp_path, good_rows(20)))[0] == 0
    table = DeltaTable.forPath(spark, events)
    assert table.detail().first()["properties"]["delta.dataSkippingStatsColumns"] == "event_time"
    log = sorted((lakehouse / "events" / "_delta_log").glob("*.json"))[-1]
    added = [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]
    assert added and all(set(json.loads(a["stats"])["minValues"]) == {"event_time"} for a in added)
    assert table.toDF().count() == 20


def test_a_bad_batch_leaves_published_recommendations_exactly_as_they_were(spark, run_cli, tmp_path, golden_copy):
    args = Golden.args(golden_copy)
    published = str(golden_copy / "recommendations")
    before_version = delta_version(spark, published)
    before_rows = sorted(spark.read.format("delta").load(published).collect())

    bad = write_csv(tmp_path / "bad", good_rows(30) + UNKNOWN_TYPES * 3)  # 6 of 36 quarantined: over 5%
    status, summary = run_cli(pipeline.main, *args, "--input", bad)
    assert status == 2 and "quarantine_share:" in summary["error"]
    assert "prepare" not in summary["timings_s"]  # stopped at the gate
    # What the rejected batch counted reaches the summary and the metrics, for the quarantine alert.
    assert summary["failed_stage"] == "validate" and summary["counts"]["validate"]["rule.event_type_unknown"] == 6
    values = prom_values(golden_copy / "_metrics" / "reclake.prom")
    assert prom_value(values, "reclake_stage_success", stage="validate") == 0
    assert prom_value(values, "reclake_quarantined_rows", rule="event_type_unknown") == 6
    assert prom_value(values, "reclake_stage_rows", stage="validate", kind="raw_rows") == 36
    assert delta_version(spark, published) == before_version
    assert sorted(spark.read.format("delta").load(published).collect()) == before_rows
