"""The AWS environment variables as Spark's s3a settings and delta-rs storage options (reclake/objectstore.py)."""

from __future__ import annotations

import pytest

from reclake import S3_PACKAGE
from reclake.objectstore import filesystem, s3a_conf, storage_options, storage_packages

LOCAL_S3 = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "planted-secret",
}


def test_an_endpoint_gets_path_style_and_plain_http_and_no_key_reaches_spark():
    conf = s3a_conf(LOCAL_S3)
    assert conf == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:5000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
    }
    assert not any("key-id" in value or "planted-secret" in value for value in conf.values())


def test_without_variables_spark_keeps_aws_defaults():
    assert s3a_conf({}) == {}
    assert s3a_conf({"AWS_DEFAULT_REGION": "us-east-2"}) == {"spark.hadoop.fs.s3a.endpoint.region": "us-east-2"}


def test_the_s3_specific_endpoint_wins_as_in_the_aws_sdks():
    env = {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "https://b:2"}
    assert s3a_conf(env)["spark.hadoop.fs.s3a.endpoint"] == "https://b:2"
    assert s3a_conf(env)["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    assert "AWS_ALLOW_HTTP" not in (storage_options("s3a://bucket/lh", env) or {})


def test_delta_rs_reads_s3_with_the_same_settings_and_local_paths_with_none():
    assert storage_options("s3a://bucket/lh", LOCAL_S3) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "planted-secret",
    }
    assert storage_options("s3://bucket/lh", {}) == {}
    assert storage_options("/data/lakehouse", LOCAL_S3) is None
    assert storage_options("gs://bucket/lh", LOCAL_S3) is None


def test_only_a_run_on_s3_loads_hadoop_aws():
    assert storage_packages("/data/lh", "landing/events", None) == []
    assert storage_packages("/data/lh", "s3a://bucket/landing/date={run_date}") == [S3_PACKAGE]


def test_python_code_gets_s3_for_an_s3_uri_an_absolute_local_path_else_and_a_clear_refusal_for_other_stores(
    tmp_path, monkeypatch
):
    from pyarrow.fs import LocalFileSystem, S3FileSystem

    store, path = filesystem("s3a://bucket/lakehouse/recommendations/", LOCAL_S3)
    assert isinstance(store, S3FileSystem) and path == "bucket/lakehouse/recommendations"
    monkeypatch.chdir(tmp_path)
    store, path = filesystem("lakehouse/recommendations")
    assert isinstance(store, LocalFileSystem) and path == str(tmp_path / "lakehouse" / "recommendations")
    assert filesystem(f"file://{tmp_path}/lakehouse")[1] == f"{tmp_path}/lakehouse"
    with pytest.raises(ValueError, match="gs://bucket/lakehouse: only local paths and S3"):
        filesystem("gs://bucket/lakehouse")
