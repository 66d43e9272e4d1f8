"""Validate raw events: good rows go on, bad rows are quarantined with the reason.

The rules live in Great Expectations suites shipped in reclake/quality/suites/:

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

With a ``catalogue`` section the item catalogue is validated first, the same way
with its own suites (``catalogue.source``, ``catalogue.rows``: missing, invalid or
repeated item ids; ``catalogue.batch``: empty, quarantined share): bad rows go to
``catalogue_quarantine`` with the reasons, and the valid rows replace the
``catalogue`` table with their content features (reclake/content.py), computed
once here for every later stage. A rejected catalogue stops the run before the
events are read.

With ``{run_date}`` in ``input.path`` a run validates that date's batch only and
replaces only that date's partition of ``events`` (partitioned by ``ingest_date``),
so re-running or backfilling a date neither duplicates nor loses rows; the volume
and schema rules compare with the latest successful batch of an earlier date.
Without it the whole input is one batch that replaces all of ``events``.

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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, Row, SparkSession
from pyspark.sql import functions as F

from reclake.config import CatalogueSection, Config
from reclake.constants import EVENT_COLUMNS, EVENT_TIME, INGEST_DATE, ITEM_ID, RUN_DATE, RUN_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import ConfigError, InputError, ValidationFailed
from reclake.faults import fault_point
from reclake.features.content import content_features
from reclake.io.lakehouse import delta_exists, last_commit_rows, partition_columns, path_exists, write_delta
from reclake.io.raw import CORRUPT_RECORD, read_raw, to_events, unreadable_files_as_input_errors
from reclake.io.tables import CATALOGUE, CATALOGUE_QUARANTINE, EVENTS, QUARANTINE, VALIDATION_RUNS, table_uri
from reclake.quality.batch import (
    ID_PATTERNS,
    NEWEST_VALID_EVENT,
    VALID,
    batch_parameters,
    batch_summary,
    batch_totals,
    quarantine_rows,
    reason_counts,
    required_columns,
    row_parameters,
    rule_counts,
    source_schema,
    split_batch,
)
from reclake.quality.catalogue import catalogue_totals, flag_catalogue, valid_catalogue
from reclake.quality.gx import GxValidator, describe, failed_rules, failure
from reclake.quality.suites import (
    BATCH_SUITE,
    CATALOGUE_BATCH_SUITE,
    CATALOGUE_ROW_SUITE,
    CATALOGUE_SOURCE_SUITE,
    ROW_SUITE,
    SOURCE_SUITE,
    load_suite,
    resolve,
    rule_names,
)
from reclake.runner import run_job
from reclake.uris import join_uri, local_folder

# Readers filter events by event_time only (recommend's seen window): file statistics on the ids and
# types would cost a quarter of the write (4.8M rows: 2.6 s with them, 1.7-2.1 s without) for nothing.
EVENTS_PROPERTIES = {"delta.dataSkippingStatsColumns": EVENT_TIME}


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


def previous_success(spark: SparkSession, runs_uri: str, ctx: RunContext, *, incremental: bool) -> Row | None:
    """The successful validate run this batch is compared with, or None on a first run.

    A whole-input run compares with the latest successful run other than itself.
    A run of one date's batch compares with the latest successful batch of an
    earlier date, so re-running or backfilling a date never compares it with itself
    or with a later day.
    """
    if not delta_exists(spark, runs_uri):
        return None
    runs = spark.read.format("delta").load(runs_uri)
    done = runs.where((F.col("status") == "succeeded") & (F.col(RUN_ID) != ctx.run_id))
    if incremental:
        earlier = done.where(F.col(RUN_DATE) < F.lit(ctx.run_date))
        return earlier.orderBy(F.col(RUN_DATE).desc(), F.col("validated_at").desc()).first()
    return done.orderBy(F.col("validated_at").desc()).first()


def check_events_layout(spark: SparkSession, events_uri: str) -> None:
    """A date's batch replaces its own partition: an ``events`` table without ingest dates cannot take it."""
    if not delta_exists(spark, events_uri):
        return
    if partition_columns(spark, events_uri) != [INGEST_DATE]:
        raise ConfigError(
            f"{events_uri} is not partitioned by {INGEST_DATE} (written before ingest dates existed): run one "
            "whole-input validate (input.path without {run_date}) or remove the table, then run the dates"
        )


