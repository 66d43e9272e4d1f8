"""Validate raw events: good rows go on, bad rows are quarantined with the reason.

Row rules are Spark column expressions evaluated in one pass; a row breaking any
of them goes to the ``quarantine`` table with the row as read, every rule it
broke, the run id and the time. Nothing is dropped silently: the job checks,
from Delta's own commit metrics, that raw rows = valid + quarantined.

    spark-submit jobs/validate.py --config conf/local.yaml
    reclake validate --config conf/local.yaml --input data/events.csv
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.config import Config, EventType
from jobs.constants import EVENT_COLUMNS, EVENT_TIME, EVENT_TYPE, ITEM_ID, RUN_DATE, RUN_ID, USER_ID, VALUE
from jobs.errors import ValidationFailed
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import EVENTS, QUARANTINE, RAW_RECORD, last_commit_rows, read_raw, table_uri, to_events, write_delta

REASONS = "reasons"
QUARANTINED_AT = "quarantined_at"


def row_rules(event_types: Mapping[str, EventType]) -> dict[str, Column]:
    """Rule name -> a column that is true where a row breaks the rule."""
    known = list(event_types)
    in_range = F.lit(True)
    for name, spec in event_types.items():
        checks = F.lit(True)
        if spec.min_value is not None:
            checks = checks & (F.col(VALUE) >= spec.min_value)
        if spec.max_value is not None:
            checks = checks & (F.col(VALUE) <= spec.max_value)
        in_range = F.when(F.col(EVENT_TYPE) == name, F.col(VALUE).isNull() | checks).otherwise(in_range)
    needs_value = [name for name, spec in event_types.items() if spec.use_value]
    return {
        "user_id_missing": F.col(USER_ID).isNull() | (F.col(USER_ID) == ""),
        "item_id_missing": F.col(ITEM_ID).isNull() | (F.col(ITEM_ID) == ""),
        "event_type_unknown": F.col(EVENT_TYPE).isNull() | ~F.col(EVENT_TYPE).isin(known),
        "timestamp_unparseable": F.col(EVENT_TIME).isNull(),
        "value_missing": F.col(EVENT_TYPE).isin(needs_value) & F.col(VALUE).isNull(),
        "value_out_of_range": ~in_range,
    }


def flag_rows(events: DataFrame, rules: Mapping[str, Column]) -> DataFrame:
    """Add ``reasons``: the names of the rules each row breaks (empty for a valid row)."""
    broken = F.array(*[F.when(F.coalesce(rule, F.lit(True)), F.lit(name)) for name, rule in rules.items()])
    return events.withColumn(REASONS, F.filter(broken, lambda reason: reason.isNotNull()))


def reason_counts(flagged: DataFrame, rule_names: Sequence[str]) -> dict[str, int]:
    """Rows in total, valid, quarantined and per broken rule, in one aggregation."""
    row = flagged.agg(
        F.count(F.lit(1)).alias("raw_rows"),
        F.sum((F.size(REASONS) == 0).cast("long")).alias("valid_rows"),
        *[F.sum(F.array_contains(REASONS, name).cast("long")).alias(f"rule.{name}") for name in rule_names],
    ).first()
    return {key: int(value or 0) for key, value in row.asDict().items()}


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    raw = read_raw(spark, config.input, config.input_path)
    rules = row_rules(config.events.types)
    # Persisted because it feeds three actions (the counts and two writes); read once.
    flagged = flag_rows(to_events(raw, config.input, keep_raw=True), rules).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = reason_counts(flagged, list(rules))
        counts["quarantined_rows"] = counts["raw_rows"] - counts["valid_rows"]
        if counts["raw_rows"] == 0:
            raise ValidationFailed(f"input {config.input_path} has no rows: refusing to train on an empty batch")

        root = config.lakehouse.root
        events_uri, quarantine_uri = table_uri(root, EVENTS), table_uri(root, QUARANTINE)
        commit = {"run_id": ctx.run_id, "run_date": ctx.run_date.isoformat(), "stage": "validate"}
        valid = flagged.where(F.size(REASONS) == 0).select(*EVENT_COLUMNS)
        write_delta(valid, events_uri, metadata=commit)
        quarantined = flagged.where(F.size(REASONS) > 0).select(
            F.lit(ctx.run_id).alias(RUN_ID),
            F.lit(ctx.run_date).alias(RUN_DATE),
            F.current_timestamp().alias(QUARANTINED_AT),
            F.col(REASONS),
            F.col(RAW_RECORD).alias("raw_record"),
        )
        write_delta(quarantined, quarantine_uri, replace_where=f"{RUN_DATE} = '{ctx.run_date}'", metadata=commit)
    finally:
        flagged.unpersist()

    written = last_commit_rows(spark, events_uri) + last_commit_rows(spark, quarantine_uri)
    if written != counts["raw_rows"]:
        raise ValidationFailed(
            f"rows lost in validation: read {counts['raw_rows']}, wrote {written} (valid + quarantined)"
        )
    return StageResult(counts=counts, tables={"events": events_uri, "quarantine": quarantine_uri})


STAGE = Stage("validate", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake validate", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
