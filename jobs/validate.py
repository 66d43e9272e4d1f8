"""Validate raw events: good rows go on, bad rows are quarantined with the reason.

The rules live in Great Expectations suites under schemas/expectations/:

* ``events.source``: the columns as read (missing columns, drift since the last
  successful run) -- run in GX; a failure stops the run.
* ``events.rows``: row rules, translated into Spark column expressions and
  evaluated in one pass; a row breaking any of them goes to the ``quarantine``
  table with the row as read (a malformed CSV line as its text), every rule it
  broke, the run id and the time.
* ``events.batch``: empty input, quarantined share, volume against the last
  successful run, freshness -- run in GX on the batch's figures (counted on the
  quarantine write) before ``events`` is written; a failure raises
  ValidationFailed naming the rules and the figures.

Nothing is dropped silently: the job checks, from Delta's own commit metrics,
that raw rows = valid + quarantined. Every run saves a JSON result
(``<reports_dir>/results/<run_id>.json``), updates the GX Data Docs
(``<reports_dir>/data_docs/index.html``) and appends a row to ``validation_runs``.

    spark-submit jobs/validate.py --config conf/local.yaml
    reclake validate --config conf/local.yaml --input data/events.csv
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, Row, SparkSession
from pyspark.sql import functions as F

from jobs.config import Config, EventType, InputSection, ValidationSection, join_uri
from jobs.constants import EVENT_COLUMNS, EVENT_TIME, RUN_DATE, RUN_ID
from jobs.errors import ConfigError, ValidationFailed
from jobs.expectations import (
    GxValidator,
    any_rule_broken,
    describe,
    failed_rules,
    failure,
    load_suite,
    later_copies,
    repeated_key_rows,
    resolve,
    row_rules,
    rule_names,
    unique_keys,
)
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import (
    CORRUPT_RECORD,
    EVENTS,
    QUARANTINE,
    VALIDATION_RUNS,
    delta_exists,
    last_commit_rows,
    raw_columns,
    raw_record_text,
    read_raw,
    table_uri,
    to_events,
    write_delta,
)

REASONS = "reasons"
VALID = "_valid"  # false if the row broke any row rule
ROW_ORDER = "_row_order"  # position as read: the first copy of a duplicate stays valid
LATER_COPY = "_later_copy"
# Rows with a repeated key hash, and later copies, are joined by broadcast up to this many rows (8 bytes each).
BROADCAST_ROWS = 2_000_000
QUARANTINED_AT = "quarantined_at"
NEWEST_VALID_EVENT = "newest_valid_event_time"  # batch suite column: the latest event_time of a valid row
# Readers filter events by event_time only (recommend's seen window): file statistics on the ids and
# types would cost a quarter of the write (4.8M rows: 2.6 s with them, 1.7-2.1 s without) for nothing.
EVENTS_PROPERTIES = {"delta.dataSkippingStatsColumns": EVENT_TIME}
ROW_SUITE, SOURCE_SUITE, BATCH_SUITE = "events.rows", "events.source", "events.batch"
ID_PATTERNS = {
    # Any character but control characters and line/paragraph separators: non-ASCII letters are fine.
    # \z, not $: Java's $ also matches before a final line break, which would let "u1\n" through.
    "printable": r"^[^\p{Cc}\p{Zl}\p{Zp}]*\z",
    "ascii": r"^[\x20-\x7E]*\z",
}


def row_parameters(
    event_types: Mapping[str, EventType], settings: ValidationSection, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Parameters and per-event-type groups for the row suite (schemas/expectations/events.rows.json)."""
    params = {
        "id_max_length": settings.id_max_length,
        "id_regex": ID_PATTERNS[settings.id_charset],
        "event_types": list(event_types),
        "latest_event_time": now + dt.timedelta(minutes=settings.future_tolerance_minutes),
    }
    per_type = [
        {"event_type": name, "min_value": t.min_value, "max_value": t.max_value, "use_value": t.use_value}
        for name, t in event_types.items()
    ]
    return params, {"event_type": per_type}


def batch_parameters(settings: ValidationSection, previous_rows: int | None, run_date: dt.date) -> dict[str, Any]:
    """Parameters for the batch suite; the volume band is unset on a first run (no previous rows)."""
    end_of_run_date = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    hours = settings.max_event_age_hours
    oldest_fresh = None if hours is None else end_of_run_date - dt.timedelta(hours=hours)
    # Naive local time: that is how PySpark, and so GX, hands timestamps to Python.
    fresh_after = None if oldest_fresh is None else oldest_fresh.astimezone().replace(tzinfo=None)
    low, high = settings.min_volume_ratio, settings.max_volume_ratio
    return {
        "max_quarantine_share": settings.max_quarantine_share,
        "min_rows": math.floor(previous_rows * low) if previous_rows is not None and low is not None else None,
        "max_rows": math.ceil(previous_rows * high) if previous_rows is not None and high is not None else None,
        "fresh_after": fresh_after,
    }


