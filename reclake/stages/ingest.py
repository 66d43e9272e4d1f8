"""Land events from a Kafka topic in the input folders, one per event date, exactly once.

Reads the topic in ``kafka`` with Spark Structured Streaming and lands each message
as one JSON line under ``input.path`` with ``{run_date}`` set to the event's date,
where ``validate`` reads it like any landed file (reclake/io/kafka.py says how a
line looks and why nothing lands twice). ``kafka.trigger: available_now`` lands what
the topic holds and stops: the daily DAG's task before ``validate``; ``continuous``
runs until SIGTERM or SIGINT (``kill <pid>``), which stop it after its current
micro-batch, exit status 0. The stream's checkpoint (the offsets landed) is
``kafka.checkpoint_dir``, by default under the lakehouse.

Late events: an event lands under its own date even when that date's batch was
validated already; it is counted (``late``) and logged with the dates to re-run,
and re-running ``validate`` (or the daily DAG) for that date takes it in
(docs/ingest.md).

Writes files only, no table, so it holds no writer lock and can run beside the other jobs.

    reclake ingest --config conf/kafka.yaml
    spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,io.delta:delta-spark_4.2_2.13:4.4.0 \
        jobs/ingest.py --config conf/kafka.yaml
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from pyspark.sql import SparkSession

from reclake import KAFKA_PACKAGE
from reclake.config import Config
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import ConfigError
from reclake.io.kafka import REDACTED_OPTIONS, ingest, source_options, staging_folder, validated_dates
from reclake.io.lakehouse import session_conf
from reclake.runner import run_job

log = logging.getLogger(__name__)


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Read the ``kafka`` topic from the checkpoint on (and ``validation_runs``, to tell late events); write
    JSON lines into the input folders of the events' dates."""
    settings = config.kafka
    if settings is None:
        raise ConfigError("no kafka section: ingest has no topic to read (docs/ingest.md)")
    validated = validated_dates(spark, config.lakehouse.root)
    with session_conf(spark, {"spark.sql.redaction.options.regex": REDACTED_OPTIONS}):
        landed = ingest(
            spark,
            settings,
            source_options(settings, os.environ),
            config.batch_path,
            config.ingest_checkpoint,
            staging_folder(config.input_path),
            (config.input.columns.timestamp, config.input.timestamp_format),
            validated,
        )
    rerun = ", ".join(sorted(day.isoformat() for day in landed.late_dates))
    if landed.late:
        log.warning("ingest: %d late events landed for dates already validated: re-run %s", landed.late, rerun)
    counts = {"landed": landed.messages, "malformed": landed.malformed, "late": landed.late, "dates": len(landed.dates)}
    note = f"late events: re-run {rerun}" if landed.late else ""
    return StageResult(counts=counts, tables={"landing": config.input_path}, note=note)


STAGE = Stage("ingest", run, packages=(KAFKA_PACKAGE,), writes_tables=False)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake ingest", __doc__.splitlines()[0], [STAGE], argv)