class _Gate:
    """One validate run's bookkeeping: the report, the validation_runs row, the failure message."""

    def __init__(self, spark: SparkSession, config: Config, ctx: RunContext, schema: dict[str, str]) -> None:
        self.spark, self.config, self.ctx = spark, config, ctx
        self.input = config.batch_path(ctx.run_date)
        folder = reports_dir(config)
        self.report_path = str(Path(folder) / "results" / f"{ctx.run_id}.json")
        self.gx = GxValidator(str(Path(folder) / "data_docs") if config.validation.data_docs else None)
        self.runs_uri = table_uri(config.lakehouse.root, VALIDATION_RUNS)
        self.report: dict[str, Any] = {
            "run_id": ctx.run_id,
            "run_date": ctx.run_date.isoformat(),
            "input": self.input,
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
            self.input,
            json.dumps(self.report["source_schema"], sort_keys=True),
        )
        write_delta(self.spark.createDataFrame([row], RUNS_SCHEMA), self.runs_uri, mode="append")
        if failures:
            rules = "; ".join(describe(f) for f in failures)
            raise ValidationFailed(
                f"batch rejected, nothing written downstream: {rules} (input {self.input}; report {self.report_path})",
                counts=counts,
            )


def commit_metadata(ctx: RunContext) -> dict[str, str]:
    """What every Delta commit of this stage records: which run wrote it, for which date."""
    return {"run_id": ctx.run_id, "run_date": ctx.run_date.isoformat(), "stage": "validate"}


def write_quarantine(
    flagged: DataFrame, totals: list[Column], row_checks: list[dict[str, Any]], uri: str, ctx: RunContext, *, name: str
) -> dict[str, int]:
    """Write a flagged batch's quarantined rows for the run date; return the figures that one scan observed.

    The write's scan of every row also observes ``totals`` (what the batch rules and
    the report need) and, on the quarantined rows only, the count per row rule.
    """
    seen, per_rule = Observation(f"{name}_totals"), Observation(f"{name}_rules")
    quarantined = quarantine_rows(flagged.observe(seen, *totals), ctx.run_id, ctx.run_date)
    write_delta(
        quarantined.observe(per_rule, *rule_counts(rule_names(row_checks))),
        uri,
        replace_where=f"{RUN_DATE} = '{ctx.run_date}'",
        metadata=commit_metadata(ctx),
    )
    return {**seen.get, **per_rule.get}


def validate_catalogue(
    spark: SparkSession, config: Config, settings: CatalogueSection, ctx: RunContext, gate: _Gate
) -> dict[str, int]:
    """Split the catalogue by its suites, write ``catalogue`` (with content) and its quarantine; return the counts.

    Counts are ``catalogue_``-prefixed. A failed batch rule stops the run (``gate.finish``) before
    the ``catalogue`` table is replaced.
    """
    root = config.lakehouse.root
    catalogue_uri, quarantine_uri = table_uri(root, CATALOGUE), table_uri(root, CATALOGUE_QUARANTINE)
    if not path_exists(spark, settings.path):
        raise InputError(f"catalogue not found: {settings.path} (set catalogue.path, or remove the catalogue section)")
    raw = read_raw(spark, settings, settings.path)
    if not raw.columns:
        gate.finish(
            "failed", {}, [failure("catalogue_empty", "the catalogue has at least one row", "no header, no rows")]
        )
    required = {"required_columns": [settings.id_column, *settings.content_columns]}
    source_checks = resolve(load_suite(CATALOGUE_SOURCE_SUITE), required)
    failures = gate.check(raw.drop(CORRUPT_RECORD), CATALOGUE_SOURCE_SUITE, source_checks)
    if failures:
        gate.finish("failed", {}, failures)

    id_rules = {"id_max_length": config.validation.id_max_length, "id_regex": ID_PATTERNS[config.validation.id_charset]}
    row_checks = resolve(load_suite(CATALOGUE_ROW_SUITE), id_rules)
    flagged = flag_catalogue(raw, settings.id_column, row_checks).persist(StorageLevel.MEMORY_AND_DISK_DESER)
    try:
        counts = reason_counts(
            write_quarantine(flagged, catalogue_totals(), row_checks, quarantine_uri, ctx, name="catalogue")
        )
        prefixed = {f"catalogue_{name}": value for name, value in counts.items()}
        share = {"max_quarantine_share": config.validation.max_quarantine_share}
        batch_checks = resolve(load_suite(CATALOGUE_BATCH_SUITE), share)
        failures = gate.check(batch_summary(spark, counts, None), CATALOGUE_BATCH_SUITE, batch_checks)
        if counts["raw_rows"] == 0:
            failures = [f for f in failures if f["rule"] == "catalogue_empty"]
        if failures:
            gate.finish("failed", prefixed, failures)
        content = content_features(
            valid_catalogue(flagged, settings.content_columns),
            id_column=ITEM_ID,
            text_columns=settings.text_columns,
            tag_columns=settings.tag_columns,
            numeric_columns=settings.numeric_columns,
            flag_columns=settings.flag_columns,
        )
        write_delta(content, catalogue_uri, metadata={"run_id": ctx.run_id, "stage": "validate"})
    finally:
        flagged.unpersist()
    written = last_commit_rows(spark, catalogue_uri) + last_commit_rows(spark, quarantine_uri)
    if written != counts["raw_rows"]:
        lost = failure(
            "catalogue_rows_lost", f"raw rows {counts['raw_rows']} = valid + quarantined", f"{written} written"
        )
        gate.finish("failed", prefixed, [lost])
    return prefixed


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Validate the run date's batch; a file Spark cannot decode stops it with an InputError naming the file."""
    with unreadable_files_as_input_errors():
        return _validate(spark, config, ctx)