def no_reasons() -> Column:
    """An empty ``reasons`` array (typed, so it unions with the rule names)."""
    return F.array().cast("array<string>")


def flag_rows(events: DataFrame, checks: Sequence[Mapping[str, Any]]) -> DataFrame:
    """The event columns, the row as read and its position, plus ``_valid`` and ``reasons``.

    ``reasons`` names the rules a row breaks and is built for those rows only
    (null for a valid row): an array per row costs about as much as evaluating
    every rule (measured on 5 million rows). ``_row_order`` numbers rows in input
    order, so "the first copy" of a duplicate is the first one read.
    """
    rules, broken = row_rules(checks), any_rule_broken(checks)
    # [name] or [] per rule, flattened: array_compact and filter take a lambda, which defeats codegen.
    per_rule = [F.when(rule, F.array(F.lit(name))).otherwise(no_reasons()) for name, rule in rules.items()]
    reasons = F.flatten(F.array(*per_rule)) if per_rule else no_reasons()
    return events.select(
        *EVENT_COLUMNS,
        F.monotonically_increasing_id().alias(ROW_ORDER),
        *[F.col(f"`{c}`") for c in raw_columns(events)],
        CORRUPT_RECORD,
        (~broken).alias(VALID),
        F.when(broken, reasons).alias(REASONS),
    )


def flag_later_copies(flagged: DataFrame, copies: DataFrame, rule: str) -> DataFrame:
    """Mark the rows whose ``_row_order`` is in ``copies`` as breaking ``rule``."""
    is_copy = F.col(LATER_COPY).isNotNull()
    reasons = F.array_append(F.coalesce(F.col(REASONS), no_reasons()), F.lit(rule))
    updated = {VALID: F.col(VALID) & ~is_copy, REASONS: F.when(is_copy, reasons).otherwise(F.col(REASONS))}
    marked = flagged.join(copies.withColumn(LATER_COPY, F.lit(True)), ROW_ORDER, "left")
    return marked.select(*[updated.get(c, F.col(f"`{c}`")).alias(c) for c in flagged.columns])


@contextmanager
def split_batch(events: DataFrame, checks: Sequence[Mapping[str, Any]]) -> Iterator[DataFrame]:
    """Every row of ``events`` flagged by the row suite, persisted while the caller uses it.

    One pass evaluates the per-row rules and persists the rows (they feed the
    duplicate check and both writes). Copies of a row are then found on the
    persisted rows: the rows whose key hash repeats are picked out, only those
    are sorted by the exact key, and the later copies are joined back by position. Each intermediate is kept and joined by broadcast while small;
    a batch that is mostly copies is joined by shuffle.
    """
    held: list[DataFrame] = []

    def keep(frame: DataFrame) -> DataFrame:
        # Deserialized (DataFrame.cache()'s level): PySpark's MEMORY_AND_DISK serializes the columnar
        # batches once more, and every later scan pays to undo it (scans 40% slower on 4.8M rows).
        held.append(frame.persist(StorageLevel.MEMORY_AND_DISK_DESER))
        return frame

    def small(frame: DataFrame) -> tuple[int, DataFrame]:
        rows = keep(frame).count()
        return rows, F.broadcast(frame) if rows <= BROADCAST_ROWS else frame

    try:
        flagged = keep(flag_rows(events, checks))
        for rule, columns in unique_keys(checks).items():
            repeated, candidates = small(repeated_key_rows(flagged, columns, ROW_ORDER))  # fills `flagged`
            if not repeated:
                continue
            found, copies = small(later_copies(flagged, columns, ROW_ORDER, candidates))
            flagged = flag_later_copies(flagged, copies, rule)
            if found > BROADCAST_ROWS:  # joined by shuffle: do it once
                flagged = keep(flagged)
        yield flagged
    finally:
        for frame in held:
            frame.unpersist()


def batch_totals() -> list[Column]:
    """Aggregates over every row for the batch rules and the report: rows, valid rows, newest valid event."""
    return [
        F.count(F.lit(1)).alias("raw_rows"),
        F.sum(F.col(VALID).cast("long")).alias("valid_rows"),
        F.unix_micros(F.max(F.when(F.col(VALID), F.col(EVENT_TIME)))).alias(NEWEST_VALID_EVENT),  # no time zone
    ]


