"""reclake: batch recommendations on Spark, published to Delta Lake.

Pins are exact where the pieces must agree with each other (Spark, the Delta
connector and its jars) and ranges where any compatible release will do.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

# One place for the version: reclake/__init__.py.
VERSION = re.search(
    r'^__version__ = "([^"]+)"', Path(__file__).with_name("reclake").joinpath("__init__.py").read_text(), re.M
)[1]

# pyspark 4.2 needs delta-spark 4.4.x; delta-spark 4.4.1 is on PyPI but its
# jars (io.delta:delta-spark_4.2_2.13:4.4.1) are not on Maven Central, so the
# connector is pinned to 4.4.0, whose jars are. Keep both pins in step with
# reclake/__init__.py's DELTA_PACKAGE.
SPARK = ["pyspark==4.2.0", "delta-spark==4.4.0"]
KAFKA = ["kafka-python>=3.0,<4"]  # reclake serve with kafka.serve_recent; the e2e tests produce with it

setup(
    name="reclake",
    version=VERSION,
    description="Batch recommendations on Spark: validate, train ALS, recommend top-N, publish to Delta Lake.",
    python_requires=">=3.10",
    # Only the library: jobs/ holds spark-submit scripts, not an importable package.
    packages=find_packages(include=["reclake", "reclake.*"]),
    # The expectation suites are read at run time with importlib.resources.
    package_data={"reclake": ["py.typed", "error-conditions.json"], "reclake.quality": ["suites/*.json"]},
    install_requires=SPARK
    + [
        # PySpark 4.x warns on pandas 3 and its Arrow conversions are only tested on 2.x.
        "pandas>=2.2,<3",
        "numpy>=1.26",
        "pyarrow>=15",
        "pyyaml>=6",
        "pydantic>=2.6,<3",
        "great-expectations>=1.20,<2",
        # delta-rs: Spark-free readers (lookup client, tests that read back tables).
        "deltalake>=1.0,<2",
        # Each run's metrics in the Prometheus text format, and the Pushgateway client.
        "prometheus-client>=0.20",
        # The HTML run report's plots (Agg backend, inlined as PNG).
        "matplotlib>=3.8",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.5",  # the fast tier on two workers (Makefile: TEST_WORKERS)
            *KAFKA,  # tests/e2e produce their Kafka messages with it (the broker is scripts/kafka.sh)
            "polars>=1.0",
            # The running-Airflow test's metadata DB is PostgreSQL (scripts/postgres.sh): Airflow's driver for it...
            "psycopg2-binary>=2.9",
            "asyncpg>=0.29",  # ...and its async one, for the same URL
            # A real S3 and DynamoDB API on loopback for the object-store tests (the `moto_server` process), and its client.
            "moto[server]>=5.1,<6",
            "boto3>=1.34",
            # Lint tools exact, so `make lint` judges the same code the same way everywhere.
            "ruff==0.17.6",
            "mypy==2.4.1",
            "import-linter==2.17",  # the layers of docs/architecture.md ([tool.importlinter] in pyproject.toml)
            "pandas-stubs==3.1.0.261029",
            "types-PyYAML==6.0.12.20261122",
        ],
        "airflow": [
            "apache-airflow>=3.1,<4",
            "apache-airflow-providers-apache-spark>=5",
        ],
        "bigquery": ["google-cloud-bigquery>=3.20,<4"],
        # An s3a:// lakehouse's writer lease in DynamoDB (reclake/io/lease.py).
        "s3": ["boto3>=1.34"],
        "serve": ["fastapi>=0.110", "uvicorn>=0.29", "httpx>=0.27"],
        # The Cloud Function entry point (reclake/serving/function.py), run locally by `functions-framework`.
        "function": ["functions-framework>=3.8,<4"],
        # `reclake serve` following users' recent events on the Kafka topic (kafka.serve_recent).
        "kafka": KAFKA,
        # Only bench/ uses these: the ALS comparison and the scale plot.
        "bench": ["implicit>=0.7,<0.8", "matplotlib>=3.8"],
    },
    entry_points={"console_scripts": ["reclake=reclake.cli:command"]},
)
