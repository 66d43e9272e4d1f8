"""The BigQuery sink, short of the network: schema, job configs, staging layout, and the failures an emulator
cannot produce.

What a BigQuery API answers is tested against a real emulator in tests/e2e/test_bigquery.py.
Here the network client is the one fake, autospecced from ``google.cloud.bigquery.Client``
(a misspelled method or keyword fails): it records each request and answers like BigQuery
would (its load job counts the uploaded Parquet rows) or fails like it, for what the
emulator never does: permission denied, a time-out, a job that loses rows, a transaction
that fails midway. Spark, the Parquet staging and google-auth's credential lookup are real.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import inspect
import json
from pathlib import Path
from unittest.mock import create_autospec

import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest, Forbidden
from google.auth.credentials import AnonymousCredentials
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
    load_scratch,
    make_client,
    publish_to_bigquery,
    restore_date,
    run_to_restore,
    staging_path,
    table_definition,
)
from reclake.stages import publish

D = dt.date(2026, 11, 23)
SCHEMA = T.StructType([T.StructField("user_id", T.StringType(), False), T.StructField("rank", T.IntegerType())])
ROWS = [(f"u{u:02d}", r, f"i{u}.{r}", 1.0 / r, "als", "m1", D) for u in range(12) for r in (1, 2)]


def fake_client(
    load_error: Exception | None = None, replace_error: Exception | None = None, rows_missing: int = 0
) -> bigquery.Client:
    """``bigquery.Client`` autospecced: a misspelled method or keyword fails as it would on the real client.

    Its load jobs (from a file or from gs://) are autospecced ``LoadJob``s whose result()
    counts the uploaded Parquet rows (less ``rows_missing``) or raises ``load_error``; its
    query job raises ``replace_error`` from result(). The mock records each call.
    """
    client = create_autospec(bigquery.Client, instance=True)

    def job(kind: type, job_id: str, error: Exception | None, rows: int | None = None):
        started = create_autospec(kind, instance=True)
        started.job_id, started.output_rows = job_id, None

        def result(timeout: float | None = None, **kwargs):
            if error is not None:
                raise error
            started.output_rows = rows
            return started

        started.result.side_effect = result
        return started

    def load_table_from_file(file_obj, destination, **kwargs) -> bigquery.LoadJob:
        return job(bigquery.LoadJob, "job_123", load_error, pq.ParquetFile(file_obj).metadata.num_rows - rows_missing)

    client.load_table_from_file.side_effect = load_table_from_file
    client.load_table_from_uri.side_effect = lambda *args, **kwargs: job(bigquery.LoadJob, "job_123", load_error, 0)
    client.query.side_effect = lambda *args, **kwargs: job(bigquery.QueryJob, "job_456", replace_error)
    return client


def calls(client: bigquery.Client, method: str) -> list[dict]:
    """Each call of ``method`` the client got, its arguments by name (as the real signature binds them)."""
    signature = inspect.signature(getattr(bigquery.Client, method))
    return [
        dict(signature.bind(client, *call.args, **call.kwargs).arguments)
        for call in getattr(client, method).call_args_list
    ]


def settings(tmp_path: Path, *extra: str):
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
            *extra,
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


def test_the_table_is_day_partitioned_by_run_date_and_clustered_by_user_and_the_load_labelled():
    schema = [bigquery.SchemaField("user_id", "STRING")]
    api = load_job_config(schema, "20261123-101500-ABC/1").to_api_repr()
    config = api["load"]
    assert config["sourceFormat"] == "PARQUET"
    assert config["writeDisposition"] == "WRITE_TRUNCATE" and config["createDisposition"] == "CREATE_IF_NEEDED"
    assert api["labels"] == {"reclake_run_id": "20261123-101500-abc_1"}
    assert label_value("x" * 100) == "x" * 63
    table = table_definition(settings(Path("/tmp")).bigquery_target, schema).to_api_repr()
    assert table["timePartitioning"] == {"type": "DAY", "field": "run_date"}
    assert table["clustering"] == {"fields": ["user_id"]}
    assert table["tableReference"] == {"projectId": "acme-prod", "datasetId": "reclake", "tableId": "recommendations"}


def test_publish_stages_parquet_by_user_uploads_it_in_one_load_job_and_replaces_the_date_in_one_transaction(
    staged, tmp_path
):
    sink = settings(tmp_path)
    client = fake_client()
    counts = publish_to_bigquery(staged, len(ROWS), sink, RunContext(D, "run-7"), client=client)
    assert counts == {"rows": 24, "bigquery_rows": 24}

    scratch = "acme-prod.reclake.recommendations__load_run_7"
    (load,) = calls(client, "load_table_from_file")
    assert load["destination"] == scratch and not calls(client, "load_table_from_uri")
    assert load["location"] == "EU" and load["project"] == "acme-prod"
    fields = load["job_config"].schema
    assert [(f.name, f.field_type) for f in fields] == [
        ("user_id", "STRING"),
        ("rank", "INT64"),
        ("item_id", "STRING"),
        ("score", "FLOAT64"),
        ("source", "STRING"),
        ("model_version", "STRING"),
        ("run_date", "DATE"),
    ]
    (query,) = calls(client, "query")
    columns = "user_id, rank, item_id, score, source, model_version, run_date"
    assert query["query"] == (
        "BEGIN TRANSACTION;\n"
        "DELETE FROM `acme-prod.reclake.recommendations` WHERE run_date = DATE '2026-11-23';\n"
        f"INSERT INTO `acme-prod.reclake.recommendations` ({columns}) SELECT {columns} FROM `{scratch}`;\n"
        "COMMIT TRANSACTION;"
    )
    assert [c["table"] for c in calls(client, "delete_table")] == [scratch]

    staging = tmp_path / "bucket" / "staging" / "recommendations" / "run_date=2026-11-23" / "run_id=run-7"
    files = sorted(staging.glob("*.parquet"))
    assert len(files) == 3  # ceil(24 rows / 10 per file), sent as one upload
    users_per_file = []
    for f in files:
        table = pq.read_table(f)
        assert [c for c in table.column_names] == [f.name for f in fields]
        keys = list(zip(table["user_id"].to_pylist(), table["rank"].to_pylist()))
        assert keys == sorted(keys)
        users_per_file.append(set(table["user_id"].to_pylist()))
    assert sum(len(u) for u in users_per_file) == 12  # no user split across files
    staged_rows = [tuple(r.values()) for f in files for r in pq.read_table(f).to_pylist()]
    assert sorted(staged_rows) == sorted(ROWS)


def test_a_gs_staging_uri_is_read_by_bigquery_itself(tmp_path):
    client = fake_client()
    target = settings(tmp_path).bigquery_target
    config = load_job_config([bigquery.SchemaField("user_id", "STRING")], "run-7")
    load_scratch(client, "gs://bucket/staging/run_id=run-7", "p.d.t__load_run_7", target, config)
    (load,) = calls(client, "load_table_from_uri")
    assert load["source_uris"] == "gs://bucket/staging/run_id=run-7/*.parquet"
    assert load["destination"] == "p.d.t__load_run_7" and not calls(client, "load_table_from_file")


@pytest.mark.parametrize(
    ("job_kwargs", "message"),
    [
        (
            {"load_error": BadRequest("Error while reading data", errors=[{"message": "Schema mismatch: score"}])},
            r"recommendations\$20261123 failed \(job job_123\): Schema mismatch: score",
        ),
        ({"load_error": Forbidden("Access Denied: Table acme-prod:reclake.recommendations")}, "Access Denied"),
        ({"load_error": concurrent.futures.TimeoutError()}, "load job job_123 did not finish within 600s"),
        ({"rows_missing": 1}, "wrote 23 rows, Spark staged 24"),
        (
            {"replace_error": BadRequest("Transaction aborted", errors=[{"message": "Quota exceeded"}])},
            r"failed \(job job_456\): Quota exceeded",
        ),
        ({"replace_error": concurrent.futures.TimeoutError()}, "replace job job_456 did not finish within 600s"),
    ],
)
def test_failures_become_errors_a_person_can_act_on_and_drop_the_scratch_table(staged, tmp_path, job_kwargs, message):
    client = fake_client(**job_kwargs)
    with pytest.raises(SinkError, match=message):
        publish_to_bigquery(staged, len(ROWS), settings(tmp_path), RunContext(D, "run-7"), client=client)
    assert [c["table"] for c in calls(client, "delete_table")] == ["acme-prod.reclake.recommendations__load_run_7"]
    assert len(calls(client, "query")) == (1 if "replace_error" in job_kwargs else 0)  # a failed load replaces nothing


def test_the_fake_client_refuses_what_the_real_client_refuses():
    client = fake_client()
    with pytest.raises(TypeError, match="job_confg"):
        client.load_table_from_uri("gs://b/x/*.parquet", "p.d.t", job_confg=None)
    with pytest.raises(AttributeError, match="load_table_from_uris"):
        client.load_table_from_uris("gs://b/x/*.parquet", "p.d.t")
    with pytest.raises(TypeError, match="locaton"):
        client.query("SELECT 1", locaton="EU")
    job = client.load_table_from_uri("gs://b/x/*.parquet", "p.d.t", job_config=None, location="EU", project="p")
    with pytest.raises(AttributeError, match="output_row"):
        _ = job.output_row


def test_an_api_endpoint_without_credentials_in_the_environment_is_anonymous(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth would ask a metadata server that is not there
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login either
    target = settings(tmp_path, "publish.bigquery.api_endpoint=http://127.0.0.1:9050").bigquery_target
    client = make_client(target)
    assert isinstance(client._credentials, AnonymousCredentials)
    assert client._connection.API_BASE_URL == "http://127.0.0.1:9050"
    with pytest.raises(SinkError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        make_client(settings(tmp_path).bigquery_target)  # Google's endpoint is never anonymous


def test_an_api_endpoint_uses_the_credentials_the_environment_names(tmp_path, monkeypatch):
    key = tmp_path / "adc.json"
    key.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"})
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    client = make_client(settings(tmp_path, "publish.bigquery.api_endpoint=https://bq.example:443").bigquery_target)
    assert not isinstance(client._credentials, AnonymousCredentials) and client._credentials.refresh_token == "r"


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
    for key, bad in (("staging_uri", "s3a://b/s"), ("api_endpoint", "localhost:9050")):
        with pytest.raises(ConfigError, match=f"publish.bigquery.{key}"):
            settings(Path("/tmp"), f"publish.bigquery.{key}={bad}")


def test_an_airflow_run_id_stages_under_a_folder_hadoop_accepts():
    path = staging_path("gs://bucket/staging", dt.date(2026, 11, 23), "scheduled__2026-11-23T00:00:00+00:00")
    assert path == "gs://bucket/staging/recommendations/run_date=2026-11-23/run_id=scheduled__2026-11-23T00-00-00-00-00"


def test_a_rollback_restores_what_the_date_held_before_its_last_publish():
    a, b, c = ("a", "publish", 5), ("b", "publish", 6), ("c", "publish", 7)
    assert run_to_restore([a, b], D) == ("a", 5)
    assert run_to_restore([a, b, ("r1", "rollback", 5)], D) == ("a", 5)  # twice is once
    assert run_to_restore([a, b, ("r1", "rollback", 5), ("r2", "rollback", 5)], D) == ("a", 5)
    assert run_to_restore([a, b, ("r1", "rollback", 5), c], D) == ("a", 5)  # c undone: back to the rolled-back-to
    assert run_to_restore([a], D) is None  # the date's first publish: its rows go
    assert run_to_restore([a, ("r1", "rollback", 0), b], D) is None
    with pytest.raises(Exception, match="no BigQuery publish for run date 2026-11-23"):
        run_to_restore([], D)


def test_a_rollback_whose_staged_files_are_gone_fails_naming_them_and_changes_nothing(tmp_path):
    client = fake_client()
    client.get_table.return_value = bigquery.Table("acme-prod.reclake.recommendations", schema=bigquery_schema(SCHEMA))
    target = settings(tmp_path).bigquery_target
    with pytest.raises(SinkError, match=r"no staged Parquet files in .*run_date=2026-11-23/run_id=expired"):
        restore_date(client, target, RunContext(D, "rollback-1"), ("expired", 24))
    assert not client.query.called and not client.load_table_from_file.called  # the date's rows untouched
    assert [c["table"] for c in calls(client, "delete_table")] == ["acme-prod.reclake.recommendations__load_rollback_1"]


def test_a_rollback_to_no_rows_deletes_the_date_in_one_statement(tmp_path):
    client = fake_client()
    client.get_table.return_value = bigquery.Table("acme-prod.reclake.recommendations", schema=bigquery_schema(SCHEMA))
    target = settings(tmp_path).bigquery_target
    for restore in (None, ("empty-run", 0)):  # the date's first publish; a run that published no rows
        assert restore_date(client, target, RunContext(D, "rollback-1"), restore) == {"bigquery_rows": 0}
    queries = [c["query"] for c in calls(client, "query")]
    assert queries == ["DELETE FROM `acme-prod.reclake.recommendations` WHERE run_date = DATE '2026-11-23'"] * 2
    assert not client.load_table_from_file.called