def rule_counts(rules: Sequence[str]) -> list[Column]:
    """Rows per broken rule; only rows with ``reasons`` count, so they need only the quarantined rows."""
    return [F.sum(F.array_contains(REASONS, name).cast("long")).alias(f"rule.{name}") for name in rules]


def reason_counts(tally: Mapping[str, Any]) -> dict[str, int]:
    """The counts of :func:`batch_totals` and :func:`rule_counts` (none for no rows), plus ``quarantined_rows``."""
    counts = {key: int(value or 0) for key, value in tally.items() if key != NEWEST_VALID_EVENT}
    return {**counts, "quarantined_rows": counts["raw_rows"] - counts["valid_rows"]}


def batch_summary(spark: SparkSession, counts: Mapping[str, int], newest_micros: int | None) -> DataFrame:
    """The batch as one row of figures, for the batch suite: rows, quarantined share, newest valid event.

    Great Expectations checks these figures rather than scanning the batch
    again: they were counted on the quarantine write.
    """
    rows = counts["raw_rows"]
    share = counts["quarantined_rows"] / rows if rows else None
    return spark.range(1).select(
        F.lit(rows).cast("long").alias("raw_rows"),
        F.lit(share).cast("double").alias("quarantined_share"),
        F.timestamp_micros(F.lit(newest_micros).cast("long")).alias(NEWEST_VALID_EVENT),
    )


def quarantine_rows(flagged: DataFrame, run_id: str, run_date: dt.date) -> DataFrame:
    """Rows that broke a rule: the row as read, every rule it broke, the run and the time."""
    return flagged.where(~F.col(VALID)).select(
        F.lit(run_id).alias(RUN_ID),
        F.lit(run_date).alias(RUN_DATE),
        F.current_timestamp().alias(QUARANTINED_AT),
        F.col(REASONS),
        raw_record_text(flagged).alias("raw_record"),
    )


def source_schema(raw: DataFrame) -> dict[str, str]:
    """Column name -> Spark type name of the input as read (what schema drift compares)."""
    return {f.name: type(f.dataType).__name__ for f in raw.schema.fields if f.name != CORRUPT_RECORD}


def required_columns(settings: InputSection) -> list[str]:
    """The source columns input.columns maps onto the event contract."""
    return [c for c in settings.columns.model_dump().values() if c is not None]


def reports_dir(config: Config) -> str:
    """Local folder for the JSON results and Data Docs (GX writes Data Docs to local disk)."""
    folder = config.validation.reports_dir or join_uri(config.lakehouse.root, "_validation")
    if "://" in folder and not folder.startswith("file:"):
        raise ConfigError(f"validation.reports_dir must be a local folder (got {folder}); set it explicitly")
    return folder.removeprefix("file:")


RUNS_SCHEMA = (
    f"{RUN_ID} string, {RUN_DATE} date, validated_at timestamp, status string, raw_rows long, "
    "valid_rows long, quarantined_rows long, input string, source_schema string"
)


def previous_success(spark: SparkSession, runs_uri: str, run_id: str) -> Row | None:
    """The latest successful validate run other than this one, or None on a first run."""
    if not delta_exists(spark, runs_uri):
        return None
    runs = spark.read.format("delta").load(runs_uri)
    done = runs.where((F.col("status") == "succeeded") & (F.col(RUN_ID) != run_id))
    return done.orderBy(F.col("validated_at").desc()).first()


