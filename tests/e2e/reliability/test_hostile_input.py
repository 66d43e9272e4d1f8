"""Hostile and broken input: every case ends quarantined with its reason or refused with one line, exit status 2.

Each case is a real `reclake validate` run (one SparkSession for all) on files
written here; expected outcomes are worked out by hand. Nothing is dropped:
raw rows = rows in ``events`` + rows in ``quarantine``, read back from Delta.
The batch gate's quarantine share is lifted (validation.max_quarantine_share=1)
so a case with bad rows shows its row split rather than the batch rule.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from reclake.errors import CONDITIONS
from reclake.stages import validate
from tests.helpers import spark_overrides

HEADER = "user_id,item_id,event_type,value,timestamp"
T = "2026-11-22T10:00:00Z"  # a valid time: the day before the run date
RUN_DATE = "2026-11-23"
GOOD = 20


def good_lines(n: int = GOOD) -> list[str]:
    return [f"u{i},i{i % 7},view,,{T}" for i in range(n)]


def csv_text(lines: list[str], header: str = HEADER, newline: str = "\n") -> str:
    return "".join(f"{line}{newline}" for line in [header, *lines])


def write(folder: Path, name: str, data: str | bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def gzipped_csv(folder: Path) -> bytes:
    return gzip.compress(csv_text(good_lines()).encode())


def parquet_bytes(spark, folder: Path) -> bytes:
    """One Parquet file of good events, written by Spark."""
    out = folder.parent / f"{folder.name}-parquet"
    rows = [(f"u{i}", "i1", "view", None, T) for i in range(GOOD)]
    frame = spark.createDataFrame(
        rows, "user_id string, item_id string, event_type string, value double, timestamp string"
    )
    frame.coalesce(1).write.parquet(str(out))
    return next(out.glob("*.parquet")).read_bytes()


@dataclass(frozen=True)
class Case:
    """Files to write into the input folder, settings, and the outcome worked out by hand."""

    files: Callable[..., dict[str, str | bytes]]  # (spark, folder) -> file name -> content
    sets: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # (error class, words the one-line error holds), when the batch is refused
    raw_rows: int = 0
    rules: dict[str, int] = field(default_factory=dict)  # rows broken per rule
    quarantined: int = 0
    check: Callable[[list], None] | None = None  # on the valid events, for cases where what is kept matters


def latin1(spark, folder):
    return {"e.csv": csv_text([*good_lines(), f"caf\u00e9,i1,view,,{T}"]).encode("latin-1")}


def ids_are(expected: set[str]) -> Callable[[list], None]:
    def check(events: list) -> None:
        assert {r.user_id for r in events} == expected

    return check


def minus_zero_is_zero(events: list) -> None:
    (row,) = [r for r in events if r.user_id == "z1"]
    assert row.value == 0.0 and str(row.value) == "0.0"  # not -0.0


HOSTILE_IDS = ["a\x00b", "line\nbreak", "\u200frtl-mark", "\u202eoverride", "x" * 10_000]

CASES = {
    "truncated_gzip": Case(
        lambda spark, folder: {"e.csv.gz": gzipped_csv(folder)[:-40]},
        refused=("InputError", "cannot read", "e.csv.gz", "EOFException"),
    ),
    "corrupt_gzip": Case(
        lambda spark, folder: {"e.csv.gz": gzipped_csv(folder)[:20] + b"\x00garbage" * 50},
        refused=("InputError", "cannot read", "e.csv.gz"),
    ),
    "truncated_parquet": Case(
        lambda spark, folder: {"e.parquet": (lambda b: b[: len(b) // 2])(parquet_bytes(spark, folder))},
        sets=("input.format=parquet",),
        refused=("InputError", "cannot read", "e.parquet"),
    ),
    "other_delimiter": Case(
        lambda spark, folder: {"e.csv": csv_text(good_lines()).replace(",", ";")},
        refused=("ValidationFailed", "missing_columns", "user_id;item_id"),
    ),
    "latin1_read_as_utf8": Case(latin1, raw_rows=GOOD + 1, rules={"undecodable_text": 1}, quarantined=1),
    "latin1_with_its_encoding": Case(
        latin1,
        sets=("input.encoding=iso-8859-1",),
        raw_rows=GOOD + 1,
        check=lambda events: assert_contains(events, "caf\u00e9"),
    ),
    "bom_and_crlf": Case(
        lambda spark, folder: {"e.csv": b"\xef\xbb\xbf" + csv_text(good_lines(), newline="\r\n").encode()},
        raw_rows=GOOD,
        check=ids_are({f"u{i}" for i in range(GOOD)}),  # no BOM, no \r kept
    ),
    "ten_mb_line": Case(
        lambda spark, folder: {"e.csv": csv_text([*good_lines(), "b" * 10_000_000 + f",i1,view,,{T}"])},
        raw_rows=GOOD + 1,
        rules={"user_id_invalid": 1},
        quarantined=1,
    ),
    "hostile_ids": Case(
        lambda spark, folder: {
            "e.jsonl": "\n".join(
                json.dumps({"user_id": u, "item_id": "i1", "event_type": "view", "value": None, "timestamp": T})
                for u in [*[f"u{i}" for i in range(GOOD)], *HOSTILE_IDS]
            )
        },
        sets=("input.format=json",),
        raw_rows=GOOD + len(HOSTILE_IDS),
        rules={"user_id_invalid": len(HOSTILE_IDS)},
        quarantined=len(HOSTILE_IDS),
        check=ids_are({f"u{i}" for i in range(GOOD)}),
    ),
    "odd_numbers": Case(
        lambda spark, folder: {
            "e.csv": csv_text(
                [
                    *good_lines(),
                    f"n1,i1,purchase,1e309,{T}",  # overflows a double: infinity
                    f"n2,i1,view,1e309,{T}",
                    f"n3,i1,purchase,NaN,{T}",
                    f"n4,i1,rating,-0,{T}",  # below the rating range
                    f"z1,i1,view,-0,{T}",  # valid, stored as 0
                ]
            )
        },
        raw_rows=GOOD + 5,
        # n1: not finite and above 1000; n2: not finite; n3: not a number, NaN compares above 1000; n4: out of range.
        rules={"value_not_numeric": 3, "value_out_of_range": 3},
        quarantined=4,
        check=minus_zero_is_zero,
    ),
    "timestamps_out_of_era": Case(
        lambda spark, folder: {
            "e.csv": csv_text(
                [
                    *good_lines(),
                    "t1,i1,view,,1969-12-31T23:59:59Z",
                    "t2,i1,view,,0001-01-01T00:00:00Z",
                    "t3,i1,view,,9999-12-31T23:59:59Z",
                    "t4,i1,view,,10000-01-01T00:00:00Z",
                    "t5,i1,view,,1970-01-01T00:00:00Z",  # valid: the bound itself
                ]
            )
        },
        raw_rows=GOOD + 5,
        rules={"timestamp_too_old": 2, "timestamp_in_future": 2},
        quarantined=4,
    ),
    "empty_file": Case(lambda spark, folder: {"e.csv": b""}, refused=("ValidationFailed", "empty_input")),
    "mixed_formats": Case(
        lambda spark, folder: {
            "a.csv": csv_text(good_lines()),
            "b.parquet": parquet_bytes(spark, folder),
            "c.json": "{}",
        },
        refused=("InputError", "another format", "b.parquet", "c.json"),
    ),
    "extra_and_missing_columns": Case(
        lambda spark, folder: {
            "e.csv": csv_text([f"u{i},i1,web,{T}" for i in range(GOOD)], "user_id,item_id,channel,timestamp")
        },
        refused=("ValidationFailed", "missing_columns", "channel"),
    ),
    "extra_columns_only": Case(
        lambda spark, folder: {"e.csv": csv_text([f"{line},web" for line in good_lines()], HEADER + ",channel")},
        raw_rows=GOOD,
    ),
}


def assert_contains(events: list, user_id: str) -> None:
    assert user_id in {r.user_id for r in events}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_quarantined_or_refused_never_a_traceback(spark, capsys, tmp_path, name):
    case = CASES[name]
    folder = tmp_path / "in"
    for file_name, data in case.files(spark, folder).items():
        write(folder, file_name, data)
    lakehouse = tmp_path / "lakehouse"
    sets = ["validation.max_quarantine_share=1", *case.sets]
    argv = [*spark_overrides(), "--input", str(folder), "--lakehouse", str(lakehouse), "--run-date", RUN_DATE]
    status = validate.main([*argv, *[a for s in sets for a in ("--set", s)], "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert "Traceback" not in err

    if case.refused:
        kind, *words = case.refused
        assert status == 2 and summary["status"] == "failed"
        error = summary["error"]
        assert "\n" not in error and error.startswith(f"{kind}: ")
        assert all(w in error for w in words), error
        assert f"error [{summary['error_code']}] {error}" in err  # the one line a person sees
        assert CONDITIONS[summary["error_code"]].error_class == kind
        assert not (lakehouse / "events").exists()
        return

    assert status == 0, summary.get("error")
    counts = summary["counts"]["validate"]
    assert counts["raw_rows"] == case.raw_rows
    assert {k.removeprefix("rule."): v for k, v in counts.items() if k.startswith("rule.") and v} == case.rules
    assert counts["quarantined_rows"] == case.quarantined
    events = spark.read.format("delta").load(str(lakehouse / "events")).collect()
    quarantine = spark.read.format("delta").load(str(lakehouse / "quarantine"))
    assert len(events) + quarantine.count() == case.raw_rows  # nothing dropped
    assert len(events) == case.raw_rows - case.quarantined
    reasons = Counter(r for row in quarantine.select(F.explode("reasons")).collect() for r in row)
    assert dict(reasons) == case.rules
    if case.check is not None:
        case.check(events)
