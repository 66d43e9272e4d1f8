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

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from reclake.config import CatalogueSection, Config
from reclake.constants import ITEM_ID
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import InputError
from reclake.features.content import content_features
from reclake.io.raw import read_raw, unreadable_files_as_input_errors
from reclake.io.tables import CATALOGUE, CATALOGUE_QUARANTINE, EVENTS, QUARANTINE, VALIDATION_RUNS
from reclake.quality.batch import source_schema
from reclake.quality.record import ValidationRecord, check_events_layout, previous_success, reports_dir
from reclake.quality.steps import check_source, validate_catalogue, validate_events
from reclake.runner import run_job
from reclake.uris import local_folder


@dataclass
class ValidateResult(StageResult):
    """Where this run's JSON result and the Great Expectations Data Docs are."""

    report: str = ""
    data_docs: str | None = None

    def summary_fields(self) -> dict[str, object]:
        return {"validation": {"report": self.report, "data_docs": self.data_docs}}


def run(spark: SparkSession, config: Config, ctx: RunContext) -> ValidateResult:
    """Read the run date's raw batch (and the item catalogue, if configured); write ``quarantine``, ``events``,
    ``catalogue``, ``catalogue_quarantine`` and a ``validation_runs`` row. A file Spark cannot decode stops it with
    an InputError naming the file."""
    root = config.lakehouse.root
    with unreadable_files_as_input_errors():
        if config.incremental:
            check_events_layout(spark, root)
        raw = read_raw(spark, config.input, config.batch_path(ctx.run_date))
        folder = reports_dir(config.validation.reports_dir, root)
        input_path, docs = config.batch_path(ctx.run_date), config.validation.data_docs
        with ValidationRecord(
            spark, root, ctx, input_path=input_path, folder=folder, data_docs=docs, schema=source_schema(raw)
        ) as record:
            previous = previous_success(spark, root, ctx, incremental=config.incremental)
            catalogue_counts = {}
            if config.catalogue is not None:
                features = _content(config.catalogue)
                catalogue_counts = validate_catalogue(
                    spark, root, config.catalogue, config.validation, ctx, record, features
                )
            check_source(record, raw, config.input, previous)
            counts = validate_events(
                spark,
                root,
                raw,
                config.input,
                config.events.types,
                config.validation,
                ctx,
                record,
                previous,
                incremental=config.incremental,
            )
            record.finish("succeeded", counts | catalogue_counts)
    tables = [EVENTS, QUARANTINE, VALIDATION_RUNS] + ([CATALOGUE, CATALOGUE_QUARANTINE] if config.catalogue else [])
    return ValidateResult(
        counts=counts | catalogue_counts,
        tables={table.name: table.uri(root) for table in tables},
        report=record.report_path,
        data_docs=record.index_html,
    )


def _content(settings: CatalogueSection) -> Callable[[DataFrame], DataFrame]:
    """The valid catalogue rows -> the ``catalogue`` table: content features computed once, here."""
    return functools.partial(
        content_features,
        id_column=ITEM_ID,
        text_columns=settings.text_columns,
        tag_columns=settings.tag_columns,
        numeric_columns=settings.numeric_columns,
        flag_columns=settings.flag_columns,
        text_min_df=settings.text_min_df,
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


STAGE = Stage("validate", run, check=check_input, imports=("great_expectations",))  # ~5 s to import


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake validate", __doc__.splitlines()[0], [STAGE], argv)
