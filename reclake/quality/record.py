"""What one validate run records: its JSON report, its ``validation_runs`` row, and the refusal of a bad batch.

Also the two questions validate asks the lakehouse before it starts: which
earlier successful run a batch is compared with (``validation_runs``), and
whether ``events`` can take one date's batch (partitioned by ``ingest_date``).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from reclake.constants import INGEST_DATE, RUN_DATE, RUN_ID
from reclake.context import RunContext
from reclake.errors import ConfigError, ValidationFailed
from reclake.io import catalogue
from reclake.io.lakehouse import upload_folder
from reclake.io.tables import EVENTS, VALIDATION_RUNS
from reclake.quality.gx import GxValidator, describe, failed_rules, failure
from reclake.uris import join_uri, local_folder


def reports_dir(configured: str | None, lakehouse_root: str) -> str:
    """Where the JSON results and Data Docs go: ``validation.reports_dir``, else ``<lakehouse>/_validation``.

    An object-store folder (the default for an S3 lakehouse) is written locally first and uploaded
    when the run finishes (GX renders Data Docs to local disk only): :class:`ValidationRecord`.
    """
    folder = configured or join_uri(lakehouse_root, "_validation")
    return str(local_folder(folder)) if local_folder(folder) is not None else folder


def previous_success(spark: SparkSession, root: str, ctx: RunContext, *, incremental: bool) -> Row | None:
    """The successful validate run this batch is compared with, or None on a first run.

    A whole-input run compares with the latest successful run other than itself.
    A run of one date's batch compares with the latest successful batch of an
    earlier date, so re-running or backfilling a date never compares it with itself
    or with a later day.
    """
    runs = catalogue.read_if_exists(spark, root, VALIDATION_RUNS)
    if runs is None:
        return None
    done = runs.where((F.col("status") == "succeeded") & (F.col(RUN_ID) != ctx.run_id))
    if incremental:
        earlier = done.where(F.col(RUN_DATE) < F.lit(ctx.run_date))
        return earlier.orderBy(F.col(RUN_DATE).desc(), F.col("validated_at").desc()).first()
    return done.orderBy(F.col("validated_at").desc()).first()


def check_events_layout(spark: SparkSession, root: str) -> None:
    """A date's batch replaces its own partition: an ``events`` table without ingest dates cannot take it."""
    if not catalogue.exists(spark, root, EVENTS):
        return
    if catalogue.partitioning(spark, root, EVENTS) != [INGEST_DATE]:
        raise ConfigError(
            f"{EVENTS.uri(root)} is not partitioned by {INGEST_DATE} (written before ingest dates existed): run one "
            "whole-input validate (input.path without {run_date}) or remove the table, then run the dates"
        )


class ValidationRecord:
    """One validate run's bookkeeping: the report, the validation_runs row, the failure message.

    A context manager: a remote reports folder is stood in for by a local temporary one (uploaded by
    :meth:`finish`), removed when the block ends.
    """

    def __init__(
        self,
        spark: SparkSession,
        root: str,
        ctx: RunContext,
        *,
        input_path: str,
        folder: str,
        data_docs: bool,
        schema: dict[str, str],
    ) -> None:
        self.spark, self.root, self.ctx, self.input = spark, root, ctx, input_path
        # A remote folder: GX and the JSON result write to a local one, uploaded there by finish().
        self.remote = folder if local_folder(folder) is None else None
        self.local = tempfile.mkdtemp(prefix="reclake-validation-") if self.remote is not None else folder
        self.report_path = join_uri(folder, "results", f"{ctx.run_id}.json")
        self.gx = GxValidator(str(Path(self.local) / "data_docs") if data_docs else None)
        self.report: dict[str, Any] = {
            "run_id": ctx.run_id,
            "run_date": ctx.run_date.isoformat(),
            "input": input_path,
            "source_schema": schema,
            "counts": {},
            "batch_failures": [],
            "great_expectations": {},
        }

    def __enter__(self) -> ValidationRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the local folder that stood in for a remote one, whether the run finished or not."""
        if self.remote is not None:
            shutil.rmtree(self.local, ignore_errors=True)

    @property
    def index_html(self) -> str | None:
        """The Data Docs' index page where it ends up (the remote folder's for an object store)."""
        if self.gx.index_html is None or self.remote is None:
            return self.gx.index_html
        return join_uri(self.remote, "data_docs", "index.html")

    def check(self, df: DataFrame, suite: str, expectations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a batch suite in GX, keep its result for the report, return the failed rules."""
        result = self.gx.validate(df, suite, expectations)
        self.report["great_expectations"][suite] = result.to_json_dict()
        return failed_rules(result)

    def check_nothing_lost(self, rule: str, raw_rows: int, written: int, counts: Mapping[str, int]) -> None:
        """Fail ``rule`` (recording ``counts``) unless raw rows = the rows written (valid + quarantined)."""
        if written != raw_rows:
            lost = failure(rule, f"raw rows {raw_rows} = valid + quarantined", f"{written} written")
            self.finish("failed", counts, [lost])

    def finish(self, status: str, counts: Mapping[str, int], failures: Sequence[Mapping[str, Any]] = ()) -> None:
        """Save the JSON report and the validation_runs row; raise ValidationFailed for a failed batch."""
        self.report.update(status=status, counts=dict(counts), batch_failures=list(failures))
        self.report["data_docs"] = self.index_html
        path = Path(self.local) / "results" / f"{self.ctx.run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.report, indent=2, default=str, sort_keys=True))
        if self.remote is not None:
            upload_folder(self.spark, self.local, self.remote)
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
        frame = catalogue.rows(self.spark, VALIDATION_RUNS, [row])
        catalogue.write(frame, self.root, VALIDATION_RUNS, self.ctx, mode="append")
        if failures:
            rules = "; ".join(describe(f) for f in failures)
            raise ValidationFailed(
                f"batch rejected, nothing written downstream: {rules} (input {self.input}; report {self.report_path})",
                counts=counts,
            )
