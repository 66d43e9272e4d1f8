"""Object storage settings from the AWS environment variables, for Spark's s3a and for delta-rs.

One setting points every component at a store, as AWS's own tools read it: ``AWS_ENDPOINT_URL``
(``AWS_ENDPOINT_URL_S3`` first, as the SDKs do), ``AWS_REGION`` (``AWS_DEFAULT_REGION``),
``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``). Where the keys are absent
both clients fall back on the default credential chain (instance profile, web identity). An endpoint
(a local S3 API: moto, MinIO) gets path-style requests; an ``http://`` one plain HTTP.

Keys never come from YAML and never go into Spark's configuration: hadoop-aws's default credential
providers read them from the environment itself, so they cannot surface in the Spark UI, the event
log or a run's summary. delta-rs gets them in memory, in its storage options.

A leaf module: the Spark builder, the runner, the DAG file, the writers and the Spark-free readers use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reclake import S3_PACKAGE

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

# Spark's Hadoop spells S3 s3a://; delta-rs spells it s3:// (reclake.uris.delta_rs_uri).
S3_SCHEMES = ("s3a://", "s3://")


def is_s3(uri: str) -> bool:
    """True for an S3 URI (``s3a://`` or ``s3://``)."""
    return uri.startswith(S3_SCHEMES)


def _endpoint(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def aws_region(env: Mapping[str, str]) -> str | None:
    """The region as the AWS SDKs read it: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def storage_packages(*uris: str | None) -> list[str]:
    """The file-system connectors the given paths need: hadoop-aws for S3, nothing for local paths.

    Only a run that reads or writes S3 loads hadoop-aws and the AWS SDK's modules (13.5 MB of jars with the ones
    ``reclake.PACKAGE_SETS`` adds), so local runs start as fast as before.
    """
    return [S3_PACKAGE] if any(uri is not None and is_s3(uri) for uri in uris) else []


def s3a_conf(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``spark.hadoop.fs.s3a.*`` settings for the endpoint and region in ``env`` (default: ``os.environ``).

    No credentials: hadoop-aws's default chain reads ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``
    from the environment (then the instance profile), so no secret is ever a Spark setting.
    """
    env = os.environ if env is None else env
    conf: dict[str, str] = {}
    endpoint, region = _endpoint(env), aws_region(env)
    if endpoint is not None:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    if region is not None:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


def filesystem(uri: str, env: Mapping[str, str] | None = None) -> tuple[FileSystem, str]:
    """pyarrow's file system for ``uri`` (S3 from the AWS environment, or the local disk) and the absolute path
    in it: for Python code that must list or write files outside a Spark JVM. Other stores raise ValueError."""
    from pyarrow.fs import LocalFileSystem, S3FileSystem  # pyarrow is a dependency already (delta-rs, the readers)

    if not is_s3(uri):
        if "://" in uri and not uri.startswith("file://"):
            raise ValueError(f"{uri}: only local paths and S3 have a Python file system here")
        return LocalFileSystem(), os.path.abspath(uri.removeprefix("file://"))
    env = os.environ if env is None else env
    region = aws_region(env)
    store = S3FileSystem(endpoint_override=_endpoint(env), **({"region": region} if region else {}))
    return store, uri.split("://", 1)[1].rstrip("/")


def make_folder(uri: str, env: Mapping[str, str] | None = None) -> None:
    """Create the S3 "folder" ``uri`` (an empty ``<key>/`` object) before a JVM starts, with pyarrow's S3 client.

    Spark refuses to start with an event log folder that does not exist, and on S3 an empty folder exists
    only as such an object; the JVM that could make it through s3a is the one that would refuse to start.
    """
    store, path = filesystem(uri, env)
    store.create_dir(path)


def storage_options(uri: str, env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """delta-rs storage options for reading ``uri``; None for anything but S3 (local paths need none).

    Reads need no locking provider: a reader never commits.
    """
    if not is_s3(uri):
        return None
    env = os.environ if env is None else env
    options: dict[str, str] = {}
    endpoint, region = _endpoint(env), aws_region(env)
    if endpoint is not None:
        options["AWS_ENDPOINT_URL"] = endpoint
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if region is not None:
        options["AWS_REGION"] = region
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(key):
            options[key] = env[key]
    return options
