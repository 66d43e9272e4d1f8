"""The one SparkSession builder, used by every job and by the tests.

Delta Lake's connector (and, for the jobs that ask, Kafka's source; for a run on ``s3a://``, hadoop-aws and
the AWS SDK, reclake/objectstore.py) comes from Maven Central:
resolved once, by the warm-up below (one process per package: a JVM resolves packages when it
starts), into the local Ivy cache and a list of its jar files that later starts load directly
(reclake/jvm.py: ``connector_conf``). Under ``spark-submit`` the JVM is already running
when this code runs, so pass the connector there (``--packages DELTA_PACKAGE``, or
the listed jars with ``--jars``; the Airflow DAGs do); the Delta SQL extensions set
here still apply.

Warm the jar cache and write the list (what ``scripts/bootstrap.sh`` does)::

    python -m reclake.spark --warm-jar-cache
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from reclake import DELTA_PACKAGE, KAFKA_PACKAGE
from reclake.config import SparkSection
from reclake.jvm import (
    connector_jars_list,
    connectors_conf,
    driver_java_options,
    remember_connector_jars,
    resolution_conf,
)
from reclake.objectstore import is_s3, make_folder, s3a_conf
from reclake.uris import local_folder

_DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

_LISTS = ("spark.jars", "spark.jars.packages", "spark.jars.excludes")


def event_log_conf(event_log_dir: str | None) -> dict[str, str]:
    """Spark event logging into ``event_log_dir`` (a local or S3 folder is created), for the History Server."""
    if event_log_dir is None:
        return {}
    folder = local_folder(event_log_dir)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)  # Spark refuses to start on a missing event log folder
    elif is_s3(event_log_dir):
        make_folder(event_log_dir)
    uri = folder.resolve().as_uri() if folder is not None else event_log_dir
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": uri}


def build_spark_session(
    settings: SparkSection | None = None, event_log_dir: str | None = None, packages: Sequence[str] = ()
) -> SparkSession:
    """Return the (possibly existing) SparkSession, configured for Delta Lake and ALS.

    ``event_log_dir`` (``monitoring.event_log_dir``) turns on Spark's event logs there; ``packages``
    adds connectors (Maven coordinates) beyond Delta's. Like every static setting they apply only
    when this call starts the application.
    """
    settings = settings or SparkSection()
    # Under spark-submit the JVM is already up: its --master and --packages win.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master and not submitted:
        builder = builder.master(settings.master)
    conf: dict[str, str] = {
        **_DELTA_CONF,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # Dates and times are UTC everywhere, whatever the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # Small local runs: Delta's own state reconstruction need not use 50 partitions.
        "spark.databricks.delta.snapshotPartitions": "2",
        # A persisted frame lives for one stage: compressing its columns cost more than it saved
        # (validate's 4.8M-row split: 12.5 s to fill compressed, 7.6 s not; 186 vs 209 MB).
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
    }
    if not submitted:
        conf.update(connectors_conf([DELTA_PACKAGE, *packages]))
        if settings.driver_memory:
            conf["spark.driver.memory"] = settings.driver_memory
        conf["spark.driver.extraJavaOptions"] = driver_java_options(settings.quick_jit)
    conf.update(event_log_conf(event_log_dir))
    conf.update(s3a_conf())  # endpoint and region from the AWS_* environment; never the keys
    for key, value in settings.conf.items():
        # A run's own jars or packages come in addition to the connector's, not instead of them.
        conf[key] = f"{conf[key]},{value}" if key in _LISTS and key in conf else value
    for key, value in conf.items():
        builder = builder.config(key, value)
    # The workers must run the same Python as the driver (a venv's, not the system's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark


def _resolve(package: str) -> None:
    """Resolve ``package`` (with its set's packages and exclusions) from Maven (Ivy's cache) in this process's JVM and
    list its jars (reclake/jvm.py)."""
    builder = SparkSession.builder.master("local[1]")
    for key, value in resolution_conf(package).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.range(1).count()
    remember_connector_jars(package, session.sparkContext.getConf().get("spark.jars", ""))
    session.stop()
    print(f"reclake: jars ready ({package})", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--resolve"] and len(sys.argv) == 3:
        _resolve(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:] != ["--warm-jar-cache"]:
        sys.exit("usage: python -m reclake.spark --warm-jar-cache")
    # A process per connector not listed yet: a JVM resolves packages once, when it starts.
    for package in (DELTA_PACKAGE, KAFKA_PACKAGE):
        if not connector_jars_list(package).is_file():
            subprocess.run([sys.executable, "-m", "reclake.spark", "--resolve", package], check=True)
