"""The BigQuery sink, everything short of the network: schema, load-job config, staging layout, errors.

BigQuery is not reachable here, so the network client is the one fake, autospecced
from ``google.cloud.bigquery.Client`` (a misspelled method or keyword fails): it
records the load request and answers like a load job would (reading the staged
Parquet files to count rows) or fails like one. Spark, the Parquet staging and
google-auth's credential lookup are real.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import inspect
from pathlib import Path
from unittest.mock import create_autospec

import pyarrow.dataset as ds
import pytest
from google.api_core.exceptions import BadRequest, Forbidden
from google.cloud import bigquery
from pyspark.sql import types as T

from reclake.config import load_config
from reclake.context import RunContext
from reclake.errors import ConfigError
from reclake.io.lakehouse import write_delta
from reclake.io.layout import RECOMMENDATION_COLUMNS
from reclake.io.tables import STAGED_RECOMMENDATIONS, table_uri
from reclake.sinks.bigquery import (
    SinkError,
    bigquery_schema,
    label_value,
    load_job_config,
    publish_to_bigquery,
    staging_path,
)
from reclake.stages import publish

D = dt.date(2026, 11, 23)
ROWS = [(f"u{u:02d}", r, f"i{u}.{r}", 1.0 / r, "als", "m1", D) for u in range(12) for r in (1, 2)]


def fake_client(error: Exception | None = None, rows_missing: int = 0) -> bigquery.Client:
    """``bigquery.Client`` autospecced: a misspelled method or keyword fails as it would on the real client.

    Its load_table_from_uri, the one call that needs the network, answers with an
    autospecced ``LoadJob`` whose result() reads the staged Parquet files to count
    rows (less ``rows_missing``) or raises ``error``; the mock records each call.
    """
    client = create_autospec(bigquery.Client, instance=True)

    def load_table_from_uri(source_uris, destination, **kwargs) -> bigquery.LoadJob:
        job = create_autospec(bigquery.LoadJob, instance=True)
        job.job_id, job.input_files, job.output_rows = "job_123", 0, None

        def result(timeout: float | None = None, **kwargs) -> bigquery.LoadJob:
            if error is not None:
                raise error
            files = sorted(Path(source_uris.removesuffix("/*.parquet")).glob("*.parquet"))
            job.input_files = len(files)
            job.output_rows = ds.dataset([str(f) for f in files]).count_rows() - rows_missing
            return job

        job.result.side_effect = result
        return job

    client.load_table_from_uri.side_effect = load_table_from_uri
    return client


def load_calls(client: bigquery.Client) -> list[dict]:
    """Each load_table_from_uri call the client got, its arguments by name (as the real signature binds them)."""
    signature = inspect.signature(bigquery.Client.load_table_from_uri)
    return [
        dict(signature.bind(client, *call.args, **call.kwargs).arguments)
        for call in client.load_table_from_uri.call_args_list
    ]


def settings(tmp_path: Path):
    return load_config(
        None,
        [
            "publish.sink=bigquery",
            "publish.target_file_rows=10",
            "publish.bigquery.project=acme-prod",
            "publish.bigquery.dataset=reclake",
            "publish.bigquery.table=recommendations",
            f"publish.bigquery.staging_uri={tmp_path / 'bucket' / 'staging'}",
            "publish.bigquery.location=EU",
        ],
    ).publish


@pytest.fixture
def staged(spark):
    return spark.createDataFrame(ROWS, list(RECOMMENDATION_COLUMNS)).select(*RECOMMENDATION_COLUMNS)


def test_schema_maps_spark_types_and_nullability():
    schema = T.StructType(
        [
            T.StructField("user_id", T.StringType(), False),
            T.StructField("rank", T.IntegerType(), True),
            T.StructField("score", T.DoubleType(), True),
            T.StructField("run_date", T.DateType(), False),
        ]
    )
    assert [(f.name, f.field_type, f.mode) for f in bigquery_schema(schema)] == [
        ("user_id", "STRING", "REQUIRED"),
        ("rank", "INT64", "NULLABLE"),
        ("score", "FLOAT64", "NULLABLE"),
        ("run_date", "DATE", "REQUIRED"),
    ]
    with pytest.raises(SinkError, match="column tags has type map<string,string>"):
        bigquery_schema(T.StructType([T.StructField("tags", T.MapType(T.StringType(), T.StringType()))]))


def test_load_job_replaces_one_day_partition_of_a_table_clustered_by_user():
    api = load_job_config([bigquery.SchemaField("user_id", "STRING")], "20261123-101500-ABC/1").to_api_repr()
    config = api["load"]
    assert config["sourceFormat"] == "PARQUET"
    assert config["writeDisposition"] == "WRITE_TRUNCATE" and config["createDisposition"] == "CREATE_IF_NEEDED"
    assert config["timePartitioning"] == {"type": "DAY", "field": "run_date"}
    assert config["clustering"] == {"fields": ["user_id"]}
    assert api["labels"] == {"reclake_run_id": "20261123-101500-abc_1"}
    assert label_value("x" * 100) == "x" * 63


def test_publish_stages_parquet_by_user_and_loads_the_run_date_partition(staged, tmp_path):
    sink = settings(tmp_path)
    client = fake_client()
    counts = publish_to_bigquery(staged, len(ROWS), sink, RunContext(D, "run-7"), client=client)
    assert counts == {"rows": 24, "bigquery_rows": 24, "bigquery_files": 3}

    staging = tmp_path / "bucket" / "staging" / "recommendations" / "run_date=2026-11-23" / "run_id=run-7"
    (call,) = load_calls(client)
    assert call["source_uris"] == f"{staging}/*.parquet"
    assert call["destination"] == "acme-prod.reclake.recommendations$20261123"
    assert call["location"] == "EU" and call["project"] == "acme-prod"
    fields = call["job_config"].schema
    assert [(f.name, f.field_type) for f in fields] == [
        ("user_id", "STRING"),
        ("rank", "INT64"),
        ("item_id", "STRING"),
        ("score", "FLOAT64"),
        ("source", "STRING"),
        ("model_version", "STRING"),
        ("run_date", "DATE"),
    ]

    files = sorted(staging.glob("*.parquet"))
    assert len(files) == 3  # ceil(24 rows / 10 per file)
    users_per_file = []
    for f in files:
        table = ds.dataset(str(f)).to_table()
        assert [c for c in table.column_names] == [f.name for f in fields]
        keys = list(zip(table["user_id"].to_pylist(), table["rank"].to_pylist()))
        assert keys == sorted(keys)
        users_per_file.append(set(table["user_id"].to_pylist()))
    assert sum(len(u) for u in users_per_file) == 12  # no user split across files
    staged_rows = [tuple(r.values()) for f in files for r in ds.dataset(str(f)).to_table().to_pylist()]
    assert sorted(staged_rows) == sorted(ROWS)


@pytest.mark.parametrize(
    ("job_kwargs", "message"),
    [
        (
            {"error": BadRequest("Error while reading data", errors=[{"message": "Schema mismatch: score"}])},
            r"recommendations\$20261123 failed \(job job_123\): Schema mismatch: score",
        ),
        ({"error": Forbidden("Access Denied: Table acme-prod:reclake.recommendations")}, "Access Denied"),
        ({"error": concurrent.futures.TimeoutError()}, "job_123 .* did not finish within 600s"),
        ({"rows_missing": 1}, "wrote 23 rows, Spark staged 24"),
    ],
)
def test_load_failures_become_errors_a_person_can_act_on(staged, tmp_path, job_kwargs, message):
    with pytest.raises(SinkError, match=message):
        publish_to_bigquery(
            staged, len(ROWS), settings(tmp_path), RunContext(D, "run-7"), client=fake_client(**job_kwargs)
        )


def test_the_fake_client_refuses_what_the_real_client_refuses():
    client = fake_client()
    with pytest.raises(TypeError, match="job_confg"):
        client.load_table_from_uri("gs://b/x/*.parquet", "p.d.t", job_confg=None)
    with pytest.raises(AttributeError, match="load_table_from_uris"):
        client.load_table_from_uris("gs://b/x/*.parquet", "p.d.t")
    job = client.load_table_from_uri("gs://b/x/*.parquet", "p.d.t", job_config=None, location="EU", project="p")
    with pytest.raises(AttributeError, match="output_row"):
        _ = job.output_row


def test_publish_without_credentials_fails_fast_before_staging(spark, run_cli, lakehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    write_delta(
        spark.createDataFrame(ROWS, list(RECOMMENDATION_COLUMNS)), table_uri(str(lakehouse), STAGED_RECOMMENDATIONS)
    )
    sets = [
        f"--set=publish.{key}"
        for key in ("sink=bigquery", "bigquery.project=p", "bigquery.dataset=d", "bigquery.table=t")
    ]
    status, summary = run_cli(
        publish.main,
        "--lakehouse",
        str(lakehouse),
        "--run-date",
        D.isoformat(),
        *sets,
        f"--set=publish.bigquery.staging_uri={tmp_path / 'staging'}",
    )
    assert status == 2 and "GOOGLE_APPLICATION_CREDENTIALS" in summary["error"]
    assert not (tmp_path / "staging").exists()


def test_bigquery_settings_are_validated_at_load_time():
    with pytest.raises(ConfigError, match="publish.bigquery.dataset"):
        load_config(
            None,
            [
                "publish.bigquery.project=p",
                "publish.bigquery.dataset=bad-name",
                "publish.bigquery.table=t",
                "publish.bigquery.staging_uri=gs://b/s",
            ],
        )
    with pytest.raises(ConfigError, match="publish.bigquery.staging_uri"):
        load_config(None, ["publish.bigquery.project=p", "publish.bigquery.dataset=d", "publish.bigquery.table=t"])


def test_an_airflow_run_id_stages_under_a_folder_hadoop_accepts():
    path = staging_path("gs://bucket/staging", dt.date(2026, 11, 23), "scheduled__2026-11-23T00:00:00+00:00")
    assert path == "gs://bucket/staging/recommendations/run_date=2026-11-23/run_id=scheduled__2026-11-23T00-00-00-00-00"
