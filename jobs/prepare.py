"""Turn validated events into ALS input: one strength per user-item pair, on stable integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), optionally
log-scaled. ALS needs dense integer ids; they are kept in the ``user_ids`` and
``item_ids`` tables and only ever appended to, so an id keeps its index across
runs and models stay comparable.

    spark-submit jobs/prepare.py --config conf/local.yaml
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from itertools import chain

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.config import Config, EventType, PrepareSection
from jobs.constants import (
    EVENT_TIME,
    EVENT_TYPE,
    ITEM_ID,
    ITEM_IDX,
    LAST_EVENT_TIME,
    STRENGTH,
    USER_ID,
    USER_IDX,
    VALUE,
)
from jobs.runtime import RunContext, Stage, StageResult, run_job
from jobs.storage import EVENTS, INTERACTIONS, ITEM_IDS, USER_IDS, delta_exists, read_delta, table_uri, write_delta


def pair_strengths(events: DataFrame, event_types: Mapping[str, EventType], settings: PrepareSection) -> DataFrame:
    """(user_id, item_id, strength, last_event_time): how strongly each user is drawn to each item, and when last."""
    weight = F.create_map(*chain.from_iterable((F.lit(n), F.lit(t.weight)) for n, t in event_types.items()))[
        F.col(EVENT_TYPE)
    ]
    uses_value = [name for name, spec in event_types.items() if spec.use_value]
    contribution = F.when(F.col(EVENT_TYPE).isin(uses_value), weight * F.col(VALUE)).otherwise(weight)
    pairs = events.groupBy(USER_ID, ITEM_ID).agg(
        F.sum(contribution).alias(STRENGTH), F.max(EVENT_TIME).alias(LAST_EVENT_TIME)
    )
    if settings.log_scaling:
        pairs = pairs.withColumn(STRENGTH, F.log1p(F.col(STRENGTH) / settings.log_epsilon))
    return pairs


def new_id_mappings(ids: DataFrame, existing: DataFrame | None, id_col: str, idx_col: str) -> DataFrame:
    """Indices for the ids in ``ids`` that ``existing`` lacks, numbered on from its largest index.

    New ids are numbered in id order, so the same new ids get the same indices
    whatever order the events arrive in.
    """
    distinct = ids.select(id_col).distinct()
    offset = 0
    if existing is not None:
        distinct = distinct.join(existing.select(id_col), on=id_col, how="left_anti")
        offset = (existing.agg(F.max(idx_col)).first()[0] or -1) + 1
    # A global ordering runs in one partition; it only ever sees the ids new in this run.
    order = Window.orderBy(id_col)
    return distinct.select(id_col, (F.row_number().over(order) - 1 + F.lit(offset)).cast("int").alias(idx_col))


def to_interactions(pairs: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Replace string ids by their integer indices: (user_idx, item_idx, strength, last_event_time)."""
    return pairs.join(users, USER_ID).join(items, ITEM_ID).select(USER_IDX, ITEM_IDX, STRENGTH, LAST_EVENT_TIME)


def update_id_table(spark: SparkSession, events: DataFrame, uri: str, id_col: str, idx_col: str) -> tuple[DataFrame, int]:
    """Append the ids new in ``events`` to the mapping table at ``uri``; return the whole mapping."""
    existing = read_delta(spark, uri, produced_by="prepare") if delta_exists(spark, uri) else None
    # Materialised before the append: recomputed afterwards, the anti-join would find nothing new.
    added = new_id_mappings(events, existing, id_col, idx_col).localCheckpoint(eager=True)
    new_count = added.count()
    if existing is None or new_count:
        write_delta(added, uri, mode="append")
    return read_delta(spark, uri, produced_by="prepare"), new_count


def run(spark: SparkSession, config: Config, ctx: RunContext) -> StageResult:
    root = config.lakehouse.root
    events = read_delta(spark, table_uri(root, EVENTS), produced_by="validate")
    users, new_users = update_id_table(spark, events, table_uri(root, USER_IDS), USER_ID, USER_IDX)
    items, new_items = update_id_table(spark, events, table_uri(root, ITEM_IDS), ITEM_ID, ITEM_IDX)
    interactions = to_interactions(pair_strengths(events, config.events.types, config.prepare), users, items)
    uri = table_uri(root, INTERACTIONS)
    write_delta(interactions, uri, metadata={"run_id": ctx.run_id, "stage": "prepare"})
    stats = read_delta(spark, uri, produced_by="prepare").agg(
        F.count(F.lit(1)).alias("pairs"),
        F.countDistinct(USER_IDX).alias("users"),
        F.countDistinct(ITEM_IDX).alias("items"),
    ).first()
    return StageResult(
        counts={**stats.asDict(), "new_users": new_users, "new_items": new_items},
        tables={"interactions": uri, "user_ids": table_uri(root, USER_IDS), "item_ids": table_uri(root, ITEM_IDS)},
    )


STAGE = Stage("prepare", run)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("reclake prepare", __doc__.splitlines()[0], [STAGE], argv)


if __name__ == "__main__":
    sys.exit(main())
