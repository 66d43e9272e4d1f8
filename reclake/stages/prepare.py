"""Turn validated events into ALS input: one strength per user-item pair, on stable integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), optionally decayed by
age and log-scaled. Each ingest date of ``events`` is summed once per pair into
``daily_pairs`` (again only when that date's rows of ``events`` change: a re-run
or backfill), and ``interactions`` is the sum of the daily rows over
``prepare.history_days``, so a day's run reads its own events, not the whole
history of raw events. ALS needs dense integer ids; they are kept in the
``user_ids`` and ``item_ids`` tables and only ever appended to, so an id keeps its
index across runs and models stay comparable.

    spark-submit jobs/prepare.py --config conf/local.yaml
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reclake.config import Config
from reclake.constants import INGEST_DATE, ITEM_ID, ITEM_IDX, USER_ID, USER_IDX
from reclake.context import RunContext, Stage, StageResult
from reclake.errors import MissingTableError
from reclake.faults import fault_point
from reclake.features.interactions import daily_pair_sums, history_strengths, new_id_mappings, to_interactions
from reclake.frames import one_row
from reclake.io.lakehouse import (
    delta_exists,
    partition_columns,
    partition_fingerprints,
    partition_values,
    read_delta,
    write_delta,
)
from reclake.io.tables import DAILY_PAIRS, EVENTS, INTERACTIONS, ITEM_IDS, USER_IDS, table_uri
from reclake.runner import run_job

# daily_pairs: per row, the fingerprint of the events files its ingest date was summed from.
EVENTS_FILES = "events_files"


def update_id_table(
    spark: SparkSession, events: DataFrame, uri: str, id_col: str, idx_col: str
) -> tuple[DataFrame, int]:
    """Append the ids new in ``events`` to the mapping table at ``uri``; return the whole mapping."""
    existing = read_delta(spark, uri, produced_by="prepare") if delta_exists(spark, uri) else None
    # Materialised before the append: recomputed afterwards, the anti-join would find nothing new.
    added = new_id_mappings(events, existing, id_col, idx_col).localCheckpoint(eager=True)
    new_count = added.count()
    if existing is None or new_count:
        write_delta(added, uri, mode="append")
    return read_delta(spark, uri, produced_by="prepare"), new_count


def refresh_daily_pairs(spark: SparkSession, config: Config, events_uri: str, daily_uri: str) -> list[dt.date]:
    """Sum the ingest dates whose ``events`` rows changed since ``daily_pairs`` was built; return those dates.

    A date's rows changed when its data files did (Delta never rewrites a file in
    place): the files' fingerprint is kept with the date's daily rows. Dates gone
    from ``events`` (a whole-input run replaced them) are dropped.
    """
    current = partition_fingerprints(events_uri, INGEST_DATE)
    built = partition_values(daily_uri, INGEST_DATE, EVENTS_FILES) if delta_exists(spark, daily_uri) else None
    stale = sorted(day for day, files in current.items() if (built or {}).get(day) != files)
    gone = sorted(set(built or {}) - set(current))
    if built is not None and not stale and not gone:
        return []
    by_day = F.create_map(*[F.lit(x) for day in stale for x in (day, current[day])])
    files = by_day[F.col(INGEST_DATE).cast("string")] if stale else F.lit(None).cast("string")
    events = read_delta(spark, events_uri, produced_by="validate").where(F.col(INGEST_DATE).isin(stale))
    sums = daily_pair_sums(events, config.events.types).withColumn(EVENTS_FILES, files)
    replaced = ", ".join(f"'{day}'" for day in [*stale, *gone])
    write_delta(
        sums,
        daily_uri,
        replace_where=f"{INGEST_DATE} IN ({replaced})" if built is not None else None,
        partition_by=[INGEST_DATE],
    )
    return [dt.date.fromisoformat(day) for day in stale]


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    events_uri, daily_uri = table_uri(root, EVENTS), table_uri(root, DAILY_PAIRS)
    read_delta(spark, events_uri, produced_by="validate")  # a missing table: say which job to run
    if partition_columns(spark, events_uri) != [INGEST_DATE]:
        raise MissingTableError(
            f"{events_uri} has no {INGEST_DATE} (an older version wrote it): run `reclake validate`"
        )
    summed = refresh_daily_pairs(spark, config, events_uri, daily_uri)
    daily = read_delta(spark, daily_uri, produced_by="prepare")
    # Ids can only be new on the dates just summed (every date is summed once when it arrives).
    new_days = daily.where(F.col(INGEST_DATE).isin(summed))
    users, new_users = update_id_table(spark, new_days, table_uri(root, USER_IDS), USER_ID, USER_IDX)
    items, new_items = update_id_table(spark, new_days, table_uri(root, ITEM_IDS), ITEM_ID, ITEM_IDX)
    fault_point("prepare", "after_ids")
    interactions = to_interactions(history_strengths(daily, config.prepare, ctx.run_date), users, items)
    uri = table_uri(root, INTERACTIONS)
    write_delta(interactions, uri, metadata={"run_id": ctx.run_id, "stage": "prepare"})
    stats = one_row(
        read_delta(spark, uri, produced_by="prepare").agg(
            F.count(F.lit(1)).alias("pairs"),
            F.countDistinct(USER_IDX).alias("users"),
            F.countDistinct(ITEM_IDX).alias("items"),
        )
    )
    return StageResult(
        counts={**stats.asDict(), "new_users": new_users, "new_items": new_items, "days_summed": len(summed)},
        tables={
            "interactions": uri,
            "daily_pairs": daily_uri,
            "user_ids": table_uri(root, USER_IDS),
            "item_ids": table_uri(root, ITEM_IDS),
        },
    )


STAGE = Stage("prepare", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake prepare", __doc__.splitlines()[0], [STAGE], argv)
