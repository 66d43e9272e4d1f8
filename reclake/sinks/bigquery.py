"""The BigQuery sink: stage one run as Parquet, load it, then one transaction replaces that run date's rows.

Spark writes the run's rows, laid out by user like the Delta table, under
``<staging_uri>/recommendations/run_date=YYYY-MM-DD/run_id=<run id>/``. One load job
per run date writes them to a scratch table of the run (from ``gs://``, or, for a
local staging folder, sent with the job itself); then one multi-statement
transaction deletes the date's rows and inserts the scratch table's, so readers see
the old date or the new one, never both and never neither, and re-running a date
never duplicates it. The scratch table is dropped afterwards. A rollback of a date
(``reclake rollback``) loads the staged files of the run its date held before its
last publish the same way (they stay under ``staging_uri`` until a lifecycle rule
expires them). Not a load into the
``table$YYYYMMDD`` partition: BigQuery emulators refuse partition decorators, and a
transaction is atomic on both. The table is created on first publish, partitioned by
day on ``run_date`` and clustered by ``user_id``. Credentials come only from the
environment (Application Default Credentials, e.g. GOOGLE_APPLICATION_CREDENTIALS);
they are never read from the config or written to logs. With ``api_endpoint`` set
(an emulator) and none in the environment, requests are anonymous.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq
from google.api_core.exceptions import GoogleAPIError
from google.cloud import bigquery
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from reclake.config import BigQuerySection, PublishSection
from reclake.constants import RUN_DATE, USER_ID
from reclake.context import RunContext
from reclake.errors import MissingTableError, SinkError
from reclake.io.layout import file_count, lay_out_for_lookup
from reclake.uris import join_uri, local_folder, path_segment

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
    """Fill the run's scratch table with the staged Parquet files, replacing whatever an earlier attempt left."""
    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        schema=schema,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        labels={"reclake_run_id": label_value(run_id)},
    )


def table_definition(settings: BigQuerySection, schema: list[bigquery.SchemaField]) -> bigquery.Table:
    """The published table: partitioned by day on run date (replacing a date touches one partition), clustered
    by user (a lookup reads one block)."""
    table = bigquery.Table(settings.table_id, schema=schema)
    table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=RUN_DATE)
    table.clustering_fields = [USER_ID]
    return table


def scratch_table(settings: BigQuerySection, run_id: str) -> str:
    """The table one run loads into before its transaction: one per run, so attempts never mix."""
    return f"{settings.table_id}__load_{re.sub(r'[^A-Za-z0-9_]', '_', run_id)}"


def replace_date_script(settings: BigQuerySection, run_date: Any, columns: list[str], scratch: str) -> str:
    """One transaction: the date's rows out, the scratch table's in; readers never see a half-replaced date."""
    table, names = f"`{settings.table_id}`", ", ".join(columns)
    return (
        "BEGIN TRANSACTION;\n"
        f"{delete_date_script(settings, run_date)};\n"
        f"INSERT INTO {table} ({names}) SELECT {names} FROM `{scratch}`;\n"
        "COMMIT TRANSACTION;"
    )


def make_client(settings: BigQuerySection) -> bigquery.Client:
    """A client authenticated from the environment only; anonymous at an ``api_endpoint`` without credentials."""
    import google.auth
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError

    try:
        if settings.api_endpoint is None:
            return bigquery.Client(project=settings.project, location=settings.location)
        try:
            credentials, _ = google.auth.default()
        except DefaultCredentialsError:
            credentials = AnonymousCredentials()
        return bigquery.Client(
            project=settings.project,
            location=settings.location,
            credentials=credentials,
            client_options=ClientOptions(api_endpoint=settings.api_endpoint),
        )
    except DefaultCredentialsError:
        raise SinkError(
            "no Google credentials in the environment: set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
            "key file or run `gcloud auth application-default login` (reclake never reads credentials from its config)"
        ) from None


@contextlib.contextmanager
def one_upload(folder: Path) -> Iterator[IO[bytes]]:
    """The Parquet files in ``folder`` as one file, row group by row group: a load job takes one upload."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise SinkError(f"no staged Parquet files in {folder}")
    with tempfile.TemporaryFile() as out:
        with pq.ParquetWriter(out, pq.read_schema(files[0])) as writer:
            for path in files:
                source = pq.ParquetFile(path)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group))
        out.seek(0)
        yield out


def load_scratch(
    client: bigquery.Client, source: str, scratch: str, settings: BigQuerySection, job_config: bigquery.LoadJobConfig
) -> bigquery.LoadJob:
    """Start the one load job of a run date: BigQuery reads ``gs://``; a local folder's files go with the job."""
    folder = local_folder(source)
    if folder is None:
        return client.load_table_from_uri(
            join_uri(source, "*.parquet"),
            scratch,
            job_config=job_config,
            location=settings.location,
            project=settings.project,
        )
    with one_upload(folder) as upload:
        return client.load_table_from_file(
            upload, scratch, job_config=job_config, location=settings.location, project=settings.project
        )


def wait(job: Any, what: str, settings: BigQuerySection) -> None:
    """Wait for ``job``; a time-out says it may still finish."""
    try:
        job.result(timeout=settings.timeout_s)
    except concurrent.futures.TimeoutError:
        raise SinkError(
            f"BigQuery {what} job {job.job_id} did not finish within {settings.timeout_s:.0f}s; "
            "it may still complete: check it with `bq show -j` before re-running"
        ) from None


