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
# The AWS SDK v2 release hadoop-aws 3.5.0 is built against (its POM's software.amazon.awssdk:bundle).
AWS_SDK_VERSION = "2.35.4"

# What a package is resolved with beyond its own POM: more packages, and the dependencies the resolution leaves out
# ("group:artifact", "*" for any artifact of the group); reclake.jvm resolves and lists them as one connector.
# hadoop-aws's POM names the SDK's shaded bundle (686 MB, every AWS service; each executor copies it): it gets the
# SDK modules S3A loads instead (13.5 MB with hadoop-aws), whose Netty, Apache HttpClient, Commons Codec and SLF4J
# are left to the versions Spark ships, so no second copy of them lands on the class path (docs/object-storage.md).
# sts is for the web-identity and assumed-role credentials; S3A's client-side encryption (KMS) is not provided.
PACKAGE_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    S3_PACKAGE: (
        tuple(
            f"software.amazon.awssdk:{module}:{AWS_SDK_VERSION}"
            for module in ("s3", "s3-transfer-manager", "sts", "apache-client", "netty-nio-client")
        ),
        (
            "software.amazon.awssdk:bundle",
            "io.netty:*",
            "org.apache.httpcomponents:*",
            "commons-codec:commons-codec",
            "org.slf4j:*",
        ),
    ),
}
