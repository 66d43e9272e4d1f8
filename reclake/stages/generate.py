"""Write synthetic interaction events to the input path, in the configured input format.

The events come from :mod:`reclake.synthetic` (planted taste clusters,
heavy-tailed activity, Zipf-like popularity); ``generate.bad_rows`` appends
rows that each break one named validation rule, as one more CSV file.

    spark-submit jobs/generate.py --config conf/local.yaml
    reclake generate --config conf/local.yaml --set generate.users=100000
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from reclake.errors import ConfigError
from reclake.io.lakehouse import write_delta
from reclake.runtime import RunContext, Stage, StageResult, run_job
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


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    check_compatible(config)
    path = config.input_path
    end_date = config.generate.end_date or ctx.run_date
    events = generate_events(spark, config.generate, end_date)
    write_input(events, config, path)
    bad_rows = {kind: count for kind, count in config.generate.bad_rows.items() if count}
    if bad_rows:
        append_bad_rows(spark, config, path, dt.datetime.combine(end_date, dt.time(), tzinfo=dt.timezone.utc))
    return StageResult(counts={f"bad_rows.{kind}": count for kind, count in bad_rows.items()}, tables={"input": path})


STAGE = Stage("generate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake generate", __doc__.splitlines()[0], [STAGE], argv)
