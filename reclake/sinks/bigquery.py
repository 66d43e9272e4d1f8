"""The BigQuery sink: stage one run as Parquet, then one load job replaces that run date's partition.

Spark writes the run's rows, laid out by user like the Delta table, under
``<staging_uri>/recommendations/run_date=YYYY-MM-DD/run_id=<run id>/``. A load job
then writes them to ``project.dataset.table$YYYYMMDD`` with WRITE_TRUNCATE: the
partition is replaced atomically, so re-running a date never duplicates it. The
table is created on first load, partitioned by day on ``run_date`` and clustered
by ``user_id``. Credentials come only from the environment (Application Default
Credentials, e.g. GOOGLE_APPLICATION_CREDENTIALS); they are never read from the
config or written to logs.
"""

from __future__ import annotations

import concurrent.futures
import re
from typing import Any

from google.api_core.exceptions import GoogleAPIError
from google.cloud import bigquery
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from reclake.config import BigQuerySection, PublishSection
from reclake.constants import RUN_DATE, USER_ID
from reclake.context import RunContext
from reclake.errors import SinkError
from reclake.io.layout import file_count, lay_out_for_lookup
from reclake.uris import join_uri, path_segment

_TYPES = {
    T.StringType: "STRING",
    T.IntegerType: "INT64",
    T.LongType: "INT64",
    T.ShortType: "INT64",
    T.FloatType: "FLOAT64",
    T.DoubleType: "FLOAT64",
    T.BooleanType: "BOOL",
    T.DateType: "DATE",
    T.TimestampType: "TIMESTAMP",
}


def bigquery_schema(schema: T.StructType) -> list[bigquery.SchemaField]:
    """The BigQuery schema of a Spark schema; a column type without a mapping is an error naming it."""
    fields = []
    for field in schema.fields:
        kind = _TYPES.get(type(field.dataType))
        if kind is None:
            raise SinkError(
                f"column {field.name} has type {field.dataType.simpleString()}, which the BigQuery sink does not map"
            )
        fields.append(bigquery.SchemaField(field.name, kind, mode="NULLABLE" if field.nullable else "REQUIRED"))
    return fields


def staging_path(staging_uri: str, run_date: Any, run_id: str) -> str:
    """Where one run's Parquet files go: one folder per run, so attempts never mix."""
    return join_uri(staging_uri, "recommendations", f"{RUN_DATE}={run_date}", f"run_id={path_segment(run_id)}")


def label_value(text: str) -> str:
    """A BigQuery label value: lowercase letters, digits, _ and -, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


def load_job_config(schema: list[bigquery.SchemaField], run_id: str) -> bigquery.LoadJobConfig:
    """Replace one day partition with Parquet files; create the table partitioned and clustered if new."""
    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=schema,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        time_partitioning=bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=RUN_DATE),
        clustering_fields=[USER_ID],
        labels={"reclake_run_id": label_value(run_id)},
    )


def make_client(settings: BigQuerySection) -> bigquery.Client:
    """A client authenticated from the environment only."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return bigquery.Client(project=settings.project, location=settings.location)
    except DefaultCredentialsError:
        raise SinkError(
            "no Google credentials in the environment: set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
            "key file or run `gcloud auth application-default login` (reclake never reads credentials from its config)"
        ) from None


def load_partition(
    client: bigquery.Client,
    source: str,
    settings: BigQuerySection,
    run_date: Any,
    job_config: bigquery.LoadJobConfig,
    expected_rows: int,
) -> dict[str, int]:
    """Run the load job for the Parquet files under ``source``; wait, check the row count, report."""
    destination = settings.destination(run_date)
    job = None
    try:
        job = client.load_table_from_uri(
            join_uri(source, "*.parquet"),
            destination,
            job_config=job_config,
            location=settings.location,
            project=settings.project,
        )
        try:
            job.result(timeout=settings.timeout_s)
        except concurrent.futures.TimeoutError:
            raise SinkError(
                f"BigQuery load job {job.job_id} into {destination} did not finish within {settings.timeout_s:.0f}s; "
                "it may still complete: check it with `bq show -j` before re-running"
            ) from None
    except GoogleAPIError as exc:
        job_id = f" (job {job.job_id})" if job is not None else ""
        details = "; ".join(e.get("message", "") for e in getattr(exc, "errors", None) or []) or str(exc)
        raise SinkError(f"BigQuery load into {destination} failed{job_id}: {details}") from None
    if job.output_rows != expected_rows:
        raise SinkError(f"BigQuery load job {job.job_id} wrote {job.output_rows} rows, Spark staged {expected_rows}")
    return {"bigquery_rows": int(job.output_rows), "bigquery_files": int(job.input_files or 0)}


def publish_to_bigquery(
    staged: DataFrame, rows: int, settings: PublishSection, ctx: RunContext, client: bigquery.Client | None = None
) -> dict[str, int]:
    """Stage ``staged`` (``rows`` rows) as Parquet and load it into its run-date partition; return the counts."""
    target = settings.bigquery_target
    client = client or make_client(target)  # before the Spark write: fail fast without credentials
    source = staging_path(target.staging_uri, ctx.run_date, ctx.run_id)
    lay_out_for_lookup(staged, USER_ID, file_count(rows, settings.target_file_rows)).write.mode("overwrite").parquet(
        source
    )
    config = load_job_config(bigquery_schema(staged.schema), ctx.run_id)
    return {"rows": rows, **load_partition(client, source, target, ctx.run_date, config, rows)}
