"""Write synthetic interaction events to the input path, in the configured input format.

The events come from :mod:`reclake.synthetic` (planted taste clusters,
heavy-tailed activity, Zipf-like popularity); ``generate.bad_rows`` appends
rows that each break one named validation rule, as one more CSV file.

With ``{run_date}`` in ``input.path`` the events land one folder per day instead:
an event in the folder of the day after it happened, ``generate.days`` folders up
to the run date (or ``generate.end_date``), the bad rows in the last one; days
already landed are kept.

    spark-submit jobs/generate.py --config conf/local.yaml
    reclake generate --config conf/local.yaml --set generate.users=100000
    reclake generate --set 'input.path=landing/events/date={run_date}' --run-date 2026-11-24
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import ConfigError
from reclake.io.lakehouse import path_exists, write_delta
from reclake.runner import run_job
from reclake.synthetic import (
    GENERATED_EVENT_TYPES,
    TIMESTAMP,
    bad_lines,
    generate_events,
)


def write_input(df: DataFrame, config: Config, path: str) -> None:
    """Write events in the format the input section says, so `validate` reads them back as-is."""
    fmt = config.input.format
    if fmt in ("parquet", "delta"):
        df = df.withColumn(TIMESTAMP, F.to_timestamp(TIMESTAMP))
    if fmt == "delta":
        write_delta(df, path)
    elif fmt == "csv":
        df.write.mode("overwrite").option("header", True).option("sep", config.input.delimiter).csv(path)
    else:
        df.write.mode("overwrite").format(fmt).save(path)


def append_bad_rows(spark: SparkSession, config: Config, path: str, end: dt.datetime) -> None:
    """Add the bad rows as one more CSV file (with its header) in the input folder."""
    if config.input.format != "csv":
        raise ConfigError(f"generate.bad_rows needs input.format csv (got {config.input.format})")
    header = config.input.delimiter.join([USER_ID, ITEM_ID, EVENT_TYPE, VALUE, TIMESTAMP])
    lines = [header, *bad_lines(config.generate.bad_rows, config, end)]
    spark.createDataFrame([(line,) for line in lines], "value string").coalesce(1).write.mode("append").text(path)


def check_compatible(config: Config) -> None:
    """The generator writes the default contract columns and event types; say so if config disagrees."""
    unknown = [t for t in GENERATED_EVENT_TYPES if t not in config.events.types]
    if unknown:
        raise ConfigError(f"generate writes event types {', '.join(unknown)}, which events.types lacks")
    cols = config.input.columns
    expected = {
        "user_id": USER_ID,
        "item_id": ITEM_ID,
        "event_type": EVENT_TYPE,
        "value": VALUE,
        "timestamp": TIMESTAMP,
    }
    if cols.model_dump() != expected or config.input.timestamp_format != "iso8601" or not config.input.header:
        raise ConfigError(
            "generate writes the default input contract (header, columns user_id,item_id,event_type,value,timestamp, "
            "ISO-8601 times); this config's input section reads something else"
        )


def landing_date(timestamp: str) -> F.Column:
    """The day an event lands (is ingested): the day after it happened, UTC, so a run date's batch is complete."""
    return F.date_add(F.to_date(F.substring(timestamp, 1, 10)), 1)


def write_landing_days(spark: SparkSession, config: Config, events: DataFrame, end_date: dt.date) -> list[dt.date]:
    """Write each day's events to ``input.path`` with ``{run_date}`` filled in; return the days written.

    Landing data is immutable: a day whose folder exists already is left as it is,
    so generating for a later date only adds the new days.
    """
    days = [end_date - dt.timedelta(days=n) for n in reversed(range(config.generate.days))]
    missing = [day for day in days if not path_exists(spark, config.batch_path(day))]
    events = events.withColumn("_landing_date", landing_date(TIMESTAMP)).persist()
    try:
        for day in missing:
            batch = events.where(F.col("_landing_date") == F.lit(day)).drop("_landing_date")
            write_input(batch, config, config.batch_path(day))
    finally:
        events.unpersist()
    return missing


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    """Read nothing; write synthetic events to ``input.path`` (one folder per day with ``{run_date}``)."""
    check_compatible(config)
    end_date = config.generate.end_date or ctx.run_date
    events = generate_events(spark, config.generate, end_date)
    if config.incremental:
        written = write_landing_days(spark, config, events, end_date)
        last_day = config.batch_path(end_date) if end_date in written else None
        counts = {"landing_days": len(written)}
    else:
        write_input(events, config, config.input_path)
        last_day, counts = config.input_path, {}
    bad_rows = {kind: count for kind, count in config.generate.bad_rows.items() if count}
    if bad_rows and last_day is not None:
        append_bad_rows(spark, config, last_day, dt.datetime.combine(end_date, dt.time(), tzinfo=dt.timezone.utc))
        counts.update({f"bad_rows.{kind}": count for kind, count in bad_rows.items()})
    return StageResult(counts=counts, tables={"input": config.input_path})


STAGE = Stage("generate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake generate", __doc__.splitlines()[0], [STAGE], argv)
