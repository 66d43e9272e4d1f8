"""From validated events to ALS input: one strength per user-item pair, on dense integer ids.

Strength = sum over the pair's events of the event type's weight (times the
event's value for types with ``use_value``, e.g. a rating), optionally
log-scaled. ALS needs dense integer ids: new ids are numbered on from the
largest index already given, in id order, so an id keeps its index across runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reclake.config import EventType, PrepareSection
from reclake.constants import (
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
from reclake.frames import one_row, with_positions


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
        offset = (one_row(existing.agg(F.max(idx_col)))[0] or -1) + 1
    numbered = with_positions(distinct, [F.col(id_col)], "_position")
    return numbered.select(id_col, (F.col("_position") + F.lit(offset)).cast("int").alias(idx_col))


def to_interactions(pairs: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Replace string ids by their integer indices: (user_idx, item_idx, strength, last_event_time)."""
    return pairs.join(users, USER_ID).join(items, ITEM_ID).select(USER_IDX, ITEM_IDX, STRENGTH, LAST_EVENT_TIME)
