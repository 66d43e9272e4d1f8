"""Validate's steps between reading a batch and writing it: each runs a suite, writes through the catalogue.

The events and the item catalogue go the same way: the source suite on the
columns as read, the row suite in one pass (bad rows to the quarantine table,
with the figures the batch suite needs observed on that write), the batch
suite on those figures, then the valid rows, then raw = valid + quarantined
from the written commits. A failed suite stops the run through
:class:`~reclake.quality.record.ValidationRecord`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, Row, SparkSession
from pyspark.sql import functions as F

from reclake.config import CatalogueSection, EventType, InputSection, ValidationSection
from reclake.constants import EVENT_COLUMNS, INGEST_DATE, RUN_DATE
from reclake.context import RunContext
from reclake.errors import InputError
from reclake.faults import fault_point
from reclake.io import catalogue
from reclake.io.lakehouse import path_exists
from reclake.io.raw import CORRUPT_RECORD, read_raw, to_events
from reclake.io.tables import CATALOGUE, CATALOGUE_QUARANTINE, EVENTS, QUARANTINE, Table
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
    split_batch,
)
from reclake.quality.catalogue import catalogue_totals, flag_catalogue, valid_catalogue
from reclake.quality.gx import failure
from reclake.quality.record import ValidationRecord
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


def write_quarantine(
    flagged: DataFrame,
    totals: list[Column],
    row_checks: list[dict[str, Any]],
    root: str,
    table: Table,
    ctx: RunContext,
    *,
    name: str,
) -> dict[str, int]:
    """Write a flagged batch's quarantined rows for the run date; return the figures that one scan observed.

    The write's scan of every row also observes ``totals`` (what the batch rules and
    the report need) and, on the quarantined rows only, the count per row rule.
    """
    seen, per_rule = Observation(f"{name}_totals"), Observation(f"{name}_rules")
    quarantined = quarantine_rows(flagged.observe(seen, *totals), ctx.run_id, ctx.run_date)
    catalogue.write(
        quarantined.observe(per_rule, *rule_counts(rule_names(row_checks))),
        root,
        table,
        ctx,
        replace_where=f"{RUN_DATE} = '{ctx.run_date}'",
    )
    return {**seen.get, **per_rule.get}


def validate_catalogue(
    spark: SparkSession,
    root: str,
    settings: CatalogueSection,
    rules: ValidationSection,
    ctx: RunContext,
    record: ValidationRecord,
    features: Callable[[DataFrame], DataFrame],
) -> dict[str, int]:
    """Split the catalogue by its suites, write ``catalogue`` (with content) and its quarantine; return the counts.

    ``features`` turns the valid rows (item_id, the content columns) into the
    ``catalogue`` table's rows (reclake/features/content.py). Counts are ``catalogue_``-prefixed. A failed batch rule stops the run (``record.finish``) before
    the ``catalogue`` table is replaced.
    """
    if not path_exists(spark, settings.path):
        raise InputError(f"catalogue not found: {settings.path} (set catalogue.path, or remove the catalogue section)")
    raw = read_raw(spark, settings, settings.path)
    if not raw.columns:
        record.finish(
            "failed", {}, [failure("catalogue_empty", "the catalogue has at least one row", "no header, no rows")]
        )
    required = {"required_columns": [settings.id_column, *settings.content_columns]}
    source_checks = resolve(load_suite(CATALOGUE_SOURCE_SUITE), required)
    failures = record.check(raw.drop(CORRUPT_RECORD), CATALOGUE_SOURCE_SUITE, source_checks)
    if failures:
        record.finish("failed", {}, failures)

    id_rules = {"id_max_length": rules.id_max_length, "id_regex": ID_PATTERNS[rules.id_charset]}
    row_checks = resolve(load_suite(CATALOGUE_ROW_SUITE), id_rules)
    flagged = flag_catalogue(raw, settings.id_column, row_checks).persist(StorageLevel.MEMORY_AND_DISK_DESER)
    try:
        tally = write_quarantine(
            flagged, catalogue_totals(), row_checks, root, CATALOGUE_QUARANTINE, ctx, name="catalogue"
        )
        counts = reason_counts(tally)
        prefixed = {f"catalogue_{name}": value for name, value in counts.items()}
        share = {"max_quarantine_share": rules.max_quarantine_share}
        batch_checks = resolve(load_suite(CATALOGUE_BATCH_SUITE), share)
        failures = record.check(batch_summary(spark, counts, None), CATALOGUE_BATCH_SUITE, batch_checks)
        if counts["raw_rows"] == 0:
            failures = [f for f in failures if f["rule"] == "catalogue_empty"]
        if failures:
            record.finish("failed", prefixed, failures)
        catalogue.write(features(valid_catalogue(flagged, settings.content_columns)), root, CATALOGUE, ctx)
    finally:
        flagged.unpersist()
    written = sum(catalogue.rows_written(spark, root, table, ctx) for table in (CATALOGUE, CATALOGUE_QUARANTINE))
    record.check_nothing_lost("catalogue_rows_lost", counts["raw_rows"], written, prefixed)
    return prefixed


def check_source(record: ValidationRecord, raw: DataFrame, settings: InputSection, previous: Row | None) -> None:
    """The columns as read: missing columns, and drift since the run ``previous`` (a first run has none)."""
    if not raw.columns:
        empty = failure("empty_input", "the input has at least one row", "no header, no rows")
        record.finish("failed", {"raw_rows": 0}, [empty])
    previous_schema = json.loads(previous["source_schema"]) if previous else {}
    source_checks = resolve(
        load_suite(SOURCE_SUITE),
        {"required_columns": required_columns(settings), "previous_columns": list(previous_schema) or None},
        {"previous_column": [{"column": c, "type": t} for c, t in previous_schema.items()]},
    )
    failures = record.check(raw.drop(CORRUPT_RECORD), SOURCE_SUITE, source_checks)
    if failures:
        record.finish("failed", {}, failures)


def validate_events(
    spark: SparkSession,
    root: str,
    raw: DataFrame,
    source: InputSection,
    event_types: Mapping[str, EventType],
    rules: ValidationSection,
    ctx: RunContext,
    record: ValidationRecord,
    previous: Row | None,
    *,
    incremental: bool,
) -> dict[str, int]:
    """Row rules, then batch rules; write ``quarantine`` and (a batch that passed) ``events``; return the counts.

    One date's batch (``incremental``) replaces that date's partition of ``events``
    only; the whole input replaces the whole table.
    """
    # Row rules, translated from the row suite: one pass, persisted (see split_batch).
    now = dt.datetime.now(dt.timezone.utc)
    row_checks = resolve(load_suite(ROW_SUITE), *row_parameters(event_types, rules, now))
    with split_batch(to_events(raw, source, keep_raw=True), row_checks) as flagged:
        # Quarantine is written for rejected batches too (nothing downstream reads it): people need the rows.
        tally = write_quarantine(flagged, batch_totals(), row_checks, root, QUARANTINE, ctx, name="batch")
        fault_point("validate", "after_quarantine")
        counts = reason_counts(tally)

        # Batch rules in Great Expectations, on those figures, before anything downstream is written.
        previous_rows = previous["raw_rows"] if previous else None
        batch_checks = resolve(load_suite(BATCH_SUITE), batch_parameters(rules, previous_rows, ctx.run_date))
        failures = record.check(batch_summary(spark, counts, tally[NEWEST_VALID_EVENT]), BATCH_SUITE, batch_checks)
        if counts["raw_rows"] == 0:  # every other batch rule fails on nothing: name the cause only
            failures = [f for f in failures if f["rule"] == "empty_input"]
        if failures:
            record.finish("failed", counts, failures)
        valid_events = flagged.where(F.col(VALID)).select(*EVENT_COLUMNS, F.lit(ctx.run_date).alias(INGEST_DATE))
        this_date = f"{INGEST_DATE} = '{ctx.run_date}'" if incremental else None
        catalogue.write(valid_events, root, EVENTS, ctx, replace_where=this_date)

    written = sum(catalogue.rows_written(spark, root, table, ctx) for table in (EVENTS, QUARANTINE))
    record.check_nothing_lost("rows_lost", counts["raw_rows"], written, counts)
    return counts
