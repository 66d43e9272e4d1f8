"""reclake: batch recommendations on Spark, published to Delta Lake.

Pins are exact where the pieces must agree with each other (Spark, the Delta
connector and its jars) and ranges where any compatible release will do.
"""
from setuptools import find_packages, setup

# pyspark 4.2 needs delta-spark 4.4.x; delta-spark 4.4.1 is on PyPI but its
# jars (io.delta:delta-spark_4.2_2.13:4.4.1) are not on Maven Central, so the
# connector is pinned to 4.4.0, whose jars are. Keep both pins in step with
# jobs/spark.py's DELTA_PACKAGE.
SPARK = ["pyspark==4.2.0", "delta-spark==4.4.0"]

setup(
    name="reclake",
    version="0.1.0",
    description="Batch recommendations on Spark: validate, train ALS, recommend top-N, publish to Delta Lake.",
    python_requires=">=3.10",
    packages=find_packages(include=["jobs", "jobs.*"]),
    package_data={"jobs": ["py.typed"]},
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
    ],
    extras_require={
        "dev": ["pytest>=8", "polars>=1.0"],
        "airflow": [
            "apache-airflow>=3.1,<4",
            "apache-airflow-providers-apache-spark>=5",
        ],
        "bigquery": ["google-cloud-bigquery>=3.20,<4"],
        "serve": ["fastapi>=0.110", "uvicorn>=0.29", "httpx>=0.27"],
    },
    entry_points={"console_scripts": ["reclake=jobs.cli:main"]},
)
