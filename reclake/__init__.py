"""reclake: batch recommendations on Spark, published to Delta Lake.

The library is laid out by concern, in layers (see docs/architecture.md):
``config``, ``runner`` and ``spark`` are shared by every job; ``io`` knows where
data lives; ``quality``, ``features``, ``model`` and ``recommend`` hold the
transforms; ``stages`` wires them to the lakehouse, one module per job;
``serving`` reads the published tables without Spark; ``sinks`` publishes
elsewhere. Importing this package imports nothing heavy.
"""

__version__ = "0.2.0"

# The Delta Lake connector's Maven coordinates: keep in step with the delta-spark pin in setup.py.
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
# Spark's Kafka source, for `reclake ingest` only: keep in step with the pyspark pin in setup.py.
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"
# Spark's S3 file system (s3a://) and its AWS SDK v2, loaded only when the lakehouse or input is on S3:
# hadoop-aws at the version of Spark's own Hadoop (pyspark 4.2.0 ships hadoop-client 3.5.0).
S3_PACKAGE = "org.apache.hadoop:hadoop-aws:3.5.0"