def _validate(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    settings = config.validation
    root = config.lakehouse.root
    events_uri, quarantine_uri = table_uri(root, EVENTS), table_uri(root, QUARANTINE)
    if config.incremental:
        check_events_layout(spark, events_uri)
    raw = read_raw(spark, config.input, config.batch_path(ctx.run_date))
    schema = source_schema(raw)
    gate = _Gate(spark, config, ctx, schema)
    previous = previous_success(spark, gate.runs_uri, ctx, incremental=config.incremental)
    catalogue_counts = (
        {} if config.catalogue is None else validate_catalogue(spark, config, config.catalogue, ctx, gate)
    )
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
        # Quarantine is written for rejected batches too (nothing downstream reads it): people need the rows.
        tally = write_quarantine(flagged, batch_totals(), row_checks, quarantine_uri, ctx, name="batch")
        fault_point("validate", "after_quarantine")
        counts = reason_counts(tally)

        # 3. Batch rules in Great Expectations, on those figures, before anything downstream is written.
        previous_rows = previous["raw_rows"] if previous else None
        batch_checks = resolve(load_suite(BATCH_SUITE), batch_parameters(settings, previous_rows, ctx.run_date))
        failures = gate.check(batch_summary(spark, counts, tally[NEWEST_VALID_EVENT]), BATCH_SUITE, batch_checks)
        if counts["raw_rows"] == 0:  # every other batch rule fails on nothing: name the cause only
            failures = [f for f in failures if f["rule"] == "empty_input"]
        if failures:
            gate.finish("failed", counts, failures)
        valid_events = flagged.where(F.col(VALID)).select(*EVENT_COLUMNS, F.lit(ctx.run_date).alias(INGEST_DATE))
        # One date's batch replaces that date's partition only; the whole input replaces the whole table.
        this_date = f"{INGEST_DATE} = '{ctx.run_date}'" if config.incremental else None
        write_delta(
            valid_events,
            events_uri,
            replace_where=this_date,
            partition_by=[INGEST_DATE],
            metadata=commit_metadata(ctx),
            properties=EVENTS_PROPERTIES,
        )

    written = last_commit_rows(spark, events_uri) + last_commit_rows(spark, quarantine_uri)
    if written != counts["raw_rows"]:
        lost = failure("rows_lost", f"raw rows {counts['raw_rows']} = valid + quarantined", f"{written} written")
        gate.finish("failed", counts, [lost])
    gate.finish("succeeded", counts | catalogue_counts)
    tables = {"events": events_uri, "quarantine": quarantine_uri, "validation_runs": gate.runs_uri}
    if config.catalogue is not None:
        tables |= {CATALOGUE: table_uri(root, CATALOGUE), CATALOGUE_QUARANTINE: table_uri(root, CATALOGUE_QUARANTINE)}
    return StageResult(
        counts=counts | catalogue_counts,
        tables=tables,
        details={"validation": {"report": gate.report_path, "data_docs": gate.gx.index_html}},
    )


def check_input(config: Config, ctx: RunContext) -> None:
    """A local input that is missing or unreadable is refused before anything is written (URIs: at read time)."""
    folder = local_folder(config.batch_path(ctx.run_date))
    if folder is None or config.input.generate_if_missing:  # `run` may generate it first
        return
    unreadable = InputError(f"input not readable: {folder} (permission denied for this user; see input.path)")
    try:
        if not folder.exists():
            raise InputError(f"input not found: {folder} (set input.path or pass --input)")
        readable = os.access(folder, os.R_OK | (os.X_OK if folder.is_dir() else 0))
    except PermissionError:  # a parent folder this user may not enter
        raise unreadable from None
    if not readable:
        raise unreadable


STAGE = Stage("validate", run, check=check_input)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake validate", __doc__.splitlines()[0], [STAGE], argv)