def replace_date(
    client: bigquery.Client,
    source: str,
    settings: BigQuerySection,
    ctx: RunContext,
    schema: list[bigquery.SchemaField],
    expected_rows: int,
) -> dict[str, int]:
    """Load the Parquet files under ``source`` into the run's scratch table, check the row count, replace the run
    date's rows with them in one transaction; drop the scratch table whatever happens."""
    destination, scratch = settings.destination(ctx.run_date), scratch_table(settings, ctx.run_id)
    job: bigquery.LoadJob | bigquery.QueryJob | None = None
    try:
        client.create_table(table_definition(settings, schema), exists_ok=True)
        job = load_scratch(client, source, scratch, settings, load_job_config(schema, ctx.run_id))
        wait(job, "load", settings)
        if job.output_rows != expected_rows:
            raise SinkError(
                f"BigQuery load job {job.job_id} wrote {job.output_rows} rows, Spark staged {expected_rows}"
            )
        script = replace_date_script(settings, ctx.run_date, [f.name for f in schema], scratch)
        job = client.query(script, location=settings.location, project=settings.project)
        wait(job, "replace", settings)
        return {"bigquery_rows": expected_rows}
    except GoogleAPIError as exc:
        job_id = f" (job {job.job_id})" if job is not None else ""
        details = "; ".join(e.get("message", "") for e in getattr(exc, "errors", None) or []) or str(exc)
        raise SinkError(f"BigQuery publish into {destination} failed{job_id}: {details}") from None
    finally:
        with contextlib.suppress(GoogleAPIError):  # it holds no published rows; a later attempt replaces it
            client.delete_table(scratch, not_found_ok=True)


def run_to_restore(events: Sequence[tuple[str, str, int]], run_date: Any) -> tuple[str, int] | None:
    """The run whose rows (run id, row count) a date held just before its last publish; None: it held none.

    ``events`` are the date's BigQuery publishes and rollbacks as (run id, ``publish`` or
    ``rollback``, rows), oldest first (the ``runs`` table). A rollback leaves what was there
    before the publish it undid, so rolling back twice restores the same rows, and after a
    rollback and a new publish, rolling back again returns to the rolled-back-to rows.
    """
    held: list[tuple[str, int] | None] = []  # what the date held after each event

    def before(index: int) -> tuple[str, int] | None:
        return held[index - 1] if index > 0 else None

    last_publish = -1
    for index, (run_id, kind, rows) in enumerate(events):
        if kind == "publish":
            held.append((run_id, rows))
            last_publish = index
        else:  # a rollback: back to before the publish it undid (none before it: it changed nothing)
            held.append(before(last_publish if last_publish >= 0 else index))
    if last_publish < 0:
        raise MissingTableError(f"no BigQuery publish for run date {run_date} in the runs table to roll back")
    return before(last_publish)


def delete_date_script(settings: BigQuerySection, run_date: Any) -> str:
    """The date's rows out, in one statement: a rollback of the date's first publish, and a publish's first step."""
    return f"DELETE FROM `{settings.table_id}` WHERE {RUN_DATE} = DATE '{run_date:%Y-%m-%d}'"


def restore_date(
    client: bigquery.Client, settings: BigQuerySection, ctx: RunContext, restore: tuple[str, int] | None
) -> dict[str, int]:
    """Replace the run date's rows with the staged files of the run ``restore`` names (through the publish's
    load job and transaction), or delete them when it names none or a run of no rows (nothing to load); return
    the rows the date now holds."""
    table = settings.table_id
    try:
        schema = client.get_table(table).schema
        if restore is None or not restore[1]:
            wait(
                client.query(delete_date_script(settings, ctx.run_date), location=settings.location), "delete", settings
            )
            return {"bigquery_rows": 0}
    except GoogleAPIError as exc:
        raise SinkError(f"BigQuery rollback of {settings.destination(ctx.run_date)} failed: {exc}") from None
    run_id, rows = restore
    return replace_date(client, staging_path(settings.staging_uri, ctx.run_date, run_id), settings, ctx, schema, rows)


def newest_model_version(client: bigquery.Client, settings: BigQuerySection) -> str | None:
    """The model version of the newest run date's rows: what the app teams' query serves."""
    table = f"`{settings.table_id}`"
    query = f"SELECT model_version FROM {table} WHERE {RUN_DATE} = (SELECT MAX({RUN_DATE}) FROM {table}) LIMIT 1"
    try:
        rows = list(client.query(query, location=settings.location).result(timeout=settings.timeout_s))
    except GoogleAPIError as exc:
        raise SinkError(f"BigQuery query of {table}'s newest run date failed: {exc}") from None
    return rows[0][0] if rows else None


def publish_to_bigquery(
    staged: DataFrame, rows: int, settings: PublishSection, ctx: RunContext, client: bigquery.Client | None = None
) -> dict[str, int]:
    """Stage ``staged`` (``rows`` rows) as Parquet and replace its run date's rows with it; return the counts."""
    target = settings.bigquery_target
    client = client or make_client(target)  # before the Spark write: fail fast without credentials
    source = staging_path(target.staging_uri, ctx.run_date, ctx.run_id)
    lay_out_for_lookup(staged, USER_ID, file_count(rows, settings.target_file_rows)).write.mode("overwrite").parquet(
        source
    )
    return {"rows": rows, **replace_date(client, source, target, ctx, bigquery_schema(staged.schema), rows)}