class _Gate:
    """One validate run's bookkeeping: the report, the validation_runs row, the failure message."""

    def __init__(self, spark: SparkSession, config: Config, ctx: RunContext, schema: dict[str, str]) -> None:
        self.spark, self.config, self.ctx = spark, config, ctx
        folder = reports_dir(config)
        self.report_path = str(Path(folder) / "results" / f"{ctx.run_id}.json")
        self.gx = GxValidator(str(Path(folder) / "data_docs"))
        self.runs_uri = table_uri(config.lakehouse.root, VALIDATION_RUNS)
        self.report: dict[str, Any] = {
            "run_id": ctx.run_id,
            "run_date": ctx.run_date.isoformat(),
            "input": config.input_path,
            "source_schema": schema,
            "counts": {},
            "batch_failures": [],
            "great_expectations": {},
        }

    def check(self, df: DataFrame, suite: str, expectations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a batch suite in GX, keep its result for the report, return the failed rules."""
        result = self.gx.validate(df, suite, expectations)
        self.report["great_expectations"][suite] = result.to_json_dict()
        return failed_rules(result)

    def finish(self, status: str, counts: Mapping[str, int], failures: Sequence[Mapping[str, Any]] = ()) -> None:
        """Save the JSON report and the validation_runs row; raise ValidationFailed for a failed batch."""
        self.report.update(status=status, counts=dict(counts), batch_failures=list(failures))
        self.report["data_docs"] = self.gx.index_html
        path = Path(self.report_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.report, indent=2, default=str, sort_keys=True))
        row = (
            self.ctx.run_id,
            self.ctx.run_date,
            dt.datetime.now(dt.timezone.utc),
            status,
            counts.get("raw_rows"),
            counts.get("valid_rows"),
            counts.get("quarantined_rows"),
            self.config.input_path,
            json.dumps(self.report["source_schema"], sort_keys=True),
        )
        write_delta(self.spark.createDataFrame([row], RUNS_SCHEMA), self.runs_uri, mode="append")
        if failures:
            rules = "; ".join(describe(f) for f in failures)
            raise ValidationFailed(
                f"batch rejected, nothing written downstream: {rules} (input {self.config.input_path}; "
                f"report {self.report_path})"
            )


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    settings = config.validation
    raw = read_raw(spark, config.input, config.input_path)
    schema = source_schema(raw)
    gate = _Gate(spark, config, ctx, schema)
    previous = previous_success(spark, gate.runs_uri, ctx.run_id)
    if not raw.columns:
        empty = failure("empty_input", "the input has at least one row", "no header, no rows")
        gate.finish("failed", {"raw_rows": 0}, [empty])

    # 1. The columns as read: missing columns and drift since the last successful run.
    previous_schema = json.loads(previous["source_schema"]) if previous else {}
    source_checks = resolve(
        load_suite(SOURCE_SUITE),
        {"required_columns": required_columns(config.input), "previous_columns": list(previous_schema) or None},
        {"previous_column": [{"column": c, "type": t} for c, t in previous_schema.items()]},
    )
    failures = gate.check(raw.drop(CORRUPT_RECORD), SOURCE_SUITE, source_checks)
    if failures:
        gate.finish("failed", {}, failures)

    # 2. Row rules, translated from the row suite: one pass, persisted (see split_batch).
    now = dt.datetime.now(dt.timezone.utc)
    row_checks = resolve(load_suite(ROW_SUITE), *row_parameters(config.events.types, settings, now))
    with split_batch(to_events(raw, config.input, keep_raw=True), row_checks) as flagged:
        root = config.lakehouse.root
        events_uri, quarantine_uri = table_uri(root, EVENTS), table_uri(root, QUARANTINE)
        commit = {"run_id": ctx.run_id, "run_date": ctx.run_date.isoformat(), "stage": "validate"}
        # Quarantine is written for rejected batches too (nothing downstream reads it): people need the rows.
        # Its scan of every row also counts what the batch rules and the report need (rules: on its rows only).
        totals, per_rule = Observation("batch_totals"), Observation("rule_counts")
        quarantined = quarantine_rows(flagged.observe(totals, *batch_totals()), ctx.run_id, ctx.run_date)
        write_delta(
            quarantined.observe(per_rule, *rule_counts(rule_names(row_checks))),
            quarantine_uri,
            replace_where=f"{RUN_DATE} = '{ctx.run_date}'",
            metadata=commit,
        )
        tally = {**totals.get, **per_rule.get}
        counts = reason_counts(tally)

        # 3. Batch rules in Great Expectations, on those figures, before anything downstream is written.
        previous_rows = previous["raw_rows"] if previous else None
        batch_checks = resolve(load_suite(BATCH_SUITE), batch_parameters(settings, previous_rows, ctx.run_date))
        failures = gate.check(batch_summary(spark, counts, tally[NEWEST_VALID_EVENT]), BATCH_SUITE, batch_checks)
        if counts["raw_rows"] == 0:  # every other batch rule fails on nothing: name the cause only
            failures = [f for f in failures if f["rule"] == "empty_input"]
        if failures:
            gate.finish("failed", counts, failures)
        valid_events = flagged.where(F.col(VALID)).select(*EVENT_COLUMNS)
        write_delta(valid_events, events_uri, metadata=commit, properties=EVENTS_PROPERTIES)

    written = last_commit_rows(spark, events_uri) + last_commit_rows(spark, quarantine_uri)
    if written != counts["raw_rows"]:
        lost = failure("rows_lost", f"raw rows {counts['raw_rows']} = valid + quarantined", f"{written} written")
        gate.finish("failed", counts, [lost])
    gate.finish("succeeded", counts)
    return StageResult(
        counts=counts,
        tables={"events": events_uri, "quarantine": quarantine_uri, "validation_runs": gate.runs_uri},
        details={"validation": {"report": gate.report_path, "data_docs": gate.gx.index_html}},
    )


STAGE = Stage("validate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake validate", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
